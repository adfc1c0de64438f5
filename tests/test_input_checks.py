"""The rules a clip's inputs must pass before generation (benchmark.input_checks), one test per rule, and the
runner reporting a broken clip with the rule's name while the others go on."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from benchmark.data import load_split
from benchmark.input_checks import CONSTANT_PTP, ROTATION_ATOL, RULES, InputCheckError, check_inputs
from benchmark.runner import run
from benchmark.video_io import read_video, write_video


@pytest.fixture(scope="module")
def inputs(tiny_synth):
    return load_split("synth", "test", root=tiny_synth).get("synth-test-0000").inputs()


def broken(inputs, **changes):
    return replace(inputs, **changes)


def rule_of(inputs, **kwargs) -> InputCheckError:
    with pytest.raises(InputCheckError) as info:
        check_inputs(inputs, **kwargs)
    assert info.value.rule in RULES and f"input rule {info.value.rule!r}" in str(info.value)
    assert inputs.clip_id in str(info.value)
    return info.value


def test_real_clips_pass_every_rule(tiny_synth):
    for clip in load_split("synth", "test", root=tiny_synth):
        assert check_inputs(clip.inputs()) is not None
        assert check_inputs(clip.inputs("first-frame")) is not None


def test_views_rule_refuses_no_views_and_fewer_than_the_method_needs(inputs):
    none = broken(inputs, exo_video=inputs.exo_video[:0], exo_cam_ids=[], exo_K=inputs.exo_K[:0],
                  exo_T_world_cam=inputs.exo_T_world_cam[:0])
    assert rule_of(none).rule == "views"
    err = rule_of(inputs, min_views=inputs.num_views + 1)
    assert err.rule == "views" and f"needs at least {inputs.num_views + 1}" in str(err)
    assert check_inputs(inputs, min_views=inputs.num_views) is inputs


def test_frame_count_rule_refuses_views_and_poses_of_another_length(inputs):
    short = broken(inputs, exo_video=inputs.exo_video[:, :-1])
    err = rule_of(short)
    assert err.rule == "frame-count" and f"the clip has {inputs.num_frames}" in str(err)
    assert rule_of(broken(inputs, ego_T_world_cam=inputs.ego_T_world_cam[:-1])).rule == "frame-count"
    per_frame = np.repeat(inputs.exo_T_world_cam[:, None], inputs.num_frames - 2, axis=1)
    assert rule_of(broken(inputs, exo_T_world_cam=per_frame)).rule == "frame-count"
    ok = np.repeat(inputs.exo_T_world_cam[:, None], inputs.num_frames, axis=1)  # per-frame poses of the right length
    check_inputs(broken(inputs, exo_T_world_cam=ok))


def test_pose_finite_rule_names_the_camera(inputs):
    exo = inputs.exo_T_world_cam.copy()
    exo[1, 0, 3] = np.nan
    err = rule_of(broken(inputs, exo_T_world_cam=exo))
    assert err.rule == "pose-finite" and "view 1" in str(err) and inputs.exo_cam_ids[1] in str(err)
    ego = inputs.ego_T_world_cam.copy()
    ego[4, 1, 1] = np.inf
    err = rule_of(broken(inputs, ego_T_world_cam=ego))
    assert err.rule == "pose-finite" and "ego_T_world_cam frame 4" in str(err)


@pytest.mark.parametrize("how", ["scale", "shear", "reflection", "last-row"])
def test_pose_rigid_rule_refuses_matrices_that_are_not_rigid(inputs, how):
    ego = inputs.ego_T_world_cam.copy()
    if how == "scale":
        ego[2, :3, :3] *= 1.01  # a 1 % scale (a unit mix-up) is far above the tolerance
    elif how == "shear":
        ego[2, 0, 1] += 0.05
    elif how == "reflection":
        ego[2, :3, 0] *= -1  # orthonormal, det -1
    else:
        ego[2, 3] = [0, 0, 1, 1]
    err = rule_of(broken(inputs, ego_T_world_cam=ego))
    assert err.rule == "pose-rigid" and "frame 2" in str(err)


def test_pose_rigid_tolerance_accepts_float32_rounding_of_a_real_pose(inputs):
    # Real rigs export poses in float32: the rounding (~1e-7) must pass, with the tolerance (1e-4) far above it.
    rounded = inputs.ego_T_world_cam.astype(np.float32).astype(np.float64)
    check_inputs(broken(inputs, ego_T_world_cam=rounded))
    nudged = inputs.ego_T_world_cam.copy()
    nudged[0, :3, :3] *= 1 + ROTATION_ATOL * 0.1
    check_inputs(broken(inputs, ego_T_world_cam=nudged))
    nudged[0, :3, :3] *= 1 + ROTATION_ATOL * 10
    assert rule_of(broken(inputs, ego_T_world_cam=nudged)).rule == "pose-rigid"


def test_intrinsics_rule(inputs):
    K = inputs.exo_K.copy()
    K[0, 1, 1] = 0.0
    err = rule_of(broken(inputs, exo_K=K))
    assert err.rule == "intrinsics" and "fy=0" in str(err) and "view 0" in str(err)
    assert rule_of(broken(inputs, ego_K=inputs.ego_K * np.nan)).rule == "intrinsics"


@pytest.mark.parametrize("value, word", [(0, "all black"), (128, "constant")])
def test_exo_signal_rule_refuses_a_view_without_signal(inputs, value, word):
    video = inputs.exo_video.copy()
    video[1] = value
    video[1, 3, 5, 7, 0] = value + CONSTANT_PTP  # encoder-like noise does not make a view carry signal
    err = rule_of(broken(inputs, exo_video=video))
    assert err.rule == "exo-signal" and word in str(err) and inputs.exo_cam_ids[1] in str(err)


def test_runner_reports_the_rule_per_clip_and_keeps_the_others(tiny_synth, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_synth, data)
    view = data / "videos" / "test" / "synth-test-0001" / "exo_cam02.mp4"
    write_video(view, np.zeros_like(read_video(view)))  # a dead camera: all black
    report = run("exo-copy", root=data, out=tmp_path / "runs", progress=False, metrics=("psnr",))
    assert [(f["clip_id"], f["stage"], f["rule"]) for f in report.failed] == [("synth-test-0001", "check", "exo-signal")]
    out = report.out_dir
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [(e["clip_id"], e["rule"]) for e in errors] == [("synth-test-0001", "exo-signal")]
    assert "cam02" in errors[0]["error"] and "all black" in errors[0]["error"]
    results = json.loads((out / "results.json").read_text())
    assert results["counts"]["failed_clips"][0]["rule"] == "exo-signal"
    assert results["metrics"]["psnr"]["n"] == 2 and not (out / "videos" / "synth-test-0001.mp4").exists()
