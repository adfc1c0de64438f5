"""ExoEgo4D split protocol v1: the numbers, window selection, camera choice, splits, clip ids, the manifest and
outside clip lists behave as docs/exoego4d-protocol.md states.

Pose tracks are synthetic: a camera at 1.6 m that turns about the world z axis (yaw) or slides along x at a
chosen rate, so the head motion of every window is known exactly."""

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest

from benchmark.cameras import look_at
from benchmark.data.egoexo4d import protocol as P
from benchmark.errors import UsageError

FPS = 30.0
SPAN = P.PROTOCOL_V1.span_frames  # 65


def yaw_track(n, deg_per_frame, start=0.0):
    """(n, 4, 4) camera-to-world poses turning about world z by ``deg_per_frame``."""
    T = np.tile(np.eye(4), (n, 1, 1))
    a = np.radians(start + deg_per_frame * np.arange(n))
    c, s = np.cos(a), np.sin(a)
    T[:, 0, 0], T[:, 0, 1], T[:, 1, 0], T[:, 1, 1] = c, -s, s, c
    T[:, 2, 3] = 1.6
    return T


def slide_track(n, m_per_frame):
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, 0, 3] = m_per_frame * np.arange(n)
    return T


def moving(n):
    return yaw_track(n, 1.0)  # 64 degrees per window: always enough motion


# ------------------------------------------------------------------------------------------------ the numbers
def test_clip_is_17_frames_every_4th_frame_about_two_seconds_at_7_5_fps():
    p = P.PROTOCOL_V1
    assert p.version == P.PROTOCOL_VERSION == "1.0"
    assert (p.num_frames - 1) % 4 == 0  # 4k + 1 frames for WAN-style VAEs
    assert p.stride == 4 and p.span_frames == 65 and p.stored_fps == 7.5
    assert 1.0 <= p.span_sec <= 3.0
    assert p.ego_size == (256, 256) and p.exo_size == (480, 270)
    assert p.exo_size[0] / p.exo_size[1] == 3840 / 2160  # GoPro aspect kept exactly
    assert [c.name for c in p.categories] == ["bike-repair", "basketball", "covid-test", "cpr", "cooking"]
    assert p.settings == ("unseen-takes", "unseen-scenes", "single-exo")
    assert p.tracks == ("exo-only", "first-frame")


def test_tracks_are_the_benchmarks_tracks():
    from benchmark.schema import TRACKS

    assert P.TRACKS == TRACKS


def test_protocol_is_frozen_and_describes_itself_as_json():
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.PROTOCOL_V1.stride = 2
    d = P.PROTOCOL_V1.describe()
    assert json.loads(json.dumps(d)) == d
    assert d["span_frames"] == 65 and d["categories"][0]["scenario_id"] == 4000


def test_views_and_caps_per_setting_and_split():
    p = P.PROTOCOL_V1
    assert p.views_in("unseen-takes") == p.views_in("unseen-scenes") == 4 and p.views_in("single-exo") == 1
    assert p.max_clips_per_take("train") is None and p.max_clips_per_take("test") == 12
    with pytest.raises(UsageError, match="setting"):
        p.views_in("seen")
    with pytest.raises(UsageError, match="split"):
        p.max_clips_per_take("dev")


# ------------------------------------------------------------------------------------------------ windows
def test_windows_lie_inside_the_task_interval_with_the_protocol_stride():
    windows = P.clip_windows(600, FPS, [(1.0, 9.0)], moving(600))
    assert windows, "a moving head inside an 8 s interval gives clips"
    for w in windows:
        assert (w.stride, w.num_frames) == (4, 17)
        assert w.frames == list(range(w.start, w.start + 65, 4))
        assert 30 <= w.frames[0] and w.frames[-1] <= 270
    # tiled back to back from the interval's first frame
    assert [w.start for w in windows] == [30, 95, 160]


def test_interval_bounds_use_ceil_and_floor_of_frame_times():
    # 1.01 s -> first frame 31 (frame 30 is before the interval); the window 31..95 needs frame 95 = 3.167 s
    assert [w.start for w in P.clip_windows(300, FPS, [(1.01, 3.17)], moving(300))] == [31]
    assert P.clip_windows(300, FPS, [(1.01, 3.16)], moving(300)) == []


