"""The ExoEgo4D converter (``benchmark.data.egoexo4d.convert``) on the fixture's miniature Ego-Exo4D download.

The fixture renders every video through its written calibration, so the converted cameras and frames are
checked against ground truth: poses and intrinsics, a known 3D point projected with the converted pinhole
cameras, and the undistorted frames compared with a pinhole re-rendering of the same scene.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark.data import hf_format as fmt
from benchmark.data.egoexo4d import projection as proj
from benchmark.data.egoexo4d import protocol as P
from benchmark.data.egoexo4d.convert import ConvertError, build_exoego4d
from benchmark.data.egoexo4d.fixture import Hazards, render_pinhole, write_fixture
from benchmark.data.loading import load_split

pytestmark = pytest.mark.slow

N_FRAMES = 69  # one 65-frame window per take
STRIDE_FRAMES = np.arange(0, 65, 4)  # the sampled source frames of the window starting at 0
POSE_TOL = 1e-8  # metres / rotation entries: the files store repr() floats, the dataset 9 decimals
PIXEL_TOL = 1e-6  # px at the stored resolution: converted pinhole vs the truth's distorted pixel undistorted
IMAGE_SHIFT_TOL = 1  # px: best alignment of the converted frame with a pinhole re-rendering, per known point


def _cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Takes 0 (bike-repair, train), 1 (covid-test, test), 2 (cpr, val), 3 (basketball, train: a sampled frame
    has no pose), 4 (cooking, test). Built through the CLI."""
    base = tmp_path_factory.mktemp("exoego4d")
    truth = write_fixture(base / "egoexo", n_takes=5, n_frames=N_FRAMES, supersample=1,
                          hazards={3: Hazards(missing_pose_frames=(8,))})
    out = base / "out"
    r = _cli("data", "build", "exoego4d", "--root", str(truth.root), "--out", str(out))
    assert "built" in r.stdout
    report = json.loads((out / "build_report.json").read_text())
    return truth, out, report


def _project(K, T_world_cam, xyz):
    T_cam_world = np.linalg.inv(T_world_cam)
    pc = xyz @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    return pc[:, :2] / pc[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]


def _clips(out):
    return {c.clip_id: (split, c) for split in ("train", "val", "test")
            for c in load_split("exoego4d", split, root=out)}


def test_build_uses_the_good_takes_and_reports_the_rest(converted):
    truth, out, report = converted
    good = {truth.takes[k].take_uid for k in (0, 1, 2, 4)}
    assert set(report["takes_used"]) == good
    assert [(s["take_uid"], s["reason"]) for s in report["skipped"]] == [
        (truth.takes[3].take_uid, P.SkipReason.POSES_MISSING.value)]
    manifest = fmt.read_manifest(out)
    assert sorted(manifest["splits"]) == ["test", "train", "val"]
    assert manifest["splits"]["train"]["categories"] == {"bike-repair": 1}
    assert manifest["splits"]["test"]["categories"] == {"cooking": 1, "covid-test": 1}
    assert manifest["splits"]["val"]["categories"] == {"cpr": 1}
    rows = P.read_manifest(out / "exoego4d_manifest.json")  # checks its own identity
    assert P.manifest_identity(rows) == manifest["protocol_manifest_identity"] == report["protocol_manifest_identity"]
    assert {r.clip_id for r in rows} == {P.clip_id(truth.takes[k].take_uid, 0) for k in (0, 1, 2, 4)}
    card = (out / "README.md").read_text()
    assert "egoexo-license" in card and "protocol 1.0" in card
    assert report["elapsed_s"] > 0


