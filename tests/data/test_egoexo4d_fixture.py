"""The miniature Ego-Exo4D fixture: the real layout, cameras that read back to the truth, videos that are the
images of the written calibrations, both camera routes agreeing, and every injected hazard present.

Tolerances: poses read back from the files 1e-9 (the files hold full float precision); projections of the known
points 1e-6 px; route 1 vs route 2 Aria poses 1e-8; undistorted frames against a direct pinhole render of the same
scene: mean |difference| below 8 levels and at least 85% of the valid pixels within 16 levels (both images are
2x2 supersampled; what remains is bilinear resampling of a 96x54 image), while the raw distorted frame compared
with the same render is far off (the check can fail)."""

import csv
import json
import time

import numpy as np
import pytest

from benchmark.data.egoexo4d import cameras as cam
from benchmark.data.egoexo4d import projection as proj
from benchmark.data.egoexo4d import protocol as P
from benchmark.data.egoexo4d.fixture import (ARIA_VIDEO_NAME, BAD_CALIB_DEG, EXO_CALIB_SIZE, FixtureError, Hazards,
                                             candidate_window_starts, render_pinhole, write_fixture)
from benchmark.errors import UsageError
from benchmark.video_io import read_video

EXO = ("cam01", "cam02", "cam03", "cam04")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    root = tmp_path_factory.mktemp("egoexo4d")
    start = time.perf_counter()
    truth = write_fixture(root)
    truth.seconds = time.perf_counter() - start
    return truth


HAZARDS = {0: Hazards(calibrated_exo=3, short_video=("cam02", 2)),
           1: Hazards(bad_quality_cam="cam03", frame_index_offset=3),
           2: Hazards(missing_trajectory=True),
           3: Hazards(ego_lag_frames=2, missing_pose_frames=(3, 4))}


@pytest.fixture(scope="module")
def hz(tmp_path_factory):
    root = tmp_path_factory.mktemp("egoexo4d_hazards")
    return write_fixture(root, n_takes=4, n_frames=6, exo_size=(48, 27), ego_size=32, supersample=1,
                         hazards=HAZARDS, n_points=1, keysteps=KEYSTEPS)


KEYSTEPS = {0: [(0.0, 0.1), (0.12, 0.19)], 2: [(0.05, 0.15)]}  # takes 0 and 3 are train, 1 test, 2 val


def _takes(root):
    return {t["take_uid"]: t for t in json.loads((root / "takes.json").read_text())}


def _timesync(root, take):
    captures = {c["capture_uid"]: c for c in json.loads((root / "captures.json").read_text())}
    with open(root / captures[take["capture_uid"]]["timesync_csv_path"], newline="") as f:
        return list(csv.DictReader(f))


def _route1(root, take_truth):
    return cam.read_ego_pose_cameras(root / "annotations" / "ego_pose" / take_truth.split / "camera_pose"
                                     / f"{take_truth.take_uid}.json")


