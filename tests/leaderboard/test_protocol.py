"""One definition of "the same protocol" (leaderboard.protocol), on the settings the metric suite really records."""

import copy

import pytest

from benchmark.metrics import MetricSuite
from leaderboard.protocol import protocol_differences, protocol_id, protocol_key, same_protocol


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


def _json(value) -> str:
    import json

    return json.dumps(value)