def test_windows_never_overlap_even_when_intervals_do():
    intervals = [(0.0, 5.0), (1.0, 9.0), (4.0, 4.5), (8.0, 20.0)]
    windows = P.clip_windows(900, FPS, intervals, moving(900))
    spans = sorted((w.start, w.frames[-1]) for w in windows)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert len(windows) >= 8


def test_windows_stop_at_the_video_end():
    windows = P.clip_windows(100, FPS, [(0.0, 60.0)], moving(100))
    assert [w.start for w in windows] == [0]  # 65..129 would pass frame 99


@pytest.mark.parametrize("deg_per_window, kept", [(9.9, False), (10.1, True)])
def test_head_rotation_threshold_is_ten_degrees(deg_per_window, kept):
    poses = yaw_track(65, deg_per_window / 64)
    assert bool(P.clip_windows(65, FPS, [(0.0, 10.0)], poses)) is kept


@pytest.mark.parametrize("metres_per_window, kept", [(0.099, False), (0.101, True)])
def test_head_translation_threshold_is_ten_centimetres(metres_per_window, kept):
    poses = slide_track(65, metres_per_window / 64)
    assert bool(P.clip_windows(65, FPS, [(0.0, 10.0)], poses)) is kept


def test_motion_counts_any_frame_not_only_the_last():
    # turn 20 degrees and back: first and last frames agree, the middle does not
    yaw = np.concatenate([np.linspace(0, 20, 33), np.linspace(20, 0, 33)[1:]])
    poses = np.stack([yaw_track(1, 0.0, start=a)[0] for a in yaw])
    rot, disp = P.head_motion(poses[::4])
    assert rot == pytest.approx(20.0) and disp == pytest.approx(0.0)
    assert P.clip_windows(65, FPS, [(0.0, 5.0)], poses)


def test_only_moving_parts_of_a_take_give_clips():
    poses = np.concatenate([yaw_track(300, 0.0), yaw_track(300, 0.5)])
    scan = P.scan_windows(600, FPS, [(0.0, 20.0)], poses)
    assert scan.windows and all(w.start >= 300 - 64 for w in scan.windows)
    assert scan.rejected[P.SkipReason.LOW_HEAD_MOTION] >= 3


def test_a_missing_pose_on_a_sampled_frame_drops_the_window_but_not_on_an_unsampled_one():
    poses = moving(200)
    poses[1] = np.nan  # not sampled (start 0, stride 4)
    poses[65 + 8] = np.nan  # sampled by the second window
    scan = P.scan_windows(200, FPS, [(0.0, 6.0)], poses)
    assert [w.start for w in scan.windows] == [0]
    assert scan.rejected == {P.SkipReason.POSES_MISSING: 1}


def test_poses_shorter_than_the_video_count_as_missing_and_mappings_are_accepted():
    assert P.clip_windows(200, FPS, [(0.0, 6.0)], moving(100)) == [P.Window(0, 4, 17)]
    as_map = {str(i): m[:3].tolist() for i, m in enumerate(moving(200)) if i >= 65}  # 3x4, string keys
    assert P.clip_windows(200, FPS, [(0.0, 6.0)], as_map) == [P.Window(65, 4, 17)]


def test_eval_cap_keeps_evenly_spread_windows():
    all_w = P.clip_windows(3000, FPS, [(0.0, 100.0)], moving(3000))
    capped = P.clip_windows(3000, FPS, [(0.0, 100.0)], moving(3000), max_clips=3)
    assert len(all_w) == 46 and capped == [all_w[0], all_w[22], all_w[45]]


def test_take_level_reason_when_no_window_survives():
    assert P.scan_windows(300, FPS, [], moving(300)).skip_reason is P.SkipReason.NO_TASK_INTERVAL
    assert P.scan_windows(300, FPS, [(0.0, 2.0)], moving(300)).skip_reason is P.SkipReason.TASK_TOO_SHORT
    assert P.scan_windows(300, FPS, [(0.0, 9.0)], yaw_track(300, 0.0)).skip_reason is P.SkipReason.LOW_HEAD_MOTION
    nan = np.full((300, 4, 4), np.nan)
    assert P.scan_windows(300, FPS, [(0.0, 9.0)], nan).skip_reason is P.SkipReason.POSES_MISSING
    assert P.scan_windows(300, FPS, [(0.0, 9.0)], moving(300)).skip_reason is None


