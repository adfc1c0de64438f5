"""results.json schema v2: build, atomic write, load round trip, schema-1 files still read, field-by-field
validation with the file and field named, and agreement of a run's results with its own per_clip.csv."""

import copy
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.errors import UsageError
from benchmark.metrics import summarize
from benchmark.results import (
    SCHEMA_VERSION,
    ResultsBuildError,
    ResultsSchemaError,
    build_results,
    find_results,
    load_results,
    per_clip_disagreements,
    read_per_clip,
    validate_results,
    write_csv_atomic,
    write_json_atomic,
)

# real files written by schema 1 (the reference runs as committed before schema 2), kept to test reading them
REFERENCE_V1 = Path(__file__).resolve().parent / "data" / "schema1"
REFERENCE = Path(__file__).resolve().parents[2] / "leaderboard" / "results" / "reference" / "synth" / "test"
BOOTSTRAP = {"n_boot": 1000, "seed": 0, "alpha": 0.05, "method": "percentile", "unit": "clip"}


def example_results(**overrides) -> dict:
    kwargs = dict(
        method={"name": "exo-copy", "config": {"view": 0}, "checkpoint_sha256": None, "extra": "kept"},
        dataset={"name": "synth", "split": "test", "track": "exo-only", "identity": "cd" * 32,
                 "manifest_sha256": "ab" * 32, "n_clips": 3},
        metrics_summary={"psnr": {"mean": 21.5, "ci95": [20.0, 23.0], "higher_is_better": True, "n": 3},
                         "lpips": {"unavailable": "no AlexNet weights"}},
        per_category={"Bike": {"psnr": {"mean": 21.5, "ci95": [20.0, 23.0], "n": 3}}},
        settings={"colour_space": "RGB"},
        bootstrap=BOOTSTRAP,
        seed=0,
        counts={"generated": 2, "reused": 1, "failed": 0},
    )
    kwargs.update(overrides)
    return build_results(**kwargs)


