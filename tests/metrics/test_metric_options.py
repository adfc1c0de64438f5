"""``--metric-arg METRIC.KEY=VALUE``: metric variants chosen on the command line, recorded, and kept by ``score``.

The weight files of LPIPS and FVD are never on these machines: runs here record those metrics as unavailable, which
is enough to check what these tests are about (the option reaches the metric, selects its variant's files, is
recorded in ``metric_settings`` and read back by ``score``). The ego-motion error needs no weights, so its options
are checked end to end with real numbers.
"""

import json

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.errors import UsageError
from benchmark.metrics import MetricSuite, weights
from benchmark.metrics.catalog import DEFAULT_METRICS
from benchmark.metrics.options import (
    check_metric_options,
    option_specs,
    options_to_score,
    parse_metric_args,
    recorded_options,
)
from leaderboard.protocol import protocol_differences, protocol_key

RUN_DIR = ("synth", "test", "exo-copy")
IGNORED = ("created", "versions", "git_commit", "git_dirty", "scoring")


def run_cli(*args):
    return main([str(a) for a in args])


def results_of(folder):
    return json.loads((folder / "results.json").read_text())


@pytest.fixture(autouse=True)
def no_weights(monkeypatch, tmp_path):
    """Every weight lookup points at empty folders, whatever this machine's caches hold."""
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv(weights.ENV_I3D, str(tmp_path / "no-i3d" / weights.I3D_FILENAME))
    monkeypatch.setenv(weights.ENV_VIDEOMAE, str(tmp_path / "no-videomae" / weights.VIDEOMAE_FILENAME))
    for var in (weights.ENV_LPIPS_ALEXNET, weights.ENV_LPIPS_VGG16, weights.ENV_CLIP, weights.ENV_WEIGHTS_MIRROR):
        monkeypatch.delenv(var, raising=False)


# ---- parsing ----------------------------------------------------------------------------------------------------


def test_values_are_parsed_as_the_type_each_option_expects():
    options = parse_metric_args(["lpips.net=vgg", "fvd.backbone=videomae", "fvd.max_clips=512", "fvd.seed=7",
                                 "ego_motion.model=essential", "ego_motion.frame_step=2", "ego_motion.ratio=0.7"],
                                DEFAULT_METRICS)
    assert options == {"lpips": {"net": "vgg"}, "fvd": {"backbone": "videomae", "max_clips": 512, "seed": 7},
                       "ego_motion": {"model": "essential", "frame_step": 2, "ratio": 0.7}}
    assert parse_metric_args(["fvd.max_clips=null"]) == {"fvd": {"max_clips": None}}
    assert parse_metric_args(["fvd.seed=1", "fvd.seed=2"]) == {"fvd": {"seed": 2}}  # the last one counts


@pytest.mark.parametrize("args, expected", [
    (["lpips"], "expects METRIC.KEY=VALUE"),
    (["lpips.net"], "expects METRIC.KEY=VALUE"),
    (["lpip.net=vgg"], "unknown metric 'lpip'; did you mean 'lpips'?"),
    (["psnr.cap=50"], "psnr takes no options; metrics with options: lpips, fvd, ego_motion"),
    (["lpips.nett=vgg"], "did you mean 'net'? (lpips accepts: net (one of alex, vgg; default 'alex'))"),
    (["lpips.net=squeeze"], "lpips.net=squeeze: lpips expects one of alex, vgg"),
    (["fvd.max_clips=1"], "expects an integer >= 2 (or null) for 'max_clips'"),
    (["fvd.seed=1.5"], "fvd expects an integer for 'seed'"),
    (["fvd.backbone=videomae", "fvd.frames_per_clip=8"], "videomae takes exactly 16 frames"),
    (["ego_motion.model=affine"], "one of rotation, essential"),
    (["ego_motion.ratio=1.5"], "ratio=1.5: expected a number in (0, 1]"),
    (["ego_motion.frame_step=0"], "frame_step"),
])
def test_mistakes_are_usage_errors_naming_the_argument_and_what_is_accepted(args, expected):
    with pytest.raises(UsageError) as err:
        parse_metric_args(args, DEFAULT_METRICS)
    assert expected in str(err.value)


