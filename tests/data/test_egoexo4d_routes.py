"""ExoEgo4D camera routes, keystep intervals and outside clip lists, on the fixture's miniature Ego-Exo4D download.

Route 2 (``trajectory/gopro_calibs.csv`` + ``closed_loop_trajectory.csv`` + timesync) and route 1 (the ego-pose
``camera_pose/<take_uid>.json`` files) are two sources of the same poses; the lens models (and so the stored K and
the resampling) come from the calibration files in both. On the fixture both routes hold the true cameras, so:

* both builds recover the truth (poses to ``POSE_TOL``, K exactly the calibration rule);
* a take whose trajectory (or timesync) is removed goes through route 1 and gives the same clip windows, the
  same cameras within ``POSE_TOL`` and the same frames (the resampling does not depend on the route);
* where both routes exist the build compares them; a route-1 file moved by 5 cm is reported as a hazard while the
  trajectory stays the route used.

Tolerances: ``POSE_TOL`` 1e-8 (metres / rotation entries; the files hold repr floats, the dataset 9 decimals);
``PIXEL_TOL`` 1e-6 px (projection with the stored pinhole vs the truth's distorted pixel undistorted);
route agreement on exact files: rotation < 1e-4 degree (arccos resolution), centres < 1e-9 m.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from benchmark.data.egoexo4d import convert
from benchmark.data.egoexo4d import projection as proj
from benchmark.data.egoexo4d import protocol as P
from benchmark.data.egoexo4d.convert import build_exoego4d
from benchmark.data.egoexo4d.fixture import write_fixture
from benchmark.data.loading import load_split

pytestmark = pytest.mark.slow

N_FRAMES = 69  # room for one 65-frame window per take
# take 0 (bike-repair, train) has keysteps: a segment too short for a clip and one whose first frame is 3
KEYSTEPS = {0: [(0.0, 0.05), (0.1, 2.4)]}
POSE_TOL = 1e-8
PIXEL_TOL = 1e-6


def _cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _clips(out):
    splits = json.loads((out / "manifest.json").read_text())["splits"]
    return {c.clip_id: c for split in splits for c in load_split("exoego4d", split, root=out)}


def _rows(out):
    import pyarrow.parquet as pq

    return {r["clip_id"]: r for split in ("train", "val", "test") if (out / "data" / f"{split}.parquet").is_file()
            for r in pq.read_table(out / "data" / f"{split}.parquet").to_pylist()}


def _pose_file(root, take):
    return root / "annotations" / "ego_pose" / take.split / "camera_pose" / f"{take.take_uid}.json"


def _timesync_file(root, take):
    return root / "captures" / take.capture_name / "timesync.csv"


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """Takes 0 (bike-repair, train, keysteps), 1 (covid-test, test), 2 (cpr, val); built once as downloaded
    (route 2) and once from a copy without take 0's and 2's closed_loop_trajectory.csv and without take 1's
    timesync (route 1 for all three, take 1 without Aria times)."""
    base = tmp_path_factory.mktemp("routes")
    truth = write_fixture(base / "egoexo", n_takes=3, n_frames=N_FRAMES, supersample=1, keysteps=KEYSTEPS)
    out2, report2 = build_exoego4d(truth.root, base / "route2", progress=False)
    root1 = base / "egoexo_route1"
    shutil.copytree(truth.root, root1)
    for k in (0, 2):
        (root1 / "takes" / truth.takes[k].take_name / "trajectory" / "closed_loop_trajectory.csv").unlink()
    _timesync_file(root1, truth.takes[1]).unlink()
    out1, report1 = build_exoego4d(root1, base / "route1", progress=False)
    return truth, root1, (out2, report2), (out1, report1)


def test_the_trajectory_is_the_route_where_it_exists_and_the_routes_agree(routes):
    truth, _, (out2, report2), _ = routes
    uids = {t.take_uid for t in truth.takes}
    assert report2["camera_routes"] == {u: "trajectory" for u in uids}
    assert report2["hazards"] == [] and set(report2["route_checks"]) == uids
    for check in report2["route_checks"].values():
        assert check["agree"] and check["ego_frames_compared"] == N_FRAMES
        assert check["exo_cams_compared"] == ["cam01", "cam02", "cam03", "cam04"]
        assert check["ego_max_rotation_deg"] < 1e-4 and check["exo_max_rotation_deg"] < 1e-4
        assert check["ego_max_centre_m"] < 1e-9 and check["exo_max_centre_m"] < 1e-9
    assert {r["camera_route"] for r in _rows(out2).values()} == {"trajectory"}


def test_the_ego_pose_files_are_the_route_without_trajectory_or_timesync(routes):
    truth, _, _, (out1, report1) = routes
    assert report1["camera_routes"] == {t.take_uid: "ego_pose" for t in truth.takes}
    assert report1["route_checks"] == {} and report1["hazards"] == [] and report1["skipped"] == []
    assert {r["camera_route"] for r in _rows(out1).values()} == {"ego_pose"}
    assert json.loads((out1 / "manifest.json").read_text())["build"]["camera_routes"] == {"ego_pose": 3}


@pytest.mark.parametrize("route", [2, 1])
def test_both_routes_recover_the_truth_cameras(routes, route):
    truth, _, built2, built1 = routes
    out = (built2 if route == 2 else built1)[0]
    clips = _clips(out)
    assert len(clips) == 3
    for take in truth.takes:
        (start,) = take.candidate_starts
        clip = clips[P.clip_id(take.take_uid, start)]
        frames = start + 4 * np.arange(17)
        for v, cam in enumerate(clip.exo_cam_ids):
            np.testing.assert_allclose(clip.exo_T_world_cam[v], take.exo[cam].T_world_cam, atol=POSE_TOL, rtol=0)
            K_raw, _ = proj.kb_K_dist(take.exo[cam].kb_params_calib)  # same rule in both routes
            np.testing.assert_allclose(clip.exo_K[v], proj.scale_to_size(K_raw, (3840, 2160), (480, 270)),
                                       atol=1e-8, rtol=0)
        np.testing.assert_allclose(clip.ego_T_world_cam, take.ego.T_world_cam_upright[frames], atol=POSE_TOL,
                                   rtol=0)
        np.testing.assert_allclose(clip.ego_K, [[75, 0, 127.5], [0, 75, 127.5], [0, 0, 1]], atol=1e-12)


def test_route1_gives_the_same_windows_cameras_and_frames_as_route2(routes):
    _, _, (out2, report2), (out1, report1) = routes
    c2, c1 = _clips(out2), _clips(out1)
    assert sorted(c1) == sorted(c2)
    assert report1["windows"] == report2["windows"]
    for cid, a in c2.items():
        b = c1[cid]
        assert a.exo_cam_ids == b.exo_cam_ids
        for name in ("exo_T_world_cam", "exo_K", "ego_T_world_cam", "ego_K"):
            np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=POSE_TOL, rtol=0, err_msg=name)
        # the same lens models resample the same decoded frames (take 1's middle calibration record, chosen
        # without Aria times, holds the same parameters in the fixture)
        for name in ("ego_video", "exo_video"):
            diff = np.abs(getattr(a, name).astype(np.int16) - getattr(b, name).astype(np.int16))
            assert diff.max() <= 1, (cid, name, diff.max())


def test_known_points_reproject_to_the_same_pixel_in_every_view_of_route1_clips(routes):
    truth, _, _, (out1, _) = routes
    clips = _clips(out1)
    checked = 0
    for take in truth.takes:
        (start,) = take.candidate_starts
        clip = clips[P.clip_id(take.take_uid, start)]
        xyz = take.points.xyz
        for v, cam in enumerate(clip.exo_cam_ids):
            p = _project(clip.exo_K[v], clip.exo_T_world_cam[v], xyz)
            expected = proj.undistort_points(proj.KB3, take.exo[cam].kb_params, take.points.exo_pixels[cam],
                                             clip.exo_K[v])
            np.testing.assert_allclose(p, expected, atol=PIXEL_TOL)
            checked += len(p)
        for k in (0, 8, 16):
            f = start + 4 * k
            vis = take.points.ego_visible[f]
            p = _project(clip.ego_K, clip.ego_T_world_cam[k], xyz)
            land = proj.rot90_pixels(take.points.ego_pixels[f], take.ego.size, 1)
            expected = proj.rot90_pixels(proj.undistort_points(proj.FISHEYE624, take.ego.params, land,
                                                               proj.pinhole_K(75, (256, 256))), (256, 256), 3)
            np.testing.assert_allclose(p[vis], expected[vis], atol=PIXEL_TOL)
            checked += int(vis.sum())
    assert checked >= 3 * 4 * 2 + 3


def _project(K, T_world_cam, xyz):
    T_cam_world = np.linalg.inv(T_world_cam)
    pc = xyz @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    return pc[:, :2] / pc[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]


def test_keystep_windows_lie_inside_keystep_segments(routes):
    truth, _, (out2, report2), _ = routes
    assert report2["keystep_files"] == ["annotations/keystep_train.json", "annotations/keystep_val.json"]
    rows = _rows(out2)
    for take in truth.takes:
        source = report2["windows"][take.take_uid]["intervals"]
        assert source == take.interval_source == ("keystep" if take.take_uid == truth.takes[0].take_uid else "task")
        starts = sorted(r["start_frame"] for r in rows.values() if r["take_uid"] == take.take_uid)
        assert starts == take.candidate_starts
        for s in starts:
            first, last = s, s + 64
            # inside one interval, in frames: ceil(30 a) <= first and last <= floor(30 b)
            assert any(math.ceil(30 * a - 1e-6) <= first and last <= math.floor(30 * b + 1e-6)
                       for a, b in take.intervals), (take.take_name, s, take.intervals)
    assert truth.takes[0].candidate_starts == [3]  # the keystep segment, not the task interval (which gives 0)


def _shift_route1_world(path, shift):
    """Move every camera of a route-1 file by ``shift`` (metres, world): world-to-camera t' = t - R shift."""
    doc = json.loads(path.read_text())
    for cam, entry in doc.items():
        if cam == "metadata":
            continue
        ext = entry["camera_extrinsics"]
        mats = ext.values() if isinstance(ext, dict) else [ext]
        for E in mats:
            R = np.array(E)[:, :3]
            t = np.array(E)[:, 3] - R @ np.asarray(shift)
            for i in range(3):
                E[i][3] = float(t[i])
    path.write_text(json.dumps(doc))