def test_converted_cameras_match_the_truth(converted):
    truth, out, _ = converted
    for _, clip in _clips(out).values():
        take = next(t for t in truth.takes if clip.clip_id == P.clip_id(t.take_uid, 0))
        assert clip.exo_cam_ids == ["cam01", "cam02", "cam03", "cam04"]
        assert clip.exo_video.shape == (4, 17, 270, 480, 3) and clip.ego_video.shape == (17, 256, 256, 3)
        for v, cam in enumerate(clip.exo_cam_ids):
            e = take.exo[cam]
            np.testing.assert_allclose(clip.exo_T_world_cam[v], e.T_world_cam, atol=POSE_TOL, rtol=0)
            # the calibration's pinhole part, scaled from 3840x2160 to the stored 480x270
            K_raw, _ = proj.kb_K_dist(e.kb_params_calib)
            np.testing.assert_allclose(clip.exo_K[v], proj.scale_to_size(K_raw, (3840, 2160), (480, 270)), atol=1e-8)
        np.testing.assert_allclose(clip.ego_T_world_cam, take.ego.T_world_cam_upright[STRIDE_FRAMES], atol=POSE_TOL,
                                   rtol=0)
        np.testing.assert_allclose(clip.ego_K, [[75, 0, 127.5], [0, 75, 127.5], [0, 0, 1]], atol=1e-12)


def test_known_points_project_where_the_undistorted_frames_show_them(converted):
    truth, out, _ = converted
    split, clip = _clips(out)[P.clip_id(truth.takes[0].take_uid, 0)]
    take = truth.takes[0]
    xyz = take.points.xyz
    k = 8  # clip frame 8 = source frame 32
    f = int(STRIDE_FRAMES[k])
    shifts = []
    for v, cam in enumerate(clip.exo_cam_ids):
        e = take.exo[cam]
        p = _project(clip.exo_K[v], clip.exo_T_world_cam[v], xyz)
        # the truth's distorted pixel, undistorted with the true model into the converted pinhole
        expected = proj.undistort_points(proj.KB3, e.kb_params, take.points.exo_pixels[cam], clip.exo_K[v])
        np.testing.assert_allclose(p, expected, atol=PIXEL_TOL)
        one = dataclasses.replace(take, tensors_exo=take.tensors_exo.frames(torch.tensor([f])))
        ref = render_pinhole(one, clip.exo_K[v], clip.exo_T_world_cam[v], (480, 270))[0]
        shifts += [_best_shift(clip.exo_video[v, k], ref, q) for q in p]
    p = _project(clip.ego_K, clip.ego_T_world_cam[k], xyz)
    land = proj.rot90_pixels(take.points.ego_pixels[f], take.ego.size, 1)
    expected = proj.rot90_pixels(proj.undistort_points(proj.FISHEYE624, take.ego.params, land,
                                                       proj.pinhole_K(75, (256, 256))), (256, 256), 3)
    vis = take.points.ego_visible[f]
    assert vis.any()
    np.testing.assert_allclose(p[vis], expected[vis], atol=PIXEL_TOL)
    one = dataclasses.replace(take, tensors_ego=take.tensors_ego.frames(torch.tensor([f])))
    ref = render_pinhole(one, clip.ego_K, clip.ego_T_world_cam[k][None], (256, 256), ego=True)[0]
    shifts += [_best_shift(clip.ego_video[k], ref, q) for q, ok in zip(p, vis) if ok]
    shifts = [s for s in shifts if s is not None]
    assert len(shifts) >= 8
    # the stored frames are 5x (exo) / 4x (ego) upsamplings of the fixture's videos, so patches are blurry:
    # most points align exactly or within a pixel, none drifts far
    within = [max(abs(dx), abs(dy)) <= IMAGE_SHIFT_TOL for dx, dy in shifts]
    assert np.mean(within) >= 0.8, shifts
    assert max(max(abs(dx), abs(dy)) for dx, dy in shifts) <= 3, shifts


def _best_shift(img, ref, p, r=10, s=4):
    """(dx, dy) in -s..s minimising the mean absolute difference between the (2r+1)^2 patch of ``img`` at ``p``
    and the shifted patch of ``ref``; None near the border."""
    x, y = np.rint(p).astype(int)
    H, W = img.shape[:2]
    if not (r + s <= x < W - r - s and r + s <= y < H - r - s):
        return None
    a = img[y - r:y + r + 1, x - r:x + r + 1].astype(float)
    errs = {(dx, dy): np.abs(a - ref[y + dy - r:y + dy + r + 1, x + dx - r:x + dx + r + 1]).mean()
            for dy in range(-s, s + 1) for dx in range(-s, s + 1)}
    return min(errs, key=lambda d: (errs[d], abs(d[0]) + abs(d[1])))


