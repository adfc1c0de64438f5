"""One definition of "the same protocol" (leaderboard.protocol), on the settings the metric suite really records,
and its two users: the leaderboard (leaderboard.table) and the regression check (leaderboard.regression)."""

import copy
import json
import shutil
from pathlib import Path

import pytest

from benchmark.metrics import MetricSuite
from leaderboard.protocol import protocol_differences, protocol_digest, protocol_id, protocol_key, same_protocol

REFERENCE = Path(__file__).resolve().parents[2] / "leaderboard" / "results" / "reference" / "synth" / "test"


def results_with(settings: dict, **dataset) -> dict:
    """A schema-2 results dict around real ``MetricSuite.settings()`` (only the fields the protocol reads)."""
    return {
        "schema_version": 2,
        "dataset": {"name": "synth", "split": "test", "track": "exo-only", "identity": "a" * 64,
                    "manifest_sha256": "b" * 64, **dataset},
        "metric_settings": settings,
        "bootstrap": {"n_boot": 1000, "seed": 0, "alpha": 0.05, "method": "percentile", "unit": "clip"},
    }


@pytest.fixture(scope="module")
def settings():
    return MetricSuite(("psnr", "ssim", "lpips")).settings()


def test_where_and_with_what_a_run_was_scored_is_not_the_protocol(settings):
    a = results_with(settings)
    b = results_with(copy.deepcopy(settings), manifest_sha256="c" * 64)  # same content, other file bytes
    b["metric_settings"].update(device="cuda:1", versions={"torch": "9.9"}, verify_weights=False,
                                metrics_requested=["psnr"], num_frames_observed=[3], resolution_scored=[[8, 8]])
    b["metric_settings"]["ssim"]["notes"] = {"border_rule": "reworded"}
    b["metric_settings"]["lpips"]["weight_files"] = [{"path": "/elsewhere", "file_sha256": "d" * 64}]
    for name, where in (("fvd", "weight_file"), ("clip_i", "weight_file"), ("clip_i", "model_path"),
                        ("fvd", "reference_cache")):  # paths on one machine (FVD / CLIP-I with their weights)
        b["metric_settings"].setdefault(name, {})[where] = {"path": "/elsewhere"}
        a["metric_settings"].setdefault(name, {})[where] = {"path": "/here"}
    b["metric_settings"]["fvd"]["versions"] = {"cd-fvd": "9.9"}
    b["bootstrap"]["seed"] = 7  # the bootstrap seed is the run's generation seed: another run, not another protocol
    assert protocol_key(a) == protocol_key(b) and protocol_id(a) == protocol_id(b)
    assert protocol_differences(a, b) == [] and same_protocol(a, b)


def test_every_setting_that_changes_a_number_is_a_difference(settings):
    a = results_with(settings)
    for field, value in [(("ssim", "sigma"), 2.0), (("ssim", "border"), "crop"), (("psnr", "cap_db"), 50.0),
                         (("crop",), "center 56x56"), (("lpips", "net"), "vgg")]:
        b = copy.deepcopy(a)
        target = b["metric_settings"]
        for key in field[:-1]:
            target = target[key]
        old = target[field[-1]]
        target[field[-1]] = value
        name = "metric_settings." + ".".join(field)
        assert protocol_differences(a, b) == [f"{name}: {_json(old)} vs {_json(value)}"]
    for key, value in [("identity", "e" * 64), ("track", "first-frame"), ("split", "val")]:
        b = results_with(settings, **{key: value})
        [line] = protocol_differences(a, b)
        assert line.startswith(f"dataset.{key}: ")
    b = copy.deepcopy(a)
    b["bootstrap"]["n_boot"] = 200
    assert protocol_differences(a, b) == ["bootstrap.n_boot: 1000 vs 200"]


def test_ignore_skips_fields_by_dotted_prefix(settings):
    a = results_with(settings)
    b = results_with(copy.deepcopy(settings), identity="e" * 64)
    b["bootstrap"]["n_boot"] = 200
    b["metric_settings"]["ssim"]["k1"] = 0.02
    assert len(protocol_differences(a, b)) == 3
    assert protocol_differences(a, b, ignore=("dataset.identity", "bootstrap")) == [
        "metric_settings.ssim.k1: 0.01 vs 0.02"]
    assert same_protocol(a, b, ignore=("dataset.identity", "bootstrap", "metric_settings.ssim"))
    assert not same_protocol(a, b, ignore=("dataset.ident", "bootstrap", "metric_settings.ssim"))  # whole keys only