def test_routes_that_disagree_are_a_hazard_and_the_trajectory_stays_the_route(routes, tmp_path):
    truth, _, _, _ = routes
    root = tmp_path / "egoexo"
    shutil.copytree(truth.root, root)
    take = truth.takes[1]
    _shift_route1_world(_pose_file(root, take), (0.03, 0.0, 0.04))
    out, report = build_exoego4d(root, tmp_path / "out", categories=["covid-test"], progress=False)
    (hazard,) = report["hazards"]
    assert hazard["take_uid"] == take.take_uid and hazard["kind"] == "camera_routes_disagree"
    assert hazard["ego_max_centre_m"] == pytest.approx(0.05, abs=1e-9)
    assert hazard["exo_max_centre_m"] == pytest.approx(0.05, abs=1e-9)
    assert hazard["ego_max_rotation_deg"] < 1e-4 and "trajectory route is used" in hazard["detail"]
    assert report["camera_routes"] == {take.take_uid: "trajectory"}
    (clip,) = _clips(out).values()
    np.testing.assert_allclose(clip.exo_T_world_cam[0], take.exo["cam01"].T_world_cam, atol=POSE_TOL, rtol=0)


@pytest.mark.parametrize("metres, degrees, agree", [(0.009, 0.0, True), (0.011, 0.0, False), (0.0, 0.45, True),
                                                    (0.0, 0.55, False)])
