"""Dataset configs: a named subset of a split's rows (one ExoEgo4D category in one setting), its own parquet per
split, loadable by `datasets` and by every command through `--config`, recorded by content identity in the
manifest, the card and the results.

The fast tests add configs to a tiny SynthEgoExo folder with the writer the ExoEgo4D converter uses; the slow
ones convert the fixture's miniature Ego-Exo4D download and check the converter's configs end to end.
"""

import json
import shutil

import pyarrow.parquet as pq
import pytest

from benchmark.cli import main
from benchmark.data import build_synth, load_split
from benchmark.data import hf_format as fmt
from benchmark.data.identity import set_identity
from benchmark.data.loading import DatasetIntegrityError, UnknownConfigError, UnknownSplitError
from benchmark.data.synth.build import dataset_card_text
from benchmark.errors import UsageError
from benchmark.results import ResultsSchemaError, dataset_config, load_results, validate_results

TINY = dict(num_frames=9, ego_size=(32, 32), exo_size=(32, 48), clips_per_scene=2)
CONFIGS = {"pick-place": {"category": "pick-place"}, "stack": {"category": "stack"},
           "hands": lambda row: row["category"] in ("pick-place", "push"), "nothing": {"category": "juggling"}}


def _add_configs(root, configs):
    """What a builder does to give its folder configs: write them, hash the files, then card and manifest."""
    manifest = fmt.read_manifest(root)
    fmt.write_configs(root, manifest, configs)
    fmt.record_file_hashes(root, manifest)
    fmt.write_card(root, manifest, dataset_card_text(manifest))
    fmt.write_manifest(root, manifest)
    return manifest


@pytest.fixture(scope="module")
def with_configs(tmp_path_factory):
    """Splits test (4 clips: pick-place, stack, push, inspect) and val (1 clip: pick-place), with CONFIGS."""
    root = build_synth(tmp_path_factory.mktemp("cfg") / "synth", splits=("val", "test"), n_clips={"val": 1, "test": 4},
                       seed=3, progress=False, **TINY)
    _add_configs(root, CONFIGS)
    return root


@pytest.fixture
def copy(with_configs, tmp_path):
    return shutil.copytree(with_configs, tmp_path / "copy")


def _categories(root, split):
    return {r["clip_id"]: r["category"] for r in fmt.read_rows(root / "data" / f"{split}.parquet")}


def test_a_config_parquet_holds_the_matching_rows_of_the_split_unchanged(with_configs):
    full = pq.read_table(with_configs / "data" / "test.parquet")
    part = pq.read_table(with_configs / "data" / "hands" / "test.parquet")
    assert part.schema == full.schema
    rows = full.to_pylist()
    assert part.to_pylist() == [r for r in rows if r["category"] in ("pick-place", "push")]
    assert all(r["ego_video"].startswith("videos/test/") for r in part.to_pylist())  # the split's videos, shared


def test_configs_add_only_parquet_files(with_configs, tmp_path):
    plain = build_synth(tmp_path / "plain", splits=("val", "test"), n_clips={"val": 1, "test": 4}, seed=3,
                        progress=False, **TINY)
    files = {p.relative_to(with_configs).as_posix() for p in with_configs.rglob("*") if p.is_file()}
    before = {p.relative_to(plain).as_posix() for p in plain.rglob("*") if p.is_file()}
    assert files - before == {"data/pick-place/val.parquet", "data/pick-place/test.parquet", "data/stack/test.parquet",
                              "data/hands/val.parquet", "data/hands/test.parquet"}


def test_the_manifest_records_each_config_with_its_clip_counts_and_content_identity(with_configs):
    manifest = fmt.read_manifest(with_configs)
    assert list(manifest["configs"]) == ["hands", "pick-place", "stack"]  # "nothing" selects no clip: left out
    assert manifest["configs"]["pick-place"]["select"] == {"category": "pick-place"}
    assert manifest["configs"]["hands"]["select"] is None  # a function: not describable in JSON
    hashes = manifest["splits"]["test"]["clip_sha256"]
    for name, wanted in (("pick-place", {"pick-place"}), ("stack", {"stack"}), ("hands", {"pick-place", "push"})):
        ids = [cid for cid, cat in _categories(with_configs, "test").items() if cat in wanted]
        entry = manifest["configs"][name]["splits"]["test"]
        assert entry["n_clips"] == len(ids) and entry["identity"] == set_identity({c: hashes[c] for c in ids})
        assert entry["identity"] != manifest["splits"]["test"]["identity"]
        assert manifest["files"][f"data/{name}/test.parquet"]  # hashed with the rest of the folder
    assert sorted(manifest["configs"]["stack"]["splits"]) == ["test"]  # the val clip is pick-place