def test_windows_reject_other_frame_rates_and_bad_poses():
    with pytest.raises(UsageError, match="30 fps"):
        P.clip_windows(300, 60.0, [(0.0, 5.0)], moving(300))
    with pytest.raises(UsageError, match=r"\(N, 4, 4\)"):
        P.clip_windows(300, FPS, [(0.0, 5.0)], np.zeros((300, 3, 4)))
    with pytest.raises(UsageError, match="frame key"):
        P.clip_windows(300, FPS, [(0.0, 5.0)], {"first": np.eye(4)})


def test_task_intervals_prefer_keysteps_then_the_task_range():
    take = {"take_uid": "t", "task_start_sec": 2.0, "task_end_sec": 30.0}
    segs = [{"start_time": 10.5, "end_time": 20.0}, {"start_time": 1.0, "end_time": 5.0},
            {"start_time": 7.0, "end_time": 7.0}]  # empty segments are ignored
    assert P.task_intervals(take, segs) == [(1.0, 5.0), (10.5, 20.0)]
    assert P.task_intervals(take, []) == [(2.0, 30.0)]
    assert P.task_intervals({"take_uid": "t"}) == []
    with pytest.raises(UsageError, match="keystep segment 0 of take t"):
        P.task_intervals(take, [{"start_time": "soon"}])


def _keystep_doc(annotations):
    return {"annotations": annotations, "taxonomy": {}, "vocabulary": {}}


def test_keystep_files_give_segments_per_take_in_seconds(tmp_path):
    seg = {"start_time": 0.85598, "end_time": 33.20377, "step_id": 31, "step_name": "Unbox package",
           "step_description": "Unbox covid19 test package", "is_essential": True, "step_unique_id": 843}
    train, val = tmp_path / "keystep_train.json", tmp_path / "keystep_val.json"
    train.write_text(json.dumps(_keystep_doc({
        "u1": {"take_uid": "u1", "take_name": "gt_covid_07_6", "scenario": "Covid-19 Rapid Antigen Test",
               "segments": [seg, {**seg, "start_time": 33.204, "end_time": 56.6}]},
        "u2": {"take_uid": "u2", "take_name": "x", "segments": []}})))
    val.write_text(json.dumps(_keystep_doc({"u3": {"take_name": "y", "segments": [{**seg, "end_time": 4}]},
                                            "u1": {"take_uid": "u1", "segments": [{**seg, "end_time": 1.0}]}})))
    got = P.read_keysteps([train, val])
    assert got == {"u1": [{"start_time": 0.85598, "end_time": 33.20377}, {"start_time": 33.204, "end_time": 56.6}],
                   "u3": [{"start_time": 0.85598, "end_time": 4.0}]}  # u2 has none; the first file wins
    assert P.task_intervals({"take_uid": "u1", "task_start_sec": 0, "task_end_sec": 90}, got["u1"]) == [
        (0.85598, 33.20377), (33.204, 56.6)]
    assert P.KEYSTEP_FILES == ("annotations/keystep_train.json", "annotations/keystep_val.json")


@pytest.mark.parametrize("doc, match", [
    ("[", "not valid JSON"),
    (json.dumps([]), "expected an object with 'annotations'"),
    (json.dumps(_keystep_doc({"u": {"take_name": "x"}})), r"annotations\['u'\]: expected an object with a 'segments'"),
    (json.dumps(_keystep_doc({"u": {"segments": [{"start_time": 1}]}})), r"segments\[0\]: expected finite numeric"),
    (json.dumps(_keystep_doc({"u": {"segments": [{"start_time": 1, "end_time": "NaN"}]}})), "finite numeric"),
])
def test_malformed_keystep_files_name_the_file_take_and_segment(tmp_path, doc, match):
    path = tmp_path / "keystep_val.json"
    path.write_text(doc)
    with pytest.raises(UsageError, match=match) as e:
        P.read_keysteps([path])
    assert "keystep_val.json" in str(e.value)
    with pytest.raises(UsageError, match="not found"):
        P.read_keysteps([tmp_path / "keystep_train.json"])