def test_an_option_of_a_metric_not_scored_is_refused():
    with pytest.raises(UsageError, match=r"lpips is not among the metrics scored \(psnr, ssim\)"):
        parse_metric_args(["lpips.net=vgg"], ("psnr", "ssim"))


def test_every_ego_motion_default_is_an_option_with_its_type():
    from benchmark.metrics.ego_motion import DEFAULTS, MODELS

    specs = option_specs("ego_motion")
    assert {k: s.default for k, s in specs.items()} == DEFAULTS
    assert specs["model"].choices == MODELS and specs["ratio"].kind is float and specs["frame_step"].kind is int


@pytest.mark.parametrize("args, expected", [
    (("run", "--method", "exo-copy", "--metrics", "psnr,ssim", "--metric-arg", "lpips.net=vgg"),
     "lpips is not among the metrics scored"),
    (("run", "--method", "exo-copy", "--metric-arg", "lpips.net=squeeze"), "lpips expects one of alex, vgg"),
    (("run", "--method", "exo-copy", "--metric-arg", "fvd.bakcbone=videomae"), "did you mean 'backbone'?"),
    (("score", "nowhere", "--metric-arg", "nope.x=1"), "unknown metric 'nope'"),
    (("ablation", "--metric-arg", "fvd.max_clips=many"), "fvd.max_clips=many"),
])
def test_command_line_mistakes_exit_2_with_one_line(args, expected, capsys):
    assert run_cli(*args) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


# ---- each option is recorded where score finds it ----------------------------------------------------------------


NON_DEFAULT = {"lpips": {"net": "vgg"},
               "fvd": {"backbone": "videomae", "max_clips": 64, "seed": 5, "skip_first_frames": 1,
                       "short_clip_rule": "error"},
               "ego_motion": {"model": "essential", "frame_step": 2, "detect_min_side": 128, "max_features": 500,
                              "ratio": 0.7, "ransac_threshold_px": 1.5, "ransac_iterations": 64, "min_matches": 12,
                              "min_inliers": 9, "seed": 3}}


def test_every_option_is_recorded_in_the_settings_and_read_back_from_them():
    for metric, specs in (("lpips", option_specs("lpips")), ("fvd", option_specs("fvd")),
                          ("ego_motion", option_specs("ego_motion"))):
        given = {k: v for k, v in NON_DEFAULT[metric].items()}
        given.update({k: s.default for k, s in specs.items() if k not in given})
        assert all(specs[k].default != v for k, v in NON_DEFAULT[metric].items())  # really other than the default
        settings = MetricSuite((metric,), metric_options={metric: given}).settings()
        assert recorded_options(settings, (metric,)) == {metric: given}, metric


def test_options_change_the_protocol_key():
    def settings(options):
        return {"dataset": {"name": "synth", "split": "test", "track": "exo-only", "identity": "x"},
                "metric_settings": MetricSuite(("lpips", "fvd"), metric_options=options).settings()}

    default = settings({})
    assert protocol_key(default) == protocol_key(settings({"lpips": {"net": "alex"}, "fvd": {"backbone": "i3d"}}))
    vgg = protocol_differences(default, settings({"lpips": {"net": "vgg"}}))
    assert vgg == ['metric_settings.lpips.net: "alex" vs "vgg"']
    videomae = protocol_differences(default, settings({"fvd": {"backbone": "videomae"}}))
    assert 'metric_settings.fvd.protocol.backbone: "i3d" vs "videomae"' in videomae
    assert "metric_settings.fvd.min_clips: 401 vs 1409" in videomae
    sampled = protocol_differences(default, settings({"fvd": {"max_clips": 100, "seed": 2}}))
    assert "metric_settings.fvd.max_clips: null vs 100" in sampled and "metric_settings.fvd.seed: 0 vs 2" in sampled


