"""The ego-motion error: it recovers known camera rotations from images, scores what it cannot estimate as "no
rotation", is deterministic, reaches its metrics through ``MetricSuite`` only with the clip's cameras, and on real
dataset clips ranks the true video far ahead of a frozen frame and a copied exo view.

Images with a known rotation are made by warping a drawn texture with the homography ``K R K^-1`` of a purely
rotating pinhole camera (OpenCV's ``warpPerspective``), then cropping the centre so that no frame shows an empty
border.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from benchmark.metrics import MetricSuite
from benchmark.metrics.catalog import METRICS
from benchmark.metrics.ego_motion import (DEFAULTS, EgoMotionError, detect_features, ego_motion_error,
                                          estimate_clip, fit_essential, rotation_angle_deg, static_dark_mask,
                                          true_relative_rotations)


def texture(seed: int, size: int) -> np.ndarray:
    """A uint8 RGB ``(size, size, 3)`` canvas of random filled circles and rectangles (plenty of corners)."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 128, np.uint8)
    for _ in range(150):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(3, size // 10))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), r, colour, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(3, size // 10))), colour, -1,
                          lineType=cv2.LINE_AA)
    return img


def rotation(axis, degrees: float) -> np.ndarray:
    v = np.asarray(axis, dtype=np.float64)
    return cv2.Rodrigues(v / np.linalg.norm(v) * math.radians(degrees))[0]