# ------------------------------------------------------------------------------------------------ cameras
def test_exo_cameras_exclude_aria_collages_and_ego_worn_gopros_in_natural_order():
    take = {"frame_aligned_videos": {k: {} for k in
                                     ["aria01", "cam10", "cam2", "cam01", "collage", "best_exo", "gp05"]}}
    assert P.exo_camera_ids(take) == ["cam01", "cam2", "cam10", "gp05"]
    assert P.exo_camera_ids(take, ego_worn=["gp05"]) == ["cam01", "cam2", "cam10"]


def test_four_views_are_the_first_four_usable_cameras_by_id():
    cams = ["cam01", "cam02", "cam03", "cam04", "cam05"]
    quality = {"cam01": 1.0, "cam02": 0.0, "cam03": None, "cam04": 1.0, "cam05": 1.0}
    usable, reason = P.usable_exo_cameras(cams, quality)
    assert reason is None and usable == ["cam01", "cam03", "cam04", "cam05"]
    assert P.choose_exo_views(usable) == ["cam01", "cam03", "cam04", "cam05"]
    assert P.choose_exo_views(["cam05", "cam01", "cam03", "cam02", "cam04"]) == ["cam01", "cam02", "cam03", "cam04"]


def test_too_few_cameras_name_why():
    cams = ["cam01", "cam02", "cam03", "cam04"]
    assert P.usable_exo_cameras(cams, {c: 1.0 for c in cams[:3]})[1] is P.SkipReason.NOT_ENOUGH_EXO
    failed = {"cam01": 1.0, "cam02": 1.0, "cam03": 1.0, "cam04": 0.5}
    assert P.usable_exo_cameras(cams, failed)[1] is P.SkipReason.CALIBRATION_FAILED
    with pytest.raises(UsageError, match="needs 4"):
        P.choose_exo_views(cams[:3])


def _exo_ring():
    """Four exo cameras around the origin, each looking at it; cam03 looks along +y."""
    eyes = {"cam01": (3.0, 0.0, 1.5), "cam02": (0.0, 3.0, 1.5), "cam03": (0.0, -3.0, 1.5), "cam04": (-3.0, 0.0, 1.5)}
    return {c: look_at(np.array(e), np.zeros(3)) for c, e in eyes.items()}


def test_single_exo_is_best_exo_when_it_is_one_of_the_four():
    exo = _exo_ring()
    ego = np.stack([look_at(np.array([0.0, -0.5, 1.6]), np.array([0.0, 1.0, 0.8]))] * 3)
    assert P.choose_single_exo(list(exo), "cam02", exo, ego) == "cam02"
    assert P.best_exo_of({"best_exo": "cam02"}) == "cam02"
    assert P.best_exo_of({"best_exo": {"cam_id": "cam04"}}) == "cam04"
    assert P.best_exo_of({"best_exo": None}) is None and P.best_exo_of({}) is None


def test_single_exo_falls_back_to_the_view_looking_most_like_the_ego_camera():
    exo = _exo_ring()
    ego = np.stack([look_at(np.array([0.0, -0.5, 1.6]), np.array([x, 1.0, 0.8])) for x in (-0.2, 0.0, 0.2)])
    assert P.choose_single_exo(list(exo), "cam07", exo, ego) == "cam03"  # cam07 is not one of the four
    assert P.choose_single_exo(list(exo), None, exo, ego) == "cam03"
    # exact tie: two identical cameras, the lower id wins whatever the list order
    twin = {"cam09": exo["cam03"], "cam03": exo["cam03"]}
    assert P.choose_single_exo(["cam09", "cam03"], None, twin, ego) == "cam03"
    with pytest.raises(UsageError, match="no pose for exo view"):
        P.choose_single_exo(["cam01", "cam05"], None, exo, ego)


# ------------------------------------------------------------------------------------------------ splits
def test_unseen_scene_split_is_a_fixed_function_of_the_uid():
    # golden values: the same on every machine and every run (sha256, no RNG, no hash seed)
    assert [P.unseen_scene_split(u) for u in (1, 97, "abc", 12345)] == ["test", "test", "train", "train"]
    assert P.unseen_scene_split(97) == P.unseen_scene_split("97")
    with pytest.raises(UsageError, match="empty"):
        P.unseen_scene_split(None)