def test_rescoring_keeps_the_recorded_options_unless_overridden():
    recorded = MetricSuite(("psnr", "lpips", "fvd"), metric_options={"lpips": {"net": "vgg"},
                                                                     "fvd": {"max_clips": 8}}).settings()
    kept = options_to_score(recorded, ("psnr", "lpips", "fvd"), None)
    assert kept["lpips"] == {"net": "vgg"} and kept["fvd"]["max_clips"] == 8 and kept["fvd"]["backbone"] == "i3d"
    overridden = options_to_score(recorded, ("psnr", "lpips", "fvd"), {"lpips": {"net": "alex"}})
    assert overridden["lpips"] == {"net": "alex"} and overridden["fvd"]["max_clips"] == 8
    with pytest.raises(UsageError, match="clip_i takes no options"):
        check_metric_options({"clip_i": {"x": 1}})
    newer = json.loads(json.dumps(recorded))
    newer["lpips"]["net"] = "squeeze"  # a variant of a later version
    with pytest.raises(UsageError, match="previous results record metric options this version cannot use"):
        options_to_score(newer, ("lpips",), None)
    assert options_to_score(newer, ("lpips",), {"lpips": {"net": "vgg"}}) == {"lpips": {"net": "vgg"}}


# ---- the variants' weight files ----------------------------------------------------------------------------------


def test_the_weights_check_looks_at_the_chosen_variants_files():
    ok, alex = weights.check("lpips")
    assert not ok and weights.ALEXNET_FILENAME in alex and weights.VGG16_FILENAME not in alex
    ok, vgg = weights.check("lpips", options={"net": "vgg"})
    assert not ok and vgg.startswith("lpips (net=vgg) needs")
    for fragment in (weights.VGG16_FILENAME, weights.VGG16_URL, weights.ENV_LPIPS_VGG16,
                     "python -m benchmark weights download lpips.vgg16"):
        assert fragment in vgg
    ok, videomae = weights.check("fvd", options={"backbone": "videomae", "max_clips": 10})
    assert not ok and "python -m benchmark weights download fvd.videomae" in videomae
    assert weights.check("fvd", options={"backbone": "videomae", "network": object()}) == (True, "no weights needed")
    assert [wf.key for wf in weights.files_for("lpips", {"net": "vgg"})] == ["lpips.vgg16", "lpips.linear_vgg"]


def test_a_present_default_does_not_make_the_other_variant_available(tmp_path, monkeypatch):
    stand_in = tmp_path / weights.I3D_FILENAME
    stand_in.write_bytes(b"a local stand-in for the I3D file")
    monkeypatch.setenv(weights.ENV_I3D, str(stand_in))
    assert weights.check("fvd", verify_checksum=False)[0]
    ok, reason = weights.check("fvd", verify_checksum=False, options={"backbone": "videomae"})
    assert not ok and weights.VIDEOMAE_FILENAME in reason


def test_videomae_without_its_weights_is_unavailable_with_its_settings_on_record(make_clip):
    suite = MetricSuite(("psnr", "fvd"), metric_options={"fvd": {"backbone": "videomae", "seed": 4}})
    clip = make_clip(0, (16, 16, 16, 3))
    suite.update("c0", "cat", clip, clip)
    reason = suite.summary(n_boot=10)["metrics"]["fvd"]["unavailable"]
    assert reason.startswith("fvd (backbone=videomae) needs") and "weights download fvd.videomae" in reason
    settings = suite.settings()["fvd"]
    assert settings["protocol"]["backbone"] == "videomae" and settings["protocol"]["feature_dim"] == 1408
    assert settings["min_clips"] == 1409 and settings["seed"] == 4
    assert settings["protocol"]["input_range"] == "[0, 1] = uint8 / 255"