def test_route_agreement_bounds_are_one_centimetre_and_half_a_degree(metres, degrees, agree):
    a = np.tile(np.eye(4), (5, 1, 1))
    b = a.copy()
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    b[2, :3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    b[3, :3, 3] = [metres, 0, 0]
    b[4] = np.nan  # a frame route 1 does not list is not compared
    for ego, exo in (((a, b), ({}, {})), ((a, a), ({"cam01": a[0]}, {"cam01": b[2] @ b[3]}))):
        check = convert._compare_routes(*ego, *exo)
        assert check["agree"] is agree
    assert check["ego_frames_compared"] == 5 and convert._compare_routes(a, b, {}, {})["ego_frames_compared"] == 4


def _shift_keys(keys):
    return {str(int(k) + 5): v for k, v in keys.items()}


def _drop(frame):
    return lambda keys: {k: v for k, v in keys.items() if k != str(frame)}


@pytest.mark.parametrize("edit, reason, detail", [
    (_shift_keys, "frame_index_origin", "aria01 frame keys 5..73 for videos of 69 frames"),
    (_drop(8), "poses_missing", "rejected {'poses_missing': 1}"),  # frame 8 is sampled (0, 4, 8, ...)
    (_drop(9), None, None),  # frames between samples do not matter
])
def test_route1_frame_keys_are_video_frames_and_unlisted_frames_have_no_pose(routes, tmp_path, edit, reason, detail):
    truth, root1, _, _ = routes
    root = tmp_path / "egoexo"
    shutil.copytree(root1, root)
    take = truth.takes[2]  # route 1 in root1
    path = _pose_file(root, take)
    doc = json.loads(path.read_text())
    doc["aria01"]["camera_extrinsics"] = edit(doc["aria01"]["camera_extrinsics"])
    path.write_text(json.dumps(doc))
    if reason is None:
        out, report = build_exoego4d(root, tmp_path / "out", categories=["cpr"], progress=False)
        assert report["camera_routes"] == {take.take_uid: "ego_pose"} and len(_clips(out)) == 1
        return
    with pytest.raises(convert.ConvertError, match="no clip could be made"):
        build_exoego4d(root, tmp_path / "out", categories=["cpr"], progress=False)
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    (entry,) = report["skipped"]
    assert entry["reason"] == reason and detail in entry["detail"], entry


def test_frames_past_the_timesyncs_last_row_have_no_pose(routes, tmp_path):
    truth, _, _, _ = routes
    root = tmp_path / "egoexo"
    shutil.copytree(truth.root, root)
    take = truth.takes[1]
    path = _timesync_file(root, take)
    lines = path.read_text().splitlines()
    # header + rows up to take frame 60: sampled frame 64 has no Aria time, so the window has no pose there
    path.write_text("\n".join(lines[:1 + take.timesync_start_idx + 1 + 61]) + "\n")
    with pytest.raises(convert.ConvertError, match="no clip could be made"):
        build_exoego4d(root, tmp_path / "out", categories=["covid-test"], progress=False)
    (entry,) = json.loads((tmp_path / "out" / "build_report.json").read_text())["skipped"]
    assert entry["reason"] == "poses_missing"


# ------------------------------------------------------------------------------------------------ outside lists
def _write_list(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["take_uid", "start_frame", "end_frame", "cameras", "stride", "split"])
        w.writerows(rows)


def test_an_outside_clip_list_converts_through_the_cli_and_reports_its_bad_rows(routes, tmp_path):
    truth, root1, _, (out1, _) = routes
    t0, t1, t2 = truth.takes
    path = tmp_path / "egox.csv"
    _write_list(path, [
        [t1.take_uid, 0, 64, "cam01;cam02;cam03;cam04", 4, "test"],  # exactly the protocol's window of take 1
        [t0.take_uid, 10, 38, "cam03 cam01", 2, "train"],  # 15 frames every 2nd, two views in the list's order
        ["0000aaaa-0000-4000-8000-000000000000", 0, 64, "cam01", 4, "test"],  # no such take
        [t2.take_uid, 0, 64, "cam01;cam07", 4, "val"],  # no such camera
        [t2.take_uid, 40, 104, "cam01", 4, "val"],  # past the take's 69 frames
    ])
    out = tmp_path / "out"
    r = _cli("data", "build", "exoego4d", "--root", str(root1), "--out", str(out), "--clip-list", str(path),
             "--clip-list-name", "egox")
    assert "built" in r.stdout and "2 clips" in r.stdout
    report = json.loads((out / "build_report.json").read_text())
    assert report["setting"] == "outside-egox" and report["clip_list"]["rows"] == 5
    assert report["camera_routes"] == {t0.take_uid: "ego_pose", t1.take_uid: "ego_pose"}
    bad = {s["clip_id"]: s for s in report["skipped"]}
    assert {cid: s["reason"] for cid, s in bad.items()} == {
        "egox-0000aaaa-0000-4000-8000-000000000000-f000000": "unknown_take",
        f"egox-{t2.take_uid}-f000000": "camera_unusable",
        f"egox-{t2.take_uid}-f000040": "frames_out_of_range"}
    assert "cam07 is not an exo camera of the take" in bad[f"egox-{t2.take_uid}-f000000"]["detail"]
    assert all(s["text"] == P.SkipReason(s["reason"]).text for s in bad.values())

    rows = {r.clip_id: r for r in P.read_manifest(out / "exoego4d_manifest.json")}
    same, own = f"egox-{t1.take_uid}-f000000", f"egox-{t0.take_uid}-f000010-s2n15"
    assert sorted(rows) == sorted([same, own])
    assert {(r.source, r.setting) for r in rows.values()} == {("egox", "outside-egox")}
    assert (rows[same].category, rows[own].category, rows[own].split) == ("covid-test", "bike-repair", "train")
    clips = _clips(out)
    mine = clips[own]
    assert mine.exo_cam_ids == ["cam03", "cam01"] and mine.ego_video.shape == (15, 256, 256, 3)
    assert mine.fps == 15
    np.testing.assert_allclose(mine.ego_T_world_cam, t0.ego.T_world_cam_upright[10:39:2], atol=POSE_TOL, rtol=0)
    np.testing.assert_allclose(mine.exo_T_world_cam[0], t0.exo["cam03"].T_world_cam, atol=POSE_TOL, rtol=0)
    # the row that is the protocol's own window gives the protocol clip's cameras and frames
    ref = _clips(out1)[P.clip_id(t1.take_uid, 0)]
    theirs = clips[same]
    np.testing.assert_array_equal(theirs.ego_video, ref.ego_video)
    np.testing.assert_array_equal(theirs.exo_video, ref.exo_video)
    np.testing.assert_allclose(theirs.ego_T_world_cam, ref.ego_T_world_cam, atol=0, rtol=0)


def test_outside_list_cli_usage_errors_are_one_line(routes, tmp_path):
    truth, _, _, _ = routes
    path = tmp_path / "l.csv"
    _write_list(path, [[truth.takes[1].take_uid, 0, 64, "cam01", 4, "test"]])
    base = ["data", "build", "exoego4d", "--root", str(truth.root), "--out", str(tmp_path / "o")]
    for extra, message in [(["--clip-list", str(path)], "--clip-list needs --clip-list-name"),
                           (["--clip-list-name", "x"], "--clip-list-name needs --clip-list"),
                           (["--clip-list", str(path), "--clip-list-name", "x", "--setting", "single-exo"],
                            "does not apply to --clip-list"),
                           (["--clip-list", str(path), "--clip-list-name", "bad name"], "--clip-list-name"),
                           (["--clip-list", str(tmp_path / "none.csv"), "--clip-list-name", "x"], "not found")]:
        r = _cli(*base, *extra, check=False)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (extra, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
