"""Convert an Ego-Exo4D download into ExoEgo4D clips (protocol v1), in the dataset layout of ``hf_format``.

``build_exoego4d(root, out)`` reads ``takes.json``, ``captures.json`` (optional: ego-worn GoPros) and
``annotations/splits.json`` under ``root``, selects the takes of each category with
``protocol.select_takes`` and, per take:

1. cameras by route 2: ``trajectory/gopro_calibs.csv`` (exo, camera-to-world, Kannala-Brandt K3 at 3840x2160),
   ``trajectory/closed_loop_trajectory.csv`` + ``online_calibration.jsonl`` (Aria device poses and the RGB
   camera's Fisheye624 model and ``T_device_rgb``) and ``captures/<capture>/timesync.csv`` (take frame ``i`` is
   timesync row ``timesync_start_idx + 1 + i``; its ``aria01_214-1_capture_timestamp_ns`` picks the nearest 1 kHz
   trajectory sample, within ``POSE_MAX_GAP_US``, else the frame has no pose);
2. take checks, each a ``protocol.SkipReason`` in the report: missing trajectory, too few (good) exo
   calibrations, ego lag (the protocol's list, or measured from the timesync ``*_global_time`` columns),
   unreadable or short videos (frame counts from the containers);
3. clip windows with ``protocol.scan_windows`` on the task interval of ``takes.json``;
4. one pass of PyAV decoding over the take's five videos in lockstep (each source video decoded once, up to
   the last frame any window needs); every sampled frame is undistorted straight to the stored pinhole size
   (exo: Kannala-Brandt -> 480x270; Aria: the upright frame is turned to the landscape sensor image,
   undistorted with Fisheye624 to 256x256, f = 75, and turned back upright with its camera), and a clip's
   videos are written (lossless, checked by decoding) as soon as its last frame is cut, so memory holds one
   clip per take in flight, not a take.

Stored cameras: exo ``T_world_cam`` from ``gopro_calibs.csv`` unchanged (undistortion keeps the camera frame),
exo K = the calibration's own pinhole part ``(fx, fy, cx, cy)`` scaled from 3840x2160 to 480x270 (this rule
keeps the centre's resolution and, for GoPro-like distortion, an image without empty corners); ego K =
``pinhole_K(75, 256x256)``, ego ``T_world_cam`` per frame ``T_world_device @ T_device_rgb`` turned upright with
``projection.rot90_camera``. All in Ego-Exo4D's world frame (metres, z up), rounded by ``clip_row``.

Output: ``data/<split>.parquet`` (``hf_format.clip_row`` rows plus ``take_uid``, ``take_name``, ``start_frame``,
``stride``, ``setting``, ``protocol_version``), ``videos/<split>/<clip_id>/``, no depth, the protocol
manifest ``exoego4d_manifest.json`` (``protocol.write_manifest``), ``build_report.json`` and, last,
``manifest.json`` (per-split content identity and per-clip ``clip_sha256`` as ``synth/build.py`` records them)
with the dataset card.

Resuming: each converted take leaves ``.takes/<setting>/<take_uid>.json`` (its rows and clip hashes) after its
clip files; a rerun into the same folder reuses those takes (their files must still be there) and converts
the rest. ``manifest.json`` is removed when a build starts and written when it ends, so an interrupted build
never looks complete.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
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
from . import projection as proj
from . import protocol as P

DATASET_NAME = "exoego4d"
PRETTY_NAME = "ExoEgo4D"
REPORT = "build_report.json"
PROTOCOL_MANIFEST = "exoego4d_manifest.json"
TAKE_RECORDS = ".takes"
CONVERTER_VERSION = "0.1"  # a change of what a take's files hold: older take records are not reused
EGO_CAM = "aria01"
ARIA_RGB_STREAM = "214-1"
ARIA_CROP_AT_2880 = 32.0  # the 1408 recording is the 2880 sensor image cropped 32 px per side, then halved
ARIA_RECORDING_SIZE = 1408
POSE_MAX_GAP_US = 1000  # the trajectory is 1 kHz: a frame farther than 1 ms from every sample has no pose
KB3, F624 = proj.KB3, proj.FISHEYE624


class ConvertError(UsageError):
    """The download or the output folder is not what the converter expects; the message names the file."""


class _Skip(Exception):
    def __init__(self, reason: P.SkipReason, detail: str = ""):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


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


def _timesync(path: Path, start_idx: int, n: int) -> dict:
    """Columns (float arrays, n rows) of timesync rows ``start_idx + 1 .. start_idx + n``."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{path} not found") from None
    sel = rows[start_idx + 1:start_idx + 1 + n]
    if len(sel) < n:
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{path}: {len(rows)} rows, the take needs rows up to "
                                                     f"{start_idx + n}")
    cols = {}
    for key in sel[0]:
        try:
            cols[key] = np.array([float(r[key]) if r[key] not in ("", None) else np.nan for r in sel])
        except ValueError:
            continue
    return cols


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