def test_unseen_scene_split_holds_out_about_a_fifth_for_test_and_a_tenth_for_val():
    splits = [P.unseen_scene_split(i) for i in range(3000)]
    assert splits.count("test") / 3000 == pytest.approx(0.2, abs=0.025)
    assert splits.count("val") / 3000 == pytest.approx(0.1, abs=0.02)


def _takes():
    return [
        {"take_uid": "u3", "take_name": "cmu_bike01_3", "parent_task_id": 4000, "task_id": 4001,
         "physical_setting_uid": 97},
        {"take_uid": "u1", "take_name": "cmu_bike01_1", "parent_task_id": 4000, "task_id": 4002,
         "physical_setting_uid": 1},
        {"take_uid": "u2", "take_name": "cmu_bike01_2", "parent_task_id": "4000", "task_id": 4001,
         "physical_setting_uid": "abc", "is_dropped": True},
        {"take_uid": "u4", "take_name": "x_bike_4", "parent_task_id": 4000, "task_id": 4001},
        {"take_uid": "c1", "take_name": "gt_covid_01_1", "parent_task_id": 2000, "task_id": 2001,
         "task_name": "Covid-19 Rapid Antigen Test", "physical_setting_uid": 5},
        {"take_uid": "c2", "take_name": "gt_covid_02_1", "parent_task_id": 2000, "task_id": 2099,
         "task_name": "COVID-19 test (renumbered)", "physical_setting_uid": 5},
        {"take_uid": "p1", "take_name": "nus_cpr_01_1", "parent_task_id": 2000, "task_id": 2005,
         "task_name": "CPR", "physical_setting_uid": 7},
        {"take_uid": "k1", "take_name": "fair_cooking_1", "parent_task_id": 1000, "task_id": 1001},
    ]


SPLITS_JSON = {"take_uid_to_split": {"u1": "train", "u3": "test", "u2": "val", "c1": "val", "c2": "test",
                                     "p1": "train", "k1": "test"},
               "take_uid_to_benchmark": {}}


def test_unseen_takes_follow_the_official_split_and_list_what_they_leave_out():
    sel = P.select_takes(_takes(), SPLITS_JSON, "bike-repair", "unseen-takes")
    assert [(s.take_uid, s.split) for s in sel] == [("u1", "train"), ("u3", "test")]
    assert P.skipped_takes(_takes(), SPLITS_JSON, "bike-repair", "unseen-takes") == [
        ("u2", P.SkipReason.DROPPED), ("u4", P.SkipReason.NOT_IN_SPLIT)]
    assert P.select_takes(_takes(), SPLITS_JSON["take_uid_to_split"], "bike-repair", "single-exo")[1].split == "test"


def test_unseen_scenes_split_by_physical_setting_not_by_the_official_split():
    sel = P.select_takes(_takes(), SPLITS_JSON, "bike-repair", "unseen-scenes")
    assert [(s.take_uid, s.split) for s in sel] == [("u1", "test"), ("u3", "test")]
    assert ("u4", P.SkipReason.NO_SCENE_ID) in P.skipped_takes(_takes(), SPLITS_JSON, "bike-repair", "unseen-scenes")
    # every take of one physical setting lands in the same split
    covid = P.select_takes(_takes(), SPLITS_JSON, "covid-test", "unseen-scenes")
    assert len({s.split for s in covid}) == 1


def test_category_of_a_take_is_the_first_matching_category_or_none():
    cats = {t["take_uid"]: P.category_of(t) for t in _takes()}
    assert cats == {"u3": "bike-repair", "u1": "bike-repair", "u2": "bike-repair", "u4": "bike-repair",
                    "c1": "covid-test", "c2": "covid-test", "p1": "cpr", "k1": "cooking"}
    assert P.category_of({"parent_task_id": 5000, "parent_task_name": "Music"}) is None


