"""Baselines: exo-copy picks the right camera; reproject reproduces co-visible pixels (camera conventions)."""

import numpy as np
import pytest

from baselines.exo_copy import ExoCopy
from baselines.from_folder import FromFolder
from baselines.reproject import Reproject
from benchmark import cameras as C
from benchmark.data.synth.render import SynthConfig, render_clip
from benchmark.errors import UsageError
from benchmark.video_io import VideoReadError, write_video


@pytest.fixture(scope="module")
def dense_clip():
    """Exo views 3x denser than the ego view, so forward warping is not limited by exo resolution."""
    return render_clip("test", 0, seed=0, config=SynthConfig(num_frames=3, exo_size=(192, 288)))


def covisible_far(clip, tol=0.02, min_depth=0.7):
    """Ego pixels (T, H, W) whose surface point some exo camera sees (depth test) and that lie beyond min_depth.

    Near surfaces (the wearer's torso) are seen by the exo cameras at grazing angles and splat sparsely,
    which is a limit of forward warping, not a convention error, so they are left out.
    """
    mask = np.zeros(clip.ego_depth.shape, bool)
    He, We = clip.exo_depth.shape[2:]
    for t in range(clip.num_frames):
        pts = C.unproject_depth(clip.ego_K, clip.ego_T_world_cam[t], clip.ego_depth[t].astype(np.float64)).reshape(-1, 3)
        for v in range(clip.num_views):
            uv, z = C.project_points(clip.exo_K[v], clip.exo_T_world_cam[v], pts)
            px = np.round(uv).astype(int)
            ok = (z > 0) & (px[:, 0] >= 0) & (px[:, 0] < We) & (px[:, 1] >= 0) & (px[:, 1] < He)
            d = np.zeros(len(z))
            d[ok] = clip.exo_depth[v, t, px[ok, 1], px[ok, 0]]
            mask[t] |= (ok & (np.abs(d - z) < tol)).reshape(mask.shape[1:])
    return mask & (clip.ego_depth > min_depth)


def test_reproject_reproduces_the_true_ego_frame_on_covisible_pixels(dense_clip):
    out = Reproject().generate(dense_clip.inputs(), seed=0)
    mask = covisible_far(dense_clip)
    assert mask.mean() > 0.5  # most of the ego view is seen by some exo camera
    err = np.abs(out.astype(int) - dense_clip.ego_video.astype(int)).max(-1)[mask]
    assert np.median(err) <= 2
    assert (err <= 8).mean() > 0.85  # the rest are texture edges within a pixel


def test_reproject_fails_when_camera_poses_are_wrong(dense_clip):
    """The check above can fail: world-to-camera poses given where camera-to-world are expected break it."""
    from dataclasses import replace

    wrong = replace(dense_clip.inputs(), exo_T_world_cam=C.invert_se3(dense_clip.exo_T_world_cam))
    out = Reproject().generate(wrong, seed=0)
    err = np.abs(out.astype(int) - dense_clip.ego_video.astype(int)).max(-1)[covisible_far(dense_clip)]
    assert (err <= 8).mean() < 0.6


def test_reproject_needs_exo_depth(dense_clip):
    from dataclasses import replace

    with pytest.raises(ValueError, match="needs exo depth"):
        Reproject().generate(replace(dense_clip.inputs(), exo_depth=None), seed=0)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(supersample=0), "supersample (--method-arg supersample=N) must be an integer >= 1"),
    (dict(supersample=1.5), "supersample (--method-arg supersample=N) must be an integer >= 1"),
    (dict(fill_holes="no"), "fill_holes (--method-arg fill_holes=true|false) must be true or false, got 'no'"),
    (dict(near=0.0), "near (--method-arg near=METRES) must be a positive finite distance"),
    (dict(near=float("nan")), "near (--method-arg near=METRES) must be a positive finite distance"),
])
def test_reproject_rejects_bad_arguments_as_usage_errors_naming_them(kwargs, expected):
    with pytest.raises(UsageError) as err:
        Reproject(**kwargs)
    assert expected in str(err.value) and repr(next(iter(kwargs.values()))) in str(err.value)


def test_reproject_accepts_its_boundary_values():
    r = Reproject(supersample=1, fill_holes=False, near=1)
    assert (r.supersample, r.fill, r.near) == (1, False, 1.0)


def test_reproject_is_deterministic(dense_clip):
    a = Reproject().generate(dense_clip.inputs(), seed=0)
    np.testing.assert_array_equal(a, Reproject().generate(dense_clip.inputs(), seed=1))


def test_exo_copy_picks_the_camera_looking_most_like_the_ego(dense_clip):
    inputs = dense_clip.inputs()
    v = inputs.closest_exo_view()
    ego_dir = C.viewing_direction(dense_clip.ego_T_world_cam).mean(0)
    cos = [C.viewing_direction(T) @ ego_dir / np.linalg.norm(ego_dir) for T in dense_clip.exo_T_world_cam]
    assert v == int(np.argmax(cos))
    out = ExoCopy().generate(inputs, seed=0)
    assert out.shape == dense_clip.ego_video.shape and out.dtype == np.uint8


def test_from_folder_reads_clip_videos_and_names_missing_ones(tmp_path, dense_clip):
    write_video(tmp_path / f"{dense_clip.clip_id}.mp4", dense_clip.ego_video)
    out = FromFolder(root=str(tmp_path)).generate(dense_clip.inputs(), seed=0)
    np.testing.assert_array_equal(out, dense_clip.ego_video)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(VideoReadError, match=f"no video {dense_clip.clip_id}.mp4"):
        FromFolder(root=str(other)).generate(dense_clip.inputs(), seed=0)