def test_schema_1_files_compare_by_their_manifest_and_never_equal_a_verified_run(settings):
    def v1(manifest):
        r = results_with(settings, manifest_sha256=manifest)
        r["schema_version"] = 1
        del r["dataset"]["identity"], r["bootstrap"]
        return r

    assert same_protocol(v1("b" * 64), v1("b" * 64))
    assert protocol_differences(v1("b" * 64), v1("c" * 64)) == [
        f"dataset.manifest_sha256: \"{'b' * 64}\" vs \"{'c' * 64}\""]
    differences = protocol_differences(results_with(settings), v1("b" * 64))
    assert any(d.startswith('dataset.identity: "aaaa') and d.endswith(" vs null") for d in differences)
    assert any(d.startswith("bootstrap: {") and d.endswith(" vs null") for d in differences)


def test_split_scope_compares_the_split_the_clips_come_from_not_the_clips_scored(settings):
    full = results_with(settings, split_identity="a" * 64)
    first_clips = results_with(settings, identity="e" * 64, split_identity="a" * 64)  # a --limit run of that split
    assert protocol_differences(full, first_clips) == [f"dataset.identity: \"{'a' * 64}\" vs \"{'e' * 64}\""]
    assert same_protocol(full, first_clips, scope="split")
    other_split = results_with(settings, split_identity="f" * 64)
    assert protocol_differences(full, other_split, scope="split") == [
        f"dataset.split_identity: \"{'a' * 64}\" vs \"{'f' * 64}\""]
    older = results_with(settings)  # written before split identities: its manifest stands in
    assert protocol_key(older, scope="split")["dataset"]["manifest_sha256"] == "b" * 64
    b = copy.deepcopy(first_clips)
    b["metric_settings"]["ssim"]["sigma"] = 2.0  # everything but the data is the same rule in both scopes
    assert protocol_differences(full, b, scope="split") == ["metric_settings.ssim.sigma: 1.5 vs 2.0"]
    with pytest.raises(ValueError, match="scope"):
        protocol_key(full, scope="clip")


def test_the_protocol_digest_is_short_and_changes_with_the_key_only(settings):
    a = results_with(settings)
    b = copy.deepcopy(a)
    b["metric_settings"]["device"] = "cuda:0"
    c = copy.deepcopy(a)
    c["metric_settings"]["ssim"]["sigma"] = 2.0
    assert len(protocol_digest(a)) == 8 and int(protocol_digest(a), 16) >= 0
    assert protocol_digest(a) == protocol_digest(b) != protocol_digest(c)


def _candidate(tmp_path, edit) -> Path:
    """A copy of the committed exo-copy reference run with ``edit(results)`` applied to its results.json."""
    folder = tmp_path / "synth" / "test" / "candidate"
    shutil.copytree(REFERENCE / "exo-copy", folder)
    results = json.loads((folder / "results.json").read_text())
    results["method"]["name"] = "candidate"
    edit(results)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


@pytest.mark.parametrize("edit, same", [
    (lambda r: r["metric_settings"]["ssim"].update(sigma=2.0), False),
    (lambda r: r["metric_settings"]["psnr"].update(cap_db=50.0), False),
    (lambda r: r["bootstrap"].update(n_boot=200), False),
    (lambda r: r["dataset"].update(track="first-frame"), False),
    (lambda r: r["metric_settings"].update(device="cuda:0", versions={"torch": "9.9"}), True),
])
def test_the_regression_check_and_the_leaderboard_apply_the_same_rule(tmp_path, edit, same):
    from leaderboard.regression import compare_runs
    from leaderboard.table import build_leaderboard

    candidate = _candidate(tmp_path, edit)
    shutil.copytree(REFERENCE / "exo-copy", tmp_path / "synth" / "test" / "exo-copy")
    comparison = compare_runs(REFERENCE / "exo-copy", candidate)
    ranked = [t for s in build_leaderboard(tmp_path).sections for t in s.tables if t.kind == "ranked"]
    ranked_together = any({r.name for r in t.rows} == {"exo-copy", "candidate"} for t in ranked)
    assert (comparison.protocol == []) is same and ranked_together is same
    if not same:
        expected = protocol_differences(json.loads((REFERENCE / "exo-copy/results.json").read_text()),
                                        json.loads((candidate / "results.json").read_text()))
        assert comparison.protocol == expected  # the same lines, from the same definition


def test_the_regression_check_takes_the_split_not_the_clips_scored(tmp_path):
    """A --limit candidate (other identity of clips scored, same split) is compared; another split's data is not."""
    from leaderboard.regression import compare_runs

    limited = _candidate(tmp_path / "a", lambda r: r["dataset"].update(identity="e" * 64))
    assert compare_runs(REFERENCE / "exo-copy", limited).protocol == []
    other = _candidate(tmp_path / "b", lambda r: r["dataset"].update(split_identity="f" * 64))
    [line] = compare_runs(REFERENCE / "exo-copy", other).protocol
    assert line.startswith("not the same data: dataset.split_identity: ") and f'vs "{"f" * 64}"' in line


def _json(value) -> str:
    import json

    return json.dumps(value)
