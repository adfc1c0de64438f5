"""Convert an Ego-Exo4D download into ExoEgo4D clips (protocol v1), in the dataset layout of ``hf_format``.

``build_exoego4d(root, out)`` reads ``takes.json``, ``captures.json`` (optional: ego-worn GoPros) and
``annotations/splits.json`` under ``root``, selects the takes of each category with
``protocol.select_takes`` and, per take:

1. cameras. Lens models always from the calibration files: ``trajectory/gopro_calibs.csv`` (exo Kannala-Brandt
   K3 at 3840x2160) and ``trajectory/online_calibration.jsonl`` (the Aria RGB camera's Fisheye624 and
   ``T_device_rgb``). Poses by one of two routes (``docs/exoego4d-protocol.md``, "Camera routes"):
   route 2 (``ROUTE_TRAJECTORY``) where the take has ``closed_loop_trajectory.csv`` and a timesync with Aria
   times: exo camera-to-world from ``gopro_calibs.csv``, ego ``T_world_device @ T_device_rgb`` where take frame
   ``i`` is ``captures/<capture>/timesync.csv`` row ``timesync_start_idx + 1 + i``, whose
   ``aria01_214-1_capture_timestamp_ns`` picks the nearest 1 kHz trajectory sample within ``POSE_MAX_GAP_US``
   (else, or past the timesync's last row, the frame has no pose); route 1 (``ROUTE_EGO_POSE``) otherwise, from
   ``annotations/ego_pose/*/camera_pose/<take_uid>.json`` (world-to-camera, inverted; Aria keys checked with
   ``protocol.check_frame_index_origin``, unlisted frames without pose). Where both exist they are compared
   (``_compare_routes``) and a disagreement above ``ROUTE_AGREEMENT_M`` / ``ROUTE_AGREEMENT_DEG`` is a hazard of
   the report; the route used is in the take record, the report and each parquet row (``camera_route``);
2. take checks, each a ``protocol.SkipReason`` in the report: missing camera files, malformed camera files
   (``CameraFileError`` -> ``malformed_camera_file``), too few (good) exo calibrations, ego lag (the protocol's
   list, or measured from the timesync ``*_global_time`` columns), unreadable or short videos (frame counts
   from the containers);
3. clip windows with ``protocol.scan_windows`` on the take's keystep segments (``annotations/keystep_train.json``
   and ``keystep_val.json``, read by ``protocol.read_keysteps``), else its task interval of ``takes.json``;
4. one pass of PyAV decoding over the take's five videos in lockstep (each source video decoded once, up to
   the last frame any window needs); every sampled frame is undistorted straight to the stored pinhole size
   (exo: Kannala-Brandt -> 480x270; Aria: the upright frame is turned to the landscape sensor image,
   undistorted with Fisheye624 to 256x256, f = 75, and turned back upright with its camera), and a clip's
   videos are written (lossless, checked by decoding) as soon as its last frame is cut, so memory holds one
   clip per take in flight, not a take.

Stored cameras: exo ``T_world_cam`` of the route unchanged (undistortion keeps the camera frame), exo K = the
calibration's own pinhole part ``(fx, fy, cx, cy)`` scaled from 3840x2160 to 480x270 (this rule keeps the
centre's resolution and, for GoPro-like distortion, an image without empty corners); ego K =
``pinhole_K(75, 256x256)``, ego ``T_world_cam`` per frame (the route's landscape sensor camera) turned upright
with ``projection.rot90_camera``. The same K in both routes. All in Ego-Exo4D's world frame (metres, z up),
rounded by ``clip_row``.

Outside clip lists (``build_exoego4d(..., clip_list=FILE, clip_list_name=NAME)``): the rows of
``protocol.read_outside_clip_list`` grouped by (take, split), each group converted like a take with the same
routes, take checks and writing, but with exactly its windows and cameras; a row that cannot be made (unknown
take, unusable camera, frames past the videos, missing poses, another category) is in the report with its reason.
The folder's setting is ``outside-<NAME>``.

Output: ``data/<split>.parquet`` (``hf_format.clip_row`` rows plus ``take_uid``, ``take_name``, ``start_frame``,
``stride``, ``setting``, ``protocol_version``), ``videos/<split>/<clip_id>/``, no depth, the protocol
manifest ``exoego4d_manifest.json`` (``protocol.write_manifest``), ``build_report.json`` and, last,
``manifest.json`` (per-split content identity and per-clip ``clip_sha256`` as ``synth/build.py`` records them)
with the dataset card.

Report (``build_report.json``): takes used and skipped with reasons (one entry per row for outside lists),
windows per take with the source of its intervals, the camera route per take, the route comparisons and the
hazards, the keystep files read.

Resuming: each converted take leaves ``.takes/<setting>/<take_uid>.json`` (its rows and clip hashes) after its
clip files; a rerun into the same folder reuses those takes (their files must still be there) and converts
the rest. ``manifest.json`` is removed when a build starts and written when it ends, so an interrupted build
never looks complete.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmark.errors import UsageError
from benchmark.schema import ExoEgoClip
from benchmark.video_io import read_video, write_video

from .. import hf_format as fmt
from .. import identity
from . import cameras as cam_io
from . import committed
from . import projection as proj
from . import protocol as P
from .resample import Resampler, rot90_maps

DATASET_NAME = "exoego4d"
PRETTY_NAME = "ExoEgo4D"
REPORT = "build_report.json"
PROTOCOL_MANIFEST = "exoego4d_manifest.json"
TAKE_RECORDS = ".takes"
CONVERTER_VERSION = "0.2"  # a change of what a take's files hold: older take records are not reused
EGO_CAM = "aria01"
ARIA_RGB_STREAM = "214-1"
ARIA_CROP_AT_2880 = 32.0  # the 1408 recording is the 2880 sensor image cropped 32 px per side, then halved
ARIA_RECORDING_SIZE = 1408
POSE_MAX_GAP_US = 1000  # the trajectory is 1 kHz: a frame farther than 1 ms from every sample has no pose
# frame threads per decoded video (_decode_lockstep). Lockstep decoding of the throughput benchmark's 448 videos
# on 16 idle CPUs: none 1.7-1.8 s, +30 MiB peak; 2 threads 1.5 s, +44; 4 threads 1.15-1.27 s, +69; FFmpeg's
# own count (17 there) 1.22-1.31 s, +196 MiB: 4 threads give all of the speed at a third of the memory
DECODE_THREADS = 4
KB3, F624 = proj.KB3, proj.FISHEYE624
ROUTE_TRAJECTORY = "trajectory"  # route 2: gopro_calibs.csv + closed_loop_trajectory.csv + timesync
ROUTE_EGO_POSE = "ego_pose"  # route 1: annotations/ego_pose/<split>/camera_pose/<take_uid>.json
# where a take has both routes, a disagreement above either bound is a hazard of the build report: at the stored
# exo pinhole (f ~ 225 px at 480x270) 0.5 degree moves the image by ~2 px, and 1 cm at 1-2 m by ~1-2 px
ROUTE_AGREEMENT_DEG = 0.5
ROUTE_AGREEMENT_M = 0.01


class ConvertError(UsageError):
    """The download or the output folder is not what the converter expects; the message names the file."""


class _Skip(Exception):
    """A take that gives no clip; ``rows_rejected`` (outside clip lists) names each listed clip's own reason."""

    def __init__(self, reason: P.SkipReason, detail: str = "", rows_rejected: list | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.rows_rejected = reason, detail, list(rows_rejected or [])

    def record(self, take_uid: str) -> dict:
        return {"take_uid": take_uid, "skip": self.reason.value, "detail": self.detail,
                "rows_rejected": self.rows_rejected}


# ----------------------------------------------------------------------------------------------------------------
# Reading the download


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConvertError(f"{path}: {what} not found; expected an Ego-Exo4D download (parts metadata, annotations, "
                           f"takes, take_trajectory) under --root") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConvertError(f"{path}: {what} is not valid JSON ({e})") from None


def _ego_worn(captures) -> dict:
    """capture_uid -> GoPro ids that captures.json marks ``is_ego``."""
    out = {}
    for c in captures if isinstance(captures, list) else []:
        worn = [str(x.get("cam_id")) for x in c.get("cameras") or [] if isinstance(x, dict) and x.get("is_ego")]
        out[c.get("capture_uid")] = [w for w in worn if not w.lower().startswith("aria")]
    return out


def _video_path(take_dir: Path, take: dict, cam: str) -> Path:
    streams = (take.get("frame_aligned_videos") or {}).get(cam) or {}
    for s in streams.values():
        rel = s.get("relative_path") if isinstance(s, dict) else None
        if rel and (cam != EGO_CAM or str(s.get("stream_id")) == ARIA_RGB_STREAM or "rgb" in str(
                s.get("readable_stream_id"))):
            return take_dir / rel
    name = f"{cam}_{ARIA_RGB_STREAM}.mp4" if cam == EGO_CAM else f"{cam}.mp4"
    return take_dir / "frame_aligned_videos" / name


def _timesync(root: Path, take: dict) -> tuple[dict | None, str]:
    """The take's rows of its capture's ``timesync.csv``: ``({column: float array}, path)`` for rows
    ``timesync_start_idx + 1`` onwards (row ``timesync_start_idx + 1 + i`` is take frame ``i``; empty cells are
    NaN, columns that are not numbers are left out), or ``(None, why)`` when there is none."""
    capture = take.get("_capture") or {}
    start_idx = take.get("timesync_start_idx")
    if start_idx is None or not capture:
        return None, "takes.json / captures.json give no capture or timesync_start_idx for the take"
    rel = capture.get("timesync_csv_path") or f"captures/{capture.get('capture_name') or ''}/timesync.csv"
    path = root / rel
    first = int(start_idx) + 1
    # a capture's timesync is 30 Hz for the whole capture (tens of thousands of rows, dozens of columns) and is
    # read once per take: pyarrow's C reader splits it where it reads the file as csv.DictReader does, and each
    # column is parsed at once where every cell is a plain number (the same doubles as float(), see
    # cam_io.decimal_floats); anything else is read exactly as before, cell by cell
    fast = cam_io.fast_csv_columns(path)
    if fast is not None:
        names, cells = fast
        n_rows = len(cells[names[0]])
        if n_rows <= first:
            return None, f"{path}: {n_rows} rows, the take starts after row {first}"
        cols = {}
        for key in names:
            part = cells[key].slice(first)
            values = cam_io.decimal_floats(part)
            if values is None:
                values = _floats_or_none(part.to_pylist())
            if values is not None:
                cols[key] = values
        return cols, str(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return None, f"{path} not found"
    except (UnicodeDecodeError, csv.Error) as e:
        return None, f"{path}: not a readable CSV file ({e})"
    sel = rows[first:]
    if not sel:
        return None, f"{path}: {len(rows)} rows, the take starts after row {first}"
    cols = {}
    for key in sel[0]:
        if key is None:
            continue
        values = _floats_or_none([r.get(key) for r in sel])
        if values is not None:
            cols[key] = values
    return cols, str(path)


def _floats_or_none(cells: list) -> np.ndarray | None:
    """float64 (N,) of a timesync column's cells by Python's ``float``, empty (or missing) cells NaN; None when a
    cell is not a number (the column is left out)."""
    try:
        return np.array([float(v) if v not in ("", None) else np.nan for v in cells], dtype=np.float64)
    except ValueError:
        return None


def _per_frame(values: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` values, NaN-padded (timesync rows past the file's end: those frames have no time)."""
    out = np.full(n, np.nan)
    m = min(n, len(values))
    out[:m] = values[:m]
    return out


def _ego_pose_file(root: Path, take_uid: str) -> Path | None:
    """The route-1 camera file of a take, in whichever split folder of ``annotations/ego_pose`` holds it."""
    hits = sorted((root / "annotations" / "ego_pose").glob(f"*/camera_pose/{take_uid}.json"))
    return hits[0] if hits else None


def _rotation_deg(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Angles (degrees) of ``Ra^T Rb`` for rotation stacks (..., 3, 3)."""
    rel = np.einsum("...ji,...jk->...ik", Ra, Rb)
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def _compare_routes(ego_2: np.ndarray, ego_1: np.ndarray, exo_2: dict, exo_1: dict) -> dict:
    """How far the two camera routes disagree on one take: ego (landscape) poses (T, 4, 4) on the frames where
    both have one, exo poses (4, 4) of the cameras both have; max rotation angle (degrees) and max centre
    distance (metres). ``agree`` is False when a maximum exceeds ``ROUTE_AGREEMENT_DEG`` / ``ROUTE_AGREEMENT_M``."""
    both = np.all(np.isfinite(ego_2), axis=(1, 2)) & np.all(np.isfinite(ego_1), axis=(1, 2))
    out = {"ego_frames_compared": int(both.sum()), "ego_max_rotation_deg": None, "ego_max_centre_m": None,
           "exo_cams_compared": sorted(set(exo_2) & set(exo_1)), "exo_max_rotation_deg": None,
           "exo_max_centre_m": None}
    if both.any():
        a, b = ego_2[both], ego_1[both]
        out["ego_max_rotation_deg"] = float(_rotation_deg(a[:, :3, :3], b[:, :3, :3]).max())
        out["ego_max_centre_m"] = float(np.linalg.norm(a[:, :3, 3] - b[:, :3, 3], axis=1).max())
    if out["exo_cams_compared"]:
        a = np.stack([exo_2[c] for c in out["exo_cams_compared"]])
        b = np.stack([exo_1[c] for c in out["exo_cams_compared"]])
        out["exo_max_rotation_deg"] = float(_rotation_deg(a[:, :3, :3], b[:, :3, :3]).max())
        out["exo_max_centre_m"] = float(np.linalg.norm(a[:, :3, 3] - b[:, :3, 3], axis=1).max())
    degs = [out[k] for k in ("ego_max_rotation_deg", "exo_max_rotation_deg") if out[k] is not None]
    metres = [out[k] for k in ("ego_max_centre_m", "exo_max_centre_m") if out[k] is not None]
    out["agree"] = all(d <= ROUTE_AGREEMENT_DEG for d in degs) and all(m <= ROUTE_AGREEMENT_M for m in metres)
    return out


def _container_info(path: Path):
    """(frame count, (W, H)) from the container header; raises _Skip(UNREADABLE_VIDEO)."""
    import av

    if not path.is_file():
        raise _Skip(P.SkipReason.UNREADABLE_VIDEO, f"{path} not found")
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            n = int(s.frames)
            if n <= 0 and s.duration and s.average_rate:
                n = int(round(float(s.duration * s.time_base * s.average_rate)))
            return n, (int(s.codec_context.width), int(s.codec_context.height))
    except (av.error.FFmpegError, IndexError, ValueError) as e:
        raise _Skip(P.SkipReason.UNREADABLE_VIDEO, f"{path}: {e}") from None


# ----------------------------------------------------------------------------------------------------------------
# One take


def _aria_params_for_video(calib: cam_io.AriaRgbCalib, video_size: int) -> np.ndarray:
    """Fisheye624 parameters of the landscape Aria video of side ``video_size`` (the 1408 recording or a
    downscale of it) from the sensor calibration (2880x2880)."""
    side = float(calib.size[0])
    crop = ARIA_CROP_AT_2880 * side / 2880.0
    p1408 = proj.fisheye624_rescale(calib.params, ARIA_RECORDING_SIZE / (side - 2 * crop), (crop, crop))
    return proj.fisheye624_rescale(p1408, video_size / ARIA_RECORDING_SIZE)


def _route1_ego_poses(cams: cam_io.EgoPoseCameras, path: Path, n_frames: int, n_video: int) -> np.ndarray:
    """Route-1 Aria poses (n_frames, 4, 4) of the landscape sensor camera per take frame, NaN for frames the file
    does not list; raises _Skip when it has no Aria entry or its frame keys are not video frames from 0."""
    aria = cams.aria.get(EGO_CAM)
    if aria is None:
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{path}: no {EGO_CAM!r} entry (per-frame Aria extrinsics)")
    reason = P.check_frame_index_origin(aria.frame_keys or aria.frame_indices.tolist(), n_video)
    if reason is not None:
        bad = [k for k in aria.frame_keys if not str(k).strip().isdigit()]
        if bad:
            raise _Skip(reason, f"{path}: {EGO_CAM} frame keys {bad[:5]} are not non-negative integer frame indices")
        raise _Skip(reason, f"{path}: {EGO_CAM} frame keys {int(aria.frame_indices.min())}.."
                            f"{int(aria.frame_indices.max())} for videos of {n_video} frames")
    T = np.full((n_frames, 4, 4), np.nan)
    inside = aria.frame_indices < n_frames
    T[aria.frame_indices[inside]] = aria.T_world_cam[inside]
    return T


def _reject(row: P.ManifestRow, reason: P.SkipReason, detail: str) -> dict:
    return {"clip_id": row.clip_id, "reason": reason.value, "detail": detail}


def _outside_cameras(rows: list, exo_ids: list, calibs: dict, quality: dict, route: str):
    """``(views, rows kept, rows rejected)`` for the rows of an outside list: a listed camera must be an exo
    camera of the take with a good calibration and a pose in the take's route, and the ego camera aria01.
    ``views``: every camera some kept row uses, in natural order (each video is decoded once)."""
    why = {}
    for c in {c for r in rows for c in r.exo_cams}:
        if c not in exo_ids:
            why[c] = f"{c} is not an exo camera of the take (frame_aligned_videos, not ego-worn): {exo_ids}"
        elif c not in calibs:
            why[c] = f"{c} has no row in gopro_calibs.csv"
        elif c not in quality:
            why[c] = f"{c} has no pose in the ego-pose camera file (camera route {route})"
        elif quality[c] is not None and float(quality[c]) != 1.0:
            why[c] = f"{c} calibration quality is {quality[c]} (1 is required)"
    kept, rejected = [], []
    for r in rows:
        bad = [why[c] for c in r.exo_cams if c in why]
        if r.ego_cam != EGO_CAM:
            bad.insert(0, f"ego camera {r.ego_cam!r}: only {EGO_CAM} (the Aria RGB stream) is converted")
        if bad:
            rejected.append(_reject(r, P.SkipReason.CAMERA_UNUSABLE, "; ".join(bad)))
        else:
            kept.append(r)
    views = sorted({c for r in kept for c in r.exo_cams}, key=P._natural_key)
    if not kept:
        raise _Skip(P.SkipReason.CAMERA_UNUSABLE, "every listed clip of the take names an unusable camera",
                    rejected)
    return views, kept, rejected


def _outside_windows(rows: list, rejected: list, n_frames: int, ego_T: np.ndarray):
    """The windows of an outside list's rows that the take can give: inside its videos and with an ego pose on
    every sampled frame. Appends the others to ``rejected``; returns ``(WindowScan, kept rows)``."""
    kept, windows = [], []
    for r in rows:
        win = P.Window(r.start_frame, r.stride, r.num_frames)
        if r.last_frame >= n_frames:
            rejected.append(_reject(r, P.SkipReason.FRAMES_OUT_OF_RANGE,
                                    f"frames {r.start_frame}..{r.last_frame}; the take's videos have {n_frames}"))
        elif not np.all(np.isfinite(ego_T[win.frames])):
            missing = [f for f in win.frames if not np.all(np.isfinite(ego_T[f]))]
            rejected.append(_reject(r, P.SkipReason.POSES_MISSING, f"no ego pose at sampled frames {missing}"))
        else:
            kept.append(r)
            windows.append(win)
    counts = Counter(P.SkipReason(x["reason"]) for x in rejected)
    return P.WindowScan(windows, len(rows) + sum(1 for x in rejected if x["reason"] == "camera_unusable"),
                        dict(counts)), kept


def _plan_take(root: Path, take: dict, sel: P.SelectedTake, worn: list, protocol: P.Protocol,
               keysteps: list | None = None, rows: list | None = None) -> dict:
    """Everything about a take except its pixels; raises _Skip with the protocol's reason.

    Args:
        keysteps: the take's keystep segments (``protocol.read_keysteps``), None when it has none.
        rows: outside clip list mode: the list's ``ManifestRow`` s of this take (one split); the windows are
            exactly theirs and a row that cannot be made is rejected with its own reason. None: the protocol's
            windows (``protocol.scan_windows``).
    """
    take_dir = root / str(take.get("root_dir") or f"takes/{sel.take_name}")
    traj = take_dir / "trajectory"
    rgb_path, closed_loop = traj / "online_calibration.jsonl", traj / "closed_loop_trajectory.csv"
    if not rgb_path.is_file():
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{rgb_path} not found: both camera routes take the Aria RGB "
                                                     f"lens model from it")

    # camera route: the trajectory (route 2) where the take has it with a timesync giving Aria times, else the
    # ego-pose camera file (route 1); intrinsics always come from the calibration files
    aria_col = f"{EGO_CAM}_{ARIA_RGB_STREAM}_capture_timestamp_ns"
    ts, ts_where = _timesync(root, take)
    pose_file = _ego_pose_file(root, sel.take_uid)
    if closed_loop.is_file() and ts is not None and aria_col in ts:
        route = ROUTE_TRAJECTORY
    elif pose_file is not None:
        route = ROUTE_EGO_POSE
    else:
        why = (f"{closed_loop} not found" if not closed_loop.is_file() else
               ts_where if ts is None else f"{ts_where}: no column {aria_col}")
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{why}; no annotations/ego_pose/*/camera_pose/"
                                                     f"{sel.take_uid}.json either")
    route1, route_check = None, None
    if pose_file is not None:
        try:
            route1 = cam_io.read_ego_pose_cameras(pose_file)
        except cam_io.CameraFileError as e:
            if route == ROUTE_EGO_POSE:
                raise
            route_check = {"error": str(e)}  # only the comparison is lost: a hazard of the report

    exo_ids = P.exo_camera_ids(take, worn)
    calibs = cam_io.read_gopro_calibs(traj / "gopro_calibs.csv") if (traj / "gopro_calibs.csv").is_file() else {}
    # an exo camera needs a calibration (its lens) and, in route 1, an entry of the camera file (its pose)
    posed = [c for c in calibs if route == ROUTE_TRAJECTORY or c in route1.exo]
    quality = {c: calibs[c].quality for c in posed}
    if rows is None:
        usable, reason = P.usable_exo_cameras(exo_ids, quality, protocol)
        if reason is not None:
            raise _Skip(reason, f"usable exo cameras {usable} of {exo_ids} (camera route {route})")
        views = P.choose_exo_views(usable, protocol)
        live, rows_rejected = None, []
    else:
        views, live, rows_rejected = _outside_cameras(rows, exo_ids, calibs, quality, route)

    # frame counts and sizes from the containers
    paths = {c: _video_path(take_dir, take, c) for c in [EGO_CAM, *views]}
    info = {c: _container_info(p) for c, p in paths.items()}
    counts = {c: n for c, (n, _) in info.items()}
    reason = P.check_stream_lengths(counts, take.get("duration_sec"), protocol)
    if reason is not None:
        raise _Skip(reason, f"frames per stream {counts}, duration_sec {take.get('duration_sec')}")
    n_frames = min(counts.values())

    # timing and ego lag (measured where the timesync has the global-time columns)
    aria_ns = _per_frame(ts[aria_col], n_frames) if ts is not None and aria_col in ts else None
    lag = None
    aria_g = ts.get(f"{EGO_CAM}_{ARIA_RGB_STREAM}_global_time") if ts is not None else None
    exo_g = [_per_frame(ts[f"{c}_global_time"], n_frames) for c in views if f"{c}_global_time" in ts] \
        if ts is not None else []
    if aria_g is not None and exo_g:
        with warnings.catch_warnings():  # frames past the timesync's last row are all-NaN columns
            warnings.simplefilter("ignore", RuntimeWarning)
            diff = (np.nanmedian(np.stack(exo_g), axis=0) - _per_frame(aria_g, n_frames)) * protocol.source_fps
        lag = float(np.nanmedian(diff)) if np.isfinite(diff).any() else None
    reason = P.check_ego_lag(sel.take_name, lag, protocol)
    if reason is not None:
        raise _Skip(reason, f"measured ego lag {lag} frames")

    # ego poses of the landscape sensor camera per take frame, NaN where a route has none
    rgb = cam_io.read_online_calibration_rgb(rgb_path)
    T_route2 = None
    if route == ROUTE_TRAJECTORY:
        trajectory = cam_io.read_closed_loop_trajectory(closed_loop)
        timed = np.isfinite(aria_ns)
        t_frame = np.asarray(np.rint(np.where(timed, aria_ns, 0.0) / 1000.0), dtype=np.int64)
        idx, T_dev = trajectory.nearest(t_frame)
        T_dev_rgb = np.stack([cam_io.nearest_calibration(rgb, int(t)).T_device_cam for t in t_frame])
        T_route2 = np.einsum("tij,tjk->tik", T_dev, T_dev_rgb)
        gap = np.abs(trajectory.timestamps_us[idx] - t_frame)
        T_route2[(gap > POSE_MAX_GAP_US) | ~timed] = np.nan
    T_route1 = None
    if route1 is not None:
        try:
            T_route1 = _route1_ego_poses(route1, pose_file, n_frames, max(counts.values()))
        except _Skip as s:
            if route == ROUTE_EGO_POSE:
                raise
            route_check = {"error": s.detail}
    if route == ROUTE_TRAJECTORY:
        T_land, exo_T = T_route2, {c: calibs[c].T_world_cam for c in views}
        if T_route1 is not None:
            route_check = _compare_routes(T_route2, T_route1, exo_T,
                                          {c: route1.exo[c].T_world_cam for c in views if c in route1.exo})
    else:
        T_land, exo_T = T_route1, {c: route1.exo[c].T_world_cam for c in views}
    ego_size = protocol.ego_size
    K_land = proj.pinhole_K(protocol.ego_focal_px, ego_size)
    K_up, T_up, _ = proj.rot90_camera(K_land, np.nan_to_num(T_land), ego_size, k=3)
    T_up[~np.isfinite(T_land)] = np.nan
    # the time whose online calibration gives the lens model: the take's middle frame (the middle record when
    # the Aria times are unknown, route 1 without a timesync)
    t_us = np.asarray(np.rint(aria_ns[np.isfinite(aria_ns)] / 1000.0), dtype=np.int64) \
        if aria_ns is not None else np.zeros(0, dtype=np.int64)
    if not len(t_us):
        t_us = np.array([rgb[len(rgb) // 2].tracking_timestamp_us], dtype=np.int64)

    extra = {"route": route, "route_check": route_check}
    if rows is None:
        extra["interval_source"] = "keystep" if keysteps and P.task_intervals({}, keysteps) else "task"
        intervals = P.task_intervals(take, keysteps)
        scan = P.scan_windows(n_frames, protocol.source_fps, intervals, T_up, protocol,
                              max_clips=protocol.max_clips_per_take(sel.split))
        if scan.skip_reason is not None:
            raise _Skip(scan.skip_reason, f"{scan.candidates} candidate windows ({extra['interval_source']} "
                                          f"intervals), rejected { {k.value: v for k, v in scan.rejected.items()} }")
    else:
        scan, kept = _outside_windows(live, rows_rejected, n_frames, T_up)
        extra.update(interval_source="outside", rows_rejected=rows_rejected,
                     clip_ids=[r.clip_id for r in kept], window_views=[list(r.exo_cams) for r in kept],
                     manifest_rows=[r.to_dict() for r in kept])
        if not kept:
            raise _Skip(P.SkipReason(rows_rejected[0]["reason"]), "every listed clip of the take was rejected",
                        rows_rejected)

    # undistortion: stored pinhole <- source pixels, resampled in fixed point (bit-identical on every machine)
    exo_K, exo_resample = {}, {}
    for c in views:
        cal = calibs[c]
        exo_K[c] = proj.scale_to_size(cal.K_raw, cal.size, protocol.exo_size)
        params = proj.kb_rescale(cal.kb_params, cal.size, info[c][1])
        exo_resample[c] = Resampler(proj.undistort_maps(KB3, params, exo_K[c], protocol.exo_size), info[c][1])
    ego_w, ego_h = info[EGO_CAM][1]
    if ego_w != ego_h:
        raise _Skip(P.SkipReason.UNREADABLE_VIDEO, f"{paths[EGO_CAM]}: Aria RGB video is {ego_w}x{ego_h}, "
                                                   f"expected a square image")
    mid = int(t_us[len(t_us) // 2])
    ego_params = _aria_params_for_video(cam_io.nearest_calibration(rgb, mid), ego_w)
    ego_maps = proj.undistort_maps(F624, ego_params, K_land, ego_size)
    # the model is the landscape sensor's: the turns to it and back to upright are folded into the maps
    ego_resample = Resampler(rot90_maps(ego_maps, (ego_w, ego_h), 1), (ego_w, ego_h))
    return {"take_dir": take_dir, "views": views, "paths": paths, "n_frames": n_frames, "windows": scan.windows,
            "rejected": {k.value: v for k, v in scan.rejected.items()}, "candidates": scan.candidates,
            "exo_T": exo_T, **extra, "exo_K": exo_K, "exo_resample": exo_resample,
            "ego_K": K_up, "ego_T": T_up, "ego_resample": ego_resample, "lag": lag}


def _decode_lockstep(paths: dict, last_frame: int, threads: bool = True):
    """Yield ``(i, {cam: decoded PyAV VideoFrame})`` for frames 0..last_frame, decoding each video once
    (``_to_rgb`` makes a frame uint8 (H, W, 3)).

    ``threads``: FFmpeg's frame threading (``thread_type = "AUTO"``, ``DECODE_THREADS`` threads) for each
    video; False leaves PyAV's default (slice threading, which H.264 files of one slice per frame do not use).
    Frame threading gives the same frames bit for bit (H.264 decoding is exact, whatever the threads) and
    overlaps the decoding of successive frames; its cost is a few frames of delay and memory per thread."""
    import av

    containers = {c: av.open(str(p)) for c, p in paths.items()}
    try:
        if threads:
            for ct in containers.values():
                ct.streams.video[0].thread_type = "AUTO"
                ct.streams.video[0].thread_count = DECODE_THREADS
        iters = {c: ct.decode(video=0) for c, ct in containers.items()}
        for i in range(last_frame + 1):
            frames = {}
            for c, it in iters.items():
                try:
                    frame = next(it)
                except StopIteration:
                    raise _Skip(P.SkipReason.SHORT_VIDEO, f"{paths[c]}: ended at frame {i}, frame {last_frame} "
                                                          f"is needed") from None
                except av.error.FFmpegError as e:
                    raise _Skip(P.SkipReason.UNREADABLE_VIDEO, f"{paths[c]}: frame {i}: {e}") from None
                frames[c] = frame
            yield i, frames
    finally:
        for ct in containers.values():
            ct.close()


def _to_rgb(frame) -> np.ndarray:
    """uint8 (H, W, 3) RGB of a decoded PyAV frame, the same bits on every CPU where the format allows it.

    H.264 decoding is bit-exact by the standard, but libswscale's YUV -> RGB kernels differ between its C and
    SIMD paths unless built for bit-exactness, so two machines could convert the same download into different
    frames (and content identities). Limited-range 4:2:0 frames of even size, what Ego-Exo4D's mp4s hold, are
    therefore converted by OpenCV's fixed-point BT.601 ``COLOR_YUV2RGB_I420`` (integer arithmetic: its SIMD and
    plain paths agree bit for bit, as a test checks; within 3 levels of libswscale's rounding). Planar RGB
    (``gbrp``, our own lossless files) is read as is; anything else falls back to libswscale.
    """
    name = frame.format.name
    if name == "gbrp":
        arr = frame.to_ndarray()
        if arr.shape == (frame.height, frame.width, 3):
            return arr
    if name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0 and int(frame.color_range) != 2:
        import cv2

        planes = frame.to_ndarray()  # (3H/2, W): Y, then U and V at half resolution
        if planes.shape == (frame.height * 3 // 2, frame.width):
            return cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def _convert_take(root: Path, take: dict, sel: P.SelectedTake, worn: list, out: Path,
                  protocol: P.Protocol, keysteps: list | None = None, rows: list | None = None) -> dict:
    """Convert one take into ``out``; returns its record (rows, clip hashes, manifest rows) or its skip.
    ``keysteps`` / ``rows``: see :func:`_plan_take`."""
    try:
        plan = _plan_take(root, take, sel, worn, protocol, keysteps, rows)
    except _Skip as s:
        return s.record(sel.take_uid)
    except cam_io.CameraFileError as e:
        # the detail names the file, line or key and the problem
        return _Skip(P.SkipReason.MALFORMED_CAMERA_FILE, str(e)).record(sel.take_uid)
    windows, views = plan["windows"], plan["views"]
    n_views = protocol.views_in(sel.setting) if rows is None else None  # outside lists: each row's cameras
    wanted = {}  # source frame -> [(window index, position)]
    for w, win in enumerate(windows):
        for k, f in enumerate(win.frames):
            wanted.setdefault(f, []).append((w, k))
    buffers: dict[int, dict] = {}
    clip_rows, hashes, mrows, written = [], {}, [], []
    max_err = 0
    try:
        for i, frames in _decode_lockstep(plan["paths"], max(wanted)):
            if i not in wanted:
                continue
            ego = plan["ego_resample"](_to_rgb(frames[EGO_CAM]))
            exo = {c: plan["exo_resample"][c](_to_rgb(frames[c])) for c in views}
            for w, k in wanted[i]:
                length = windows[w].num_frames
                buf = buffers.setdefault(w, {"ego": [None] * length, "exo": {c: [None] * length for c in views}})
                buf["ego"][k] = ego
                for c in views:
                    buf["exo"][c][k] = exo[c]
                if k == length - 1:
                    row, h, mrow, err, rel = _write_clip(out, sel, take, plan, w, buffers.pop(w), n_views, protocol)
                    clip_rows.append(row)
                    hashes[row["clip_id"]] = h
                    mrows.append(mrow)
                    written.append(rel)
                    max_err = max(max_err, err)
    except _Skip as s:
        for rel in written:
            shutil.rmtree(out / rel, ignore_errors=True)
        return _Skip(s.reason, s.detail, plan.get("rows_rejected")).record(sel.take_uid)
    if max_err != 0:
        raise RuntimeError(f"take {sel.take_uid}: lossless video check failed (max abs error {max_err})")
    return {"take_uid": sel.take_uid, "take_name": sel.take_name, "category": sel.category, "split": sel.split,
            "setting": sel.setting, "protocol_version": protocol.version, "converter_version": CONVERTER_VERSION,
            "rows": clip_rows, "clip_sha256": hashes, "manifest_rows": mrows, "clip_dirs": written,
            "windows_rejected": plan["rejected"], "candidates": plan["candidates"], "ego_lag_frames": plan["lag"],
            "camera_route": plan["route"], "route_check": plan["route_check"],
            "interval_source": plan["interval_source"], "rows_rejected": plan.get("rows_rejected", []),
            "requested": None if rows is None else sorted(r.clip_id for r in rows)}


def _write_clip(out: Path, sel, take, plan, w: int, buf, n_views: int | None, protocol: P.Protocol):
    """Write window ``w`` of the plan (its frames in ``buf``); ``n_views`` None: an outside list's row, whose
    clip id, cameras and manifest row the plan holds."""
    views, win = plan["views"], plan["windows"][w]
    ego_T = plan["ego_T"][win.frames]
    if n_views is None:
        used, cid = list(plan["window_views"][w]), plan["clip_ids"][w]
    else:
        if n_views == 1:
            used = [P.choose_single_exo(views, P.best_exo_of(take), plan["exo_T"], ego_T)]
        else:
            used = list(views)
        cid = P.clip_id(sel.take_uid, win.start, protocol)
    fps = protocol.source_fps / win.stride
    ego_video = np.stack(buf["ego"])
    first = buf["exo"][used[0]]
    exo_video = np.empty((len(used), len(first), *first[0].shape), dtype=first[0].dtype)  # one copy, not two
    for j, c in enumerate(used):
        np.stack(buf["exo"][c], out=exo_video[j])
    clip = ExoEgoClip(
        clip_id=cid, category=sel.category, fps=fps, text=str(take.get("task_name") or ""),
        exo_video=exo_video, exo_cam_ids=used, exo_K=np.stack([plan["exo_K"][c] for c in used]),
        exo_T_world_cam=np.stack([plan["exo_T"][c] for c in used]), ego_K=plan["ego_K"], ego_T_world_cam=ego_T,
        ego_video=ego_video, extra={"scene_id": sel.physical_setting_uid or ""}).validate()
    paths = fmt.clip_paths(sel.split, cid, used)
    paths["depth"] = None
    # The read-back guards against an encoder that is not lossless (a PyAV / FFmpeg build whose libx264rgb
    # ignores qp=0 or converts the pixel format, a frame lost at the flush). That is a property of the encoder
    # settings, which are fixed (video_io: codec, qp 0, rgb24, one thread), and of the frame size, not of the
    # pixels (lossless H.264 is lossless for any content), and every clip has the same two sizes (protocol
    # ego_size, exo_size). So one video of each size is decoded and compared in full, frame count included: the
    # ego and first exo video of the take's first window. Each converted take (so each worker process too) is
    # checked; the read-back, a full decode of every written frame, is skipped for the other views and clips.
    videos = [(paths["ego_video"], ego_video), *zip(paths["exo_videos"], exo_video)]
    err = 0
    for k, (rel, frames) in enumerate(videos):
        write_video(out / rel, frames, fps=fps)
        if w == 0 and k < 2:
            err = max(err, _lossless_error(out / rel, frames))
    row = fmt.clip_row(clip, sel.split, paths, take_uid=sel.take_uid, take_name=sel.take_name,
                       start_frame=int(win.start), stride=int(win.stride), setting=sel.setting,
                       protocol_version=protocol.version, camera_route=plan["route"])
    h = identity.clip_sha256_of_arrays(row, ego_video, exo_video, None)
    if n_views is None:
        mrow = plan["manifest_rows"][w]
    else:
        mrow = P.ManifestRow(cid, sel.take_uid, sel.split, int(win.start), int(win.stride), int(win.num_frames),
                             EGO_CAM, tuple(used), sel.category, sel.setting).to_dict()
    return row, h, mrow, err, f"videos/{sel.split}/{cid}"


def _lossless_error(path: Path, frames: np.ndarray) -> int:
    """Max abs difference (0..255) between ``frames`` uint8 (T, H, W, 3), as written to ``path``, and what
    ``path`` decodes to; 0 for a lossless file. Raises RuntimeError naming the file when it decodes to another
    number or size of frames (``video_io.VideoReadError`` when it does not decode)."""
    back = read_video(path)
    if back.shape != frames.shape:
        raise RuntimeError(f"{path}: lossless video check failed: {frames.shape[0]} frames of "
                           f"{frames.shape[2]}x{frames.shape[1]} written, {back.shape[0]} of "
                           f"{back.shape[2]}x{back.shape[1]} decoded")
    if np.array_equal(back, frames):
        return 0
    return int(np.abs(back.astype(np.int16) - frames.astype(np.int16)).max())


def _convert_take_job(args):
    return _convert_take(*args)


# ----------------------------------------------------------------------------------------------------------------
# The build


def _record_path(out: Path, setting: str, take_uid: str, split: str | None = None) -> Path:
    # an outside list may put clips of one take in several splits: one record per (take, split)
    return out / TAKE_RECORDS / setting / (f"{take_uid}.json" if split is None else f"{take_uid}-{split}.json")


def _reusable(out: Path, rec: dict, sel: P.SelectedTake, protocol: P.Protocol, requested=None) -> bool:
    return (rec.get("protocol_version") == protocol.version and rec.get("converter_version") == CONVERTER_VERSION
            and rec.get("split") == sel.split and rec.get("category") == sel.category
            and rec.get("requested") == requested and "camera_route" in rec
            and all((out / d).is_dir() for d in rec.get("clip_dirs", [])))


def _read_keystep_files(root: Path) -> tuple[dict, list]:
    """``({take_uid: segments}, [files read])`` from ``annotations/keystep_{train,val}.json`` where present."""
    paths = [root / rel for rel in P.KEYSTEP_FILES if (root / rel).is_file()]
    try:
        return P.read_keysteps(paths), [str(p.relative_to(root)) for p in paths]
    except P.ProtocolError as e:
        raise ConvertError(str(e)) from None


def _category_slug(take: dict, protocol: P.Protocol) -> str:
    """An outside list's take: its protocol category, else its scenario name as a config-safe slug."""
    cat = P.category_of(take, protocol)
    if cat is not None:
        return cat
    slug = re.sub(r"[^a-z0-9]+", "-", str(take.get("parent_task_name") or "").lower()).strip("-")
    return slug or "uncategorized"


def _row_entry(take_uid, take_name, category, clip_id, reason: P.SkipReason, detail: str) -> dict:
    return {"take_uid": take_uid, "take_name": take_name, "category": category, "clip_id": clip_id,
            "reason": reason.value, "text": reason.text, "detail": detail}


def _outside_jobs(rows: list, by_uid: dict, cats, protocol: P.Protocol):
    """Group an outside list's rows by (take, split): ``([(SelectedTake, take, rows)], skipped row entries)``;
    rows of unknown, dropped or unrequested takes are skipped with their reason."""
    groups, skipped = {}, []
    for row in rows:
        take = by_uid.get(row.take_uid)
        if take is None:
            skipped.append(_row_entry(row.take_uid, None, row.category, row.clip_id, P.SkipReason.UNKNOWN_TAKE,
                                      "takes.json has no such take_uid"))
            continue
        cat = _category_slug(take, protocol)
        if cats is not None and cat not in cats:
            skipped.append(_row_entry(row.take_uid, take.get("take_name"), cat, row.clip_id,
                                      P.SkipReason.OTHER_CATEGORY, f"category {cat!r}; requested {list(cats)}"))
            continue
        if take.get("is_dropped"):
            skipped.append(_row_entry(row.take_uid, take.get("take_name"), cat, row.clip_id, P.SkipReason.DROPPED,
                                      ""))
            continue
        groups.setdefault((row.take_uid, row.split), []).append(dataclasses.replace(row, category=cat))
    out = []
    for (uid, split), group in sorted(groups.items()):
        take = by_uid[uid]
        sel = P.SelectedTake(uid, str(take.get("take_name", "")), split, group[0].category, group[0].setting,
                             None if take.get("physical_setting_uid") is None else str(take["physical_setting_uid"]))
        out.append((sel, take, group))
    return out, skipped


def build_exoego4d(root, out, *, categories=None, setting: str = "unseen-takes", workers: int = 1,
                   progress: bool = True, protocol: P.Protocol = P.PROTOCOL_V1, clip_list=None,
                   clip_list_name: str | None = None, committed_manifests=None):
    """Convert the Ego-Exo4D download at ``root`` into the ExoEgo4D dataset folder ``out`` (one setting).

    Args:
        categories: protocol category names (default: all five). setting: ``unseen-takes``,
            ``unseen-scenes`` or ``single-exo``. workers: takes converted in parallel (processes).
        clip_list, clip_list_name: convert exactly the clips of an outside list (CSV or JSON, see
            ``protocol.read_outside_clip_list``) instead of the protocol's; the folder's setting is
            ``outside-<name>``, clip ids start with the name, and ``categories`` (protocol categories, or the
            slug of another scenario) keeps the rows of those takes only. Each row that cannot be made is in the
            report with its reason.
        committed_manifests: folder of committed protocol manifests (default: the package's, see
            ``committed.py``); a protocol build is compared with its setting's (report ``committed_manifest``).
    Returns:
        ``(out as a Path, report dict)``; the report is also ``out/build_report.json``.
    """
    t_start = time.perf_counter()
    root, out = Path(root).expanduser().absolute(), Path(out).expanduser().absolute()
    outside = clip_list is not None
    if outside:
        name = str(clip_list_name or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ConvertError(f"--clip-list-name {clip_list_name!r}: an outside list needs a name of letters, "
                               f"digits, '-', '_' or '.' (it prefixes the clip ids and names the setting)")
        if setting != "unseen-takes":
            raise ConvertError(f"--setting {setting!r} does not apply to --clip-list: the list fixes its own "
                               f"clips, cameras and splits (setting outside-{name})")
        setting = f"outside-{name}"
        cats = None if categories is None else list(dict.fromkeys(categories))
    else:
        if clip_list_name is not None:
            raise ConvertError("--clip-list-name needs --clip-list FILE")
        cats = [c.name for c in protocol.categories] if categories is None else list(dict.fromkeys(categories))
        for c in cats:
            protocol.category(c)  # raises ProtocolError naming the known categories
        if setting not in protocol.settings:
            raise ConvertError(f"setting {setting!r} (--setting): expected one of {list(protocol.settings)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConvertError(f"workers (--workers) must be an integer >= 1, got {workers!r}")
    if not root.is_dir():
        raise ConvertError(f"--root {root}: no such folder; expected an Ego-Exo4D download")
    list_rows = P.read_outside_clip_list(clip_list, source=name, category="uncategorized", setting=setting,
                                         protocol=protocol) if outside else None
    takes = _read_json(root / "takes.json", "takes.json")
    splits = _read_json(root / "annotations" / "splits.json", "annotations/splits.json")
    captures = _read_json(root / "captures.json", "captures.json") if (root / "captures.json").is_file() else []
    if not isinstance(takes, list):
        raise ConvertError(f"{root / 'takes.json'}: expected a list of takes")
    by_uid = {str(t.get("take_uid")): t for t in takes if isinstance(t, dict)}
    cap_by_uid = {c.get("capture_uid"): c for c in captures if isinstance(c, dict)} if isinstance(captures, list) \
        else {}
    worn = _ego_worn(captures)
    keysteps, keystep_files = ({}, []) if outside else _read_keystep_files(root)

    existing = fmt.read_manifest(out) if out.is_dir() else None
    if existing is not None and existing.get("name") != DATASET_NAME:
        raise ConvertError(f"--out {out} holds the dataset {existing.get('name')!r}; choose another folder")
    if existing is not None and (existing.get("build") or {}).get("setting") != setting:
        raise ConvertError(f"--out {out} holds ExoEgo4D setting {(existing.get('build') or {}).get('setting')!r}; "
                           f"one folder holds one setting: choose another folder for {setting!r}")
    if existing is None and out.exists() and not (out / TAKE_RECORDS).is_dir() and (
            not out.is_dir() or any(out.iterdir())):
        raise ConvertError(f"--out {out}: not empty and not an ExoEgo4D folder (no {fmt.MANIFEST}); nothing was "
                           f"built: choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / fmt.MANIFEST).unlink(missing_ok=True)  # incomplete until the build ends

    skipped, jobs, records, resumed = [], [], [], []
    if outside:
        groups, skipped = _outside_jobs(list_rows, by_uid, cats, protocol)
        for sel, entry, group in groups:
            take = dict(entry)
            take["_capture"] = cap_by_uid.get(take.get("capture_uid")) or {}
            rp = _record_path(out, setting, sel.take_uid, sel.split)
            requested = sorted(r.clip_id for r in group)
            if rp.is_file():
                rec = json.loads(rp.read_text())
                if _reusable(out, rec, sel, protocol, requested):
                    records.append(rec)
                    resumed.append(sel.take_uid)
                    continue
            jobs.append((root, take, sel, worn.get(take.get("capture_uid"), []), out, protocol, None, group))
        cats = sorted({sel.category for sel, _, _ in groups}) if cats is None else cats
    else:
        for cat in cats:
            for uid, reason in P.skipped_takes(takes, splits, cat, setting, protocol):
                skipped.append({"take_uid": uid, "take_name": by_uid.get(uid, {}).get("take_name"), "category": cat,
                                "reason": reason.value, "text": reason.text, "detail": ""})
            for sel in P.select_takes(takes, splits, cat, setting, protocol):
                take = dict(by_uid[sel.take_uid])
                take["_capture"] = cap_by_uid.get(take.get("capture_uid")) or {}
                rp = _record_path(out, setting, sel.take_uid)
                if rp.is_file():
                    rec = json.loads(rp.read_text())
                    if _reusable(out, rec, sel, protocol):
                        records.append(rec)
                        resumed.append(sel.take_uid)
                        continue
                jobs.append((root, take, sel, worn.get(take.get("capture_uid"), []), out, protocol,
                             keysteps.get(sel.take_uid), None))

    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="ExoEgo4D takes", unit="take", disable=not progress, file=sys.stderr)
    results = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for r in pool.map(_convert_take_job, jobs):
                results.append(r)
                bar.update(1)
    else:
        for job in jobs:
            results.append(_convert_take(*job))
            bar.update(1)
    bar.close()
    for job, r in zip(jobs, results):
        sel, group = job[2], job[7]
        rp = _record_path(out, setting, sel.take_uid, sel.split if outside else None)
        if "skip" in r:
            reason = P.SkipReason(r["skip"])
            if group is None:
                skipped.append({"take_uid": sel.take_uid, "take_name": sel.take_name, "category": sel.category,
                                "reason": reason.value, "text": reason.text, "detail": r["detail"]})
            else:
                own = {x["clip_id"]: x for x in r.get("rows_rejected") or []}
                for row in group:
                    x = own.get(row.clip_id, {"reason": reason.value, "detail": r["detail"]})
                    skipped.append(_row_entry(sel.take_uid, sel.take_name, sel.category, row.clip_id,
                                              P.SkipReason(x["reason"]), x["detail"]))
            rp.unlink(missing_ok=True)
        else:
            # key order kept (not sorted): it is the parquet column order, the same for fresh and resumed takes
            fmt.atomic_write_bytes(rp, json.dumps(r).encode())
            records.append(r)
    for rec in records:  # rows of an outside list that a converted take could not give (fresh or resumed)
        for x in rec.get("rows_rejected") or []:
            skipped.append(_row_entry(rec["take_uid"], rec["take_name"], rec["category"], x["clip_id"],
                                      P.SkipReason(x["reason"]), x["detail"]))

    report = _finish(out, root, records, skipped, resumed, cats, setting, protocol)
    report["keystep_files"] = keystep_files
    # a protocol build must reproduce the committed manifest of its setting (an outside list has none)
    report["committed_manifest"] = None if outside else committed.compare_with_committed(
        P.read_manifest(out / PROTOCOL_MANIFEST, protocol), setting, cats, protocol, committed_manifests)
    if outside:
        report["clip_list"] = {"path": str(Path(clip_list).expanduser().absolute()), "name": name,
                               "rows": len(list_rows), "converted": sum(len(r["rows"]) for r in records),
                               "skipped": len(skipped)}
    report["elapsed_s"] = round(time.perf_counter() - t_start, 3)
    fmt.atomic_write_bytes(out / REPORT, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    return out, report


def _finish(out: Path, root: Path, records: list, skipped: list, resumed: list, cats: list, setting: str,
            protocol: P.Protocol) -> dict:
    # drop clip files of takes no longer in the build (e.g. now skipped), so split hashes cover exactly the rows
    keep = {d for r in records for d in r["clip_dirs"]}
    for split in P.SPLITS:
        base = out / "videos" / split
        for d in sorted(base.iterdir()) if base.is_dir() else []:
            if f"videos/{split}/{d.name}" not in keep:
                shutil.rmtree(d)
        (out / "data" / f"{split}.parquet").unlink(missing_ok=True)
    entries, mrows = {}, []
    for split in P.SPLITS:
        recs = sorted((r for r in records if r["split"] == split), key=lambda r: r["take_uid"])
        rows = sorted((row for r in recs for row in r["rows"]), key=lambda row: row["clip_id"])
        if not rows:
            continue
        hashes = {cid: h for r in recs for cid, h in r["clip_sha256"].items()}
        fmt.write_parquet(out / "data" / f"{split}.parquet", rows)
        entries[split] = {"n_clips": len(rows), "max_abs_video_error": 0, "n_takes": len(recs),
                          "categories": dict(sorted(Counter(row["category"] for row in rows).items())),
                          "identity": identity.set_identity(hashes), "clip_sha256": dict(sorted(hashes.items()))}
        mrows += [P.ManifestRow.from_dict(m) for r in recs for m in r["manifest_rows"]]
    if not entries:
        report = _report(records, skipped, resumed, cats, setting, protocol, entries, None)
        fmt.atomic_write_bytes(out / REPORT, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
        raise ConvertError(f"no clip could be made from {root} for categories {cats} in setting {setting!r}; "
                           f"skipped takes by reason: {report['skip_counts']} (details in {out / REPORT})")
    P.write_manifest(out / PROTOCOL_MANIFEST, mrows, protocol)
    manifest = {"name": DATASET_NAME, "pretty_name": PRETTY_NAME, "version": protocol.version,
                "format_version": fmt.FORMAT_VERSION, "identity_definition": identity.DEFINITION,
                "license": "other", "tags": ["egocentric", "exocentric", "video", "novel-view-synthesis", "ego-exo4d"],
                "protocol": protocol.describe(),
                "protocol_manifest_identity": P.manifest_identity(mrows),
                "build": {"setting": setting, "categories": cats, "converter_version": CONVERTER_VERSION,
                          "camera_routes": dict(sorted(Counter(str(r.get("camera_route")) for r in records).items()))},
                "splits": entries}
    # one config per category present, `<category>-<setting>`: a parquet of its rows per split, videos shared
    fmt.write_configs(out, manifest, {P.config_name(c, setting): {"category": c} for c in cats})
    fmt.record_file_hashes(out, manifest)
    report = _report(records, skipped, resumed, cats, setting, protocol, entries,
                     manifest["protocol_manifest_identity"])
    fmt.write_card(out, manifest, dataset_card_text(manifest, report))
    fmt.write_manifest(out, manifest)
    return report


def _hazards(records) -> list:
    """Hazards found in takes that were converted: camera routes that disagree (or a route-1 file that could not
    be compared), per take."""
    out = []
    for r in sorted(records, key=lambda r: r["take_uid"]):
        check = r.get("route_check")
        if not check:
            continue
        if "error" in check:
            out.append({"take_uid": r["take_uid"], "take_name": r["take_name"], "kind": "route_check_failed",
                        "detail": f"the ego-pose camera file could not be compared with the trajectory: "
                                  f"{check['error']}"})
        elif not check["agree"]:
            out.append({"take_uid": r["take_uid"], "take_name": r["take_name"], "kind": "camera_routes_disagree",
                        "detail": f"ego-pose camera file vs trajectory beyond {ROUTE_AGREEMENT_DEG} degree / "
                                  f"{ROUTE_AGREEMENT_M} m (the {r['camera_route']} route is used)",
                        **{k: v for k, v in check.items() if k != "agree"}})
    return out


def _report(records, skipped, resumed, cats, setting, protocol, entries, manifest_identity) -> dict:
    return {"protocol_version": protocol.version, "setting": setting, "categories": cats,
            "takes_used": sorted(r["take_uid"] for r in records), "takes_resumed": sorted(resumed),
            "skipped": sorted(skipped, key=lambda s: (s["category"], s["take_uid"], s.get("clip_id") or "")),
            "skip_counts": dict(sorted(Counter(s["reason"] for s in skipped).items())),
            "windows": {r["take_uid"]: {"candidates": r["candidates"], "kept": len(r["rows"]),
                                        "rejected": r["windows_rejected"],
                                        "intervals": r.get("interval_source")} for r in records},
            "camera_routes": {r["take_uid"]: r.get("camera_route") for r in records},
            "camera_route_counts": dict(sorted(Counter(str(r.get("camera_route")) for r in records).items())),
            "route_checks": {r["take_uid"]: r["route_check"] for r in records if r.get("route_check")},
            "route_agreement_bounds": {"rotation_deg": ROUTE_AGREEMENT_DEG, "centre_m": ROUTE_AGREEMENT_M},
            "hazards": _hazards(records),
            "clips": {s: e["categories"] for s, e in entries.items()},
            "protocol_manifest_identity": manifest_identity}


def dataset_card_text(manifest: dict, report: dict) -> str:
    """Markdown body of the ExoEgo4D card (``hf_format.write_card`` adds the front matter and identities)."""
    p = manifest["protocol"]
    b = manifest["build"]
    counts = "\n".join(f"| {s} | {c} | {n} |" for s, cats in report["clips"].items() for c, n in cats.items())
    skips = ", ".join(f"{k}: {v}" for k, v in report["skip_counts"].items()) or "none"
    routes = ", ".join(f"{k}: {v}" for k, v in (b.get("camera_routes") or {}).items()) or "none"
    if str(b["setting"]).startswith("outside-"):
        clip_shape = ("the clips of an outside clip list, with its own frames, stride and cameras (see "
                      "`exoego4d_manifest.json`).")
    else:
        clip_shape = (f'{p["num_frames"]} frames every {p["stride"]}-th frame of the 30 fps frame-aligned take '
                      f'videos ({p["span_sec"]:.2f} s), stored at {p["stored_fps"]:g} fps.')
    return f"""# ExoEgo4D (protocol {p["version"]}, setting `{b["setting"]}`)

Exocentric-to-egocentric clips converted from a local, licensed copy of
[Ego-Exo4D](https://ego-exo4d-data.org/) by `python -m benchmark data build exoego4d`, following the split
protocol `docs/exoego4d-protocol.md` (module `benchmark/data/egoexo4d/protocol.py`).

## License

Ego-Exo4D is distributed under its own license agreement (https://ego4ddataset.com/egoexo-license/), which every
user signs before downloading; its terms apply to these videos, frames and cameras, which are derived from it.
Do not redistribute this folder's videos unless that license allows it; the project publishes code and the clip
list (`{PROTOCOL_MANIFEST}`, identity `{manifest["protocol_manifest_identity"]}`), not videos.

## Clips

- {clip_shape}
- Ego: Aria RGB undistorted (Fisheye624) to a {p["ego_size"][0]}x{p["ego_size"][1]} upright pinhole, f =
  {p["ego_focal_px"]:g} px, principal point at the centre; one pose per frame, from the Aria trajectory (route
  2) or the ego-pose camera files (route 1); takes per route: {routes}.
- Exo: {p["n_exo_views"]} GoPro views (1 in `single-exo`) undistorted (Kannala-Brandt) to
  {p["exo_size"][0]}x{p["exo_size"][1]} pinholes whose K is the calibration's pinhole part scaled from 3840x2160.
- Cameras: camera-to-world `T_world_cam` (metres, OpenCV axes) in Ego-Exo4D's world frame (z up); K in pixels
  of the stored resolution. No depth.
- Categories: {", ".join(b["categories"])}; setting `{b["setting"]}`; one config per category,
  `<category>-{b["setting"]}` (`data/<config>/<split>.parquet`), and `default` with every clip.

| split | category | clips |
|---|---|---|
{counts}

Skipped takes (reasons of the protocol, details in `{REPORT}`): {skips}.
"""
