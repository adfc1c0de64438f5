"""MetricSuite: per-clip table, summaries with bootstrap intervals, per-category numbers, recorded settings."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import UsageError
from benchmark.metrics import MetricComputationError, MetricSuite, bootstrap_ci, summarize
from benchmark.metrics.catalog import UnknownMetricError
from benchmark.metrics.bootstrap import bootstrap_means
from benchmark.results import read_per_clip, write_csv_atomic

CATEGORIES = ["Bike", "Bike", "CPR", "Covid", "CPR"]


@pytest.fixture
def scored_suite(make_clip, perturb):
    suite = MetricSuite(("psnr", "ssim"))
    for i, category in enumerate(CATEGORIES):
        target = make_clip(i, (3, 20, 24, 3))
        suite.update(f"{i:04d}", category, perturb(target, 100 + i, amplitude=10 + 10 * i), target)
    return suite


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
    values = np.random.default_rng(0).normal(20.0, 3.0, size=40)
    low, high = bootstrap_ci(values, n_boot=1000, seed=3)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values, n_boot=1000, seed=3)
    assert (low, high) != bootstrap_ci(values, n_boot=1000, seed=4)


def test_bootstrap_resamples_clips_jointly_across_metrics():
    a = np.arange(10.0)
    assert np.allclose(bootstrap_means(2 * a + 1, n_boot=200, seed=0), 2 * bootstrap_means(a, n_boot=200, seed=0) + 1)


def test_one_clip_gives_a_degenerate_interval():
    assert bootstrap_ci([12.5], n_boot=100, seed=0) == (12.5, 12.5)


def test_per_clip_table_has_ids_category_and_one_column_per_metric(scored_suite):
    df = scored_suite.per_clip()
    assert list(df.columns) == ["clip_id", "category", "psnr", "ssim"]
    assert list(df["clip_id"]) == ["0000", "0001", "0002", "0003", "0004"]
    assert df["psnr"].is_monotonic_decreasing  # more noise, lower PSNR


def test_summary_gives_mean_interval_direction_and_count(scored_suite):
    summary = scored_suite.summary(n_boot=500, seed=0)
    df = scored_suite.per_clip()
    for name, higher in (("psnr", True), ("ssim", True)):
        entry = summary["metrics"][name]
        assert entry["mean"] == pytest.approx(df[name].mean())
        assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1]
        assert entry["higher_is_better"] is higher and entry["n"] == 5
    assert summary["metrics"]["psnr"]["mean"] == pytest.approx(float(scored_suite.metrics["psnr"].compute()))
    assert summary["bootstrap"] == {"n_boot": 500, "seed": 0, "alpha": 0.05, "method": "percentile", "unit": "clip"}


def test_per_category_numbers_use_only_that_category(scored_suite):
    per_category = scored_suite.summary(n_boot=200, seed=0)["per_category"]
    df = scored_suite.per_clip()
    assert sorted(per_category) == ["Bike", "CPR", "Covid"]
    for category, rows in df.groupby("category"):
        for name in ("psnr", "ssim"):
            entry = per_category[category][name]
            assert entry["n"] == len(rows)
            assert entry["mean"] == pytest.approx(rows[name].mean())
            assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1]


def test_summary_recomputed_from_per_clip_csv_equals_the_live_summary(scored_suite, tmp_path):
    path = write_csv_atomic(tmp_path / "per_clip.csv", scored_suite.per_clip())
    reread = read_per_clip(path)
    assert list(reread["clip_id"]) == list(scored_suite.per_clip()["clip_id"])  # "0000" stays a string
    assert summarize(reread, ["psnr", "ssim"], n_boot=300, seed=5) == scored_suite.summary(n_boot=300, seed=5)


def test_summarize_reports_unavailable_metrics_with_their_reason():
    df = pd.DataFrame({"clip_id": ["a", "b"], "category": ["x", "x"], "psnr": [20.0, 22.0]})
    summary = summarize(df, ["psnr", "lpips", "ssim"], n_boot=50, unavailable={"lpips": "no AlexNet file"})
    assert summary["metrics"]["lpips"] == {"unavailable": "no AlexNet file"}
    assert "not in the per-clip table" in summary["metrics"]["ssim"]["unavailable"]
    assert summary["metrics"]["psnr"]["mean"] == 21.0


def test_update_names_the_clip_on_a_shape_or_dtype_mismatch(make_clip):
    suite = MetricSuite(("psnr",))
    with pytest.raises(ValueError, match="clip 'bad-1'.*shapes differ"):
        suite.update("bad-1", "x", make_clip(0, (2, 16, 16, 3)), make_clip(0, (2, 16, 18, 3)))
    with pytest.raises(ValueError, match="clip 'bad-2'.*uint8"):
        suite.update("bad-2", "x", make_clip(0, (2, 16, 16, 3)).astype(np.float32), make_clip(0, (2, 16, 16, 3)))


def test_a_repeated_clip_id_is_refused(make_clip):
    suite = MetricSuite(("psnr",))
    clip = make_clip(0, (2, 16, 16, 3))
    suite.update("same", "x", clip, clip)
    with pytest.raises(ValueError, match="already scored"):
        suite.update("same", "x", clip, clip)


def test_a_metric_failing_on_a_clip_records_the_clip_in_no_metric(make_clip):
    suite = MetricSuite(("psnr", "ssim"))
    tiny = make_clip(0, (2, 5, 5, 3))  # smaller than SSIM's 11x11 window: PSNR succeeds, SSIM fails
    with pytest.raises(MetricComputationError, match="clip 'tiny'.*ssim"):
        suite.update("tiny", "x", tiny, tiny)
    clip = make_clip(1, (2, 16, 16, 3))
    suite.update("ok", "x", clip, clip)
    df = suite.per_clip()
    assert list(df["clip_id"]) == ["ok"] and len(suite.metrics["psnr"].per_clip_scores()) == 1


def test_settings_record_everything_that_changes_a_number(scored_suite):
    settings = scored_suite.settings()
    assert settings["colour_space"] == "RGB"
    assert settings["value_range"] == "[0, 1] = uint8 / 255"
    assert settings["frames_scored"] == "all"
    assert settings["resolution_scored"] == [[20, 24]]
    assert settings["num_frames_observed"] == [3]
    assert settings["crop"] == "none" and settings["resize"] == "none"
    assert settings["psnr"]["data_range"] == 1.0 and "100 dB" in settings["psnr"]["inf_rule"]
    assert {k: settings["ssim"][k] for k in ("kernel_size", "sigma", "k1", "k2", "data_range")} == {
        "kernel_size": 11, "sigma": 1.5, "k1": 0.01, "k2": 0.03, "data_range": 1.0}
    assert settings["versions"]["torchmetrics"]


def test_unknown_metric_names_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        MetricSuite(("psnr", "fid"))


@pytest.mark.parametrize("names, expected", [
    (("psnr", "lpis"), ["unknown metric 'lpis' (--metrics); did you mean 'lpips'?", "psnr, ssim, lpips, fvd"]),
    (("psnr", "ssim", "psnr"), ["metric(s) 'psnr' named more than once in ['psnr', 'ssim', 'psnr'] (--metrics)"]),
])
def test_unknown_or_repeated_metric_names_are_usage_errors(names, expected):
    with pytest.raises(UsageError) as err:
        MetricSuite(names)
    assert isinstance(err.value, UnknownMetricError)
    for text in expected:
        assert text in str(err.value)


def test_a_single_metric_name_is_one_metric():
    assert MetricSuite("psnr").names == ("psnr",)


def test_the_catalogue_is_the_suites_and_needs_no_torch():
    from benchmark.metrics import catalog, suite

    assert suite.METRICS is catalog.METRICS and suite.MetricEntry is catalog.MetricEntry
    code = ("import sys; from benchmark.metrics.catalog import METRICS; import benchmark.metrics; "
            "print(','.join(METRICS), 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [",".join(catalog.METRICS), "False"]
    assert {"psnr", "ssim", "lpips", "fvd", "clip_i", "ego_motion"} <= set(catalog.METRICS)


def test_the_package_names_its_members_lazily_and_as_before():
    """``video_psnr`` is the function even after its submodule was imported by someone else (as the suite does)."""
    code = ("import benchmark.metrics.suite, benchmark.metrics.video_ssim\n"
            "from benchmark.metrics import video_psnr, video_ssim, video_lpips, MetricSuite, VideoPSNR, weights\n"
            "import types\n"
            "assert all(isinstance(f, types.FunctionType) for f in (video_psnr, video_ssim, video_lpips))\n"
            "assert isinstance(weights, types.ModuleType) and MetricSuite.__name__ == 'MetricSuite'\n"
            "import benchmark.metrics as m\n"
            "assert set(m.__all__) <= set(dir(m))\n"
            "try:\n    m.no_such_name\nexcept AttributeError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "has no attribute 'no_such_name'" in proc.stdout


def test_given_frames_are_not_scored_by_any_metric_and_the_settings_say_so(make_clip):
    """On the first-frame track frame 0 is the method's input: a prediction that copies it and one that gets it
    wrong score the same, both equal to scoring frames 1.. alone; the cameras are cut the same way."""
    truth = make_clip(0, (4, 16, 16, 3))
    rest = make_clip(1, (3, 16, 16, 3))
    copied = np.concatenate([truth[:1], rest])
    wrong = np.concatenate([255 - truth[:1], rest])
    K = np.array([[16.0, 0, 8], [0, 16.0, 8], [0, 0, 1]])
    poses = np.tile(np.eye(4), (4, 1, 1))
    names = ("psnr", "ssim", "ego_motion")
    given = MetricSuite(names, given_frames=1)
    given.update("copied", "x", copied, truth, ego_K=K, ego_T_world_cam=poses)
    given.update("wrong", "x", wrong, truth, ego_K=K, ego_T_world_cam=poses)
    alone = MetricSuite(names)
    alone.update("rest", "x", rest, truth[1:], ego_K=K, ego_T_world_cam=poses[1:])
    scores = given.per_clip().set_index("clip_id")
    for name in names:
        assert scores.loc["copied", name] == scores.loc["wrong", name] == alone.per_clip()[name].iloc[0]
    assert scores.loc["copied", "psnr"] < 20  # not lifted by the 100 dB of a copied frame
    assert given.settings()["frames_scored"].startswith("from frame 1")
    assert given.settings()["num_frames_observed"] == [3]
    with pytest.raises(ValueError, match="clip 'short'.*nothing left to score"):
        given.update("short", "x", truth[:1], truth[:1], ego_K=K, ego_T_world_cam=poses[:1])
    for bad in (-1, 0.5):
        with pytest.raises(ValueError, match="given_frames"):
            MetricSuite(("psnr",), given_frames=bad)