def test_health_categories_match_by_task_id_or_task_name():
    assert [s.take_uid for s in P.select_takes(_takes(), SPLITS_JSON, "covid-test", "unseen-takes")] == ["c1", "c2"]
    assert [s.take_uid for s in P.select_takes(_takes(), SPLITS_JSON, "cpr", "unseen-takes")] == ["p1"]
    assert [s.take_uid for s in P.select_takes(_takes(), SPLITS_JSON, "cooking", "unseen-takes")] == ["k1"]
    assert P.select_takes(_takes(), SPLITS_JSON, "basketball", "unseen-takes") == []


def test_select_takes_rejects_unknown_names_and_bad_files():
    with pytest.raises(UsageError, match="unknown category 'bike'"):
        P.select_takes(_takes(), SPLITS_JSON, "bike", "unseen-takes")
    with pytest.raises(UsageError, match="unknown setting"):
        P.select_takes(_takes(), SPLITS_JSON, "cpr", "unseen-actions")
    with pytest.raises(UsageError, match="split 'holdout'"):
        P.select_takes(_takes(), {"take_uid_to_split": {"p1": "holdout"}}, "cpr", "unseen-takes")
    with pytest.raises(UsageError, match="entry 0 has no take_uid"):
        P.select_takes([{"parent_task_id": 4000}], SPLITS_JSON, "cpr", "unseen-takes")


# ------------------------------------------------------------------------------------------------ take checks
def test_stream_length_lag_and_frame_origin_checks():
    assert P.check_stream_lengths({"aria01": 300, "cam01": 299, "cam02": 298}, 10.0) is None
    assert P.check_stream_lengths({"aria01": 300, "cam01": 297}, 10.0) is P.SkipReason.SHORT_VIDEO
    assert P.check_stream_lengths({"aria01": 290, "cam01": 290}, 10.0) is P.SkipReason.SHORT_VIDEO
    assert P.check_stream_lengths({"aria01": 0, "cam01": 300}, 10.0) is P.SkipReason.UNREADABLE_VIDEO
    assert P.check_ego_lag("indiana_bike_01_2") is P.SkipReason.EGO_LAG
    assert P.check_ego_lag("cmu_bike01_1", measured_lag_frames=1) is None
    assert P.check_ego_lag("cmu_bike01_1", measured_lag_frames=-2) is P.SkipReason.EGO_LAG
    assert P.check_frame_index_origin(["3", "4", 5], 10) is None  # starting late is allowed
    for bad in (["-1"], ["10"], ["1.5"], [2.0]):
        assert P.check_frame_index_origin(bad, 10) is P.SkipReason.FRAME_INDEX_ORIGIN


def test_every_skip_reason_has_its_own_text():
    texts = [r.text for r in P.SkipReason]
    assert set(P.SKIP_REASON_TEXT) == set(P.SkipReason)
    assert all(len(t) > 20 for t in texts) and len(set(texts)) == len(texts)


def test_a_malformed_camera_file_has_its_own_reason_and_every_reason_is_in_the_document():
    reason = P.SkipReason("malformed_camera_file")
    assert reason is P.SkipReason.MALFORMED_CAMERA_FILE and "malformed" in reason.text
    assert reason not in (P.SkipReason.CALIBRATION_FAILED, P.SkipReason.MISSING_TRAJECTORY)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "exoego4d-protocol.md").read_text()
    missing = [r.value for r in P.SkipReason if f"| `{r.value}` |" not in doc]
    assert missing == [], f"docs/exoego4d-protocol.md lacks the skip reasons {missing}"


# ------------------------------------------------------------------------------------------------ clip ids
UID = "13f01c79-5bfd-42f5-90ce-ee350aa1c3ad"


def test_clip_ids_are_stable_readable_and_unique():
    assert P.clip_id(UID, 120) == f"exoego4d-v1-{UID}-f000120"
    ids = {P.clip_id(u, s) for u in (UID, UID.replace("13f0", "13f1")) for s in range(0, 65 * 50, 65)}
    assert len(ids) == 100
    assert P.clip_id(UID, 120, stride=2, num_frames=25, source="egox") == f"egox-{UID}-f000120-s2n25"
    assert P.clip_id(UID, 120, stride=4, num_frames=17, source="egox") == f"egox-{UID}-f000120"
    for bad in ("", "a/b", "x y"):
        with pytest.raises(UsageError, match="take_uid"):
            P.clip_id(bad, 0)
    with pytest.raises(UsageError, match="start"):
        P.clip_id(UID, -4)