def test_the_card_lists_every_config_for_datasets_and_for_readers(with_configs):
    card = (with_configs / "README.md").read_text()
    front = card.split("---")[1]
    assert front.count("- config_name:") == 4 and "- config_name: default" in front
    assert "- config_name: stack\n  data_files:\n  - split: test\n    path: data/stack/test.parquet\n" in front
    manifest = fmt.read_manifest(with_configs)
    identity = manifest["configs"]["hands"]["splits"]["test"]["identity"]
    assert f"| `hands` | test | 2 | `{identity}` |" in card.split("---", 2)[2]


def test_datasets_loads_a_config_and_by_default_every_clip_offline(with_configs, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = str(tmp_path / "hf-cache")
    stack = datasets.load_dataset(str(with_configs), "stack", cache_dir=cache)
    assert list(stack) == ["test"] and stack["test"]["category"] == ["stack"]
    hands = datasets.load_dataset(str(with_configs), "hands", cache_dir=cache)
    assert {s: hands[s].num_rows for s in hands} == {"val": 1, "test": 2}
    everything = datasets.load_dataset(str(with_configs), cache_dir=cache)
    assert {s: everything[s].num_rows for s in everything} == {"val": 1, "test": 4}
    assert everything["test"]["clip_id"] == list(_categories(with_configs, "test"))


def test_load_split_with_a_config_gives_its_clips_and_their_identity(with_configs):
    clips = load_split("synth", "test", root=with_configs, config="hands")
    manifest = fmt.read_manifest(with_configs)
    entry = manifest["configs"]["hands"]["splits"]["test"]
    assert clips.config == "hands" and clips.label == "synth[hands]/test"
    assert clips.clip_ids == [c for c, cat in _categories(with_configs, "test").items() if cat in ("pick-place", "push")]
    assert clips.identity == entry["identity"] and clips.manifest_sha256 == entry["sha256"]
    assert clips.verify() == entry["sha256"]
    assert clips.verifiable
    hashes = {cid: clips.verify_clip(cid) for cid in clips.clip_ids}  # decoded content matches the build
    assert set_identity(hashes) == clips.identity
    assert clips[0].extra["config"] == "hands"
    default = load_split("synth", "test", root=with_configs)
    assert default.config == "default" and len(default) == 4 and default.identity == manifest["splits"]["test"]["identity"]


def test_an_unknown_config_is_a_usage_error_listing_the_configs(with_configs, capsys):
    with pytest.raises(UnknownConfigError, match=r"config 'stak' \(--config\) is not in dataset 'synth'.*the configs "
                                                 r"there are: default, hands, pick-place, stack; did you mean 'stack'"):
        load_split("synth", "test", root=with_configs, config="stak")
    assert main(["data", "list", "--root", str(with_configs), "--config", "stak"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "default, hands, pick-place, stack" in err


def test_the_cached_synthetic_set_has_only_the_default_config(tmp_path, monkeypatch):
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path))
    with pytest.raises(UnknownConfigError, match="SynthEgoExo has the config 'default' only"):
        load_split("synth", "test", config="stack")
    assert not any(tmp_path.iterdir())  # refused before building anything


def test_a_config_without_clips_in_a_split_names_the_splits_it_has(with_configs):
    with pytest.raises(UnknownSplitError, match="config 'stack' of dataset 'synth' .* has no clips in split 'val'.*"
                                                "its splits are: test"):
        load_split("synth", "val", root=with_configs, config="stack")


def test_a_changed_config_parquet_fails_verification(copy):
    rows = fmt.read_rows(copy / "data" / "hands" / "test.parquet")
    fmt.write_parquet(copy / "data" / "hands" / "test.parquet", rows[:1])  # a clip dropped from the config
    with pytest.raises(DatasetIntegrityError, match="split 'test' of config 'hands' does not match manifest.json.*"
                                                    "data/hands/test.parquet"):
        load_split("synth", "test", root=copy, config="hands").verify()
    load_split("synth", "test", root=copy).verify()  # the split itself is intact


def test_rewriting_configs_removes_the_files_of_configs_no_longer_wanted(copy):
    manifest = _add_configs(copy, {"stack": {"category": "stack"}})
    assert list(manifest["configs"]) == ["stack"]
    assert sorted(p.relative_to(copy).as_posix() for p in (copy / "data").rglob("*.parquet")) == [
        "data/stack/test.parquet", "data/test.parquet", "data/val.parquet"]
    assert not any(k.startswith(("data/hands/", "data/pick-place/")) for k in manifest["files"])
    manifest = _add_configs(copy, {})
    assert "configs" not in manifest and sorted(p.name for p in (copy / "data").iterdir()) == ["test.parquet",
                                                                                               "val.parquet"]


@pytest.mark.parametrize("name", ["default", "a/b", "", "-x"])
def test_config_names_are_checked(copy, name):
    with pytest.raises(ValueError, match="config name"):
        fmt.write_configs(copy, fmt.read_manifest(copy), {name: {"category": "stack"}})


def test_a_synth_build_has_only_the_default_config(tiny_synth):
    assert "configs" not in fmt.read_manifest(tiny_synth)
    front = (tiny_synth / "README.md").read_text().split("---")[1]
    assert front.count("- config_name:") == 1 and "## Configs" not in (tiny_synth / "README.md").read_text()


def test_data_list_and_show_take_a_config(with_configs, tmp_path, capsys):
    assert main(["data", "list", "--root", str(with_configs), "--config", "hands"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"synth[hands]/test at {with_configs}: 2 clips")
    stack_id = next(c for c, cat in _categories(with_configs, "test").items() if cat == "stack")
    assert stack_id not in out
    hands_id = next(c for c, cat in _categories(with_configs, "test").items() if cat == "push")
    assert main(["data", "show", hands_id, "--root", str(with_configs), "--config", "hands",
                 "--out", str(tmp_path / "x.png")]) == 0
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["data", "show", stack_id, "--root", str(with_configs), "--config", "hands"]) == 2
    err = capsys.readouterr().err
    assert "not in config 'hands': leave --config out" in err and "--config hands" in err


# --- results, leaderboard, regression check -------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_runs(with_configs, tmp_path_factory):
    """exo-copy on config `hands` and on the default config of the test split."""
    from benchmark.runner import run

    out = tmp_path_factory.mktemp("runs")
    on_config = run("exo-copy", root=with_configs, out=out, config="hands", progress=False, metrics=("psnr",),
                    n_boot=200)
    on_default = run("exo-copy", root=with_configs, out=out, progress=False, metrics=("psnr",), n_boot=200)
    return out, on_config, on_default


def test_a_run_on_a_config_records_it_and_the_identity_of_the_clips_scored(with_configs, config_runs):
    out, on_config, on_default = config_runs
    assert on_config.out_dir == out / "synth@hands" / "test" / "exo-copy"
    assert on_default.out_dir == out / "synth" / "test" / "exo-copy"
    results = load_results(on_config.out_dir / "results.json")
    entry = fmt.read_manifest(with_configs)["configs"]["hands"]["splits"]["test"]
    assert results["dataset"]["config"] == "hands" and dataset_config(results) == "hands"
    assert results["dataset"]["n_clips"] == 2 and results["dataset"]["identity"] == entry["identity"]
    assert results["dataset"]["split_identity"] == entry["identity"]
    assert json.loads((on_config.out_dir / "run.json").read_text())["config"] == "hands"
    assert load_results(on_default.out_dir / "results.json")["dataset"]["config"] == "default"
    assert "config" not in json.loads((on_default.out_dir / "run.json").read_text())  # older run folders stay valid


def test_results_without_a_config_are_read_as_the_default_config(config_runs, tmp_path):
    _, _, on_default = config_runs
    results = json.loads((on_default.out_dir / "results.json").read_text())
    del results["dataset"]["config"]  # a file written before configs existed
    assert dataset_config(validate_results(results, "old.json")) == "default"
    results["dataset"]["config"] = 7
    with pytest.raises(ResultsSchemaError, match="old.json: dataset.config: expected a config name"):
        validate_results(results, "old.json")


def test_the_leaderboard_puts_each_config_in_its_own_section(config_runs):
    from leaderboard.table import render_markdown

    out = config_runs[0]
    text = render_markdown(out)
    assert "## synth / test / exo-only" in text and "## synth [hands] / test / exo-only" in text
    only = render_markdown(out, config="hands")
    assert "## synth [hands] / test / exo-only" in only and "## synth / test / exo-only" not in only


def test_the_leaderboard_reads_results_without_a_config_as_the_default(config_runs, tmp_path):
    from leaderboard.table import render_markdown

    _, _, on_default = config_runs
    old = shutil.copytree(on_default.out_dir, tmp_path / "old" / "synth" / "test" / "exo-copy")
    results = json.loads((old / "results.json").read_text())
    del results["dataset"]["config"]
    (old / "results.json").write_text(json.dumps(results))
    shutil.copytree(on_default.out_dir, tmp_path / "old" / "synth" / "test" / "exo-copy-new")
    text = render_markdown(tmp_path / "old")
    assert text.count("## synth") == 1 and "Ranked: 2 runs" in text


def test_the_regression_check_refuses_to_compare_two_configs(config_runs):
    from leaderboard.regression import compare_runs

    _, on_config, on_default = config_runs
    comparison = compare_runs(on_default.out_dir, on_config.out_dir)
    # the one protocol definition (leaderboard.protocol) names the field and both values
    assert 'dataset.config: "default" vs "hands"' in comparison.protocol and not comparison.ok
    assert not comparison.ok


def test_the_ablation_tables_refuse_runs_of_one_method_and_seed_on_two_configs(config_runs):
    from leaderboard.ablation import collect

    with pytest.raises(UsageError, match="two runs of exo-copy with seed 0"):
        collect(config_runs[0])


# --- ExoEgo4D (slow: converts the fixture's miniature Ego-Exo4D download) --------------------------------------


@pytest.fixture(scope="module")
def exoego4d(tmp_path_factory):
    """Takes 0 (bike-repair, train), 1 (covid-test, test), 2 (cpr, val), 3 (basketball, train), 4 (cooking, test)."""
    from benchmark.data.egoexo4d.convert import build_exoego4d
    from benchmark.data.egoexo4d.fixture import write_fixture

    base = tmp_path_factory.mktemp("exoego4d")
    truth = write_fixture(base / "egoexo", n_takes=5, n_frames=69, supersample=1)
    out, report = build_exoego4d(truth.root, base / "out", progress=False)
    return out, report


@pytest.mark.slow
def test_exoego4d_has_one_config_per_category_and_setting(exoego4d):
    from benchmark.data.egoexo4d.protocol import config_name

    out, report = exoego4d
    manifest = fmt.read_manifest(out)
    present = {cat for cats in report["clips"].values() for cat in cats}
    assert present == {"bike-repair", "covid-test", "cpr", "basketball", "cooking"}
    assert set(manifest["configs"]) == {config_name(c, "unseen-takes") for c in present}
    for name, config in manifest["configs"].items():
        category = config["select"]["category"]
        assert name == f"{category}-unseen-takes"
        for split, entry in config["splits"].items():
            rows = [r for r in fmt.read_rows(out / "data" / f"{split}.parquet") if r["category"] == category]
            assert fmt.read_rows(out / "data" / name / f"{split}.parquet") == rows
            assert entry["n_clips"] == report["clips"][split][category] == len(rows)
            hashes = manifest["splits"][split]["clip_sha256"]
            assert entry["identity"] == set_identity({r["clip_id"]: hashes[r["clip_id"]] for r in rows})
    assert not (out / "videos" / "cooking-unseen-takes").exists()
    card = (out / "README.md").read_text()
    assert "- config_name: cooking-unseen-takes" in card and "| `cooking-unseen-takes` | test | 1 |" in card


@pytest.mark.slow
def test_exoego4d_configs_load_with_datasets_and_run_through_the_benchmark(exoego4d, tmp_path, monkeypatch):
    import datasets

    out, _ = exoego4d
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = str(tmp_path / "hf-cache")
    cooking = datasets.load_dataset(str(out), "cooking-unseen-takes", cache_dir=cache)
    assert list(cooking) == ["test"] and cooking["test"]["category"] == ["cooking"]
    everything = datasets.load_dataset(str(out), cache_dir=cache)
    assert sorted(everything["test"]["category"]) == ["cooking", "covid-test"]

    assert main(["run", "--method", "exo-copy", "--dataset", "exoego4d", "--root", str(out), "--config",
                 "cooking-unseen-takes", "--out", str(tmp_path / "runs"), "--metrics", "psnr", "--n-boot", "200",
                 "--no-progress"]) == 0
    results = load_results(tmp_path / "runs" / "exoego4d@cooking-unseen-takes" / "test" / "exo-copy" / "results.json")
    entry = fmt.read_manifest(out)["configs"]["cooking-unseen-takes"]["splits"]["test"]
    assert results["dataset"]["config"] == "cooking-unseen-takes" and results["dataset"]["identity"] == entry["identity"]
    clip_id = cooking["test"]["clip_id"][0]
    assert main(["data", "show", clip_id, "--dataset", "exoego4d", "--root", str(out), "--config",
                 "cooking-unseen-takes", "--out", str(tmp_path / "show.png")]) == 0
    assert (tmp_path / "show.png").read_bytes()[:4] == b"\x89PNG"
