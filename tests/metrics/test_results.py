"""results.json schema v1: build, atomic write, load round trip, version check, discovery."""

import json

import pytest

from benchmark.results import (
    SCHEMA_VERSION,
    ResultsSchemaError,
    build_results,
    find_results,
    load_results,
    write_json_atomic,
)


def example_results(**overrides) -> dict:
    kwargs = dict(
        method={"name": "exo-copy", "config": {"view": 0}, "checkpoint_sha256": None, "extra": "kept"},
        dataset={"name": "synth", "split": "test", "track": "exo-only", "manifest_sha256": "ab" * 32, "n_clips": 3},
        metrics_summary={"psnr": {"mean": 21.5, "ci95": [20.0, 23.0], "higher_is_better": True, "n": 3},
                         "lpips": {"unavailable": "no AlexNet weights"}},
        per_category={"Bike": {"psnr": {"mean": 21.5, "ci95": [20.0, 23.0], "n": 3}}},
        settings={"colour_space": "RGB"},
        seed=0,
        counts={"generated": 2, "reused": 1, "failed": 0},
    )
    kwargs.update(overrides)
    return build_results(**kwargs)


def test_build_results_follows_schema_v1():
    results = example_results()
    assert results["schema_version"] == SCHEMA_VERSION == 1
    assert list(results) == ["schema_version", "method", "dataset", "metrics", "per_category", "metric_settings",
                             "seed", "counts", "versions", "git_commit", "git_dirty", "created"]
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


def test_another_schema_version_is_refused_with_a_clear_error(tmp_path):
    results = example_results()
    results["schema_version"] = 2
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(ResultsSchemaError, match="schema_version 2.*reads schema_version 1"):
        load_results(path)
    path.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(ResultsSchemaError, match="no 'schema_version'"):
        load_results(path)


def test_non_finite_or_incomplete_metrics_are_refused():
    with pytest.raises(ResultsSchemaError, match="finite"):
        example_results(metrics_summary={"psnr": {"mean": float("inf"), "ci95": [1.0, 2.0],
                                                  "higher_is_better": True, "n": 1}})
    with pytest.raises(ResultsSchemaError, match="reason"):
        example_results(metrics_summary={"lpips": {"unavailable": ""}})
    with pytest.raises(ResultsSchemaError, match="manifest_sha256"):
        example_results(dataset={"name": "synth", "split": "test", "track": "exo-only", "n_clips": 1})


def test_failed_clips_need_an_id_and_an_error():
    results = example_results(counts={"generated": 1, "reused": 0, "failed": 1,
                                      "failed_clips": [{"clip_id": "c7", "error": "no pose"}]})
    assert results["counts"]["failed_clips"] == [{"clip_id": "c7", "error": "no pose"}]
    with pytest.raises(ResultsSchemaError, match="clip_id"):
        example_results(counts={"generated": 1, "reused": 0, "failed": 1, "failed_clips": [{"error": "x"}]})


def test_find_results_lists_every_results_file_under_a_root(tmp_path):
    results = example_results()
    for sub in ("synth/test/a", "synth/test/b", "other/val/c"):
        write_json_atomic(tmp_path / sub / "results.json", results)
    (tmp_path / "synth" / "notes.json").write_text("{}")
    found = find_results(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "other/val/c/results.json", "synth/test/a/results.json", "synth/test/b/results.json"]