# ------------------------------------------------------------------------------------------------ manifest
def _rows():
    rows = []
    for take in ("a1", "b2", "c3"):
        for w in P.clip_windows(600, FPS, [(0.0, 9.0)], moving(600)):
            for setting in ("unseen-takes", "single-exo"):
                cams = ("cam01", "cam02", "cam03", "cam04") if setting != "single-exo" else ("cam02",)
                rows.append(P.ManifestRow(P.clip_id(take, w.start), take, "test", w.start, w.stride, w.num_frames,
                                          "aria01", cams, "cpr", setting))
    return rows


def test_manifest_round_trip_is_exact_and_byte_identical_for_any_row_order(tmp_path):
    rows = _rows()
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    P.write_manifest(tmp_path / "a.json", rows)
    P.write_manifest(tmp_path / "b.json", shuffled)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    back = P.read_manifest(tmp_path / "a.json")
    assert sorted(back, key=lambda r: (r.setting, r.clip_id)) == sorted(rows, key=lambda r: (r.setting, r.clip_id))
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["identity"] == P.manifest_identity(rows) and doc["protocol_version"] == "1.0"
    assert back[0].config in ("cpr-single-exo", "cpr-unseen-takes")


def test_manifest_identity_ignores_order_and_sees_every_field():
    rows = _rows()
    ident = P.manifest_identity(rows)
    assert P.manifest_identity(list(reversed(rows))) == ident
    assert len(ident) == 64
    changed = [dataclasses.replace(rows[0], exo_cams=("cam01", "cam02", "cam04", "cam03"))] + rows[1:]
    assert P.manifest_identity(changed) != ident
    assert P.manifest_identity([dataclasses.replace(rows[0], split="val")] + rows[1:]) != ident
    with pytest.raises(UsageError, match="appears twice"):
        P.manifest_identity(rows + rows[:1])
    with pytest.raises(UsageError, match="empty"):
        P.manifest_identity([])


def test_a_hand_edited_or_foreign_manifest_is_refused(tmp_path):
    path = P.write_manifest(tmp_path / "m.json", _rows())
    path.write_text(path.read_text().replace('"start_frame":0', '"start_frame":1', 1))
    with pytest.raises(UsageError, match="does not match its rows"):
        P.read_manifest(path)
    doc = json.loads(P.write_manifest(tmp_path / "v2.json", _rows()).read_text())
    doc["protocol_version"] = "2.0"
    (tmp_path / "v2.json").write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="version '2.0'"):
        P.read_manifest(tmp_path / "v2.json")
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(UsageError, match="x.json: expected an exoego4d-manifest-v1"):
        P.read_manifest(tmp_path / "x.json")
    with pytest.raises(UsageError, match="not found"):
        P.read_manifest(tmp_path / "missing.json")


def test_manifest_rows_validate_their_fields():
    good = _rows()[0]
    with pytest.raises(UsageError, match="split 'dev'"):
        dataclasses.replace(good, split="dev")
    with pytest.raises(UsageError, match="exo_cams"):
        dataclasses.replace(good, exo_cams=("cam01", "cam01"))
    with pytest.raises(UsageError, match="stride must be >= 1"):
        dataclasses.replace(good, stride=0)
    with pytest.raises(UsageError, match="missing \\['exo_cams'\\]"):
        P.ManifestRow.from_dict({k: v for k, v in good.to_dict().items() if k != "exo_cams"})


# ------------------------------------------------------------------------------------------------ outside lists
def test_an_outside_csv_clip_list_becomes_manifest_rows(tmp_path):
    path = tmp_path / "egox.csv"
    path.write_text("take_uid,start_frame,end_frame,cameras,split\n"
                    f"{UID},120,216,cam01;cam03,test\n"
                    f"{UID},300,364,cam02,train\n")
    rows = P.read_outside_clip_list(path, source="egox", category="bike-repair")
    assert rows[0] == P.ManifestRow(f"egox-{UID}-f000120-s4n25", UID, "test", 120, 4, 25, "aria01",
                                    ("cam01", "cam03"), "bike-repair", "outside", "egox")
    assert rows[1].num_frames == 17 and rows[1].clip_id == f"egox-{UID}-f000300"  # the protocol's own shape
    assert P.manifest_identity(rows)


