"""What `python -m benchmark run` scores when no metric is named: all six metrics of issue 9, each either a number
with its 95% interval or an `unavailable` reason that names the command that fixes it. Nothing is dropped silently
and no number is written for a metric that could not be computed."""

import json

from benchmark.cli import main
from benchmark.metrics.catalog import DEFAULT_METRICS, METRICS

SIX = ("psnr", "ssim", "lpips", "fvd", "clip_i", "ego_motion")


def test_the_default_metrics_are_the_six_the_field_reports_plus_the_ego_motion_error():
    assert DEFAULT_METRICS == SIX
    assert all(METRICS[name].default for name in SIX)


def test_a_default_run_records_every_metric_as_a_number_with_an_interval_or_as_unavailable_with_the_fix(
        tiny_synth, tmp_path, capsys):
    # the test cache holds no weight files (conftest isolates it): lpips, fvd and clip_i cannot be computed here
    rc = main(["run", "--method", "exo-copy", "--root", str(tiny_synth), "--out", str(tmp_path), "--limit", "3",
               "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "synth" / "test" / "exo-copy" / "results.json").read_text())
    metrics = results["metrics"]
    assert tuple(metrics) == SIX
    for name in ("psnr", "ssim", "ego_motion"):  # no weights needed: always computed
        entry = metrics[name]
        low, high = entry["ci95"]
        assert low <= entry["mean"] <= high and entry["n"] == 3, (name, entry)
    for name in ("lpips", "fvd", "clip_i"):
        reason = metrics[name]["unavailable"]
        assert "mean" not in metrics[name] and "value" not in metrics[name]
        assert "python -m benchmark weights download" in reason, reason
    assert results["metric_settings"]["metrics_requested"] == list(SIX)
    header = (tmp_path / "synth" / "test" / "exo-copy" / "per_clip.csv").read_text().splitlines()[0]
    assert header.split(",") == ["clip_id", "category", "psnr", "ssim", "ego_motion"]
    for name in ("lpips", "fvd", "clip_i"):
        assert f"{name}" in printed and "unavailable" in printed


def test_the_metrics_device_defaults_to_a_gpu_when_there_is_one_and_bad_values_are_usage_errors(monkeypatch):
    import pytest
    import torch

    from benchmark.errors import UsageError
    from benchmark.runner import resolve_metrics_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_metrics_device("auto") == "cpu" and resolve_metrics_device("cpu") == "cpu"
    with pytest.raises(UsageError, match="no CUDA GPU"):
        resolve_metrics_device("cuda")
    with pytest.raises(UsageError, match="expected auto, cpu, cuda"):
        resolve_metrics_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_metrics_device("auto") == "cuda" and resolve_metrics_device("cuda:1") == "cuda:1"


def test_a_run_records_where_its_metrics_ran(tiny_synth, tmp_path):
    rc = main(["run", "--method", "exo-copy", "--root", str(tiny_synth), "--out", str(tmp_path), "--limit", "1",
               "--metrics", "psnr", "--metrics-device", "cpu", "--no-progress"])
    assert rc == 0
    results = json.loads((tmp_path / "synth" / "test" / "exo-copy" / "results.json").read_text())
    assert results["metric_settings"]["device"] == "cpu"
    assert main(["run", "--method", "exo-copy", "--root", str(tiny_synth), "--out", str(tmp_path / "b"),
                 "--metrics-device", "tpu", "--no-progress"]) == 2
