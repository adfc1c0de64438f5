r"""The identity of a dataset: one sha256 defined over its **content**, the same on every machine.

A dataset directory also records the sha256 of every file (``manifest.json`` ``files``), but file bytes are
not content: a parquet writer of another version, an FFmpeg that stamps another muxer string, or a camera
value whose last bit came out differently on another CPU all change bytes without changing what is scored.
Results therefore name the data they were computed on by this content identity (``results.json``
``dataset.identity``), and scoring re-derives it from the files it reads.

Definition ``exoego-content-v1`` (also written in every dataset card):

* **Cameras** (``exo_K``, ``exo_T_world_cam``, ``ego_K``, ``ego_T_world_cam``) are stored rounded to
  ``CAMERA_DECIMALS = 9`` decimals (1 nm for translations in metres, 1e-9 for rotation entries and
  1e-9 px for intrinsics) by :func:`round_cameras`, and hashed as the int64 integers
  :math:`\mathrm{rint}(x \cdot 10^{9})` (little-endian) with their shape.
* **Videos** are hashed as their *decoded* frames: uint8 ``(T, H, W, 3)`` RGB, C order, with the shape;
  the container, codec settings and muxer metadata do not enter.
* **Depth** arrays (when a clip has them) are hashed as little-endian float32 with their name and shape.
* **Metadata**: every other column of the clip's parquet row except the file paths (``ego_video``,
  ``exo_videos``, ``depth``), as canonical JSON (sorted keys, Python's shortest round-trip float repr).
* A clip's sha256 is the sha256 of the canonical JSON document
  ``{"definition", "metadata", "cameras": {column: sha256}, "videos": {"ego": sha256, "exo": [sha256 per
  view, in exo_cam_ids order]}, "depth": {array: sha256} or null}``.
* A set of clips (a split, or the clips one run scored) has the sha256 of the text
  ``"exoego-content-v1\n"`` followed by one line ``"<clip_id>\t<clip sha256>\n"`` per clip, sorted by id.

Every dataset of the benchmark (SynthEgoExo, the ExoEgo4D conversion) uses this one definition; the
converters call :func:`round_cameras` before storing and :func:`clip_sha256` on what they stored.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

DEFINITION = "exoego-content-v1"
CAMERA_DECIMALS = 9
CAMERA_COLUMNS = ("exo_K", "exo_T_world_cam", "ego_K", "ego_T_world_cam")
PATH_COLUMNS = ("ego_video", "exo_videos", "depth")


def round_cameras(values) -> np.ndarray:
    """Camera values as stored: float64 rounded to ``CAMERA_DECIMALS`` decimals (any shape)."""
    return np.round(np.asarray(values, dtype=np.float64), CAMERA_DECIMALS)


def _sha256(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def frames_sha256(frames: np.ndarray) -> str:
    """sha256 of decoded video frames: uint8 (T, H, W, 3), hashed with their shape."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return _sha256(f"uint8{list(frames.shape)}\n".encode(), np.ascontiguousarray(frames).tobytes())


def cameras_sha256(values, shape=None) -> str:
    """sha256 of camera values at the stored precision: int64 ``rint(x * 10**CAMERA_DECIMALS)``."""
    x = np.asarray(values, dtype=np.float64)
    if shape is not None:
        x = x.reshape(shape)
    if not np.all(np.isfinite(x)):
        raise ValueError("camera values must be finite")
    q = np.rint(x * 10.0 ** CAMERA_DECIMALS).astype("<i8")
    return _sha256(f"cam{CAMERA_DECIMALS}{list(q.shape)}\n".encode(), q.tobytes())


def array_sha256(name: str, array: np.ndarray) -> str:
    """sha256 of a float array (depth) as little-endian float32 with its name and shape."""
    a = np.ascontiguousarray(np.asarray(array), dtype="<f4")
    return _sha256(f"{name}:float32{list(a.shape)}\n".encode(), a.tobytes())


def metadata_of(row: dict) -> dict:
    """The metadata part of a parquet row: everything but cameras and file paths."""
    return {k: v for k, v in row.items() if k not in CAMERA_COLUMNS and k not in PATH_COLUMNS}


def canonical_json(obj) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, ASCII, no NaN (the form every identity hashes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def clip_sha256(row: dict, *, ego: str, exo: list, depth: dict | None) -> str:
    """A clip's content sha256 from its parquet ``row`` and the sha256 of its decoded videos and depth.

    ``ego`` is :func:`frames_sha256` of the ego video, ``exo`` the list over views (``exo_cam_ids`` order),
    ``depth`` ``{array name: array_sha256}`` or None. Camera columns are read from the row (flat lists).
    """
    doc = {
        "definition": DEFINITION,
        "metadata": metadata_of(row),
        "cameras": {c: cameras_sha256(row[c]) for c in CAMERA_COLUMNS},
        "videos": {"ego": ego, "exo": list(exo)},
        "depth": None if depth is None else dict(sorted(depth.items())),
    }
    return _sha256(canonical_json(doc))


def clip_sha256_of_arrays(row: dict, ego_video: np.ndarray, exo_videos, depth_arrays: dict | None) -> str:
    """:func:`clip_sha256` from the decoded arrays themselves (what builders and the loader hold)."""
    return clip_sha256(row, ego=frames_sha256(ego_video), exo=[frames_sha256(v) for v in exo_videos],
                       depth=None if depth_arrays is None else
                       {k: array_sha256(k, v) for k, v in depth_arrays.items()})


def set_identity(clip_hashes: dict) -> str:
    """Identity of a set of clips: sha256 over ``"<clip_id>\\t<clip sha256>\\n"`` lines sorted by id."""
    if not clip_hashes:
        raise ValueError("the identity of an empty set of clips is undefined")
    lines = "".join(f"{cid}\t{clip_hashes[cid]}\n" for cid in sorted(clip_hashes))
    return _sha256(f"{DEFINITION}\n".encode(), lines.encode())