def _plan_take(root: Path, take: dict, sel: P.SelectedTake, worn: list, protocol: P.Protocol) -> dict:
    """Everything about a take except its pixels; raises _Skip with the protocol's reason."""
    take_dir = root / str(take.get("root_dir") or f"takes/{sel.take_name}")
    traj = take_dir / "trajectory"
    if not (traj / "closed_loop_trajectory.csv").is_file() or not (traj / "online_calibration.jsonl").is_file():
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{traj}: no closed_loop_trajectory.csv with "
                                                     f"online_calibration.jsonl")
    exo_ids = P.exo_camera_ids(take, worn)
    calibs = cam_io.read_gopro_calibs(traj / "gopro_calibs.csv") if (traj / "gopro_calibs.csv").is_file() else {}
    usable, reason = P.usable_exo_cameras(exo_ids, {c: calibs[c].quality for c in calibs}, protocol)
    if reason is not None:
        raise _Skip(reason, f"usable exo cameras {usable} of {exo_ids}")
    views = P.choose_exo_views(usable, protocol)

    # frame counts and sizes from the containers
    paths = {c: _video_path(take_dir, take, c) for c in [EGO_CAM, *views]}
    info = {c: _container_info(p) for c, p in paths.items()}
    counts = {c: n for c, (n, _) in info.items()}
    reason = P.check_stream_lengths(counts, take.get("duration_sec"), protocol)
    if reason is not None:
        raise _Skip(reason, f"frames per stream {counts}, duration_sec {take.get('duration_sec')}")
    n_frames = min(counts.values())

    # timing and ego lag
    capture = (take.get("_capture") or {})
    ts_rel = capture.get("timesync_csv_path") or f"captures/{capture.get('capture_name') or ''}/timesync.csv"
    start_idx = take.get("timesync_start_idx")
    if start_idx is None or not capture:
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, "no capture / timesync_start_idx for the take")
    ts = _timesync(root / ts_rel, int(start_idx), n_frames)
    aria_ns = ts.get(f"{EGO_CAM}_{ARIA_RGB_STREAM}_capture_timestamp_ns")
    if aria_ns is None:
        raise _Skip(P.SkipReason.MISSING_TRAJECTORY, f"{root / ts_rel}: no column "
                                                     f"{EGO_CAM}_{ARIA_RGB_STREAM}_capture_timestamp_ns")
    lag = None
    aria_g = ts.get(f"{EGO_CAM}_{ARIA_RGB_STREAM}_global_time")
    exo_g = [ts[f"{c}_global_time"] for c in views if f"{c}_global_time" in ts]
    if aria_g is not None and exo_g:
        lag = float(np.nanmedian((np.nanmedian(np.stack(exo_g), axis=0) - aria_g) * protocol.source_fps))
    reason = P.check_ego_lag(sel.take_name, lag, protocol)
    if reason is not None:
        raise _Skip(reason, f"measured ego lag {lag} frames")

    # ego poses (landscape sensor camera), NaN where the trajectory has no sample within POSE_MAX_GAP_US
    trajectory = cam_io.read_closed_loop_trajectory(traj / "closed_loop_trajectory.csv")
    rgb = cam_io.read_online_calibration_rgb(traj / "online_calibration.jsonl")
    t_us = np.asarray(np.rint(aria_ns / 1000.0), dtype=np.int64)
    idx, T_dev = trajectory.nearest(t_us)
    T_dev_rgb = np.stack([cam_io.nearest_calibration(rgb, int(t)).T_device_cam for t in t_us])
    T_land = np.einsum("tij,tjk->tik", T_dev, T_dev_rgb)
    gap = np.abs(trajectory.timestamps_us[idx] - t_us)
    T_land[gap > POSE_MAX_GAP_US] = np.nan
    ego_size = protocol.ego_size
    K_land = proj.pinhole_K(protocol.ego_focal_px, ego_size)
    K_up, T_up, _ = proj.rot90_camera(K_land, np.nan_to_num(T_land), ego_size, k=3)
    T_up[~np.isfinite(T_land)] = np.nan

    intervals = P.task_intervals(take)
    scan = P.scan_windows(n_frames, protocol.source_fps, intervals, T_up, protocol,
                          max_clips=protocol.max_clips_per_take(sel.split))
    if scan.skip_reason is not None:
        raise _Skip(scan.skip_reason, f"{scan.candidates} candidate windows, rejected "
                                      f"{ {k.value: v for k, v in scan.rejected.items()} }")

    # undistortion maps: stored pinhole <- source pixels
    exo_K, exo_maps = {}, {}
    for c in views:
        cal = calibs[c]
        exo_K[c] = proj.scale_to_size(cal.K_raw, cal.size, protocol.exo_size)
        params = proj.kb_rescale(cal.kb_params, cal.size, info[c][1])
        exo_maps[c] = proj.undistort_maps(KB3, params, exo_K[c], protocol.exo_size)
    ego_w, ego_h = info[EGO_CAM][1]
    if ego_w != ego_h:
        raise _Skip(P.SkipReason.UNREADABLE_VIDEO, f"{paths[EGO_CAM]}: Aria RGB video is {ego_w}x{ego_h}, "
                                                   f"expected a square image")
    mid = int(t_us[len(t_us) // 2])
    ego_params = _aria_params_for_video(cam_io.nearest_calibration(rgb, mid), ego_w)
    ego_maps = proj.undistort_maps(F624, ego_params, K_land, ego_size)
    return {"take_dir": take_dir, "views": views, "paths": paths, "n_frames": n_frames, "windows": scan.windows,
            "rejected": {k.value: v for k, v in scan.rejected.items()}, "candidates": scan.candidates,
            "exo_T": {c: calibs[c].T_world_cam for c in views}, "exo_K": exo_K, "exo_maps": exo_maps,
            "ego_K": K_up, "ego_T": T_up, "ego_maps": ego_maps, "lag": lag}


def _decode_lockstep(paths: dict, last_frame: int):
    """Yield ``(i, {cam: uint8 (H, W, 3)})`` for frames 0..last_frame, decoding each video once."""
    import av

    containers = {c: av.open(str(p)) for c, p in paths.items()}
    try:
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
    if frame.format.name == "gbrp":
        arr = frame.to_ndarray()
        if arr.shape == (frame.height, frame.width, 3):
            return arr
    return frame.to_ndarray(format="rgb24")


def _convert_take(root: Path, take: dict, sel: P.SelectedTake, worn: list, out: Path,
                  protocol: P.Protocol) -> dict:
    """Convert one take into ``out``; returns its record (rows, clip hashes, manifest rows) or its skip."""
    try:
        plan = _plan_take(root, take, sel, worn, protocol)
    except _Skip as s:
        return {"take_uid": sel.take_uid, "skip": s.reason.value, "detail": s.detail}
    except cam_io.CameraFileError as e:
        # a malformed camera file makes the take unusable; protocol 1.0 has no reason of its own for it, so the
        # nearest one is used and the detail names the file, line and problem
        reason = P.SkipReason.CALIBRATION_FAILED if "gopro_calibs" in str(e) else P.SkipReason.MISSING_TRAJECTORY
        return {"take_uid": sel.take_uid, "skip": reason.value, "detail": str(e)}
    windows, views = plan["windows"], plan["views"]
    n_views = protocol.views_in(sel.setting)
    wanted = {}  # source frame -> [(window index, position)]
    for w, win in enumerate(windows):
        for k, f in enumerate(win.frames):
            wanted.setdefault(f, []).append((w, k))
    buffers: dict[int, dict] = {}
    rows, hashes, mrows, written = [], {}, [], []
    max_err = 0
    try:
        for i, frames in _decode_lockstep(plan["paths"], max(wanted)):
            if i not in wanted:
                continue
            ego = proj.rot90_image(proj.undistort(proj.rot90_image(_to_rgb(frames[EGO_CAM]), 1), plan["ego_maps"]), 3)
            exo = {c: proj.undistort(_to_rgb(frames[c]), plan["exo_maps"][c]) for c in views}
            for w, k in wanted[i]:
                buf = buffers.setdefault(w, {"ego": [None] * protocol.num_frames,
                                             "exo": {c: [None] * protocol.num_frames for c in views}})
                buf["ego"][k] = ego
                for c in views:
                    buf["exo"][c][k] = exo[c]
                if k == protocol.num_frames - 1:
                    row, h, mrow, err, rel = _write_clip(out, sel, take, plan, windows[w], buffers.pop(w),
                                                         n_views, protocol)
                    rows.append(row)
                    hashes[row["clip_id"]] = h
                    mrows.append(mrow)
                    written.append(rel)
                    max_err = max(max_err, err)
    except _Skip as s:
        for rel in written:
            shutil.rmtree(out / rel, ignore_errors=True)
        return {"take_uid": sel.take_uid, "skip": s.reason.value, "detail": s.detail}
    if max_err != 0:
        raise RuntimeError(f"take {sel.take_uid}: lossless video check failed (max abs error {max_err})")
    return {"take_uid": sel.take_uid, "take_name": sel.take_name, "category": sel.category, "split": sel.split,
            "setting": sel.setting, "protocol_version": protocol.version, "converter_version": CONVERTER_VERSION,
            "rows": rows, "clip_sha256": hashes, "manifest_rows": mrows, "clip_dirs": written,
            "windows_rejected": plan["rejected"], "candidates": plan["candidates"], "ego_lag_frames": plan["lag"]}


def _write_clip(out: Path, sel, take, plan, win, buf, n_views: int, protocol: P.Protocol):
    views = plan["views"]
    ego_T = plan["ego_T"][win.frames]
    if n_views == 1:
        used = [P.choose_single_exo(views, P.best_exo_of(take), plan["exo_T"], ego_T)]
    else:
        used = list(views)
    cid = P.clip_id(sel.take_uid, win.start, protocol)
    ego_video = np.stack(buf["ego"])
    exo_video = np.stack([np.stack(buf["exo"][c]) for c in used])
    clip = ExoEgoClip(
        clip_id=cid, category=sel.category, fps=protocol.stored_fps, text=str(take.get("task_name") or ""),
        exo_video=exo_video, exo_cam_ids=used, exo_K=np.stack([plan["exo_K"][c] for c in used]),
        exo_T_world_cam=np.stack([plan["exo_T"][c] for c in used]), ego_K=plan["ego_K"], ego_T_world_cam=ego_T,
        ego_video=ego_video, extra={"scene_id": sel.physical_setting_uid or ""}).validate()
    paths = fmt.clip_paths(sel.split, cid, used)
    paths["depth"] = None
    err = 0
    for rel, frames in [(paths["ego_video"], ego_video), *zip(paths["exo_videos"], exo_video)]:
        write_video(out / rel, frames, fps=protocol.stored_fps)
        back = read_video(out / rel)
        err = max(err, int(np.abs(back.astype(np.int16) - frames.astype(np.int16)).max()))
    row = fmt.clip_row(clip, sel.split, paths, take_uid=sel.take_uid, take_name=sel.take_name,
                       start_frame=int(win.start), stride=int(win.stride), setting=sel.setting,
                       protocol_version=protocol.version)
    h = identity.clip_sha256_of_arrays(row, ego_video, exo_video, None)
    mrow = P.ManifestRow(cid, sel.take_uid, sel.split, int(win.start), int(win.stride), int(win.num_frames),
                         EGO_CAM, tuple(used), sel.category, sel.setting).to_dict()
    return row, h, mrow, err, f"videos/{sel.split}/{cid}"


def _convert_take_job(args):
    return _convert_take(*args)


# ----------------------------------------------------------------------------------------------------------------
# The build


def _record_path(out: Path, setting: str, take_uid: str) -> Path:
    return out / TAKE_RECORDS / setting / f"{take_uid}.json"


def _reusable(out: Path, rec: dict, sel: P.SelectedTake, protocol: P.Protocol) -> bool:
    return (rec.get("protocol_version") == protocol.version and rec.get("converter_version") == CONVERTER_VERSION
            and rec.get("split") == sel.split and rec.get("category") == sel.category
            and all((out / d).is_dir() for d in rec.get("clip_dirs", [])))


def build_exoego4d(root, out, *, categories=None, setting: str = "unseen-takes", workers: int = 1,
                   progress: bool = True, protocol: P.Protocol = P.PROTOCOL_V1):
    """Convert the Ego-Exo4D download at ``root`` into the ExoEgo4D dataset folder ``out`` (one setting).

    Args:
        categories: protocol category names (default: all five). setting: ``unseen-takes``,
            ``unseen-scenes`` or ``single-exo``. workers: takes converted in parallel (processes).
    Returns:
        ``(out as a Path, report dict)``; the report is also ``out/build_report.json``.
    """
    t_start = time.perf_counter()
    root, out = Path(root).expanduser().absolute(), Path(out).expanduser().absolute()
    cats = [c.name for c in protocol.categories] if categories is None else list(dict.fromkeys(categories))
    for c in cats:
        protocol.category(c)  # raises ProtocolError naming the known categories
    if setting not in protocol.settings:
        raise ConvertError(f"setting {setting!r} (--setting): expected one of {list(protocol.settings)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConvertError(f"workers (--workers) must be an integer >= 1, got {workers!r}")
    if not root.is_dir():
        raise ConvertError(f"--root {root}: no such folder; expected an Ego-Exo4D download")
    takes = _read_json(root / "takes.json", "takes.json")
    splits = _read_json(root / "annotations" / "splits.json", "annotations/splits.json")
    captures = _read_json(root / "captures.json", "captures.json") if (root / "captures.json").is_file() else []
    if not isinstance(takes, list):
        raise ConvertError(f"{root / 'takes.json'}: expected a list of takes")
    by_uid = {str(t.get("take_uid")): t for t in takes if isinstance(t, dict)}
    cap_by_uid = {c.get("capture_uid"): c for c in captures if isinstance(c, dict)} if isinstance(captures, list) \
        else {}
    worn = _ego_worn(captures)

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
            jobs.append((root, take, sel, worn.get(take.get("capture_uid"), []), out, protocol))

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
    sel_of = {j[2].take_uid: j[2] for j in jobs}
    for r in results:
        if "skip" in r:
            sel = sel_of[r["take_uid"]]
            reason = P.SkipReason(r["skip"])
            skipped.append({"take_uid": sel.take_uid, "take_name": sel.take_name, "category": sel.category,
                            "reason": reason.value, "text": reason.text, "detail": r["detail"]})
            _record_path(out, setting, sel.take_uid).unlink(missing_ok=True)
        else:
            # key order kept (not sorted): it is the parquet column order, the same for fresh and resumed takes
            fmt.atomic_write_bytes(_record_path(out, setting, r["take_uid"]), json.dumps(r).encode())
            records.append(r)

    report = _finish(out, root, records, skipped, resumed, cats, setting, protocol)
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
                "license": "other", "protocol": protocol.describe(),
                "protocol_manifest_identity": P.manifest_identity(mrows),
                "build": {"setting": setting, "categories": cats, "converter_version": CONVERTER_VERSION,
                          "camera_route": "trajectory"},
                "splits": entries}
    fmt.record_file_hashes(out, manifest)
    report = _report(records, skipped, resumed, cats, setting, protocol, entries,
                     manifest["protocol_manifest_identity"])
    fmt.write_card(out, manifest, dataset_card_text(manifest, report))
    fmt.write_manifest(out, manifest)
    return report


def _report(records, skipped, resumed, cats, setting, protocol, entries, manifest_identity) -> dict:
    return {"protocol_version": protocol.version, "setting": setting, "categories": cats,
            "takes_used": sorted(r["take_uid"] for r in records), "takes_resumed": sorted(resumed),
            "skipped": sorted(skipped, key=lambda s: (s["category"], s["take_uid"])),
            "skip_counts": dict(sorted(Counter(s["reason"] for s in skipped).items())),
            "windows": {r["take_uid"]: {"candidates": r["candidates"], "kept": len(r["rows"]),
                                        "rejected": r["windows_rejected"]} for r in records},
            "clips": {s: e["categories"] for s, e in entries.items()},
            "protocol_manifest_identity": manifest_identity}


def dataset_card_text(manifest: dict, report: dict) -> str:
    """Markdown body of the ExoEgo4D card (``hf_format.write_card`` adds the front matter and identities)."""
    p = manifest["protocol"]
    b = manifest["build"]
    counts = "\n".join(f"| {s} | {c} | {n} |" for s, cats in report["clips"].items() for c, n in cats.items())
    skips = ", ".join(f"{k}: {v}" for k, v in report["skip_counts"].items()) or "none"
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

- {p["num_frames"]} frames every {p["stride"]}-th frame of the 30 fps frame-aligned take videos
  ({p["span_sec"]:.2f} s), stored at {p["stored_fps"]:g} fps.
- Ego: Aria RGB undistorted (Fisheye624) to a {p["ego_size"][0]}x{p["ego_size"][1]} upright pinhole, f =
  {p["ego_focal_px"]:g} px, principal point at the centre; one pose per frame from the Aria trajectory.
- Exo: {p["n_exo_views"]} GoPro views (1 in `single-exo`) undistorted (Kannala-Brandt) to
  {p["exo_size"][0]}x{p["exo_size"][1]} pinholes whose K is the calibration's pinhole part scaled from 3840x2160.
- Cameras: camera-to-world `T_world_cam` (metres, OpenCV axes) in Ego-Exo4D's world frame (z up); K in pixels
  of the stored resolution. No depth.
- Categories: {", ".join(b["categories"])}; setting `{b["setting"]}`; configs per category are rows with that
  `category` (one parquet per split).

| split | category | clips |
|---|---|---|
{counts}

Skipped takes (reasons of the protocol, details in `{REPORT}`): {skips}.
"""