def test_content_identity_verifies(converted):
    _, out, _ = converted
    for split in ("train", "test"):
        clips = load_split("exoego4d", split, root=out)
        assert clips.verifiable
        clips.verify()
        for cid in clips.clip_ids:
            clips.verify_clip(cid)


def test_run_exo_copy_end_to_end_and_reproject_needs_depth(converted, tmp_path):
    _, out, _ = converted
    runs = tmp_path / "runs"
    _cli("run", "--method", "exo-copy", "--dataset", "exoego4d", "--root", str(out), "--split", "test",
         "--out", str(runs), "--no-progress")
    results = json.loads(next(runs.rglob("results.json")).read_text())
    assert results["dataset"]["identity"] == fmt.read_manifest(out)["splits"]["test"]["identity"]
    # the conversion has no depth: reproject refuses each clip with a message saying so
    r = _cli("run", "--method", "reproject", "--dataset", "exoego4d", "--root", str(out), "--split", "test",
             "--out", str(runs), "--no-progress", "--on-error", "fail", check=False)
    assert r.returncode != 0 and "needs exo depth" in (r.stdout + r.stderr)


def test_rerun_resumes_finished_takes_with_the_same_identity(converted, tmp_path):
    truth, out, _ = converted
    part = tmp_path / "part"
    _, first = build_exoego4d(truth.root, part, categories=["bike-repair"], progress=False)
    assert first["takes_resumed"] == [] and first["takes_used"] == [truth.takes[0].take_uid]
    _, second = build_exoego4d(truth.root, part, progress=False)
    assert second["takes_resumed"] == [truth.takes[0].take_uid]
    ours, fresh = fmt.read_manifest(part), fmt.read_manifest(out)
    for split in ("train", "val", "test"):
        assert ours["splits"][split]["identity"] == fresh["splits"][split]["identity"]
        assert ours["splits"][split]["sha256"] == fresh["splits"][split]["sha256"]


@pytest.fixture(scope="module")
def hazard_root(tmp_path_factory):
    """Ten 8-frame takes; 0, 3, 4, 5 and 8 carry one hazard each; the others are only too short for a clip."""
    root = tmp_path_factory.mktemp("hazards") / "egoexo"
    truth = write_fixture(root, n_takes=10, n_frames=8, supersample=1, hazards={
        0: Hazards(calibrated_exo=3), 3: Hazards(bad_quality_cam="cam02"), 4: Hazards(missing_trajectory=True),
        5: Hazards(short_video=("cam03", 3)), 8: Hazards(ego_lag_frames=3)})
    return truth


# takes 1, 2, 6, 7, 9: 8 frames cannot hold a 65-frame clip
EXPECTED_REASONS = {0: "not_enough_exo", 3: "calibration_failed", 4: "missing_trajectory", 5: "short_video",
                    8: "ego_lag", **{k: "task_too_short" for k in (1, 2, 6, 7, 9)}}


@pytest.mark.parametrize("workers", [1, 2])
def test_every_hazard_is_skipped_with_its_reason(hazard_root, tmp_path, workers):
    out = tmp_path / "out"
    with pytest.raises(ConvertError, match="no clip could be made"):
        build_exoego4d(hazard_root.root, out, workers=workers, progress=False)
    report = json.loads((out / "build_report.json").read_text())
    got = {s["take_uid"]: s["reason"] for s in report["skipped"]}
    assert got == {hazard_root.takes[k].take_uid: r for k, r in EXPECTED_REASONS.items()}
    assert all(s["text"] == P.SkipReason(s["reason"]).text for s in report["skipped"])
    assert not (out / "manifest.json").exists()


def test_cli_reports_bad_input_in_one_line(hazard_root, tmp_path):
    r = _cli("data", "build", "exoego4d", "--root", str(hazard_root.root), "--out", str(tmp_path / "o"), check=False)
    assert r.returncode == 2 and "no clip could be made" in r.stderr and "Traceback" not in r.stderr
    r = _cli("data", "build", "exoego4d", "--out", str(tmp_path / "o"), check=False)
    assert r.returncode == 2 and "--root" in r.stderr
    r = _cli("data", "build", "exoego4d", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "o2"),
             check=False)
    assert r.returncode == 2 and "no such folder" in r.stderr