# ---- end to end: run, score -------------------------------------------------------------------------------------


def test_run_records_the_chosen_lpips_backbone_and_score_keeps_it(tiny_synth, tmp_path, capsys):
    out = tmp_path / "runs"
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", out, "--metrics", "psnr,lpips",
                   "--metric-arg", "lpips.net=vgg", "--no-progress") == 0  # missing weights never fail a run
    run_dir = out.joinpath(*RUN_DIR)
    ran = results_of(run_dir)
    assert ran["metric_settings"]["lpips"]["net"] == "vgg"
    assert "weights download lpips.vgg16" in ran["metrics"]["lpips"]["unavailable"]
    assert "lpips" not in pd.read_csv(run_dir / "per_clip.csv").columns

    assert run_cli("score", run_dir, "--out", tmp_path / "again", "--no-progress") == 0
    again = results_of(tmp_path / "again")
    assert {k: v for k, v in again.items() if k not in IGNORED} == {k: v for k, v in ran.items() if k not in IGNORED}
    assert again["scoring"]["metric_options"] == {}

    assert run_cli("score", run_dir, "--out", tmp_path / "alex", "--metric-arg", "lpips.net=alex",
                   "--no-progress") == 0
    alex = results_of(tmp_path / "alex")
    assert alex["metric_settings"]["lpips"]["net"] == "alex"
    assert "weights download lpips.alexnet" in alex["metrics"]["lpips"]["unavailable"]
    assert alex["scoring"]["metric_options"] == {"lpips": {"net": "alex"}}
    assert protocol_differences(ran, alex) == ['metric_settings.lpips.net: "vgg" vs "alex"']

    capsys.readouterr()
    assert run_cli("score", run_dir, "--out", tmp_path / "bad", "--metric-arg", "fvd.seed=1", "--no-progress") == 2
    assert "fvd is not among the metrics scored (psnr, lpips)" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_ego_motion_options_change_its_numbers_and_score_reproduces_them(tiny_synth, tmp_path):
    out = tmp_path / "runs"
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", out, "--metrics", "psnr,ego_motion",
                   "--no-progress") == 0
    default = results_of(out.joinpath(*RUN_DIR))
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", out, "--name", "step2",
                   "--metrics", "psnr,ego_motion", "--metric-arg", "ego_motion.frame_step=2",
                   "--metric-arg", "ego_motion.model=essential", "--no-progress") == 0
    run_dir = out / "synth" / "test" / "step2"
    chosen = results_of(run_dir)
    settings = chosen["metric_settings"]["ego_motion"]
    assert settings["frame_step"] == 2 and settings["model"] == "essential" and settings["pairs"].startswith("(t, t + 2)")
    assert chosen["metrics"]["ego_motion"]["mean"] != default["metrics"]["ego_motion"]["mean"]
    assert chosen["metrics"]["psnr"] == default["metrics"]["psnr"]
    assert "metric_settings.ego_motion.frame_step: 1 vs 2" in protocol_differences(default, chosen)

    assert run_cli("score", run_dir, "--out", tmp_path / "scored", "--no-progress") == 0
    scored = results_of(tmp_path / "scored")
    assert {k: v for k, v in scored.items() if k not in IGNORED} == {k: v for k, v in chosen.items() if k not in IGNORED}
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "scored" / "per_clip.csv"),
                                  pd.read_csv(run_dir / "per_clip.csv"), check_exact=True)

    assert run_cli("score", run_dir, "--out", tmp_path / "step1", "--metric-arg", "ego_motion.frame_step=1",
                   "--no-progress") == 0
    step1 = results_of(tmp_path / "step1")["metric_settings"]["ego_motion"]
    assert step1["frame_step"] == 1 and step1["model"] == "essential"  # only the overridden option changed
