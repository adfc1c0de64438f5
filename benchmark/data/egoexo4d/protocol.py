"""ExoEgo4D split protocol, version 1: which clips of Ego-Exo4D are used, with which cameras, in which split.

The prose version, with the reason for every number, is ``docs/exoego4d-protocol.md``. This module is the
executable one: frozen constants (:data:`PROTOCOL_V1`) and pure functions over the official metadata, so two
builds from the same download choose the same clips and get the same :func:`manifest_identity`.

What a clip is (protocol 1.0)
    ``num_frames = 17`` frames (4k + 1, as WAN-style video VAEs expect) taken every ``stride = 4``-th frame of
    the 30 fps frame-aligned take videos: 65 source frames, 2.17 s of the take, stored at 7.5 fps. Ego view
    256x256 (Aria RGB, undistorted to a pinhole), four exo views 480x270 (GoPro, undistorted).

How a take becomes clips
    :func:`select_takes` picks the takes of a category and assigns each a split for a setting;
    :func:`usable_exo_cameras` / :func:`choose_exo_views` pick its four exo cameras;
    :func:`task_intervals` reads where the task happens (keystep segments of :func:`read_keysteps`, else
    ``task_start_sec`` .. ``task_end_sec``); :func:`clip_windows` tiles those intervals with non-overlapping
    windows and keeps the ones with complete ego poses and enough head motion; :func:`choose_single_exo` picks
    the one view of the ``single-exo`` setting. Every take that yields nothing gets a :class:`SkipReason`.

The manifest
    One :class:`ManifestRow` per (setting, clip); :func:`write_manifest` / :func:`read_manifest` store it as
    JSON (one row per line), and :func:`manifest_identity` is its content hash (definition
    ``exoego4d-manifest-v1``: canonical JSON rows, sorted, sha256), independent of row order.
    :func:`read_outside_clip_list` turns a peer's clip list (CSV or JSON) into manifest rows; its rows take the
    category of their take (:func:`category_of`).

Everything here needs only numpy; nothing reads videos.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from benchmark.data.hf_format import atomic_write_bytes
from benchmark.data.identity import canonical_json
from benchmark.errors import UsageError

PROTOCOL_VERSION = "1.0"
MANIFEST_DEFINITION = "exoego4d-manifest-v1"
SPLITS = ("train", "val", "test")
SETTINGS = ("unseen-takes", "unseen-scenes", "single-exo")
TRACKS = ("exo-only", "first-frame")  # both tracks run on every setting (benchmark.schema.TRACKS)

# cam ids in takes.json frame_aligned_videos that are not exo cameras
_NON_CAMERA_KEYS = ("collage", "best_exo")


class ProtocolError(UsageError):
    """Input that the protocol cannot interpret; the message names the file, row or field and what was expected."""


# ----------------------------------------------------------------------------------------------------------------
# The frozen description


@dataclass(frozen=True)
class Category:
    """One dataset config family: the takes of one Ego-Exo4D scenario (``parent_task_id``), optionally narrowed
    to some tasks. A take matches when its ``parent_task_id`` is ``scenario_id`` and, where ``task_ids`` is set,
    its ``task_id`` is listed or its ``task_name`` contains ``task_keyword`` (case-insensitive; guards against
    task ids renumbered between releases)."""

    name: str  # config prefix, e.g. "bike-repair"
    title: str  # as printed in papers
    scenario_id: int  # takes.json parent_task_id
    scenario_name: str  # takes.json parent_task_name
    task_ids: tuple[int, ...] | None = None  # takes.json task_id, None = every task of the scenario
    task_keyword: str | None = None

    def matches(self, take: Mapping) -> bool:
        try:
            parent = int(take.get("parent_task_id"))
        except (TypeError, ValueError):
            return False
        if parent != self.scenario_id:
            return False
        if self.task_ids is None:
            return True
        try:
            if int(take.get("task_id")) in self.task_ids:
                return True
        except (TypeError, ValueError):
            pass
        name = str(take.get("task_name") or "").lower()
        return bool(self.task_keyword) and self.task_keyword.lower() in name


CATEGORIES = (
    Category("bike-repair", "Bike repair", 4000, "Bike Repair"),
    Category("basketball", "Basketball", 6000, "Basketball"),
    Category("covid-test", "Covid test", 2000, "Health", task_ids=(2001,), task_keyword="covid"),
    Category("cpr", "CPR", 2000, "Health", task_ids=(2005,), task_keyword="cpr"),
    Category("cooking", "Cooking", 1000, "Cooking"),
)


@dataclass(frozen=True)
class Protocol:
    """Every number of the protocol. Frozen: a change is a new :data:`PROTOCOL_VERSION` (see the document)."""

    version: str = PROTOCOL_VERSION
    name: str = "exoego4d"
    categories: tuple[Category, ...] = CATEGORIES
    settings: tuple[str, ...] = SETTINGS
    tracks: tuple[str, ...] = TRACKS
    # videos
    source_videos: str = "downscaled_takes/448"  # what peers (Exo2Ego-V) read; 448 px >= every stored size
    source_fps: float = 30.0  # the frame-aligned take videos
    stride: int = 4  # every 4th source frame, as Exo2Ego-V samples
    num_frames: int = 17  # 4k + 1 for WAN-style VAEs; >= 16 for I3D-based FVD
    ego_size: tuple[int, int] = (256, 256)  # (width, height), Exo2Ego-V's ego size
    exo_size: tuple[int, int] = (480, 270)  # (width, height), Exo2Ego-V's exo size: 3840x2160 / 8, same aspect
    ego_focal_px: float = 75.0  # the ego-pose files' undistorted Aria pinhole (f = 150 at 512) scaled to 256
    n_exo_views: int = 4
    # windows
    min_head_rotation_deg: float = 10.0  # a window needs this much head rotation ...
    min_head_translation_m: float = 0.10  # ... or this much head translation, relative to its first frame
    max_clips_per_take_eval: int = 12  # val/test: at most this many windows per take (evenly spread)
    # take checks
    max_ego_lag_frames: int = 1  # ego stream behind the exo streams by more than this: skip the take
    video_frame_tolerance: int = 2  # a stream may have this many frames fewer than the take's duration says
    # unseen-scenes
    unseen_scene_test_fraction: float = 0.2
    unseen_scene_val_fraction: float = 0.1
    unseen_scene_salt: str = "exoego4d-v1-unseen-scenes"
    # takes with a documented ego/exo misalignment: take_name -> lag in frames (facebookresearch/Ego4d #347)
    known_ego_lag: tuple[tuple[str, int], ...] = (("indiana_bike_01_2", 5),)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def span_frames(self) -> int:
        """Source frames covered by one clip, first to last sampled frame inclusive: ``(T - 1) * stride + 1``."""
        return (self.num_frames - 1) * self.stride + 1

    @property
    def span_sec(self) -> float:
        return self.span_frames / self.source_fps

    @property
    def stored_fps(self) -> float:
        return self.source_fps / self.stride

    def category(self, name: str) -> Category:
        for c in self.categories:
            if c.name == name:
                return c
        raise ProtocolError(f"unknown category {name!r}; expected one of {[c.name for c in self.categories]}")

    def views_in(self, setting: str) -> int:
        """Exo views per clip in ``setting`` (every setting needs four usable cameras to select a take)."""
        _check_setting(setting, self)
        return 1 if setting == "single-exo" else self.n_exo_views

    def max_clips_per_take(self, split: str) -> int | None:
        """Cap on windows per take: none for train (more training data), ``max_clips_per_take_eval`` for
        val/test (long takes must not dominate a test set)."""
        if split not in SPLITS:
            raise ProtocolError(f"unknown split {split!r}; expected one of {SPLITS}")
        return None if split == "train" else self.max_clips_per_take_eval

    def describe(self) -> dict:
        """The protocol as plain JSON data (for dataset cards and results files)."""
        d = asdict(self)
        d["categories"] = [asdict(c) for c in self.categories]
        d["known_ego_lag"] = dict(self.known_ego_lag)
        d.update(span_frames=self.span_frames, span_sec=self.span_sec, stored_fps=self.stored_fps)
        return json.loads(json.dumps(d))


PROTOCOL_V1 = Protocol()


def _check_setting(setting: str, protocol: Protocol) -> None:
    if setting not in protocol.settings:
        raise ProtocolError(f"unknown setting {setting!r}; expected one of {protocol.settings}")


def config_name(category: str, setting: str) -> str:
    """The dataset config of one category in one setting, e.g. ``bike-repair-unseen-takes``."""
    return f"{category}-{setting}"


# ----------------------------------------------------------------------------------------------------------------
# Skip reasons


class SkipReason(str, Enum):
    """Why a take (or, for the window reasons, every window of a take) is not used. ``.text`` explains it."""

    NOT_IN_SPLIT = "not_in_split"
    DROPPED = "dropped"
    NO_SCENE_ID = "no_scene_id"
    NOT_ENOUGH_EXO = "not_enough_exo"
    CALIBRATION_FAILED = "calibration_failed"
    MISSING_TRAJECTORY = "missing_trajectory"
    UNREADABLE_VIDEO = "unreadable_video"
    SHORT_VIDEO = "short_video"
    EGO_LAG = "ego_lag"
    FRAME_INDEX_ORIGIN = "frame_index_origin"
    NO_TASK_INTERVAL = "no_task_interval"
    TASK_TOO_SHORT = "task_too_short"
    POSES_MISSING = "poses_missing"
    LOW_HEAD_MOTION = "low_head_motion"
    MALFORMED_CAMERA_FILE = "malformed_camera_file"
    # rows of an outside clip list (the take-level reasons above apply to them too)
    UNKNOWN_TAKE = "unknown_take"
    CAMERA_UNUSABLE = "camera_unusable"
    FRAMES_OUT_OF_RANGE = "frames_out_of_range"
    OTHER_CATEGORY = "other_category"

    @property
    def text(self) -> str:
        return SKIP_REASON_TEXT[self]


SKIP_REASON_TEXT = {
    SkipReason.NOT_IN_SPLIT: "take_uid is not in annotations/splits.json take_uid_to_split",
    SkipReason.DROPPED: "takes.json marks the take as dropped (is_dropped)",
    SkipReason.NO_SCENE_ID: "takes.json gives no physical_setting_uid, so the unseen-scenes split is undefined",
    SkipReason.NOT_ENOUGH_EXO: "fewer than 4 calibrated exo cameras (ego-worn GoPros do not count)",
    SkipReason.CALIBRATION_FAILED: "fewer than 4 exo cameras left after dropping those whose calibration failed "
                                   "(gopro_calibs.csv quality != 1)",
    SkipReason.MISSING_TRAJECTORY: "no usable camera files: the Aria lens calibration "
                                   "(trajectory/online_calibration.jsonl) is missing, or neither an ego-pose "
                                   "camera_pose file nor trajectory/closed_loop_trajectory.csv with the capture's "
                                   "timesync gives the ego poses",
    SkipReason.UNREADABLE_VIDEO: "a frame-aligned video (ego or one of the 4 exo views) cannot be decoded",
    SkipReason.SHORT_VIDEO: "a frame-aligned video has more than 2 frames fewer than the take's duration "
                            "implies, or fewer than the other streams",
    SkipReason.EGO_LAG: "the ego stream lags the exo streams by more than 1 frame (measured, or listed in "
                        "the protocol's known_ego_lag)",
    SkipReason.FRAME_INDEX_ORIGIN: "the per-frame camera file's frame indices do not map to video frames "
                                   "counted from 0 (negative, not integers, or past the video's last frame)",
    SkipReason.NO_TASK_INTERVAL: "no keystep segments and no task_start_sec/task_end_sec: nowhere to place clips",
    SkipReason.TASK_TOO_SHORT: "every task interval is shorter than one clip (65 frames, 2.17 s)",
    SkipReason.POSES_MISSING: "every candidate window has a sampled frame without a finite ego pose "
                              "(windows are dropped, never scored with a null pose)",
    SkipReason.LOW_HEAD_MOTION: "no candidate window has 10 degrees of head rotation or 10 cm of head "
                                "translation",
    SkipReason.MALFORMED_CAMERA_FILE: "a camera file the take needs (gopro_calibs.csv, closed_loop_trajectory.csv, "
                                      "online_calibration.jsonl or the ego-pose camera_pose file) is malformed: "
                                      "a missing column or key, a non-number, a non-unit quaternion or a "
                                      "rotation that is not orthonormal (the detail names the file and line)",
    SkipReason.UNKNOWN_TAKE: "outside clip list: takes.json has no take with this take_uid",
    SkipReason.CAMERA_UNUSABLE: "outside clip list: a listed camera is not a calibrated, good-quality exo camera "
                                "of the take with a pose (or the ego camera is not aria01)",
    SkipReason.FRAMES_OUT_OF_RANGE: "outside clip list: the clip's last frame is past the end of the take's videos",
    SkipReason.OTHER_CATEGORY: "outside clip list: the take's category is not among the requested categories",
}


# ----------------------------------------------------------------------------------------------------------------
# Takes and splits


def _natural_key(cam_id: str):
    """``cam2 < cam10``; ids compare by their letters, then their number."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|\D+", str(cam_id)))