def _edit_csv_field(path, line, column, value):
    """Set one field of a CSV file (``line`` 1-based, counting the header)."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def _non_orthonormal_route1(path):
    doc = json.loads(path.read_text())
    doc["cam02"]["camera_extrinsics"][0][0] *= 1.5  # scales one axis: R R^T != I
    path.write_text(json.dumps(doc))


def _add_route1_frame_key(path, key):
    doc = json.loads(path.read_text())
    doc["aria01"]["camera_extrinsics"][key] = doc["aria01"]["camera_extrinsics"]["0"]
    path.write_text(json.dumps(doc))


def _drop_trajectory_column(path):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(",".join(f for f in ln.split(",")[:3] + ln.split(",")[4:]) for ln in lines) + "\n")


TAKE = 9  # a cooking take without hazards (8 frames: its only reason is task_too_short)
# (what to break in the take's files, expected reason, fragments the report entry's detail must contain)
BAD_INPUTS = {
    "gopro_calibs non-unit quaternion": (
        lambda root, t: _edit_csv_field(t / "trajectory" / "gopro_calibs.csv", 3, "qw_world_cam", "3.0"),
        "malformed_camera_file", ["gopro_calibs.csv", "line 3", "unit quaternion"]),
    "gopro_calibs not a number": (
        lambda root, t: _edit_csv_field(t / "trajectory" / "gopro_calibs.csv", 2, "intrinsics_0", "fx"),
        "malformed_camera_file", ["gopro_calibs.csv", "line 2", "intrinsics_0", "expected a number"]),
    "trajectory lacks a column": (
        lambda root, t: _drop_trajectory_column(t / "trajectory" / "closed_loop_trajectory.csv"),
        "malformed_camera_file", ["closed_loop_trajectory.csv", "missing column", "tx_world_device"]),
    "online calibration not JSON": (
        lambda root, t: (t / "trajectory" / "online_calibration.jsonl").write_text("{calibration\n"),
        "malformed_camera_file", ["online_calibration.jsonl", "line 1"]),
    "route-1 rotation not orthonormal": (
        lambda root, t: (_non_orthonormal_route1(_pose_path(root)),
                         (t / "trajectory" / "closed_loop_trajectory.csv").unlink()),
        "malformed_camera_file", ["camera_pose", "cam02", "not orthonormal"]),
    "route-1 frame key not an integer": (
        lambda root, t: (_add_route1_frame_key(_pose_path(root), "1.5"),
                         (t / "trajectory" / "closed_loop_trajectory.csv").unlink()),
        "frame_index_origin", ["camera_pose", "aria01 frame keys ['1.5'] are not non-negative integer"]),
    "no trajectory and no route-1 file": (
        lambda root, t: ((t / "trajectory" / "closed_loop_trajectory.csv").unlink(), _pose_path(root).unlink()),
        "missing_trajectory", ["closed_loop_trajectory.csv not found", "camera_pose"]),
    "no timesync and no route-1 file": (
        lambda root, t: (next((root / "captures").glob("*_10/timesync.csv")).unlink(), _pose_path(root).unlink()),
        "missing_trajectory", ["timesync.csv not found"]),
    "missing exo video": (
        lambda root, t: (t / "frame_aligned_videos" / "cam02.mp4").unlink(),
        "unreadable_video", ["cam02.mp4 not found"]),
    "videos shorter than takes.json says": (
        lambda root, t: _set_take_field(root, "duration_sec", 20 / 30),
        "short_video", ["duration_sec 0.66"]),
}


def _pose_path(root):
    take = json.loads((root / "takes.json").read_text())[TAKE]
    return next((root / "annotations" / "ego_pose").glob(f"*/camera_pose/{take['take_uid']}.json"))


def _set_take_field(root, key, value):
    takes = json.loads((root / "takes.json").read_text())
    takes[TAKE][key] = value
    (root / "takes.json").write_text(json.dumps(takes))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_report_entries_naming_the_file(hazard_root, tmp_path, case):
    import shutil

    breaks, reason, fragments = BAD_INPUTS[case]
    root = tmp_path / "egoexo"
    shutil.copytree(hazard_root.root, root)
    take = hazard_root.takes[TAKE]
    breaks(root, root / "takes" / take.take_name)
    with pytest.raises(ConvertError):
        build_exoego4d(root, tmp_path / "out", categories=["cooking"], progress=False)
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    entry = next(s for s in report["skipped"] if s["take_uid"] == take.take_uid)
    assert entry["reason"] == reason and entry["text"] == P.SkipReason(reason).text
    for fragment in fragments:
        assert fragment in entry["detail"], (case, entry["detail"])


def test_a_malformed_route1_file_does_not_skip_a_take_that_has_the_trajectory(hazard_root, tmp_path):
    """Route 1 is then only compared with route 2: a file that cannot be read is a hazard, not a skip."""
    import shutil

    root = tmp_path / "egoexo"
    shutil.copytree(hazard_root.root, root)
    _non_orthonormal_route1(_pose_path(root))
    with pytest.raises(ConvertError):  # the 8-frame takes give no clip; the report says why
        build_exoego4d(root, tmp_path / "out", categories=["cooking"], progress=False)
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    entry = next(s for s in report["skipped"] if s["take_uid"] == hazard_root.takes[TAKE].take_uid)
    assert entry["reason"] == "task_too_short"


@pytest.mark.parametrize("body, match", [
    ("{", "keystep_train.json: not valid JSON"),
    (json.dumps({"annotations": {"u": {"segments": [{"start_time": "late", "end_time": 2}]}}}),
     r"keystep_train.json: annotations\['u'\].segments\[0\]: expected finite numeric start_time"),
    (json.dumps({"takes": []}), "expected an object with 'annotations'"),
])
def test_a_malformed_keystep_file_is_a_clear_error(hazard_root, tmp_path, body, match):
    import shutil

    root = tmp_path / "egoexo"
    shutil.copytree(hazard_root.root, root)
    (root / "annotations" / "keystep_train.json").write_text(body)
    with pytest.raises(ConvertError, match=match):
        build_exoego4d(root, tmp_path / "out", progress=False)


def test_missing_metadata_files_are_clear_errors(hazard_root, tmp_path):
    import shutil

    root = tmp_path / "egoexo"
    shutil.copytree(hazard_root.root, root)
    (root / "annotations" / "splits.json").unlink()
    with pytest.raises(ConvertError, match="annotations/splits.json not found"):
        build_exoego4d(root, tmp_path / "out", progress=False)
    (root / "takes.json").write_text("[{")
    with pytest.raises(ConvertError, match="takes.json is not valid JSON"):
        build_exoego4d(root, tmp_path / "out", progress=False)


@pytest.mark.parametrize("setting", ["single-exo", "unseen-scenes"])
def test_other_settings(converted, tmp_path, setting):
    truth, _, _ = converted
    out, report = build_exoego4d(truth.root, tmp_path / setting, setting=setting, progress=False)
    rows = P.read_manifest(out / "exoego4d_manifest.json")
    assert {r.setting for r in rows} == {setting} and rows
    takes = {t.take_uid: t for t in truth.takes}
    entries = json.loads((truth.root / "takes.json").read_text())
    scene = {e["take_uid"]: e["physical_setting_uid"] for e in entries}
    best = {e["take_uid"]: e["best_exo"] for e in entries}
    for row in rows:
        clip = load_split("exoego4d", row.split, root=out).get(row.clip_id)
        if setting == "single-exo":
            # best_exo of takes.json is one of the four views, so it is the single view
            assert clip.exo_cam_ids == [best[row.take_uid]] and clip.exo_video.shape[0] == 1
            e = takes[row.take_uid].exo[best[row.take_uid]]
            np.testing.assert_allclose(clip.exo_T_world_cam[0], e.T_world_cam, atol=POSE_TOL, rtol=0)
            assert row.split == takes[row.take_uid].split
        else:
            assert row.split == P.unseen_scene_split(scene[row.take_uid]) and len(clip.exo_cam_ids) == 4