def test_an_outside_json_clip_list_becomes_manifest_rows(tmp_path):
    path = tmp_path / "forge.json"
    path.write_text(json.dumps({"clips": [{"take_uid": UID, "start_frame": 10, "end_frame": 58, "stride": 2,
                                           "cameras": ["cam04"], "ego_cam": "aria02"}]}))
    (row,) = P.read_outside_clip_list(path, source="ego-forge", category="cooking", setting="ego-forge-400")
    assert (row.start_frame, row.stride, row.num_frames, row.last_frame) == (10, 2, 25, 58)
    assert (row.split, row.ego_cam, row.config) == ("test", "aria02", "cooking-ego-forge-400")


@pytest.mark.parametrize("body, match", [
    ("take_uid,start_frame,cameras\nu,0,cam01\n", "lacks the columns \\['end_frame'\\]"),
    ("take_uid,start_frame,end_frame,cameras\nu,0,64,\n", "line 2: missing \\['cameras'\\]"),
    ("take_uid,start_frame,end_frame,cameras\nu,zero,64,cam01\n", "line 2: start_frame must be an integer"),
    ("take_uid,start_frame,end_frame,cameras\nu,0,64.5,cam01\n", "end_frame must be an integer"),
    ("take_uid,start_frame,end_frame,cameras\nu,64,66,cam01\n", "end_frame 66 must be at least"),
    ("take_uid,start_frame,end_frame,cameras\nu,-4,64,cam01\n", "start_frame must be >= 0"),
    ("take_uid,start_frame,end_frame,cameras,stride\nu,0,64,cam01,0\n", "stride must be >= 1"),
    ("take_uid,start_frame,end_frame,cameras\nu,0,64,cam01;cam01\n", "repeat a cam id"),
    ("take_uid,start_frame,end_frame,cameras\nu,0,64,aria01;cam01\n", "Aria"),
    ("take_uid,start_frame,end_frame,cameras,split\nu,0,64,cam01,holdout\n", "split 'holdout'"),
    ("take_uid,start_frame,end_frame,cameras\nu,0,64,cam01\nu,0,64,cam02\n", "line 3: the same clip .* line 2"),
    ("take_uid,start_frame,end_frame,cameras\nu/1,0,64,cam01\n", "line 2: clip_id: take_uid"),
    ("take_uid,start_frame,end_frame,cameras\n", "empty"),
])
def test_outside_csv_errors_name_the_file_line_and_field(tmp_path, body, match):
    path = tmp_path / "peer.csv"
    path.write_text(body)
    with pytest.raises(UsageError, match=match) as e:
        P.read_outside_clip_list(path, source="peer", category="cpr")
    assert "peer.csv" in str(e.value)


def test_outside_list_file_level_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        P.read_outside_clip_list(tmp_path / "none.csv", source="p", category="cpr")
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(UsageError, match="expected a .csv or .json"):
        P.read_outside_clip_list(tmp_path / "list.txt", source="p", category="cpr")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        P.read_outside_clip_list(tmp_path / "bad.json", source="p", category="cpr")
    (tmp_path / "obj.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(UsageError, match="'clips' list"):
        P.read_outside_clip_list(tmp_path / "obj.json", source="p", category="cpr")
    (tmp_path / "cams.json").write_text(json.dumps([{"take_uid": "u", "start_frame": 0, "end_frame": 64,
                                                     "cameras": [1, 2]}]))
    with pytest.raises(UsageError, match="clip 0: cameras must be"):
        P.read_outside_clip_list(tmp_path / "cams.json", source="p", category="cpr")
    (tmp_path / "src.json").write_text(json.dumps([{"take_uid": "u", "start_frame": 0, "end_frame": 64,
                                                    "cameras": ["cam01"]}]))
    with pytest.raises(UsageError, match="source"):
        P.read_outside_clip_list(tmp_path / "src.json", source="bad source", category="cpr")