def _route2_aria(root, take_truth, frames):
    """Aria RGB poses (len(frames), 4, 4) of take frames from timesync + closed-loop trajectory + calibration."""
    take = _takes(root)[take_truth.take_uid]
    rows = _timesync(root, take)
    ns = [int(rows[take["timesync_start_idx"] + 1 + i]["aria01_214-1_capture_timestamp_ns"]) for i in frames]
    traj_dir = root / take["root_dir"] / "trajectory"
    calib = cam.read_online_calibration_rgb(traj_dir / "online_calibration.jsonl")
    trajectory = cam.read_closed_loop_trajectory(traj_dir / "closed_loop_trajectory.csv")
    T_device_rgb = cam.nearest_calibration(calib, ns[0] // 1000).T_device_cam
    return cam.aria_rgb_poses(trajectory, T_device_rgb, np.array(ns) // 1000)


def _rot_err_deg(Ra, Rb):
    c = (np.trace(Ra.T @ Rb) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


# ---------------------------------------------------------------------------------------------------------------
# layout


def test_writes_two_takes_quickly(fx):
    assert len(fx.takes) == 2
    assert fx.seconds < 30, f"the fixture took {fx.seconds:.1f} s"


def test_tree_has_the_real_layout(fx):
    root = fx.root
    takes = _takes(root)
    splits = json.loads((root / "annotations" / "splits.json").read_text())["take_uid_to_split"]
    assert set(takes) == {t.take_uid for t in fx.takes} == set(splits)
    for t in fx.takes:
        take = takes[t.take_uid]
        for key in ("take_name", "root_dir", "parent_task_name", "parent_task_id", "task_name",
                    "physical_setting_uid", "university_name", "best_exo", "duration_sec", "is_dropped", "validated",
                    "timesync_start_idx", "timesync_end_idx", "capture_uid", "frame_aligned_videos"):
            assert key in take, key
        assert take["root_dir"] == f"takes/{t.take_name}" and take["parent_task_id"] in (1000, 2000, 4000, 6000)
        assert take["is_dropped"] is False and take["validated"] is True and splits[t.take_uid] == t.split
        assert round(take["duration_sec"] * 30) == t.n_frames
        take_dir = root / take["root_dir"]
        paths = {c: take_dir / s["relative_path"] for c, streams in take["frame_aligned_videos"].items()
                 for s in streams.values()}
        assert {p.name for p in paths.values()} == {f"{c}.mp4" for c in EXO} | {ARIA_VIDEO_NAME}
        for c in EXO:
            video = read_video(paths[c], expected_frames=t.n_frames, expected_size=(54, 96))
            assert video.std() > 10  # a real image, not a blank
        read_video(paths["aria01"], expected_frames=t.n_frames, expected_size=(64, 64))
        for name in ("gopro_calibs.csv", "closed_loop_trajectory.csv", "online_calibration.jsonl"):
            assert (take_dir / "trajectory" / name).is_file()
        assert (root / "annotations" / "ego_pose" / t.split / "camera_pose" / f"{t.take_uid}.json").is_file()
        rows = _timesync(root, take)
        assert len(rows) > take["timesync_start_idx"] + t.n_frames
        assert take["timesync_end_idx"] == take["timesync_start_idx"] + t.n_frames
        # take frame i <-> row start + 1 + i holds that frame's Aria capture time
        i = t.n_frames - 1
        assert int(rows[take["timesync_start_idx"] + 1 + i]["aria01_214-1_capture_timestamp_ns"]) == \
            t.ego.timestamps_ns[i]


def test_the_world_is_z_up_and_the_exo_cameras_look_down_at_the_action(fx):
    for t in fx.takes:
        for e in t.exo.values():
            assert 1.5 < e.T_world_cam[2, 3] < 2.5 and e.T_world_cam[2, 2] < 0  # optical axis points down
        assert np.all(t.ego.T_world_cam[:, 2, 3] > 1.3)  # eye height
        assert np.all(t.points.xyz[:, 2] > -1e-6)  # nothing below the floor
        # the head moves: the ego camera centre travels and turns over the take
        centres = t.ego.T_world_cam[:, :3, 3]
        assert np.linalg.norm(centres[-1] - centres[0]) > 1e-3 or \
            _rot_err_deg(t.ego.T_world_cam[0, :3, :3], t.ego.T_world_cam[-1, :3, :3]) > 0.5


# ---------------------------------------------------------------------------------------------------------------
# cameras read back


def test_readers_read_back_the_written_cameras(fx):
    for t in fx.takes:
        calibs = cam.read_gopro_calibs(t.take_dir / "trajectory" / "gopro_calibs.csv")
        assert list(calibs) == list(EXO)
        route1 = _route1(fx.root, t)
        assert route1.take_uid == t.take_uid and set(route1.exo) == set(EXO)
        for c, e in t.exo.items():
            assert calibs[c].size == EXO_CALIB_SIZE and calibs[c].quality == 1.0
            np.testing.assert_allclose(calibs[c].T_world_cam, e.T_world_cam, atol=1e-9)
            np.testing.assert_allclose(calibs[c].kb_params, e.kb_params_calib, rtol=1e-12)
            np.testing.assert_allclose(route1.exo[c].T_world_cam, e.T_world_cam, atol=1e-9)
            np.testing.assert_allclose(route1.exo[c].K, e.K_undistorted_calib, rtol=1e-12)
            np.testing.assert_allclose(route1.exo[c].dist, e.kb_params_calib[4:], rtol=1e-12)
        aria = route1.aria["aria01"]
        np.testing.assert_array_equal(aria.K, [[150, 0, 255.5], [0, 150, 255.5], [0, 0, 1]])
        np.testing.assert_array_equal(aria.frame_indices, np.arange(t.n_frames))
        np.testing.assert_allclose(aria.T_world_cam, t.ego.T_world_cam, atol=1e-9)
        calib = cam.read_online_calibration_rgb(t.take_dir / "trajectory" / "online_calibration.jsonl")
        np.testing.assert_allclose(calib[0].params, t.ego.params_calib, rtol=1e-12)
        np.testing.assert_allclose(calib[0].T_device_cam, t.ego.T_device_rgb, atol=1e-12)


def test_route1_and_route2_give_the_same_ego_poses(fx):
    for t in fx.takes:
        frames = np.arange(t.n_frames)
        route2 = _route2_aria(fx.root, t, frames)
        route1 = _route1(fx.root, t).aria["aria01"].T_world_cam
        np.testing.assert_allclose(route2, route1, atol=1e-8)


def test_known_points_project_to_where_the_renderer_put_them(fx):
    for t in fx.takes:
        calibs = cam.read_gopro_calibs(t.take_dir / "trajectory" / "gopro_calibs.csv")
        pts = t.points.xyz
        assert len(pts) == 4
        for c in EXO:
            video_size = (96, 54)
            K, dist = proj.kb_K_dist(proj.kb_rescale(calibs[c].kb_params, calibs[c].size, video_size))
            px = proj.kb_project(np.einsum("ij,nj->ni", np.linalg.inv(calibs[c].T_world_cam)[:3, :3], pts)
                                 + np.linalg.inv(calibs[c].T_world_cam)[:3, 3], K, dist)
            np.testing.assert_allclose(px, t.points.exo_pixels[c], atol=1e-6)
            if c == "cam01":  # the points were picked through pixel centres of cam01's rendered rays
                np.testing.assert_allclose(px, np.round(px), atol=1e-6)
        # the points are seen by most views (they are on the table top / furniture, never occluded by design)
        assert sum(int(v.all(0).sum()) for v in t.points.exo_visible.values()) >= 3 * len(pts)
        # ego: route-2 pose + the online calibration rescaled to the video, then the upright rotation
        calib = cam.read_online_calibration_rgb(t.take_dir / "trajectory" / "online_calibration.jsonl")[0]
        params = proj.fisheye624_rescale(proj.fisheye624_rescale(calib.params, 0.5, (32, 32)), 64 / 1408)
        T = _route2_aria(fx.root, t, np.arange(t.n_frames))
        p_cam = np.einsum("tij,nj->tni", np.linalg.inv(T)[:, :3, :3], pts) + np.linalg.inv(T)[:, None, :3, 3]
        upright = proj.rot90_pixels(proj.fisheye624_project(p_cam, params), (64, 64), 3)
        vis = t.points.ego_visible
        assert vis.any()
        np.testing.assert_allclose(upright[vis], t.points.ego_pixels[vis], atol=1e-6)


def _agreement(a, b, valid):
    d = np.abs(a.astype(int) - b.astype(int)).max(-1)[valid]
    return float(d.mean()), float((d <= 16).mean())


def test_undistorted_exo_frames_match_a_direct_pinhole_render(fx):
    t = fx.takes[0]
    calibs = cam.read_gopro_calibs(t.take_dir / "trajectory" / "gopro_calibs.csv")
    route1 = _route1(fx.root, t)
    for c in ("cam01", "cam03"):
        video = read_video(t.take_dir / "frame_aligned_videos" / f"{c}.mp4")
        size = (video.shape[2], video.shape[1])
        K = proj.scale_to_size(route1.exo[c].K, route1.exo[c].size, size)
        maps = proj.undistort_maps("KANNALABRANDTK3", proj.kb_rescale(calibs[c].kb_params, calibs[c].size, size),
                                   K, size)
        und = proj.undistort(video, maps)
        ref = render_pinhole(t, K, calibs[c].T_world_cam, size)
        valid = np.broadcast_to(np.all(np.isfinite(maps), -1) & (maps[..., 1] >= 0) & (maps[..., 1] <= size[1] - 1)
                                & (maps[..., 0] >= 0) & (maps[..., 0] <= size[0] - 1), und.shape[:3])
        assert valid.mean() > 0.8
        mean, within = _agreement(und, ref, valid)
        assert mean < 8 and within > 0.85, (c, mean, within)
        raw_mean, raw_within = _agreement(video, ref, valid)  # not undistorted: must be clearly worse
        assert raw_within < within - 0.2 and raw_mean > 2 * mean, (c, raw_mean, raw_within)


def test_undistorted_ego_frames_match_a_direct_pinhole_render(fx):
    t = fx.takes[1]
    upright = read_video(t.take_dir / "frame_aligned_videos" / ARIA_VIDEO_NAME)
    landscape = proj.rot90_image(upright, 1)
    calib = cam.read_online_calibration_rgb(t.take_dir / "trajectory" / "online_calibration.jsonl")[0]
    params = proj.fisheye624_rescale(proj.fisheye624_rescale(calib.params, 0.5, (32, 32)), 64 / 1408)
    aria = _route1(fx.root, t).aria["aria01"]
    K = proj.scale_to_size(aria.K, aria.size, (64, 64))
    maps = proj.undistort_maps("FisheyeRadTanThinPrism", params, K, (64, 64))
    und = proj.undistort(landscape, maps)
    ref = render_pinhole(t, K, aria.T_world_cam, (64, 64), ego=True)
    valid = np.broadcast_to(np.all((maps >= 0) & (maps <= 63), -1), und.shape[:3])
    mean, within = _agreement(und, ref, valid)
    assert mean < 8 and within > 0.85, (mean, within)
    # the upright stored frame read as if it were the landscape sensor image is wrong
    wrong = proj.undistort(upright, maps)
    wrong_mean, wrong_within = _agreement(wrong, ref, valid)
    assert wrong_within < within - 0.2, (wrong_mean, wrong_within)
    # the upright camera of the truth is the quarter turn of the landscape one
    K_up, T_up, _ = proj.rot90_camera(K, aria.T_world_cam, (64, 64), 3)
    np.testing.assert_allclose(T_up, t.ego.T_world_cam_upright, atol=1e-9)
    np.testing.assert_allclose(K_up, t.ego.K_upright, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# hazards


def test_hazard_only_three_calibrated_exo_cameras_and_a_short_video(hz):
    t = hz.takes[0]
    assert list(cam.read_gopro_calibs(t.take_dir / "trajectory" / "gopro_calibs.csv")) == ["cam01", "cam02", "cam03"]
    assert set(_route1(hz.root, t).exo) == {"cam01", "cam02", "cam03"}
    fav = t.take_dir / "frame_aligned_videos"
    assert (fav / "cam04.mp4").is_file()  # recorded, just not calibrated
    take = _takes(hz.root)[t.take_uid]
    assert round(take["duration_sec"] * 30) == 6
    assert len(read_video(fav / "cam02.mp4")) == 4 and t.exo["cam02"].n_video_frames == 4
    for c in ("cam01", "cam03", "cam04", "aria01_214-1"):
        assert len(read_video(fav / f"{c}.mp4")) == 6


def test_hazard_bad_quality_camera_and_frame_indices_not_starting_at_zero(hz):
    t = hz.takes[1]
    calibs = cam.read_gopro_calibs(t.take_dir / "trajectory" / "gopro_calibs.csv")
    assert calibs["cam03"].quality == 0.0 and all(calibs[c].quality == 1.0 for c in ("cam01", "cam02", "cam04"))
    err = _rot_err_deg(calibs["cam03"].T_world_cam[:3, :3], t.exo["cam03"].T_world_cam[:3, :3])
    assert err == pytest.approx(BAD_CALIB_DEG, abs=1e-6)
    route1 = _route1(hz.root, t)
    np.testing.assert_allclose(route1.exo["cam03"].T_world_cam, t.exo["cam03"].T_world_cam, atol=1e-9)
    keys = route1.aria["aria01"].frame_indices
    np.testing.assert_array_equal(keys, np.arange(3, 9))
    assert keys.max() >= len(read_video(t.take_dir / "frame_aligned_videos" / ARIA_VIDEO_NAME))
    # key i + 3 holds take frame i
    np.testing.assert_allclose(route1.aria["aria01"].T_world_cam, t.ego.T_world_cam, atol=1e-9)


def test_hazard_missing_trajectory_folder(hz):
    t = hz.takes[2]
    assert not (t.take_dir / "trajectory").exists()
    assert (t.take_dir / "frame_aligned_videos" / "cam01.mp4").is_file()
    assert set(_route1(hz.root, t).exo) == set(EXO)
    with pytest.raises(cam.CameraFileError, match="gopro_calibs.csv: file not found"):
        cam.read_gopro_calibs(t.take_dir / "trajectory" / "gopro_calibs.csv")


def test_hazard_ego_lagging_the_exo_streams_shows_in_timesync(hz):
    for t, lag in ((hz.takes[3], 2), (hz.takes[0], 0)):
        take = _takes(hz.root)[t.take_uid]
        rows = _timesync(hz.root, take)
        for i in range(t.n_frames):
            row = rows[take["timesync_start_idx"] + 1 + i]
            offset = float(row["aria01_214-1_global_time"]) - float(row["cam01_global_time"])
            assert offset == pytest.approx(-lag / 30, abs=1e-5)
        np.testing.assert_array_equal(t.ego.instants, np.arange(t.n_frames) - lag)
    # the Aria frames show earlier instants, and their own poses stay right (route 2 == route 1 where present)
    t = hz.takes[3]
    frames = [0, 1, 2, 5]
    np.testing.assert_allclose(_route2_aria(hz.root, t, frames), t.ego.T_world_cam[frames], atol=1e-8)


def test_hazard_poses_missing_for_some_frames(hz):
    t = hz.takes[3]
    aria = _route1(hz.root, t).aria["aria01"]
    np.testing.assert_array_equal(aria.frame_indices, [0, 1, 2, 5])
    for i in (3, 4):
        with pytest.raises(cam.CameraFileError, match="no pose within 1000 us"):
            _route2_aria(hz.root, t, [i])


def test_keystep_files_have_the_real_layout_for_train_and_val_takes(hz, fx):
    train = json.loads((hz.root / "annotations" / "keystep_train.json").read_text())
    val = json.loads((hz.root / "annotations" / "keystep_val.json").read_text())
    assert set(train) == set(val) == {"annotations", "taxonomy", "vocabulary"}
    t0, t2 = hz.takes[0], hz.takes[2]
    assert list(train["annotations"]) == [t0.take_uid] and list(val["annotations"]) == [t2.take_uid]
    entry = train["annotations"][t0.take_uid]
    assert entry["take_name"] == t0.take_name and entry["take_uid"] == t0.take_uid
    assert [(s["start_time"], s["end_time"]) for s in entry["segments"]] == KEYSTEPS[0]
    assert {"step_id", "step_unique_id", "step_name", "step_description", "is_essential"} <= set(entry["segments"][0])
    # the protocol reads them back; takes without keysteps (3: train, 1: test) keep the task interval
    segs = P.read_keysteps([hz.root / "annotations" / f for f in ("keystep_train.json", "keystep_val.json")])
    assert sorted(segs) == sorted([t0.take_uid, t2.take_uid])
    assert [(t.interval_source, t.intervals) for t in hz.takes] == [
        ("keystep", KEYSTEPS[0]), ("task", [(0.0, 0.2)]), ("keystep", KEYSTEPS[2]), ("task", [(0.0, 0.2)])]
    assert all(t.candidate_starts == [] for t in hz.takes)  # 6 frames hold no 65-frame window
    assert not (fx.root / "annotations" / "keystep_train.json").exists()  # written only when asked for


def test_candidate_windows_tile_the_intervals_without_overlap():
    assert candidate_window_starts([(0.0, 10.0)], 300) == [0, 65, 130, 195]
    assert candidate_window_starts([(0.1, 2.4)], 69) == [3]  # ceil(3.0) .. min(floor(72), 68)
    # the second interval (frames 30..180) starts after the first window; 130..194 does not fit in it
    assert candidate_window_starts([(0.0, 3.0), (1.0, 6.0)], 300) == [0, 65]
    assert candidate_window_starts([(0.0, 2.1)], 300) == []  # 64 frames


@pytest.mark.parametrize("kwargs, match", [
    ({"keysteps": {1: [(0.0, 1.0)]}}, "test take"),
    ({"keysteps": {0: [(1.0, 0.5)]}}, "start_sec < end_sec"),
    ({"keysteps": {7: []}}, "take index"),
    ({"n_takes": 0}, "n_takes"),
    ({"hazards": {5: Hazards()}}, "take index"),
    ({"hazards": {0: Hazards(calibrated_exo=5)}}, "calibrated_exo"),
    ({"hazards": {0: Hazards(bad_quality_cam="gp09")}}, "bad_quality_cam"),
    ({"hazards": {0: Hazards(short_video=("cam01", 8))}}, "short_video"),
    ({"hazards": {0: Hazards(missing_pose_frames=(9,))}}, "missing_pose_frames"),
])
def test_bad_options_are_usage_errors_naming_the_option(tmp_path, kwargs, match):
    with pytest.raises(FixtureError, match=match) as info:
        write_fixture(tmp_path, **kwargs)
    assert isinstance(info.value, UsageError)
    assert not (tmp_path / "takes.json").exists()


def test_same_arguments_write_the_same_files(tmp_path):
    kw = dict(n_takes=1, n_frames=3, exo_size=(32, 18), ego_size=16, supersample=1, n_points=1)
    a = write_fixture(tmp_path / "a", **kw)
    b = write_fixture(tmp_path / "b", **kw)
    assert a.takes[0].take_uid == b.takes[0].take_uid
    for rel in ("takes.json", "annotations/splits.json", f"takes/{a.takes[0].take_name}/trajectory/gopro_calibs.csv"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    video = f"takes/{a.takes[0].take_name}/frame_aligned_videos/cam01.mp4"
    np.testing.assert_array_equal(read_video(tmp_path / "a" / video), read_video(tmp_path / "b" / video))
