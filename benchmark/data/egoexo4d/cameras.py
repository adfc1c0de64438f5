"""Readers of Ego-Exo4D's camera files, returning cameras in the project's convention.

Every pose returned here is camera-to-world ``T_world_cam`` (4x4 float64, metres, OpenCV camera axes) in
Ego-Exo4D's own world frame (gravity-aligned, z up), as ``benchmark.cameras`` defines it. What the files hold:

* ``takes/<take>/trajectory/gopro_calibs.csv`` (route 2, exo): one row per GoPro, ``tx/ty/tz_world_cam`` and
  the Hamilton quaternion ``qx/qy/qz/qw_world_cam`` of the camera-to-world pose, ``KANNALABRANDTK3``
  intrinsics ``intrinsics_0..7 = fx, fy, cx, cy, k1..k4`` at ``image_width x image_height`` (3840x2160),
  ``start_frame_idx``/``end_frame_idx`` (-1/-1 when absent) and, in newer files, ``quality``
  (projectaria-tools ``StaticCameraCalibrationReader.cpp``).
* ``annotations/ego_pose/<split>/camera_pose/<take_uid>.json`` (route 1): per exo camera
  ``camera_intrinsics`` (3x3, of the *undistorted* 3840x2160 image), ``camera_extrinsics`` (3x4
  **world-to-camera**) and ``distortion_coeffs`` (k1..k4); per Aria camera (``aria01``) the intrinsics of the
  undistorted 512x512 landscape pinhole (f = 150) and ``camera_extrinsics`` ``{"<frame index>": 3x4}``.
* ``takes/<take>/trajectory/online_calibration.jsonl`` (route 2, Aria): one JSON record per line with
  ``tracking_timestamp_us`` and ``CameraCalibrations[]``; the ``camera-rgb`` entry has
  ``Projection{Name: FisheyeRadTanThinPrism, Params[15]}`` (for 2880x2880) and
  ``T_Device_Camera{Translation[3], UnitQuaternion: [w, [x, y, z]]}`` (projectaria-tools
  ``SensorCalibrationJson.cpp``, ``OnlineCalibrationsReader.cpp``).
* ``takes/<take>/trajectory/closed_loop_trajectory.csv``: ``tracking_timestamp_us``, ``tx/ty/tz_world_device``,
  ``qx/qy/qz/qw_world_device``, ... (projectaria-tools ``TrajectoryReaders.cpp``): the pose of the Aria
  *device*; the RGB camera is ``T_world_rgb = T_world_device @ T_device_rgb``.

Malformed input raises :class:`CameraFileError` (a ``benchmark.errors.UsageError``) naming the file, the row
or key and what was expected. The camera models and undistortion live in
``benchmark.data.egoexo4d.projection``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import portable_math as pm
from benchmark.errors import UsageError

QUATERNION_UNIT_TOLERANCE = 1e-4  # | |q| - 1 | above this is an error; below it, q is normalized
ROTATION_ORTHONORMAL_TOLERANCE = 1e-4  # max |R R^T - I| of a rotation read from a file
EGO_POSE_EXO_SIZE = (3840, 2160)  # the undistorted exo image the ego-pose intrinsics refer to
EGO_POSE_ARIA_SIZE = (512, 512)  # the undistorted Aria pinhole (landscape) the ego-pose intrinsics refer to
ARIA_RGB_CALIB_SIZE = (2880, 2880)  # the Aria RGB sensor size the online calibration refers to (no ImageSizes)


class CameraFileError(UsageError):
    """A camera file of the Ego-Exo4D download is malformed; the message names the file, row or key and what
    was expected."""


def _err(path, where: str, what: str) -> CameraFileError:
    return CameraFileError(f"{path}: {where}: {what}")


# ----------------------------------------------------------------------------------------------------------------
# Rotations and poses


def quaternion_to_rotation(q_xyzw, tolerance: float = QUATERNION_UNIT_TOLERANCE) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of Hamilton quaternions (..., 4) given as ``(x, y, z, w)``.

    A quaternion whose norm differs from 1 by more than ``tolerance`` raises ``ValueError`` (files store unit
    quaternions; anything else is a corrupted or mis-ordered row); within it, ``q`` is normalized. Written
    with elementwise arithmetic and ``sqrt`` only, so the result is the same on every CPU.
    """
    q = np.asarray(q_xyzw, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise ValueError(f"quaternion: expected shape (..., 4) as (x, y, z, w), got {q.shape}")
    norm = np.sqrt(q[..., 0] * q[..., 0] + q[..., 1] * q[..., 1] + q[..., 2] * q[..., 2] + q[..., 3] * q[..., 3])
    bad = ~(np.abs(norm - 1.0) <= tolerance)
    if np.any(bad):
        raise ValueError(f"quaternion (x, y, z, w) = {q[bad][0].tolist()} has norm {norm[bad][0]!r}; "
                         f"expected a unit quaternion (tolerance {tolerance})")
    x, y, z, w = (q[..., i] / norm for i in range(4))
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - z * w)
    R[..., 0, 2] = 2 * (x * z + y * w)
    R[..., 1, 0] = 2 * (x * y + z * w)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - x * w)
    R[..., 2, 0] = 2 * (x * z - y * w)
    R[..., 2, 1] = 2 * (y * z + x * w)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def pose_from_quaternion(q_xyzw, t) -> np.ndarray:
    """4x4 rigid transform(s) (..., 4, 4) from a Hamilton quaternion (..., 4) ``(x, y, z, w)`` and a translation
    (..., 3)."""
    R = quaternion_to_rotation(q_xyzw)
    t = np.asarray(t, dtype=np.float64)
    T = np.zeros(R.shape[:-2] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def check_rotation(R, tolerance: float = ROTATION_ORTHONORMAL_TOLERANCE) -> None:
    """Raise ``ValueError`` unless ``R`` (..., 3, 3) is orthonormal (within ``tolerance``) with determinant +1."""
    R = np.asarray(R, dtype=np.float64)
    err = np.abs(pm.matmul(R, np.swapaxes(R, -1, -2)) - np.eye(3)).max() if R.size else 0.0
    if not err <= tolerance:
        raise ValueError(f"rotation is not orthonormal: max |R R^T - I| = {err:.3g} (tolerance {tolerance})")
    det = (R[..., 0, 0] * (R[..., 1, 1] * R[..., 2, 2] - R[..., 1, 2] * R[..., 2, 1])
           - R[..., 0, 1] * (R[..., 1, 0] * R[..., 2, 2] - R[..., 1, 2] * R[..., 2, 0])
           + R[..., 0, 2] * (R[..., 1, 0] * R[..., 2, 1] - R[..., 1, 1] * R[..., 2, 0]))
    if np.any(det <= 0):
        raise ValueError("rotation has determinant -1 (a reflection), expected +1")


def world_to_camera_to_T_world_cam(extrinsics) -> np.ndarray:
    """``T_world_cam`` (..., 4, 4) from world-to-camera ``[R | t]`` (..., 3, 4): ``[[R^T, -R^T t], [0, 1]]``."""
    E = np.asarray(extrinsics, dtype=np.float64)
    if E.shape[-2:] != (3, 4):
        raise ValueError(f"extrinsics: expected shape (..., 3, 4), got {E.shape}")
    check_rotation(E[..., :3])
    Rt = np.swapaxes(E[..., :3], -1, -2)
    T = np.zeros(E.shape[:-2] + (4, 4))
    T[..., :3, :3] = Rt
    T[..., :3, 3] = -pm.matmul(Rt, E[..., 3:4])[..., 0]
    T[..., 3, 3] = 1.0
    return T


# ----------------------------------------------------------------------------------------------------------------
# CSV helpers


def _read_csv(path, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise _err(path, "header", f"missing column(s) {missing}; expected at least {list(required)}")
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise CameraFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise _err(path, "file", f"not a text CSV file ({e})") from None
    if not rows:
        raise _err(path, "file", "no data rows")
    return rows


def _num(path, line: int, row: dict, column: str, kind=float):
    value = row.get(column)
    try:
        x = kind(value)
    except (TypeError, ValueError):
        raise _err(path, f"line {line}, column {column!r}",
                   f"expected {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if kind is float and not math.isfinite(x):
        raise _err(path, f"line {line}, column {column!r}", f"expected a finite number, got {value!r}")
    return x


def _pose_from_row(path, line, row, suffix: str) -> np.ndarray:
    t = [_num(path, line, row, f"t{a}_{suffix}") for a in "xyz"]
    q = [_num(path, line, row, f"q{a}_{suffix}") for a in "xyzw"]
    try:
        return pose_from_quaternion(q, t)
    except ValueError as e:
        raise _err(path, f"line {line}, columns qx..qw_{suffix}", str(e)) from None


# ----------------------------------------------------------------------------------------------------------------
# Fast column reading: pyarrow's C CSV reader where it reads a file exactly as csv.DictReader + int / float do


def fast_csv_columns(path, columns=None) -> tuple[list[str], dict] | None:
    """``(header, {column: pyarrow ChunkedArray of str, null for an empty cell})`` of a CSV file, for the
    header's columns among ``columns`` (None: all of them), split by pyarrow's C reader.

    None wherever that split could differ from ``csv.DictReader``'s (the reader of every caller's fallback):
    a file that cannot be read, bytes outside ASCII (DictReader decodes with the locale's codec; pyarrow would
    also drop a byte-order mark), any ``"`` (quoting rules differ in corner cases, e.g. a line end inside
    quotes) or NUL byte (older Pythons' csv refuses it), an empty or repeated header name, rows with more or
    fewer cells than the header (pyarrow refuses them; DictReader pads / collects them). Otherwise both split
    rows at ``\n``, ``\r\n`` and ``\r`` and cells at ``,``, skip empty lines and keep a line of spaces as a row
    (here of one cell: refused).
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency (parquet); without it, the fallback reads
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data.isascii() or b'"' in data or b"\0" in data:
        return None
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    names = data[:min(ends) if ends else len(data)].decode("ascii").split(",")
    if "" in names or len(set(names)) != len(names):
        return None
    wanted = names if columns is None else [c for c in names if c in set(columns)]
    # one thread: the converter runs takes in parallel processes, and on a 300k-row trajectory the threaded
    # reader was no faster on 2 busy CPUs and peaked ~100 MiB higher (0.47 s, 290 MiB vs 0.64 s, 400 MiB)
    read = pcsv.ReadOptions(use_threads=False)
    convert = pcsv.ConvertOptions(column_types={c: pa.string() for c in wanted}, include_columns=wanted,
                                  null_values=[""], strings_can_be_null=True)
    try:
        table = pcsv.read_csv(pa.py_buffer(data), read_options=read, convert_options=convert)
    except (pa.ArrowException, ValueError):
        return None
    if table.column_names != wanted:
        return None
    return names, {c: table[c] for c in wanted}


def decimal_floats(cells, allow_empty: bool = True) -> np.ndarray | None:
    """float64 (N,) of string cells (:func:`fast_csv_columns`), empty cells NaN; None unless every other cell is
    a finite number pyarrow parses (no spaces, ``_``, hexadecimal...; it rounds decimal text correctly, as
    Python's ``float`` does, so the bits are ``float(cell)``'s), or when ``allow_empty`` is False and a cell
    is empty. Callers read the column the slow way where this is None: the result never differs from it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not allow_empty and cells.null_count:
        return None
    try:
        values = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)  # nulls -> NaN
    except (pa.ArrowException, ValueError):
        return None
    if cells.null_count != np.count_nonzero(~np.isfinite(values)):  # "nan", "inf" cells: the slow way decides
        return None
    return np.ascontiguousarray(values, dtype=np.float64)


def decimal_ints(cells) -> np.ndarray | None:
    """int64 (N,) of string cells that are all plain decimal integers (``-?[0-9]+``, what Python's ``int``
    reads the same; pyarrow would also take hexadecimal ``0x..``); None otherwise (an empty cell, another
    form, overflow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if cells.null_count or pc.all(pc.match_substring_regex(cells, r"^-?[0-9]+$")).as_py() is False:
        return None
    try:
        return np.ascontiguousarray(pc.cast(cells, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    except (pa.ArrowException, ValueError):
        return None


# ----------------------------------------------------------------------------------------------------------------
# gopro_calibs.csv


@dataclass(frozen=True)
class ExoCalib:
    """One GoPro of ``gopro_calibs.csv``.

    Attributes:
        cam_uid: camera name as in the take's ``frame_aligned_videos`` (``cam01``, ``gp01``...).
        T_world_cam: (4, 4) camera-to-world. K_raw: (3, 3) fisheye pinhole part, pixels of ``size``.
        dist: (4,) Kannala-Brandt ``k1..k4``. size: ``(W, H)`` of the calibrated image (3840x2160).
        start_frame_idx, end_frame_idx: the stationary period the calibration holds for (None when -1).
        quality: the file's ``quality`` column (None when absent; tutorials use only 1.0).
    """

    cam_uid: str
    T_world_cam: np.ndarray
    K_raw: np.ndarray
    dist: np.ndarray
    size: tuple[int, int]
    start_frame_idx: int | None
    end_frame_idx: int | None
    quality: float | None
    graph_uid: str = ""

    @property
    def kb_params(self) -> np.ndarray:
        """``(fx, fy, cx, cy, k1..k4)``, the parameter layout of ``projection.undistort_maps``."""
        return np.concatenate([[self.K_raw[0, 0], self.K_raw[1, 1], self.K_raw[0, 2], self.K_raw[1, 2]], self.dist])


GOPRO_COLUMNS = ("cam_uid", "tx_world_cam", "ty_world_cam", "tz_world_cam", "qx_world_cam", "qy_world_cam",
                 "qz_world_cam", "qw_world_cam", "image_width", "image_height", "intrinsics_type",
                 *(f"intrinsics_{i}" for i in range(8)), "start_frame_idx", "end_frame_idx")


def read_gopro_calibs(path) -> dict[str, ExoCalib]:
    """``{cam_uid: ExoCalib}`` from a take's ``trajectory/gopro_calibs.csv``, in file order."""
    out: dict[str, ExoCalib] = {}
    for line, row in _read_csv(path, GOPRO_COLUMNS):
        cam = (row.get("cam_uid") or "").strip()
        if not cam:
            raise _err(path, f"line {line}, column 'cam_uid'", "expected a camera name, got an empty value")
        if cam in out:
            raise _err(path, f"line {line}, column 'cam_uid'", f"camera {cam!r} appears twice")
        kind = (row.get("intrinsics_type") or "").strip()
        if kind != "KANNALABRANDTK3":
            raise _err(path, f"line {line}, column 'intrinsics_type'", f"expected 'KANNALABRANDTK3', got {kind!r}")
        T = _pose_from_row(path, line, row, "world_cam")
        p = [_num(path, line, row, f"intrinsics_{i}") for i in range(8)]
        if p[0] <= 0 or p[1] <= 0:
            raise _err(path, f"line {line}, columns intrinsics_0/1", f"expected positive fx, fy, got {p[:2]}")
        width = _num(path, line, row, "image_width", int)
        height = _num(path, line, row, "image_height", int)
        if width <= 0 or height <= 0:
            raise _err(path, f"line {line}, columns image_width/height", f"expected positive, got {width}x{height}")
        start = _num(path, line, row, "start_frame_idx", int)
        end = _num(path, line, row, "end_frame_idx", int)
        if not ((start == -1 and end == -1) or (0 <= start <= end)):
            raise _err(path, f"line {line}, columns start_frame_idx/end_frame_idx",
                       f"expected -1/-1 or 0 <= start <= end, got {start}/{end}")
        quality = None
        if row.get("quality") not in (None, ""):
            quality = _num(path, line, row, "quality")
        out[cam] = ExoCalib(
            cam_uid=cam, T_world_cam=T,
            K_raw=np.array([[p[0], 0.0, p[2]], [0.0, p[1], p[3]], [0.0, 0.0, 1.0]]), dist=np.array(p[4:]),
            size=(width, height), start_frame_idx=None if start < 0 else start,
            end_frame_idx=None if end < 0 else end, quality=quality, graph_uid=(row.get("graph_uid") or ""))
    return out


# ----------------------------------------------------------------------------------------------------------------
# ego-pose camera_pose/<take_uid>.json (route 1)


@dataclass(frozen=True)
class EgoPoseExoCamera:
    """An exo camera of an ego-pose ``camera_pose`` file: ``K`` (3, 3) of the undistorted image of ``size``
    (OpenCV ``estimateNewCameraMatrixForUndistortRectify`` of the raw fisheye), ``dist`` (4,) the fisheye
    ``k1..k4`` of the raw camera, ``T_world_cam`` (4, 4)."""

    cam_id: str
    K: np.ndarray
    dist: np.ndarray
    T_world_cam: np.ndarray
    size: tuple[int, int] = EGO_POSE_EXO_SIZE


@dataclass(frozen=True)
class EgoPoseAriaCamera:
    """The Aria camera of a ``camera_pose`` file: ``K`` (3, 3) of the undistorted landscape pinhole of ``size``,
    ``frame_indices`` (N,) int64 sorted (frame ``i`` of the take's frame-aligned videos) and ``T_world_cam``
    (N, 4, 4), one pose per listed frame (the files skip some frames). ``frame_keys``: every key of the file as
    written, in file order, including keys that are not non-negative integers (left out of ``frame_indices``):
    whether they are usable frame indices is the protocol's ``check_frame_index_origin``, not a file error."""

    cam_id: str
    K: np.ndarray
    frame_indices: np.ndarray
    T_world_cam: np.ndarray
    size: tuple[int, int] = EGO_POSE_ARIA_SIZE
    frame_keys: tuple = ()


@dataclass(frozen=True)
class EgoPoseCameras:
    take_uid: str | None
    take_name: str | None
    exo: dict[str, EgoPoseExoCamera]
    aria: dict[str, EgoPoseAriaCamera]


def _matrix(path, key: str, value, shape) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        a = None
    if a is None or a.shape != shape or not np.all(np.isfinite(a)):
        got = getattr(a, "shape", None) if a is not None else type(value).__name__
        raise _err(path, f"key {key}", f"expected a finite {shape[0]}x{shape[1]} matrix, got {got}")
    return a


def _intrinsics(path, key: str, value) -> np.ndarray:
    K = _matrix(path, key, value, (3, 3))
    if K[2].tolist() != [0.0, 0.0, 1.0] or K[1, 0] != 0 or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise _err(path, f"key {key}", f"expected pinhole intrinsics [[fx,s,cx],[0,fy,cy],[0,0,1]], got {K.tolist()}")
    return K


def _world_to_cam(path, key: str, value) -> np.ndarray:
    E = _matrix(path, key, value, (3, 4))
    try:
        return world_to_camera_to_T_world_cam(E)
    except ValueError as e:
        raise _err(path, f"key {key}", str(e)) from None


def read_ego_pose_cameras(path) -> EgoPoseCameras:
    """Cameras of an ``annotations/ego_pose/<split>/camera_pose/<take_uid>.json`` file.

    Entries whose ``camera_extrinsics`` is a 3x4 matrix are exo cameras; entries where it is a mapping from
    frame index to 3x4 matrix are Aria cameras. Extrinsics are world-to-camera and are inverted here.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise CameraFileError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _err(path, "file", f"not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise _err(path, "top level", f"expected an object of cameras, got {type(doc).__name__}")
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    exo: dict[str, EgoPoseExoCamera] = {}
    aria: dict[str, EgoPoseAriaCamera] = {}
    for cam, entry in doc.items():
        if cam == "metadata":
            continue
        if not isinstance(entry, dict) or "camera_intrinsics" not in entry or "camera_extrinsics" not in entry:
            raise _err(path, f"key {cam}", "expected an object with 'camera_intrinsics' and 'camera_extrinsics'")
        K = _intrinsics(path, f"{cam}.camera_intrinsics", entry["camera_intrinsics"])
        ext = entry["camera_extrinsics"]
        if isinstance(ext, dict):
            if not ext:
                raise _err(path, f"key {cam}.camera_extrinsics", "expected at least one frame")
            frames, poses = [], []
            for frame_key, E in ext.items():
                T = _world_to_cam(path, f"{cam}.camera_extrinsics.{frame_key}", E)
                if str(frame_key).strip().isdigit():  # other keys stay in frame_keys for the protocol's check
                    frames.append(int(frame_key))
                    poses.append(T)
            order = np.argsort(frames, kind="stable")
            aria[cam] = EgoPoseAriaCamera(cam_id=cam, K=K, frame_indices=np.asarray(frames, dtype=np.int64)[order],
                                          T_world_cam=np.stack(poses)[order] if poses else np.zeros((0, 4, 4)),
                                          frame_keys=tuple(ext))
        else:
            if "distortion_coeffs" not in entry:
                raise _err(path, f"key {cam}",
                           "expected 'distortion_coeffs' (4 fisheye coefficients) for an exo camera")
            dist = np.asarray(entry["distortion_coeffs"], dtype=np.float64) \
                if isinstance(entry["distortion_coeffs"], list) else np.zeros(0)
            if dist.shape != (4,) or not np.all(np.isfinite(dist)):
                raise _err(path, f"key {cam}.distortion_coeffs",
                           f"expected 4 finite numbers, got {entry['distortion_coeffs']!r}")
            exo[cam] = EgoPoseExoCamera(cam_id=cam, K=K, dist=dist,
                                        T_world_cam=_world_to_cam(path, f"{cam}.camera_extrinsics", ext))
    return EgoPoseCameras(take_uid=meta.get("take_uid"), take_name=meta.get("take_name"), exo=exo, aria=aria)


# ----------------------------------------------------------------------------------------------------------------
# Aria: online_calibration.jsonl and closed_loop_trajectory.csv (route 2)


@dataclass(frozen=True)
class AriaRgbCalib:
    """The ``camera-rgb`` entry of one online calibration record: ``params`` (15,) Fisheye624
    ``f, cx, cy, k0..k5, p0, p1, s0..s3`` in pixels of ``size`` (the landscape sensor image), and
    ``T_device_cam`` (4, 4) camera-to-device."""

    tracking_timestamp_us: int
    params: np.ndarray
    T_device_cam: np.ndarray
    size: tuple[int, int] = ARIA_RGB_CALIB_SIZE


def _parse_se3(path, where: str, value) -> np.ndarray:
    try:
        t = [float(x) for x in value["Translation"]]
        qw = float(value["UnitQuaternion"][0])
        qxyz = [float(x) for x in value["UnitQuaternion"][1]]
        if len(t) != 3 or len(qxyz) != 3 or len(value["UnitQuaternion"]) != 2:
            raise ValueError
    except (KeyError, TypeError, ValueError, IndexError):
        raise _err(path, where, "expected {'Translation': [x, y, z], 'UnitQuaternion': [w, [x, y, z]]}") from None
    try:
        return pose_from_quaternion(qxyz + [qw], t)
    except ValueError as e:
        raise _err(path, where + ".UnitQuaternion", str(e)) from None


def _legacy_json(text: str):
    # records written before June 2023 hold the calibrations as a Python-repr string
    return json.loads(text.replace("True", "true").replace("False", "false").replace("'", '"'))


def read_online_calibration_rgb(path, label: str = "camera-rgb") -> list[AriaRgbCalib]:
    """The RGB camera's calibration from every record of ``online_calibration.jsonl``, sorted by time."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise CameraFileError(f"{path}: file not found") from None
    out = []
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"line {n}"
        try:
            record = json.loads(text)
            cams = record["CameraCalibrations"]
            if isinstance(cams, str):
                cams = _legacy_json(cams)
            ts = int(record["tracking_timestamp_us"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise _err(path, where, f"expected a JSON record with 'tracking_timestamp_us' and 'CameraCalibrations' "
                                    f"({type(e).__name__}: {e})") from None
        if not isinstance(cams, list):
            raise _err(path, where + ", key CameraCalibrations", "expected a list of camera calibrations")
        index = next((i for i, c in enumerate(cams) if isinstance(c, dict) and c.get("Label") == label), None)
        if index is None:
            raise _err(path, where + ", key CameraCalibrations", f"no entry with Label {label!r}")
        cam = cams[index]
        key = f"{where}, key CameraCalibrations[{index}]"
        projection = cam.get("Projection") if isinstance(cam.get("Projection"), dict) else {}
        if projection.get("Name") != "FisheyeRadTanThinPrism":
            raise _err(path, key + ".Projection.Name",
                       f"expected 'FisheyeRadTanThinPrism', got {projection.get('Name')!r}")
        try:
            params = np.asarray(projection.get("Params"), dtype=np.float64)
        except (TypeError, ValueError):
            params = np.zeros(0)
        if params.shape != (15,) or not np.all(np.isfinite(params)) or params[0] <= 0:
            raise _err(path, key + ".Projection.Params",
                       f"expected 15 finite numbers f, cx, cy, k0..k5, p0, p1, s0..s3 with f > 0, "
                       f"got {projection.get('Params')!r}")
        size = ARIA_RGB_CALIB_SIZE
        sizes = record.get("ImageSizes")
        if isinstance(sizes, list) and index < len(sizes):
            try:
                size = (int(sizes[index][0]), int(sizes[index][1]))
            except (TypeError, ValueError, IndexError):
                raise _err(path, f"{where}, key ImageSizes[{index}]", "expected [width, height]") from None
        out.append(AriaRgbCalib(tracking_timestamp_us=ts, params=params,
                                T_device_cam=_parse_se3(path, key + ".T_Device_Camera", cam.get("T_Device_Camera")),
                                size=size))
    if not out:
        raise _err(path, "file", "no calibration records")
    return sorted(out, key=lambda c: c.tracking_timestamp_us)


def nearest_calibration(calibs: list[AriaRgbCalib], timestamp_us: int) -> AriaRgbCalib:
    """The record of :func:`read_online_calibration_rgb` closest in time to ``timestamp_us``."""
    ts = np.array([c.tracking_timestamp_us for c in calibs], dtype=np.int64)
    return calibs[int(_nearest_index(ts, np.asarray([timestamp_us], dtype=np.int64))[0])]


def _nearest_index(sorted_ts: np.ndarray, query: np.ndarray) -> np.ndarray:
    right = np.clip(np.searchsorted(sorted_ts, query), 1, len(sorted_ts) - 1) if len(sorted_ts) > 1 else \
        np.zeros(query.shape, dtype=np.int64)
    if len(sorted_ts) == 1:
        return right
    left = right - 1
    # ties go to the earlier sample
    return np.where(query - sorted_ts[left] <= sorted_ts[right] - query, left, right)


@dataclass(frozen=True)
class ClosedLoopTrajectory:
    """Aria device poses: ``timestamps_us`` (N,) int64 strictly increasing, ``T_world_device`` (N, 4, 4),
    ``quality`` (N,) (``quality_score`` column, NaN when absent)."""

    path: str
    timestamps_us: np.ndarray
    T_world_device: np.ndarray
    quality: np.ndarray

    def nearest(self, timestamps_us, max_gap_us: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Indices (M,) and poses (M, 4, 4) of the samples nearest to ``timestamps_us`` (M,).

        Raises :class:`CameraFileError` if a query is farther than ``max_gap_us`` from every sample (a gap in the
        trajectory, or a time outside it)."""
        q = np.atleast_1d(np.asarray(timestamps_us, dtype=np.int64))
        idx = _nearest_index(self.timestamps_us, q)
        if max_gap_us is not None:
            gap = np.abs(self.timestamps_us[idx] - q)
            if np.any(gap > max_gap_us):
                i = int(np.argmax(gap > max_gap_us))
                raise _err(self.path, "tracking_timestamp_us",
                           f"no pose within {max_gap_us} us of {int(q[i])} us (nearest is {int(gap[i])} us away)")
        return idx, self.T_world_device[idx]


TRAJECTORY_COLUMNS = ("tracking_timestamp_us", "tx_world_device", "ty_world_device", "tz_world_device",
                      "qx_world_device", "qy_world_device", "qz_world_device", "qw_world_device")


def read_closed_loop_trajectory(path) -> ClosedLoopTrajectory:
    """Device poses from ``closed_loop_trajectory.csv`` (timestamps must increase strictly).

    Real files are 1 kHz for the whole take (a 5-minute take is ~300k rows x ~20 columns), so the columns are
    split and parsed by pyarrow's C reader and the poses computed for all rows at once (~30x faster than row by
    row). The result is the same bits as the row-by-row reader's: both parsers round decimal text correctly to
    the nearest double, and the pose arithmetic is elementwise. Where the fast path cannot vouch for a file
    (see :func:`fast_csv_columns`, :func:`decimal_floats`) or finds it invalid, :func:`_read_trajectory_rows`
    reads it, which also gives the precise error (line, column)."""
    fast = _read_trajectory_fast(Path(path))
    return fast if fast is not None else _read_trajectory_rows(path)


def _read_trajectory_fast(path: Path) -> ClosedLoopTrajectory | None:
    """:func:`read_closed_loop_trajectory` by columns; None where the row-by-row reader must decide."""
    got = fast_csv_columns(path, (*TRAJECTORY_COLUMNS, "quality_score"))
    if got is None or any(c not in got[1] for c in TRAJECTORY_COLUMNS):
        return None
    cells = got[1]
    ts = decimal_ints(cells["tracking_timestamp_us"])
    if ts is None or not len(ts) or np.any(ts[1:] <= ts[:-1]):
        return None
    values = [decimal_floats(cells[c], allow_empty=False) for c in TRAJECTORY_COLUMNS[1:]]
    quality = decimal_floats(cells["quality_score"]) if "quality_score" in cells else np.full(len(ts), np.nan)
    if any(v is None for v in values) or quality is None:
        return None
    try:
        T = pose_from_quaternion(np.stack(values[3:], -1), np.stack(values[:3], -1))
    except ValueError:
        return None  # a quaternion that is not a unit one: the row-by-row reader names its line
    return ClosedLoopTrajectory(path=str(path), timestamps_us=ts, T_world_device=T, quality=quality)


def _read_trajectory_rows(path) -> ClosedLoopTrajectory:
    """The row-by-row reader of ``closed_loop_trajectory.csv`` (``csv.DictReader``, Python ``int`` / ``float``):
    the reference the fast path must equal, and the reader of every file the fast path leaves to it."""
    rows = _read_csv(path, TRAJECTORY_COLUMNS)
    ts = np.empty(len(rows), dtype=np.int64)
    T = np.empty((len(rows), 4, 4))
    quality = np.full(len(rows), np.nan)
    for i, (line, row) in enumerate(rows):
        ts[i] = _num(path, line, row, "tracking_timestamp_us", int)
        if i and ts[i] <= ts[i - 1]:
            raise _err(path, f"line {line}, column 'tracking_timestamp_us'",
                       f"expected strictly increasing timestamps, got {ts[i]} after {ts[i - 1]}")
        T[i] = _pose_from_row(path, line, row, "world_device")
        if row.get("quality_score") not in (None, ""):
            quality[i] = _num(path, line, row, "quality_score")
    return ClosedLoopTrajectory(path=str(path), timestamps_us=ts, T_world_device=T, quality=quality)


def aria_rgb_poses(trajectory: ClosedLoopTrajectory, T_device_rgb, timestamps_us,
                   max_gap_us: int | None = 1000) -> np.ndarray:
    """``T_world_rgb = T_world_device @ T_device_rgb`` (M, 4, 4) at the trajectory samples nearest to
    ``timestamps_us`` (M,); the trajectory is 1 kHz, so the default ``max_gap_us`` is one millisecond."""
    _, T_world_device = trajectory.nearest(timestamps_us, max_gap_us)
    return pm.matmul(T_world_device, np.asarray(T_device_rgb, dtype=np.float64))