def rotating_camera(step: np.ndarray, n_frames: int = 4, size: int = 128, focal: float = 96.0, seed: int = 0):
    """A camera turning by ``step`` (camera-t -> camera-t+1 coordinates) every frame, seeing a distant texture.

    Returns ``(video (n, size, size, 3) uint8, K (3, 3), T_world_cam (n, 4, 4))`` with frame 0's camera = world.
    """
    big = 2 * size
    canvas = texture(seed, big)
    K_big = np.array([[focal, 0, (big - 1) / 2], [0, focal, (big - 1) / 2], [0, 0, 1]])
    crop = (big - size) // 2
    frames, poses = [], []
    to_frame = np.eye(3)  # camera-0 coordinates -> camera-t coordinates
    for _ in range(n_frames):
        H = K_big @ to_frame @ np.linalg.inv(K_big)  # pixel of frame 0 -> pixel of frame t
        warped = cv2.warpPerspective(canvas, H, (big, big), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(warped[crop:crop + size, crop:crop + size])
        pose = np.eye(4)
        pose[:3, :3] = to_frame.T  # camera-to-world rotation of camera t
        poses.append(pose)
        to_frame = step @ to_frame
    K = K_big.copy()
    K[:2, 2] -= crop
    return np.stack(frames), K, np.stack(poses)


# ---- conventions ---------------------------------------------------------------------------------------------


def test_true_relative_rotation_maps_camera_t_points_to_camera_t_plus_1():
    rng = np.random.default_rng(0)
    poses = np.repeat(np.eye(4)[None], 2, axis=0)
    poses[0, :3, :3], poses[1, :3, :3] = rotation([1, 2, 3], 10), rotation([-2, 1, 0], 25)
    poses[:, :3, 3] = rng.normal(size=(2, 3))
    p_world = rng.normal(size=3)
    in_cam = [poses[t, :3, :3].T @ (p_world - poses[t, :3, 3]) for t in range(2)]
    (R,) = true_relative_rotations(poses)
    t = in_cam[1] - R @ in_cam[0]  # x_1 = R x_0 + t, the same t for every point
    q_world = rng.normal(size=3)
    q_cam = [poses[k, :3, :3].T @ (q_world - poses[k, :3, 3]) for k in range(2)]
    np.testing.assert_allclose(q_cam[1], R @ q_cam[0] + t, atol=1e-12)


@pytest.mark.parametrize("degrees", [0.0, 1e-4, 0.5, 30.0, 179.9, 180.0])
def test_rotation_angle_is_accurate_from_zero_to_half_turn(degrees):
    assert rotation_angle_deg(rotation([0.3, -1, 2], degrees)) == pytest.approx(degrees, abs=1e-9)


# ---- known rotations -----------------------------------------------------------------------------------------


ROTATIONS = [([1, 0, 0], 3.0), ([0, 1, 0], 3.0), ([0, 0, 1], 3.0), ([1, 2, 3], 1.0), ([1, 2, 3], 8.0),
             ([-2, 1, 1], 0.2)]


@pytest.mark.parametrize("axis,degrees", ROTATIONS)
def test_recovers_a_known_rotation_within_a_fifth_of_a_pixel(axis, degrees):
    # 128x128 frames with a 96 px focal length: 1 px is 0.6 degrees; measured errors are at most 0.18 degrees
    video, K, poses = rotating_camera(rotation(axis, degrees))
    estimate = estimate_clip(video, K, poses)
    assert estimate.estimable_fraction == 1.0
    assert max(estimate.errors_deg) < 0.3
    for pair in estimate.pairs:
        assert rotation_angle_deg(pair.R_est) == pytest.approx(degrees, abs=0.3)


def test_a_rotation_the_wrong_way_round_scores_twice_the_angle():
    video, K, poses = rotating_camera(rotation([1, 2, 3], 3.0))
    reversed_poses = poses.copy()
    reversed_poses[:, :3, :3] = np.swapaxes(poses[:, :3, :3], 1, 2)  # the same angles, turning the other way
    errors = ego_motion_error(video, None, K, reversed_poses, per_pair=True)
    np.testing.assert_allclose(errors.numpy(), 6.0, atol=0.3)


def test_essential_model_falls_back_to_the_rotation_model_under_pure_rotation():
    video, K, poses = rotating_camera(rotation([1, 2, 3], 3.0))
    estimate = estimate_clip(video, K, poses, model="essential")
    assert {p.model for p in estimate.pairs} == {"rotation"}
    assert max(estimate.errors_deg) < 0.3


def test_essential_model_is_used_when_the_camera_translates():
    # exact matches of a 3-D scene seen from two cameras 0.5 m apart: the essential matrix is well determined
    rng = np.random.default_rng(1)
    K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
    points = rng.uniform([-2, -1.5, 2], [2, 1.5, 6], size=(200, 3))
    R, t = rotation([0, 1, 0.2], 4.0), np.array([0.5, 0.05, 0.1])
    project = lambda X: (X @ K.T)[:, :2] / X[:, 2:3]  # noqa: E731
    p1, p2 = project(points), project(points @ R.T + t)
    R_est, n_inliers, model = fit_essential(cv2, p1, p2, K, dict(DEFAULTS))
    assert model == "essential" and n_inliers > 150
    assert rotation_angle_deg(R_est.T @ R) < 0.05


# ---- what cannot be estimated ------------------------------------------------------------------------------


def test_frozen_video_scores_the_true_rotation():
    video, K, poses = rotating_camera(rotation([1, 2, 3], 2.0))
    frozen = np.repeat(video[:1], len(video), axis=0)
    estimate = estimate_clip(frozen, K, poses)
    assert estimate.estimable_fraction == 1.0  # every feature matched in place: "no rotation", measured
    assert estimate.score == pytest.approx(2.0, abs=1e-6)


def test_textureless_pairs_are_counted_as_no_rotation_not_dropped():
    _, K, poses = rotating_camera(rotation([0, 1, 0], 4.0))
    blank = np.full((4, 128, 128, 3), 90, np.uint8)
    estimate = estimate_clip(blank, K, poses)
    assert [p.reason for p in estimate.pairs] == ["too few matches"] * 3
    assert estimate.estimable_fraction == 0.0
    assert estimate.score == pytest.approx(4.0, abs=1e-9)  # the error of the identity estimate


def test_partly_blank_video_records_its_estimable_fraction():
    video, K, poses = rotating_camera(rotation([0, 1, 0], 4.0), n_frames=5)
    video = video.copy()
    video[3:] = 90  # frames 3 and 4 blank: pairs (2, 3) and (3, 4) cannot be estimated
    metric = EgoMotionError()
    metric.update(video, video, ego_K=K, ego_T_world_cam=poses)
    assert metric.estimable_fractions().tolist() == [0.5]
    errors = ego_motion_error(video, video, K, poses, per_pair=True).numpy()
    assert errors[:2].max() < 0.3 and errors[2:] == pytest.approx([4.0, 4.0])
    assert float(metric.compute()) == pytest.approx(errors.mean())


def test_never_lit_ground_truth_corners_are_masked_out():
    video, K, poses = rotating_camera(rotation([0, 0, 1], 2.0))
    yy, xx = np.mgrid[:128, :128]
    outside = (xx - 63.5) ** 2 + (yy - 63.5) ** 2 > 60 ** 2  # the empty corners of an undistorted fisheye
    target = video.copy()
    target[:, outside] = 0
    mask = static_dark_mask(target)
    assert not mask[0, 0] and not mask[64, 3] and mask[64, 64]
    assert static_dark_mask(video) is None  # nothing is black in every frame
    features = detect_features(cv2, target[0], mask, dict(DEFAULTS))
    u, v = np.round(features.points).astype(int).T
    assert len(u) > 20 and mask[v, u].all()


# ---- the Metric ----------------------------------------------------------------------------------------------


def test_metric_matches_the_functional_twin_and_streams_over_clips():
    clips = [rotating_camera(rotation(axis, deg), seed=seed) for seed, (axis, deg) in enumerate(ROTATIONS[:3])]
    metric = EgoMotionError()
    for video, K, poses in clips:
        metric.update(video, video, ego_K=K, ego_T_world_cam=poses)
    expected = torch.stack([ego_motion_error(v, v, K, p) for v, K, p in clips])
    torch.testing.assert_close(metric.per_clip_scores(), expected, rtol=0, atol=0)
    torch.testing.assert_close(metric.compute(), expected.mean(), rtol=0, atol=0)
    batch = EgoMotionError()
    videos = np.stack([c[0] for c in clips])
    batch.update(videos, videos, ego_K=np.stack([c[1] for c in clips]), ego_T_world_cam=np.stack([c[2] for c in clips]))
    torch.testing.assert_close(batch.per_clip_scores(), expected, rtol=0, atol=0)
    metric.drop_last_update()
    assert len(metric.per_clip_scores()) == 2 and len(metric.estimable_fractions()) == 2


def test_same_inputs_give_the_same_number_whatever_opencv_threads_the_caller_set():
    video, K, poses = rotating_camera(rotation([1, 2, 3], 3.0), n_frames=3)
    before = cv2.getNumThreads()
    first = ego_motion_error(video, video, K, poses, per_pair=True)
    cv2.setNumThreads(2)
    try:
        second = ego_motion_error(video, video, K, poses, per_pair=True)
        assert cv2.getNumThreads() == 2  # the caller's setting is restored
    finally:
        cv2.setNumThreads(before)
    assert torch.equal(first, second)


def test_bad_cameras_and_options_are_refused_by_name():
    video, K, poses = rotating_camera(rotation([0, 1, 0], 1.0), n_frames=3)
    metric = EgoMotionError()
    with pytest.raises(ValueError, match="ego_T_world_cam"):
        metric.update(video, video, ego_K=K)
    with pytest.raises(ValueError, match=r"ego_T_world_cam.*\(3, 4, 4\)"):
        ego_motion_error(video, video, K, poses[:2])
    with pytest.raises(ValueError, match="ego_K"):
        ego_motion_error(video, video, np.eye(4), poses)
    skewed = poses.copy()
    skewed[1, :3, :3] *= 1.1
    with pytest.raises(ValueError, match="not all rotations"):
        ego_motion_error(video, video, K, skewed)
    with pytest.raises(ValueError, match="at least 2 frames"):
        ego_motion_error(video[:1], video[:1], K, poses[:1])
    with pytest.raises(ValueError, match="model"):
        EgoMotionError(model="homography")
    with pytest.raises(ValueError, match="unknown option"):
        ego_motion_error(video, video, K, poses, ratio_test=0.7)


def test_catalogue_entry_describes_this_class():
    entry = METRICS["ego_motion"]
    assert entry.target == "benchmark.metrics.ego_motion:EgoMotionError"
    assert entry.higher_is_better is EgoMotionError.higher_is_better is False
    assert tuple(entry.needs) == EgoMotionError.needs == ("ego_K", "ego_T_world_cam")
    assert entry.unit == "deg" and not entry.weights


# ---- through MetricSuite -------------------------------------------------------------------------------------


def test_suite_passes_the_cameras_to_the_metric_that_needs_them():
    video, K, poses = rotating_camera(rotation([1, 2, 3], 3.0), n_frames=3)
    suite = MetricSuite(("psnr", "ego_motion"), metric_options={"ego_motion": {"model": "essential"}})
    suite.update("a", "demo", video, video, ego_K=K, ego_T_world_cam=poses)
    frozen = np.repeat(video[:1], 3, axis=0)
    suite.update("b", "demo", frozen, video, ego_K=K, ego_T_world_cam=poses)
    table = suite.per_clip()
    assert list(table.columns) == ["clip_id", "category", "psnr", "ego_motion"]
    assert table["ego_motion"][0] < 0.3 and table["ego_motion"][1] == pytest.approx(3.0, abs=1e-6)
    summary = suite.summary(n_boot=20)
    assert summary["metrics"]["ego_motion"]["n"] == 2 and summary["metrics"]["ego_motion"]["higher_is_better"] is False
    settings = suite.settings()["ego_motion"]
    assert settings["model"] == "essential" and settings["frame_step"] == 1
    assert settings["notes"]["estimable_pairs"] == {"pairs": 4, "estimable": 4, "fraction": 1.0, "clips": 2,
                                                    "clips_with_unestimable_pairs": 0, "lowest_clip_fraction": 1.0}


def test_suite_without_cameras_reports_the_metric_unavailable_and_scores_the_rest():
    video, K, poses = rotating_camera(rotation([1, 2, 3], 3.0), n_frames=3)
    suite = MetricSuite(("psnr", "ego_motion"))
    suite.update("a", "demo", video, video)
    suite.update("b", "demo", video, video, ego_K=K, ego_T_world_cam=poses)  # too late: stays unavailable
    assert list(suite.per_clip().columns) == ["clip_id", "category", "psnr"]
    reason = suite.summary(n_boot=20)["metrics"]["ego_motion"]["unavailable"]
    assert "ego_K and ego_T_world_cam" in reason and "'a'" in reason
    assert suite.settings()["ego_motion"]["model"] == "rotation"  # the protocol is recorded all the same
    assert suite.summary(n_boot=20)["metrics"]["psnr"]["n"] == 2


def test_observed_estimable_pairs_do_not_split_a_leaderboard_protocol():
    from leaderboard.protocol import protocol_key

    video, K, poses = rotating_camera(rotation([1, 2, 3], 3.0), n_frames=3)
    settings = []
    for pred in (video, np.full_like(video, 90)):
        metric = EgoMotionError()
        metric.update(pred, video, ego_K=K, ego_T_world_cam=poses)
        settings.append(metric.settings())
    assert settings[0]["notes"]["estimable_pairs"] != settings[1]["notes"]["estimable_pairs"]
    keys = [protocol_key({"metric_settings": {"ego_motion": s}}) for s in settings]
    assert keys[0] == keys[1]


# ---- validation on dataset clips (figures: benchmarks/ego_motion_validation.py) -------------------------------


def _scores(clips):
    from baselines.exo_copy import ExoCopy

    out = {"true": [], "frozen": [], "exo copy": []}
    for clip in clips:
        video, K, poses = clip.ego_video, clip.ego_K, clip.ego_T_world_cam
        out["true"].append(ego_motion_error(video, video, K, poses).item())
        frozen = np.repeat(video[:1], len(video), axis=0)
        out["frozen"].append(ego_motion_error(frozen, video, K, poses).item())
        exo = ExoCopy().generate(clip.inputs(), seed=0)
        out["exo copy"].append(ego_motion_error(exo, video, K, poses).item())
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.slow
def test_synthetic_clips_true_video_scores_far_below_frozen_and_exo_copy(tmp_path):
    # Measured on all 32 test clips (64x64): true mean 0.54 / max 0.93 degrees; frozen mean 5.15 / min 1.16;
    # exo copy mean 5.15; true / frozen = 0.105, and every clip's true score is below its frozen score.
    from benchmark.data import build_synth, load_split

    root = build_synth(tmp_path / "synth", splits=("test",), seed=0, n_clips={"test": 6}, progress=False)
    s = _scores(list(load_split("synth", "test", root=root)))
    assert s["true"].mean() < 1.0
    assert s["true"].mean() < 0.25 * s["frozen"].mean()
    assert s["true"].mean() < 0.25 * s["exo copy"].mean()
    assert np.all(s["true"] < s["frozen"]) and np.all(s["true"] < s["exo copy"])


@pytest.mark.slow
def test_exoego4d_fixture_true_video_scores_far_below_frozen_and_exo_copy(tmp_path):
    # Measured on the 5 fixture clips (256x256 undistorted, black corners masked): true mean 0.94 / max 2.53
    # degrees; frozen mean 5.11 / min 3.05; exo copy mean 5.10; true / frozen = 0.18.
    from benchmark.data import load_split
    from benchmark.data.egoexo4d.convert import build_exoego4d
    from benchmark.data.egoexo4d.fixture import write_fixture

    truth = write_fixture(tmp_path / "egoexo", n_takes=5, n_frames=69, supersample=1)
    out, _ = build_exoego4d(truth.root, tmp_path / "four", progress=False)
    clips = [c for split in ("train", "val", "test") for c in load_split("exoego4d", split, root=out)]
    assert len(clips) == 5 and clips[0].ego_video.shape[1:3] == (256, 256)
    s = _scores(clips)
    assert s["true"].mean() < 1.5
    assert s["true"].mean() < 0.35 * s["frozen"].mean()
    assert s["true"].mean() < 0.35 * s["exo copy"].mean()
    assert np.all(s["true"] < s["frozen"]) and np.all(s["true"] < s["exo copy"])