def unseen_scene_split(physical_setting_uid, protocol: Protocol = PROTOCOL_V1) -> str:
    """Split of a physical setting in the ``unseen-scenes`` setting: ``u`` = the first 8 bytes of
    sha256(``"<salt>:<uid>"``) as a fraction of 2**64; test if ``u < 0.2``, val if ``u < 0.3``, else train.
    Depends on nothing but the uid, so it is the same on every machine and in every later release."""
    if physical_setting_uid is None or str(physical_setting_uid).strip() == "":
        raise ProtocolError("unseen_scene_split: physical_setting_uid is empty")
    digest = hashlib.sha256(f"{protocol.unseen_scene_salt}:{physical_setting_uid}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < protocol.unseen_scene_test_fraction:
        return "test"
    if u < protocol.unseen_scene_test_fraction + protocol.unseen_scene_val_fraction:
        return "val"
    return "train"


@dataclass(frozen=True)
class SelectedTake:
    """One take of a category assigned to a split in a setting."""

    take_uid: str
    take_name: str
    split: str
    category: str
    setting: str
    physical_setting_uid: str | None


def _take_to_split(splits: Mapping) -> Mapping:
    if not isinstance(splits, Mapping):
        raise ProtocolError(f"splits: expected the splits.json object or a take_uid -> split mapping, "
                            f"got {type(splits).__name__}")
    if "take_uid_to_split" in splits:
        splits = splits["take_uid_to_split"]
        if not isinstance(splits, Mapping):
            raise ProtocolError("splits.json: take_uid_to_split must be an object of take_uid -> split")
    return splits


def _classify(takes, splits, category: str, setting: str, protocol: Protocol):
    """Yield ``(take, split or None, SkipReason or None)`` for every take of ``category``."""
    cat = protocol.category(category)
    _check_setting(setting, protocol)
    uid_to_split = _take_to_split(splits)
    for i, take in enumerate(takes):
        if not isinstance(take, Mapping) or not take.get("take_uid"):
            raise ProtocolError(f"takes.json: entry {i} has no take_uid")
        if not cat.matches(take):
            continue
        if take.get("is_dropped"):
            yield take, None, SkipReason.DROPPED
            continue
        if setting == "unseen-scenes":
            uid = take.get("physical_setting_uid")
            if uid is None or str(uid).strip() == "":
                yield take, None, SkipReason.NO_SCENE_ID
            else:
                yield take, unseen_scene_split(uid, protocol), None
            continue
        split = uid_to_split.get(take["take_uid"])
        if split is None:
            yield take, None, SkipReason.NOT_IN_SPLIT
        elif split not in SPLITS:
            raise ProtocolError(f"splits.json: take {take['take_uid']} has split {split!r}; expected one of {SPLITS}")
        else:
            yield take, split, None


def select_takes(takes: Sequence[Mapping], splits: Mapping, category: str, setting: str,
                 protocol: Protocol = PROTOCOL_V1) -> list[SelectedTake]:
    """The takes of ``category`` used in ``setting``, with their split, sorted by take_uid.

    ``takes`` is takes.json (a list of take objects); ``splits`` is splits.json (or its ``take_uid_to_split``).
    ``unseen-takes`` and ``single-exo`` use the official split; ``unseen-scenes`` ignores it and splits by
    :func:`unseen_scene_split` of ``physical_setting_uid``. Takes left out are listed by :func:`skipped_takes`.
    """
    out = [SelectedTake(str(t["take_uid"]), str(t.get("take_name", "")), split, category, setting,
                        None if t.get("physical_setting_uid") is None else str(t["physical_setting_uid"]))
           for t, split, reason in _classify(takes, splits, category, setting, protocol) if reason is None]
    return sorted(out, key=lambda s: s.take_uid)


def skipped_takes(takes: Sequence[Mapping], splits: Mapping, category: str, setting: str,
                  protocol: Protocol = PROTOCOL_V1) -> list[tuple[str, SkipReason]]:
    """``(take_uid, reason)`` for the takes of ``category`` that :func:`select_takes` leaves out."""
    return sorted((str(t["take_uid"]), reason)
                  for t, _, reason in _classify(takes, splits, category, setting, protocol) if reason is not None)


def task_intervals(take: Mapping, keystep_segments: Sequence[Mapping] | None = None) -> list[tuple[float, float]]:
    """Where clips may be cut, in seconds of the take: the keystep segments (``start_time``, ``end_time``) when
    the take has any, else ``[(task_start_sec, task_end_sec)]``, else ``[]`` (skip: ``NO_TASK_INTERVAL``)."""
    out = []
    for i, seg in enumerate(keystep_segments or ()):
        try:
            a, b = float(seg["start_time"]), float(seg["end_time"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(f"keystep segment {i} of take {take.get('take_uid')}: expected numeric "
                                f"start_time and end_time, got {seg!r}") from None
        if b > a:
            out.append((a, b))
    if out:
        return sorted(out)
    a, b = take.get("task_start_sec"), take.get("task_end_sec")
    if a is None or b is None:
        return []
    a, b = float(a), float(b)
    return [(a, b)] if b > a else []


KEYSTEP_FILES = ("annotations/keystep_train.json", "annotations/keystep_val.json")


def read_keysteps(paths) -> dict[str, list[dict]]:
    """Keystep segments per take from Ego-Exo4D's keystep annotation files.

    Layout (Ego-Exo4D docs, ``docs/annotations/keystep.md`` of EGO4D/Ego-Exo4D-docs; read the same way by
    Exo2Ego-V's ``scripts_preprocess/extract_frames_from_videos.py``): one JSON object with ``annotations``,
    ``taxonomy`` and ``vocabulary``; ``annotations`` maps a take_uid to ``{"take_uid", "take_name", "scenario",
    "segments": [{"start_time", "end_time", "step_id", "step_unique_id", "step_name", "step_description",
    "is_essential"}, ...]}`` with times in seconds of the take. Only ``start_time`` / ``end_time`` are used.

    Args:
        paths: the files to read (``keystep_train.json``, ``keystep_val.json``); a take listed in two files keeps
            the segments of the first.
    Returns:
        ``{take_uid: [{"start_time": float, "end_time": float}, ...]}`` for every take with segments.
    Raises:
        ProtocolError naming the file, the take and the segment when the layout is not the one above.
    """
    out: dict[str, list[dict]] = {}
    for path in paths:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise ProtocolError(f"{path}: keystep annotation file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ProtocolError(f"{path}: not valid JSON ({e})") from None
        annotations = doc.get("annotations") if isinstance(doc, dict) else None
        if not isinstance(annotations, Mapping):
            raise ProtocolError(f"{path}: expected an object with 'annotations' (take_uid -> take with 'segments'), "
                                f"as Ego-Exo4D's keystep_train.json / keystep_val.json")
        for key, take in annotations.items():
            if not isinstance(take, Mapping) or not isinstance(take.get("segments"), list):
                raise ProtocolError(f"{path}: annotations[{key!r}]: expected an object with a 'segments' list")
            uid = str(take.get("take_uid") or key)
            segments = []
            for i, seg in enumerate(take["segments"]):
                try:
                    a, b = float(seg["start_time"]), float(seg["end_time"])
                    if not (math.isfinite(a) and math.isfinite(b)):
                        raise ValueError
                except (KeyError, TypeError, ValueError):
                    raise ProtocolError(f"{path}: annotations[{key!r}].segments[{i}]: expected finite numeric "
                                        f"start_time and end_time (seconds), got {seg!r}") from None
                segments.append({"start_time": a, "end_time": b})
            if segments:
                out.setdefault(uid, segments)
    return out


def category_of(take: Mapping, protocol: Protocol = PROTOCOL_V1) -> str | None:
    """The protocol category of a takes.json entry (the first that matches), or None."""
    return next((c.name for c in protocol.categories if c.matches(take)), None)


# ----------------------------------------------------------------------------------------------------------------
# Cameras


def exo_camera_ids(take: Mapping, ego_worn: Sequence[str] = ()) -> list[str]:
    """Exo camera ids of a take's ``frame_aligned_videos`` (not Aria, not the collages, not ego-worn GoPros
    that captures.json marks ``is_ego``), in natural order."""
    fav = take.get("frame_aligned_videos") or {}
    ids = [c for c in fav if c not in _NON_CAMERA_KEYS and not str(c).lower().startswith("aria")
           and c not in set(ego_worn)]
    return sorted(ids, key=_natural_key)


def usable_exo_cameras(exo_cams: Sequence[str], calib_quality: Mapping[str, float | None],
                       protocol: Protocol = PROTOCOL_V1) -> tuple[list[str], SkipReason | None]:
    """The exo cameras with a calibration that did not fail, and the skip reason if fewer than four remain.

    ``calib_quality``: cam id -> ``quality`` of its gopro_calibs.csv row (None where the file has no quality
    column, which counts as good); cameras absent from it are uncalibrated.
    """
    calibrated = [c for c in exo_cams if c in calib_quality]
    usable = [c for c in calibrated if calib_quality[c] is None or float(calib_quality[c]) == 1.0]
    usable = sorted(usable, key=_natural_key)
    if len(usable) >= protocol.n_exo_views:
        return usable, None
    if len(calibrated) >= protocol.n_exo_views:
        return usable, SkipReason.CALIBRATION_FAILED
    return usable, SkipReason.NOT_ENOUGH_EXO


def choose_exo_views(usable: Sequence[str], protocol: Protocol = PROTOCOL_V1) -> list[str]:
    """The four exo views of every clip of a take: the first four usable cameras in natural id order
    (``cam01..cam04`` where present, the cameras peers use; a later id only replaces a missing or failed one)."""
    ordered = sorted(dict.fromkeys(usable), key=_natural_key)
    if len(ordered) < protocol.n_exo_views:
        raise ProtocolError(f"choose_exo_views: {len(ordered)} usable exo cameras {ordered}; "
                            f"the protocol needs {protocol.n_exo_views}")
    return ordered[:protocol.n_exo_views]


def best_exo_of(take: Mapping) -> str | None:
    """takes.json ``best_exo`` as a cam id (the field is a cam id string; a ``{"cam_id": ...}`` object is
    accepted too), or None."""
    value = take.get("best_exo")
    if isinstance(value, Mapping):
        value = value.get("cam_id")
    return str(value) if value else None


def choose_single_exo(views: Sequence[str], best_exo: str | None, exo_T_world_cam: Mapping[str, np.ndarray],
                      ego_T_world_cam: np.ndarray) -> str:
    """The one exo view of the ``single-exo`` setting, chosen among the clip's four ``views`` so that a
    single-exo clip is a subset of its four-view clip: ``best_exo`` if it is one of them, else the view whose
    optical axis (+z, world) is closest in angle to the mean ego optical axis over the clip's frames; ties go
    to the lower id.

    ``exo_T_world_cam``: cam id -> (4, 4) camera-to-world; ``ego_T_world_cam``: (T, 4, 4) at the clip's frames.
    """
    if not views:
        raise ProtocolError("choose_single_exo: no views to choose from")
    if best_exo is not None and best_exo in views:
        return best_exo
    ego = np.asarray(ego_T_world_cam, dtype=np.float64).reshape(-1, 4, 4)
    axis = ego[:, :3, 2].mean(axis=0)
    if not np.all(np.isfinite(axis)) or np.linalg.norm(axis) < 1e-9:
        raise ProtocolError("choose_single_exo: the ego poses give no mean viewing direction")
    axis = axis / np.linalg.norm(axis)

    def score(cam):
        if cam not in exo_T_world_cam:
            raise ProtocolError(f"choose_single_exo: no pose for exo view {cam!r}")
        z = np.asarray(exo_T_world_cam[cam], dtype=np.float64)[:3, 2]
        return -round(float(z @ axis / np.linalg.norm(z)), 12)  # rounded: near-ties resolve by id everywhere

    return min(sorted(views, key=_natural_key), key=score)


# ----------------------------------------------------------------------------------------------------------------
# Windows


class Window(NamedTuple):
    """A clip window: source frames ``start, start + stride, ..., start + (num_frames - 1) * stride``."""

    start: int
    stride: int
    num_frames: int

    @property
    def frames(self) -> list[int]:
        return [self.start + k * self.stride for k in range(self.num_frames)]


@dataclass
class WindowScan:
    """What :func:`scan_windows` found in a take: the kept windows and how many candidates each rule dropped."""

    windows: list[Window]
    candidates: int
    rejected: dict = field(default_factory=dict)  # SkipReason -> count (POSES_MISSING, LOW_HEAD_MOTION)
    had_intervals: bool = True

    @property
    def skip_reason(self) -> SkipReason | None:
        """Why the take gives no clip (None when it gives some)."""
        if self.windows:
            return None
        if not self.had_intervals:
            return SkipReason.NO_TASK_INTERVAL
        if self.candidates == 0:
            return SkipReason.TASK_TOO_SHORT
        if self.rejected.get(SkipReason.LOW_HEAD_MOTION, 0):
            return SkipReason.LOW_HEAD_MOTION
        return SkipReason.POSES_MISSING


def head_motion(T_world_cam: np.ndarray) -> tuple[float, float]:
    """Largest head rotation (degrees) and camera-centre displacement (metres) of any frame relative to the
    first: ``max_t angle(R_0^T R_t)`` and ``max_t |c_t - c_0|``. ``T_world_cam``: (T, 4, 4) camera-to-world."""
    T = np.asarray(T_world_cam, dtype=np.float64)
    R0, c0 = T[0, :3, :3], T[0, :3, 3]
    rel = np.einsum("ji,tjk->tik", R0, T[:, :3, :3])  # R_0^T R_t
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    rot = float(np.degrees(np.arccos(cos)).max())
    disp = float(np.linalg.norm(T[:, :3, 3] - c0, axis=1).max())
    return rot, disp


def poses_array(poses, n_frames: int) -> np.ndarray:
    """Ego poses as a (n_frames, 4, 4) array with NaN where a frame has none. Accepts such an array (shorter
    arrays are padded with NaN) or a mapping ``{frame index (int or str): 4x4 or 3x4}``; 3x4 rows get
    ``[0, 0, 0, 1]`` appended (a mapping of camera-to-world poses; convert world-to-camera files first)."""
    out = np.full((n_frames, 4, 4), np.nan)
    if isinstance(poses, Mapping):
        for key, value in poses.items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise ProtocolError(f"ego poses: frame key {key!r} is not an integer") from None
            if 0 <= i < n_frames:
                m = np.asarray(value, dtype=np.float64)
                if m.shape == (3, 4):
                    m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
                if m.shape != (4, 4):
                    raise ProtocolError(f"ego poses: frame {key}: expected a 4x4 or 3x4 matrix, got {m.shape}")
                out[i] = m
        return out
    arr = np.asarray(poses, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (4, 4):
        raise ProtocolError(f"ego poses: expected (N, 4, 4) camera-to-world poses, got shape {arr.shape}")
    m = min(len(arr), n_frames)
    out[:m] = arr[:m]
    return out


def _evenly_spaced(items: list, k: int) -> list:
    if k >= len(items):
        return list(items)
    if k == 1:
        return [items[0]]
    return [items[(i * (len(items) - 1)) // (k - 1)] for i in range(k)]


def scan_windows(n_frames: int, fps: float, intervals: Sequence[tuple[float, float]], ego_poses,
                 protocol: Protocol = PROTOCOL_V1, *, max_clips: int | None = None) -> WindowScan:
    """:func:`clip_windows` with the count of candidates each rule dropped (for the build report)."""
    if int(n_frames) != n_frames or n_frames < 0:
        raise ProtocolError(f"clip_windows: n_frames must be a non-negative integer, got {n_frames!r}")
    if not math.isclose(float(fps), protocol.source_fps, abs_tol=1e-3):
        raise ProtocolError(f"clip_windows: the protocol is defined on {protocol.source_fps:g} fps frame-aligned "
                            f"videos, got fps={fps!r}")
    n_frames = int(n_frames)
    poses = poses_array(ego_poses, n_frames)
    span, stride, T = protocol.span_frames, protocol.stride, protocol.num_frames
    kept: list[Window] = []
    rejected = {SkipReason.POSES_MISSING: 0, SkipReason.LOW_HEAD_MOTION: 0}
    candidates = 0
    next_free = 0  # first frame not covered by a kept window: windows never overlap, even across intervals
    for a, b in sorted((float(a), float(b)) for a, b in intervals):
        # frames whose timestamps i / fps lie inside [a, b]; the tolerance absorbs float noise in the seconds
        first = max(math.ceil(a * fps - 1e-6), 0)
        last = min(math.floor(b * fps + 1e-6), n_frames - 1)
        start = max(first, next_free)
        while start + span - 1 <= last:
            candidates += 1
            window = Window(start, stride, T)
            sampled = poses[window.frames]
            if not np.all(np.isfinite(sampled)):
                rejected[SkipReason.POSES_MISSING] += 1
            else:
                rot, disp = head_motion(sampled)
                if rot >= protocol.min_head_rotation_deg or disp >= protocol.min_head_translation_m:
                    kept.append(window)
                    next_free = start + span
                else:
                    rejected[SkipReason.LOW_HEAD_MOTION] += 1
            start += span
    if max_clips is not None:
        kept = _evenly_spaced(kept, int(max_clips))
    return WindowScan(kept, candidates, {k: v for k, v in rejected.items() if v}, had_intervals=bool(intervals))


def clip_windows(n_frames: int, fps: float, task_intervals: Sequence[tuple[float, float]], ego_poses,
                 protocol: Protocol = PROTOCOL_V1, *, max_clips: int | None = None) -> list[Window]:
    """The clip windows of one take, as ``(start, stride, num_frames)`` in source frames (0-based, 30 fps).

    Inside each task interval (seconds; see :func:`task_intervals`) the frames ``ceil(a * fps) ..
    floor(b * fps)`` are tiled from the interval's first frame with back-to-back windows of
    ``protocol.span_frames`` (65) frames; a tile that would overlap a window already kept (intervals may
    overlap) starts after it instead. A tile is kept when every sampled frame has a finite ego pose and the
    head moves enough (:func:`head_motion` >= ``min_head_rotation_deg`` or >= ``min_head_translation_m``).
    ``max_clips`` (see :meth:`Protocol.max_clips_per_take`) keeps that many of the kept windows, evenly spread
    in time. ``ego_poses``: (N, 4, 4) camera-to-world per source frame, NaN where missing (or a mapping, see
    :func:`poses_array`); frames past N count as missing.
    """
    return scan_windows(n_frames, fps, task_intervals, ego_poses, protocol, max_clips=max_clips).windows


# ----------------------------------------------------------------------------------------------------------------
# Take-level checks


def check_stream_lengths(frame_counts: Mapping[str, int], duration_sec: float | None,
                         protocol: Protocol = PROTOCOL_V1) -> SkipReason | None:
    """``SHORT_VIDEO`` when a stream (cam id -> decoded frame count) is more than ``video_frame_tolerance``
    frames shorter than ``duration_sec * 30`` or than the longest stream; ``UNREADABLE_VIDEO`` when one has no
    frames; else None."""
    if not frame_counts:
        return SkipReason.UNREADABLE_VIDEO
    counts = {k: int(v) for k, v in frame_counts.items()}
    if min(counts.values()) <= 0:
        return SkipReason.UNREADABLE_VIDEO
    expected = max(counts.values())
    if duration_sec is not None:
        expected = max(expected, round(float(duration_sec) * protocol.source_fps))
    if min(counts.values()) < expected - protocol.video_frame_tolerance:
        return SkipReason.SHORT_VIDEO
    return None


def check_ego_lag(take_name: str, measured_lag_frames: float | None = None,
                  protocol: Protocol = PROTOCOL_V1) -> SkipReason | None:
    """``EGO_LAG`` when the take is in ``protocol.known_ego_lag`` or the converter measured an ego/exo offset of
    more than ``max_ego_lag_frames`` frames (absolute value); else None."""
    if take_name in dict(protocol.known_ego_lag):
        return SkipReason.EGO_LAG
    if measured_lag_frames is not None and abs(float(measured_lag_frames)) > protocol.max_ego_lag_frames:
        return SkipReason.EGO_LAG
    return None


def check_frame_index_origin(frame_keys, n_video_frames: int) -> SkipReason | None:
    """``FRAME_INDEX_ORIGIN`` when a per-frame camera file's keys are not 0-based video frame indices: a key
    that is not an integer, is negative, or is at or past the video's frame count. Keys that merely start
    after 0 are fine (poses may begin late; those frames count as missing)."""
    for key in frame_keys:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
        elif isinstance(key, str) and re.fullmatch(r"-?\d+", key.strip()):
            i = int(key)
        else:
            return SkipReason.FRAME_INDEX_ORIGIN
        if i < 0 or i >= n_video_frames:
            return SkipReason.FRAME_INDEX_ORIGIN
    return None


# ----------------------------------------------------------------------------------------------------------------
# Clip ids and the manifest


def clip_id(take_uid: str, start: int, protocol: Protocol = PROTOCOL_V1, *, stride: int | None = None,
            num_frames: int | None = None, source: str | None = None) -> str:
    """A clip's stable, readable id: ``exoego4d-v1-<take_uid>-f<start, 6 digits>``, e.g.
    ``exoego4d-v1-13f01c79-5bfd-42f5-90ce-ee350aa1c3ad-f000120``. The full take uid keeps ids unique; a window
    with another stride or length than the protocol's (outside clip lists) gets ``-s<stride>n<num_frames>``;
    ``source`` replaces the ``exoego4d-v1`` prefix for outside lists."""
    take_uid = str(take_uid).strip()
    if not take_uid or not re.fullmatch(r"[A-Za-z0-9_.:-]+", take_uid):
        raise ProtocolError(f"clip_id: take_uid must be non-empty letters, digits, '-', '_', '.' or ':', "
                            f"got {take_uid!r}")
    if int(start) != start or start < 0:
        raise ProtocolError(f"clip_id: start must be a non-negative integer, got {start!r}")
    prefix = source if source is not None else f"{protocol.name}-v{protocol.major}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", prefix):
        raise ProtocolError(f"clip_id: source {prefix!r} must be letters, digits, '-', '_' or '.'")
    cid = f"{prefix}-{take_uid}-f{int(start):06d}"
    stride = protocol.stride if stride is None else int(stride)
    num_frames = protocol.num_frames if num_frames is None else int(num_frames)
    if (stride, num_frames) != (protocol.stride, protocol.num_frames):
        cid += f"-s{stride}n{num_frames}"
    return cid


@dataclass(frozen=True)
class ManifestRow:
    """One clip of one setting. Frames are 0-based indices of the take's 30 fps frame-aligned videos."""

    clip_id: str
    take_uid: str
    split: str  # train / val / test
    start_frame: int
    stride: int
    num_frames: int
    ego_cam: str  # e.g. "aria01"
    exo_cams: tuple[str, ...]  # in view order; 4 views, 1 in single-exo
    category: str
    setting: str
    source: str = f"exoego4d-v{PROTOCOL_VERSION.split('.')[0]}"  # who defined the clip list

    def __post_init__(self):
        object.__setattr__(self, "exo_cams", tuple(str(c) for c in self.exo_cams))
        problems = []
        if self.split not in SPLITS:
            problems.append(f"split {self.split!r} is not one of {SPLITS}")
        for name in ("start_frame", "stride", "num_frames"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                problems.append(f"{name} must be an integer, got {v!r}")
        if not problems:
            if self.start_frame < 0:
                problems.append(f"start_frame must be >= 0, got {self.start_frame}")
            if self.stride < 1:
                problems.append(f"stride must be >= 1, got {self.stride}")
            if self.num_frames < 2:
                problems.append(f"num_frames must be >= 2, got {self.num_frames}")
        if not self.exo_cams or len(set(self.exo_cams)) != len(self.exo_cams):
            problems.append(f"exo_cams must be non-empty and distinct, got {list(self.exo_cams)}")
        for name in ("clip_id", "take_uid", "ego_cam", "category", "setting", "source"):
            if not str(getattr(self, name)).strip():
                problems.append(f"{name} is empty")
        if problems:
            raise ProtocolError(f"manifest row {self.clip_id!r}: " + "; ".join(problems))

    @property
    def last_frame(self) -> int:
        return self.start_frame + (self.num_frames - 1) * self.stride

    @property
    def config(self) -> str:
        return config_name(self.category, self.setting)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["exo_cams"] = list(self.exo_cams)
        for k in ("start_frame", "stride", "num_frames"):
            d[k] = int(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "manifest row") -> ManifestRow:
        names = [f.name for f in cls.__dataclass_fields__.values()]
        required = [n for n in names if n != "source"]
        missing = [n for n in required if n not in d]
        extra = [k for k in d if k not in names]
        if missing or extra:
            raise ProtocolError(f"{where}: expected the keys {names}" + (f"; missing {missing}" if missing else "")
                                + (f"; unknown {extra}" if extra else ""))
        if not isinstance(d["exo_cams"], (list, tuple)):
            raise ProtocolError(f"{where}: exo_cams must be a list of cam ids, got {d['exo_cams']!r}")
        try:
            return cls(**{k: (tuple(v) if k == "exo_cams" else v) for k, v in d.items()})
        except ProtocolError as e:
            raise ProtocolError(f"{where}: {e}") from None


def _row_key(row: ManifestRow):
    return row.setting, row.category, row.clip_id


def _check_unique(rows: Sequence[ManifestRow], where: str) -> None:
    seen = set()
    for row in rows:
        key = (row.setting, row.clip_id)
        if key in seen:
            raise ProtocolError(f"{where}: clip {row.clip_id!r} appears twice in setting {row.setting!r}")
        seen.add(key)


def manifest_identity(rows: Sequence[ManifestRow]) -> str:
    """Content hash of a manifest (definition ``exoego4d-manifest-v1``): sha256 of ``"exoego4d-manifest-v1\\n"``
    followed by one line per row, the row's canonical JSON (sorted keys, compact, as
    ``benchmark.data.identity`` writes it), rows sorted by (setting, category, clip_id). Row order does not
    matter; any changed field does. A (setting, clip_id) pair may occur once."""
    rows = list(rows)
    if not rows:
        raise ProtocolError("the identity of an empty manifest is undefined")
    _check_unique(rows, "manifest_identity")
    h = hashlib.sha256(f"{MANIFEST_DEFINITION}\n".encode())
    for row in sorted(rows, key=_row_key):
        h.update(canonical_json(row.to_dict()) + b"\n")
    return h.hexdigest()


def write_manifest(path, rows: Sequence[ManifestRow], protocol: Protocol = PROTOCOL_V1) -> Path:
    """Write the manifest as JSON, one row per line (readable diffs), rows sorted, with the protocol version and
    :func:`manifest_identity`. Byte-identical for the same rows in any order."""
    rows = sorted(rows, key=_row_key)
    identity = manifest_identity(rows)
    header = {"definition": MANIFEST_DEFINITION, "protocol": protocol.name, "protocol_version": protocol.version,
              "n_rows": len(rows), "identity": identity}
    lines = ["{"] + [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()] + ['"rows": [']
    body = [canonical_json(r.to_dict()).decode() for r in rows]
    lines += [b + ("," if i < len(body) - 1 else "") for i, b in enumerate(body)] + ["]", "}"]
    return atomic_write_bytes(Path(path), ("\n".join(lines) + "\n").encode())


def read_manifest(path, protocol: Protocol = PROTOCOL_V1) -> list[ManifestRow]:
    """Read a manifest written by :func:`write_manifest`; refuse one whose identity does not match its rows or
    whose protocol major version differs from ``protocol``'s."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProtocolError(f"{path}: manifest not found") from None
    except json.JSONDecodeError as e:
        raise ProtocolError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("definition") != MANIFEST_DEFINITION or not isinstance(
            doc.get("rows"), list):
        raise ProtocolError(f"{path}: expected an {MANIFEST_DEFINITION} manifest (an object with 'definition' "
                            f"and 'rows')")
    version = str(doc.get("protocol_version", ""))
    if version.split(".")[0] != str(protocol.major):
        raise ProtocolError(f"{path}: written by protocol version {version!r}; this code reads version "
                            f"{protocol.major}.x")
    rows = []
    for i, d in enumerate(doc["rows"]):
        if not isinstance(d, dict):
            raise ProtocolError(f"{path}: row {i} is not an object")
        rows.append(ManifestRow.from_dict(d, where=f"{path}: row {i}"))
    identity = manifest_identity(rows)
    if doc.get("identity") != identity:
        raise ProtocolError(f"{path}: identity {doc.get('identity')!r} does not match its rows ({identity}); "
                            f"the file was edited by hand or truncated")
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Outside clip lists

OUTSIDE_COLUMNS = ("take_uid", "start_frame", "end_frame", "cameras")
OUTSIDE_OPTIONAL = ("stride", "split", "ego_cam")


def _outside_int(path, where, value, name):
    try:
        if isinstance(value, bool):
            raise ValueError
        f = float(value)
        if not f.is_integer():
            raise ValueError
        return int(f)
    except (TypeError, ValueError):
        raise ProtocolError(f"{path}: {where}: {name} must be an integer frame index, got {value!r}") from None


def read_outside_clip_list(path, *, source: str, category: str, setting: str = "outside",
                           protocol: Protocol = PROTOCOL_V1) -> list[ManifestRow]:
    """A peer's clip list as manifest rows (so it can be built as a dataset config of its own).

    Accepted files: CSV with a header, or JSON (a list of objects, or ``{"clips": [...]}``), with the fields
    ``take_uid``, ``start_frame``, ``end_frame`` (inclusive, 0-based frames of the 30 fps frame-aligned take
    videos) and ``cameras`` (exo cam ids, in view order: a JSON list, or a CSV string separated by ``;``, ``|``
    or spaces), and optionally ``stride`` (default the protocol's 4), ``split`` (default ``test``) and
    ``ego_cam`` (default ``aria01``). Frames ``start, start + stride, ...`` up to ``end_frame`` are used.
    ``source`` names the list (it prefixes the clip ids, e.g. ``egox``). Any malformed row raises a
    :class:`ProtocolError` naming the file, the row and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: outside clip list not found")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProtocolError(f"{path}: not valid JSON ({e})") from None
        records = doc.get("clips") if isinstance(doc, dict) else doc
        if not isinstance(records, list):
            raise ProtocolError(f"{path}: expected a JSON list of clips or an object with a 'clips' list")
        first_line = 0
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in OUTSIDE_COLUMNS if c not in header]
        if missing:
            raise ProtocolError(f"{path}: CSV header {header} lacks the columns {missing}; expected "
                                f"{list(OUTSIDE_COLUMNS)} and optionally {list(OUTSIDE_OPTIONAL)}")
        records = list(reader)
        first_line = 2  # row i is on line i + 2 (after the header)
    else:
        raise ProtocolError(f"{path}: expected a .csv or .json clip list")
    if not records:
        raise ProtocolError(f"{path}: the clip list is empty")

    rows, seen = [], {}
    for i, rec in enumerate(records):
        where = f"line {i + first_line}" if first_line else f"clip {i}"
        if not isinstance(rec, dict):
            raise ProtocolError(f"{path}: {where}: expected an object with {list(OUTSIDE_COLUMNS)}")
        missing = [c for c in OUTSIDE_COLUMNS if rec.get(c) in (None, "")]
        if missing:
            raise ProtocolError(f"{path}: {where}: missing {missing}")
        take_uid = str(rec["take_uid"]).strip()
        start = _outside_int(path, where, rec["start_frame"], "start_frame")
        end = _outside_int(path, where, rec["end_frame"], "end_frame")
        stride = protocol.stride if rec.get("stride") in (None, "") else _outside_int(path, where, rec["stride"],
                                                                                         "stride")
        if start < 0:
            raise ProtocolError(f"{path}: {where}: start_frame must be >= 0, got {start}")
        if stride < 1:
            raise ProtocolError(f"{path}: {where}: stride must be >= 1, got {stride}")
        if end < start + stride:
            raise ProtocolError(f"{path}: {where}: end_frame {end} must be at least start_frame + stride "
                                f"({start + stride}) so that the clip has 2 frames or more")
        cams = rec["cameras"]
        if isinstance(cams, str):
            cams = [c for c in re.split(r"[;|\s]+", cams.strip()) if c]
        if not isinstance(cams, (list, tuple)) or not cams or not all(isinstance(c, str) and c for c in cams):
            raise ProtocolError(f"{path}: {where}: cameras must be a non-empty list of exo cam ids, got "
                                f"{rec['cameras']!r}")
        if len(set(cams)) != len(cams):
            raise ProtocolError(f"{path}: {where}: cameras repeat a cam id: {cams}")
        if any(str(c).lower().startswith("aria") for c in cams):
            raise ProtocolError(f"{path}: {where}: cameras lists an Aria (ego) camera {cams}; list exo cameras "
                                f"only (the ego camera goes in ego_cam)")
        split = str(rec.get("split") or "test").strip()
        if split not in SPLITS:
            raise ProtocolError(f"{path}: {where}: split {split!r} is not one of {SPLITS}")
        num_frames = (end - start) // stride + 1
        try:
            cid = clip_id(take_uid, start, protocol, stride=stride, num_frames=num_frames, source=source)
        except ProtocolError as e:
            raise ProtocolError(f"{path}: {where}: {e}") from None
        if cid in seen:
            raise ProtocolError(f"{path}: {where}: the same clip (take {take_uid}, frames {start}..{end}, stride "
                                f"{stride}) is already listed at {seen[cid]}")
        seen[cid] = where
        rows.append(ManifestRow(cid, take_uid, split, start, stride, num_frames,
                                str(rec.get("ego_cam") or "aria01"), tuple(cams), category, setting, source))
    return rows