def write(path: Path, results: dict) -> Path:
    """Write a (possibly broken) results dict as JSON, NaN allowed, as a hand edit would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results))
    return path


def test_build_results_follows_schema_v2():
    results = example_results()
    assert results["schema_version"] == SCHEMA_VERSION == 2
    assert list(results) == ["schema_version", "method", "dataset", "metrics", "per_category", "metric_settings",
                             "bootstrap", "seed", "counts", "versions", "git_commit", "git_dirty", "created"]
    assert results["bootstrap"] == BOOTSTRAP and results["dataset"]["identity"] == "cd" * 32
    assert results["method"]["oracle"] is False and results["method"]["extra"] == "kept"
    assert results["counts"]["failed_clips"] == []
    for key in ("python", "torch", "torchvision", "diffusers", "torchmetrics", "numpy", "av", "datasets", "lpips",
                "platform"):
        assert key in results["versions"]
    assert results["git_commit"] is None or len(results["git_commit"]) == 40
    assert results["created"].endswith("+00:00")


def test_written_results_load_back_unchanged(tmp_path):
    results = example_results()
    path = write_json_atomic(tmp_path / "run" / "results.json", results)
    assert load_results(path) == results
    assert [p.name for p in tmp_path.joinpath("run").iterdir()] == ["results.json"]  # no temp file left


def test_schema_1_files_are_still_read(tmp_path):
    committed = load_results(REFERENCE_V1 / "exo-copy" / "results.json")  # a real file written by schema 1
    assert committed["schema_version"] == 1 and "identity" not in committed["dataset"]
    v1 = example_results()
    v1["schema_version"] = 1
    del v1["dataset"]["identity"], v1["bootstrap"]
    assert load_results(write(tmp_path / "results.json", v1)) == v1


def test_another_schema_version_is_refused_with_a_clear_error(tmp_path):
    results = example_results()
    results["schema_version"] = 3
    path = write(tmp_path / "results.json", results)
    with pytest.raises(ResultsSchemaError, match="schema_version 3, but this code reads schema_version 1 and 2"):
        load_results(path)
    path.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(ResultsSchemaError, match="no 'schema_version'"):
        load_results(path)
    path.write_text("{not json")
    with pytest.raises(ResultsSchemaError, match="not valid JSON"):
        load_results(path)


def test_a_broken_file_is_the_users_to_fix_but_broken_pieces_are_our_bug():
    assert issubclass(ResultsSchemaError, UsageError)  # the CLI: one line naming the file, exit 2
    assert not issubclass(ResultsBuildError, UsageError)  # the runner gave bad pieces: a traceback


def test_build_refuses_pieces_that_break_the_schema():
    with pytest.raises(ResultsBuildError, match="NaN or infinite"):
        example_results(metrics_summary={"psnr": {"mean": float("inf"), "ci95": [1.0, 2.0],
                                                  "higher_is_better": True, "n": 1}})
    with pytest.raises(ResultsBuildError, match=r"metrics\.lpips\.unavailable: expected a non-empty reason"):
        example_results(metrics_summary={"lpips": {"unavailable": ""}})
    with pytest.raises(ResultsBuildError, match=r"dataset is missing \['identity'\]"):
        example_results(dataset={"name": "synth", "split": "test", "track": "exo-only", "manifest_sha256": "ab" * 32,
                                 "n_clips": 1})
    with pytest.raises(ResultsBuildError, match=r"bootstrap is missing \['n_boot'"):
        example_results(bootstrap={})
    with pytest.raises(ResultsBuildError, match=r"counts\.failed_clips\[0\]\.clip_id: missing"):
        example_results(counts={"generated": 1, "reused": 0, "failed": 1, "failed_clips": [{"error": "x"}]})
    results = example_results(counts={"generated": 1, "reused": 0, "failed": 1,
                                      "failed_clips": [{"clip_id": "c7", "error": "no pose"}]})
    assert results["counts"]["failed_clips"] == [{"clip_id": "c7", "error": "no pose"}]


def _set(results: dict, field: tuple, value) -> dict:
    out = copy.deepcopy(results)
    target = out
    for key in field[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[field[-1]]
    else:
        target[field[-1]] = value
    return out


_DELETE = object()


@pytest.mark.parametrize("field, value, message", [
    (("metrics", "psnr", "ci95"), None, "metrics.psnr.ci95: expected [low, high], got null"),
    (("metrics", "psnr", "mean"), "21.5", 'metrics.psnr.mean: expected a finite number, got "21.5" (str)'),
    (("metrics", "psnr", "mean"), float("nan"), "metrics.psnr.mean: expected a finite number, got NaN"),
    (("metrics", "psnr", "mean"), 30.0, "metrics.psnr.mean: expected a mean inside its ci95 [20.0, 23.0], got 30.0"),
    (("metrics", "psnr", "ci95"), [23.0, 20.0], "metrics.psnr.ci95: expected [low, high] with low <= high"),
    (("metrics", "psnr", "ci95"), [20.0, 21.0, 23.0], "metrics.psnr.ci95: expected [low, high], got [20.0, 21.0"),
    (("metrics", "psnr", "ci95"), [20.0, "23"], "metrics.psnr.ci95[1]: expected a finite number"),
    (("metrics", "psnr", "n"), 0, "metrics.psnr.n: expected an integer >= 1, got 0"),
    (("metrics", "psnr", "n"), True, "metrics.psnr.n: expected an integer, got true"),
    (("metrics", "psnr", "n"), 3.0, "metrics.psnr.n: expected an integer, got 3.0"),
    (("metrics", "psnr", "higher_is_better"), "yes", "metrics.psnr.higher_is_better: expected true or false"),
    (("metrics", "psnr", "mean"), _DELETE, "metrics.psnr.mean: missing (or 'unavailable' with a reason)"),
    (("metrics", "lpips", "unavailable"), None, "metrics.lpips.unavailable: expected a non-empty reason"),
    (("metrics",), [], "metrics: expected a JSON object, got []"),
    (("per_category", "Bike", "psnr", "ci95"), [20.0], "per_category.Bike.psnr.ci95: expected [low, high]"),
    (("method", "name"), "", 'method.name: expected a non-empty string, got "" (str)'),
    (("method", "oracle"), "no", "method.oracle: expected true or false"),
    (("dataset", "identity"), "abc", "dataset.identity: expected a sha256 (64 lowercase hex digits)"),
    (("dataset", "identity"), None, "dataset.identity: expected a sha256 (64 lowercase hex digits) (clips were sc"),
    (("dataset", "identity"), _DELETE, "dataset.identity: missing"),
    (("dataset", "track"), 7, "dataset.track: expected a non-empty string, got 7 (int)"),
    (("dataset", "n_clips"), -1, "dataset.n_clips: expected an integer >= 1, got -1"),
    (("dataset", "n_scored"), 4, "dataset.n_scored: expected an integer <= 3, got 4"),
    (("bootstrap", "n_boot"), 0, "bootstrap.n_boot: expected an integer >= 1"),
    (("bootstrap", "alpha"), 1.5, "bootstrap.alpha: expected a number in (0, 1), got 1.5"),
    (("bootstrap",), _DELETE, "bootstrap: missing"),
    (("metric_settings",), None, "metric_settings: expected a JSON object, got null"),
    (("seed",), "0", 'seed: expected an integer, got "0" (str)'),
    (("counts", "failed"), -1, "counts.failed: expected an integer >= 0"),
    (("counts", "failed"), 2, "counts.failed: expected the number of entries in counts.failed_clips (0), got 2"),
    (("git_dirty",), "yes", "git_dirty: expected true or false"),
])
def test_a_broken_field_is_named_with_its_file(tmp_path, field, value, message):
    results = example_results(dataset={"name": "synth", "split": "test", "track": "exo-only", "identity": "cd" * 32,
                                       "manifest_sha256": "ab" * 32, "n_clips": 3, "n_scored": 3})
    path = write(tmp_path / "runs" / "x" / "results.json", _set(results, field, value))
    with pytest.raises(ResultsSchemaError) as info:
        load_results(path)
    assert str(info.value).startswith(f"{path}: {message}")


# --- property-based: whatever the scores, what build_results writes validates; whatever breaks a field, it is named


SCORES = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
                  min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(psnr=SCORES, ssim_offset=st.floats(-1.0, 1.0), n_boot=st.sampled_from([100, 250, 1000]),
       seed=st.integers(0, 2**31 - 1))
def test_any_summary_of_finite_scores_builds_a_valid_file(tmp_path_factory, psnr, ssim_offset, n_boot, seed):
    per_clip = pd.DataFrame({"clip_id": [f"c{i}" for i in range(len(psnr))],
                             "category": [f"k{i % 3}" for i in range(len(psnr))],
                             "psnr": psnr, "ssim": [v * 1e-6 + ssim_offset for v in psnr]})
    summary = summarize(per_clip, ["psnr", "ssim", "lpips"], n_boot=n_boot, seed=seed,
                        unavailable={"lpips": "no weights"})
    results = example_results(metrics_summary=summary["metrics"], per_category=summary["per_category"],
                              bootstrap=summary["bootstrap"], seed=seed)
    run = tmp_path_factory.mktemp("run")
    path = write_json_atomic(run / "results.json", results)
    write_csv_atomic(run / "per_clip.csv", per_clip)
    assert load_results(path) == results
    assert per_clip_disagreements(results, read_per_clip(run / "per_clip.csv")) == []


NUMBER_FIELDS = [("metrics", "psnr", "mean"), ("metrics", "psnr", "ci95", 0), ("metrics", "psnr", "ci95", 1),
                 ("per_category", "Bike", "psnr", "mean"), ("bootstrap", "alpha")]
INTEGER_FIELDS = [("metrics", "psnr", "n"), ("dataset", "n_clips"), ("seed",), ("counts", "generated"),
                  ("counts", "reused"), ("bootstrap", "n_boot"), ("bootstrap", "seed")]
NOT_A_NUMBER = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.just(float("nan")),
                         st.sampled_from([float("inf"), -float("inf")]), st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


def _field_name(field: tuple) -> str:
    name = ""
    for key in field:
        name += f"[{key}]" if isinstance(key, int) else (f".{key}" if name else key)
    return name


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(NUMBER_FIELDS), value=NOT_A_NUMBER)
def test_any_non_number_in_a_number_field_is_named(tmp_path_factory, field, value):
    path = write(tmp_path_factory.mktemp("bad") / "results.json", _set(example_results(), field, value))
    with pytest.raises(ResultsSchemaError, match=re.escape(f"{path}: {_field_name(field)}: expected a finite number")):
        load_results(path)


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(INTEGER_FIELDS),
       value=st.one_of(NOT_A_NUMBER, st.floats(allow_nan=False, allow_infinity=False)))
def test_any_non_integer_in_an_integer_field_is_named(tmp_path_factory, field, value):
    path = write(tmp_path_factory.mktemp("bad") / "results.json", _set(example_results(), field, value))
    with pytest.raises(ResultsSchemaError, match=re.escape(f"{path}: {_field_name(field)}: expected an integer")):
        load_results(path)


# --- a real run: what the runner writes, and its agreement with its own per_clip.csv


@pytest.fixture(scope="module")
def real_run(tiny_synth, tmp_path_factory):
    """exo-copy scored on the tiny dataset with 200 bootstrap resamples: its run folder."""
    from benchmark.runner import run

    report = run("exo-copy", root=tiny_synth, out=tmp_path_factory.mktemp("runs"), progress=False, n_boot=200,
                 metrics=("psnr", "ssim"))
    return report.out_dir


def test_a_real_run_records_identity_bootstrap_and_ssim_border_rule(real_run):
    results = load_results(real_run / "results.json")
    assert results["schema_version"] == 2
    assert re.fullmatch(r"[0-9a-f]{64}", results["dataset"]["identity"])
    assert results["bootstrap"] == {"n_boot": 200, "seed": 0, "alpha": 0.05, "method": "percentile", "unit": "clip"}
    assert results["dataset"]["n_clips_in_split"] == 3
    ssim = results["metric_settings"]["ssim"]
    assert (ssim["window"], ssim["window_size"], ssim["border"]) == ("gaussian", 11, "reflect-pad-average-all")
    assert per_clip_disagreements(results, read_per_clip(real_run / "per_clip.csv")) == []


def test_results_that_contradict_their_per_clip_csv_are_found(real_run, tmp_path):
    results = load_results(real_run / "results.json")
    per_clip = read_per_clip(real_run / "per_clip.csv")
    psnr_mean = results["metrics"]["psnr"]["mean"]

    edited = copy.deepcopy(results)
    edited["metrics"]["psnr"]["mean"] = psnr_mean * (1 + 1e-6)  # a hand edit far below display precision
    [problem] = per_clip_disagreements(edited, per_clip)
    assert problem.startswith(f"metrics.psnr.mean is {psnr_mean * (1 + 1e-6)!r} in results.json, but per_clip.csv "
                              f"gives {psnr_mean:.12g} (mean of 3 clip scores)")

    edited = copy.deepcopy(results)
    edited["metrics"]["psnr"]["mean"] = math.nextafter(psnr_mean, math.inf)  # one ulp: rounding, not a contradiction
    assert per_clip_disagreements(edited, per_clip) == []

    fewer = per_clip.iloc[:2]
    problems = per_clip_disagreements(results, fewer)
    assert "dataset.n_scored is 3 in results.json, but per_clip.csv has 2 rows" in problems
    assert "metrics.psnr.n is 3 in results.json, but per_clip.csv has 2 psnr scores" in problems

    extra = per_clip.assign(lpips=0.5)
    unavailable = copy.deepcopy(results)
    unavailable["metrics"]["lpips"] = {"unavailable": "no weights"}
    assert per_clip_disagreements(unavailable, extra) == [
        "metrics.lpips is unavailable in results.json, but per_clip.csv has 3 lpips scores"]

    repeated = pd.concat([per_clip.iloc[:1], per_clip.iloc[:2]])
    assert any("repeats clip ids" in p for p in per_clip_disagreements(results, repeated))
    assert per_clip_disagreements(results, per_clip.drop(columns=["ssim"])) == [
        "metrics.ssim has a mean in results.json, but per_clip.csv has no ssim column"]


def test_validate_results_returns_the_dict_it_accepts():
    results = example_results()
    assert validate_results(results, "x.json") is results


def test_find_results_lists_every_results_file_under_a_root(tmp_path):
    results = example_results()
    for sub in ("synth/test/a", "synth/test/b", "other/val/c"):
        write_json_atomic(tmp_path / sub / "results.json", results)
    (tmp_path / "synth" / "notes.json").write_text("{}")
    found = find_results(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "other/val/c/results.json", "synth/test/a/results.json", "synth/test/b/results.json"]


def test_committed_reference_runs_agree_with_their_per_clip_csv():
    for root in (REFERENCE_V1, REFERENCE):
        for run in sorted(p.name for p in root.iterdir()):
            results = load_results(root / run / "results.json")
            assert per_clip_disagreements(results, read_per_clip(root / run / "per_clip.csv")) == []

