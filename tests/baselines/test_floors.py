"""Trivial floors: ``mean-colour`` (one flat colour per clip) and ``mean-exo-frame`` (a still of the closest view).

Each is checked against a direct, separately written numpy computation of what its docstring promises, and
run end to end through the command line like any registered method.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from baselines.exo_copy import ExoCopy
from baselines.mean_colour import MeanColour, mean_colour
from baselines.mean_exo_frame import MeanExoFrame, temporal_mean_frame
from benchmark import registry
from benchmark.cli import main
from benchmark.data import load_split
from benchmark.data.synth.render import SynthConfig, render_clip
from benchmark.video_io import read_video
from benchmark.video_ops import resize_video
from leaderboard.tolerances import kind_of


@pytest.fixture(scope="module")
def clip():
    """A real rendered clip; exo 40x56 (aspect 7:5) so the centre crop to the 32x32 ego view matters."""
    return render_clip("test", 3, seed=0, config=SynthConfig(num_frames=5, ego_size=(32, 32), exo_size=(40, 56)))


def round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, np.float64) + 0.5).astype(np.uint8)


@pytest.mark.parametrize("cls", [MeanColour, MeanExoFrame])
@pytest.mark.parametrize("track", ["exo-only", "first-frame"])
def test_floors_give_an_ego_sized_uint8_video_on_both_tracks(clip, cls, track):
    out = cls().generate(clip.inputs(track), seed=0)
    assert out.shape == clip.ego_video.shape and out.dtype == np.uint8
    assert track in cls.tracks


@pytest.mark.parametrize("cls", [MeanColour, MeanExoFrame])
def test_floors_use_only_exo_inputs_so_both_tracks_and_all_seeds_agree(clip, cls):
    a = cls().generate(clip.inputs("exo-only"), seed=0)
    np.testing.assert_array_equal(a, cls().generate(clip.inputs("first-frame"), seed=7))


def test_mean_colour_is_one_flat_colour_equal_to_the_mean_of_all_exo_pixels(clip):
    out = MeanColour().generate(clip.inputs(), seed=0)
    expected = round_half_up(clip.exo_video.astype(np.float64).mean(axis=(0, 1, 2, 3)))
    assert (out == expected).all()
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1


def test_mean_colour_weighs_every_view_and_frame_and_rounds_halves_up(clip):
    # Two views, two frames, channels at 0, 2 and 252 with view 1's frame 1 two higher: means 0.5, 2.5, 252.5.
    exo = np.zeros((2, 2, 4, 6, 3), np.uint8)
    exo[..., 1], exo[..., 2] = 2, 252
    exo[1, 1] += 2
    out = MeanColour().generate(replace(clip.inputs(), exo_video=exo, exo_cam_ids=["a", "b"],
                                        exo_K=clip.exo_K[:2], exo_T_world_cam=clip.exo_T_world_cam[:2]), seed=0)
    assert out[0, 0, 0].tolist() == [1, 3, 253]  # halves up, not to even (np.round would give 0, 2, 252)
    assert (out == out[0, 0, 0]).all()


def test_mean_colour_rejects_a_video_that_is_not_uint8_rgb():
    with pytest.raises(ValueError, match=r"uint8 \(\.\.\., 3\)"):
        mean_colour(np.zeros((1, 2, 4, 4, 3), np.float32))


def test_mean_exo_frame_is_a_still_of_the_closest_views_time_mean_resized_like_exo_copy(clip):
    inputs = clip.inputs()
    out = MeanExoFrame().generate(inputs, seed=0)
    assert (out == out[:1]).all()  # constant in time
    v = inputs.closest_exo_view()
    mean = round_half_up(clip.exo_video[v].astype(np.float64).mean(axis=0))
    np.testing.assert_array_equal(out[0], resize_video(mean, inputs.ego_height, inputs.ego_width, crop=True))
    others = [u for u in range(clip.num_views) if u != v]
    other = resize_video(round_half_up(clip.exo_video[others[0]].mean(axis=0)), 32, 32, crop=True)
    assert not np.array_equal(out[0], other)  # the choice of view shows in the output


def test_mean_exo_frame_follows_the_camera_not_the_view_index(clip):
    inputs = clip.inputs()
    order = list(range(clip.num_views))[::-1]
    np.testing.assert_array_equal(MeanExoFrame().generate(inputs, seed=0),
                                  MeanExoFrame().generate(inputs.select_views(order), seed=0))


def test_mean_exo_frame_equals_exo_copy_on_a_static_scene(clip):
    still = replace(clip.inputs(), exo_video=np.repeat(clip.exo_video[:, 1:2], clip.num_frames, axis=1))
    np.testing.assert_array_equal(MeanExoFrame().generate(still, seed=0), ExoCopy().generate(still, seed=0))


def test_temporal_mean_rounds_halves_up():
    video = np.stack([np.full((2, 2, 3), 2, np.uint8), np.full((2, 2, 3), 3, np.uint8)])
    assert (temporal_mean_frame(video) == 3).all()
    with pytest.raises(ValueError, match=r"uint8 \(T, h, w, 3\)"):
        temporal_mean_frame(video[0])


@pytest.mark.parametrize("method, cls", [("mean-colour", MeanColour), ("mean-exo-frame", MeanExoFrame)])
def test_floors_are_registered_listed_and_run_through_the_command_line(tiny_synth, tmp_path, capsys, method, cls):
    assert registry.method_class(method) is cls and kind_of(method) == "analytic"
    assert main(["list"]) == 0
    assert method in capsys.readouterr().out
    args = ["run", "--method", method, "--root", str(tiny_synth), "--out", str(tmp_path), "--no-progress",
            "--limit", "2"]
    assert main(args) == 0
    out = tmp_path / "synth" / "test" / method
    per_clip = pd.read_csv(out / "per_clip.csv", dtype={"clip_id": str})
    assert len(per_clip) == 2 and per_clip["psnr"].notna().all()
    first = load_split("synth", "test", root=tiny_synth)[0]
    video = read_video(out / "videos" / f"{first.clip_id}.mp4")
    np.testing.assert_array_equal(video, cls().generate(first.inputs(), seed=0))  # saved losslessly, as generated


def test_first_frame_still_holds_the_given_first_frame_and_needs_it(clip):
    from baselines.first_frame_still import FirstFrameStill

    out = FirstFrameStill().generate(clip.inputs("first-frame"), seed=0)
    assert out.shape == clip.ego_video.shape and out.dtype == np.uint8
    assert (out == clip.ego_video[0]).all()
    with pytest.raises(ValueError, match="--track first-frame"):
        FirstFrameStill().generate(clip.inputs("exo-only"), seed=0)


def test_the_first_frame_track_scores_frames_after_the_given_one(tiny_synth, tmp_path, capsys):
    """first-frame-still through the command line: refused on exo-only (exit 2, nothing written); on the first-frame
    track its PSNR is the mean over frames 1.. of its per-frame PSNR, not lifted by the copied frame 0."""
    from baselines.first_frame_still import FirstFrameStill

    assert registry.method_class("first-frame-still") is FirstFrameStill and kind_of("first-frame-still") == "analytic"
    base = ["run", "--method", "first-frame-still", "--root", str(tiny_synth), "--out", str(tmp_path), "--no-progress",
            "--limit", "2"]
    assert main(base) == 2
    assert "does not support track 'exo-only'" in capsys.readouterr().err
    assert not (tmp_path / "synth" / "test" / "first-frame-still").exists()
    assert main([*base, "--track", "first-frame"]) == 0
    out = tmp_path / "synth" / "test" / "first-frame-still@first-frame"
    per_clip = pd.read_csv(out / "per_clip.csv", dtype={"clip_id": str}).set_index("clip_id")
    clips = load_split("synth", "test", root=tiny_synth)
    for i in range(2):
        c = clips[i]
        # per-frame PSNR over frames 1.., written out here in float64 (data range 1)
        diff = (c.ego_video[1:].astype(np.float64) - c.ego_video[:1].astype(np.float64)) / 255.0
        frames = 10 * np.log10(1.0 / (diff ** 2).mean(axis=(1, 2, 3)))
        assert per_clip.loc[c.clip_id, "psnr"] == pytest.approx(frames.mean(), abs=1e-4)  # float32 compute
        assert per_clip.loc[c.clip_id, "psnr"] < 60
    import json

    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["track"] == "first-frame"
    assert results["metric_settings"]["frames_scored"].startswith("from frame 1")


def _yaw(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    return T


def test_first_frame_rotate_moves_a_world_direction_to_where_the_turned_camera_projects_it():
    """A bright patch on the optical axis of frame 0 (world direction d = +z, camera 0 = world) must appear in
    frame t where the turned camera projects d: K R_t^T d (forward projection, written independently of the
    baseline's inverse warp). Frame 0 is the given frame exactly; poses that do not turn give a still."""
    from baselines.first_frame_rotate import rotation_warp

    h, w, f = 48, 64, 40.0
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    frame = np.zeros((h, w, 3), np.uint8)
    frame[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1] = 255  # 2x2 patch centred on the principal point
    poses = np.stack([_yaw(a) for a in (0.0, 5.0, -10.0, 15.0)])
    out = rotation_warp(frame, K, poses)
    assert out.shape == (4, h, w, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], frame)
    for t in range(1, 4):
        d = poses[t, :3, :3].T @ np.array([0.0, 0.0, 1.0])
        u, v = (K @ d)[:2] / (K @ d)[2]
        ys, xs = np.nonzero(out[t, ..., 0] > 127)
        assert len(xs) > 0
        assert abs(xs.mean() + 0.5 - u) < 0.75 and abs(ys.mean() + 0.5 - v) < 0.75  # pixel centres at i + 0.5
    still = rotation_warp(frame, K, np.stack([np.eye(4)] * 3))
    assert (still == frame).all()
    with pytest.raises(ValueError, match="uint8"):
        rotation_warp(frame.astype(np.float32), K, poses)


def test_first_frame_rotate_runs_on_the_first_frame_track_only(tiny_synth, tmp_path, capsys):
    from baselines.first_frame_rotate import FirstFrameRotate, rotation_warp

    assert registry.method_class("first-frame-rotate") is FirstFrameRotate
    assert kind_of("first-frame-rotate") == "analytic"
    base = ["run", "--method", "first-frame-rotate", "--root", str(tiny_synth), "--out", str(tmp_path),
            "--no-progress", "--limit", "1"]
    assert main(base) == 2 and "does not support track 'exo-only'" in capsys.readouterr().err
    assert main([*base, "--track", "first-frame"]) == 0
    c = load_split("synth", "test", root=tiny_synth)[0]
    video = read_video(tmp_path / "synth" / "test" / "first-frame-rotate@first-frame" / "videos" / f"{c.clip_id}.mp4")
    np.testing.assert_array_equal(video, rotation_warp(c.ego_video[0], c.ego_K, c.ego_T_world_cam))
