"""The sample schema shared by every dataset (synthetic and ExoEgo4D) and every generator.

``ExoEgoClip`` holds a whole clip with its ground truth. Generators never see it: the runner hands them
an ``ExoEgoInputs`` (built by :func:`ExoEgoClip.inputs`), a separate type with no ``ego_video`` field, so
ground truth cannot leak by accident. In the ``first-frame`` track the inputs also carry the true first
ego frame; the default track is ``exo-only``.

Shapes (V exo views, T frames):

==================  ======================  =========================================================
field               dtype / shape           meaning
==================  ======================  =========================================================
exo_video           uint8 (V, T, He, We, 3)  RGB frames of the static exo cameras
exo_cam_ids         list[str] (V)            camera names, e.g. ``cam01``
exo_K               float64 (V, 3, 3)        intrinsics in pixels of the stored exo resolution
exo_T_world_cam     float64 (V, 4, 4) or     camera-to-world, OpenCV axes, metres
                    (V, T, 4, 4)
ego_K               float64 (3, 3)           intrinsics of the ego camera (stored resolution)
ego_T_world_cam     float64 (T, 4, 4)        per-frame camera-to-world of the ego camera
ego_video           uint8 (T, H, W, 3)       ground truth (clip only)
exo_depth           float32 (V, T, He, We)   optional z-depth of the exo views, metres (0 = no hit)
ego_depth           float32 (T, H, W)        optional ground-truth z-depth of the ego view (clip only)
==================  ======================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Optional

import numpy as np

TRACKS = ("exo-only", "first-frame")


class ClipValidationError(ValueError):
    """A clip (or generator output) does not match the schema; the message names the clip and the field."""


@dataclass(frozen=True)
class ExoEgoInputs:
    """What a generator may see of a clip: everything except the ground-truth ego video and depth."""

    clip_id: str
    category: str
    fps: float
    text: str
    exo_video: np.ndarray
    exo_cam_ids: list
    exo_K: np.ndarray
    exo_T_world_cam: np.ndarray
    ego_K: np.ndarray
    ego_T_world_cam: np.ndarray
    ego_height: int
    ego_width: int
    num_frames: int
    track: str = "exo-only"
    ego_first_frame: Optional[np.ndarray] = None  # uint8 (H, W, 3), only in the first-frame track
    exo_depth: Optional[np.ndarray] = None

    @property
    def num_views(self) -> int:
        return int(self.exo_video.shape[0])

    def exo_T_world_cam_per_frame(self) -> np.ndarray:
        """Exo extrinsics broadcast to (V, T, 4, 4) whether stored static or per frame."""
        T = self.exo_T_world_cam
        if T.ndim == 3:
            T = np.broadcast_to(T[:, None], (T.shape[0], self.num_frames, 4, 4))
        return T

    def closest_exo_view(self, frame: int | None = None) -> int:
        """Index of the exo view whose viewing direction (camera +z) has the largest cosine with the ego's.

        ``frame=None`` compares directions averaged over the clip (one choice for the whole clip); an int
        compares at that frame (e.g. 0 for a first-frame condition).
        """
        return self.exo_views_closest_first(frame)[0]

    def exo_views_closest_first(self, frame: int | None = None) -> list:
        """Every exo view index, by decreasing cosine between its viewing direction and the ego's (ties: lower
        index first); ``frame`` as in :meth:`closest_exo_view`, whose choice is the first of this list."""
        ego_z = self.ego_T_world_cam[:, :3, 2]  # (T, 3)
        exo_z = self.exo_T_world_cam_per_frame()[..., :3, 2]  # (V, T, 3)
        if frame is None:
            ego_dir, exo_dirs = ego_z.mean(axis=0), exo_z.mean(axis=1)
        else:
            ego_dir, exo_dirs = ego_z[frame], exo_z[:, frame]
        ego_dir = ego_dir / np.linalg.norm(ego_dir)
        exo_dirs = exo_dirs / np.linalg.norm(exo_dirs, axis=-1, keepdims=True)
        return [int(v) for v in np.argsort(-(exo_dirs @ ego_dir), kind="stable")]

    def select_views(self, indices) -> "ExoEgoInputs":
        """The same inputs restricted to the exo views ``indices`` (for missing-view experiments)."""
        idx = list(indices)
        return replace(
            self,
            exo_video=self.exo_video[idx],
            exo_cam_ids=[self.exo_cam_ids[i] for i in idx],
            exo_K=self.exo_K[idx],
            exo_T_world_cam=self.exo_T_world_cam[idx],
            exo_depth=None if self.exo_depth is None else self.exo_depth[idx],
        )

    def with_exo_pose_errors(self, rotations: np.ndarray, shifts: np.ndarray) -> "ExoEgoInputs":
        """The same inputs with each exo camera's pose wrong by a rigid motion (for pose-noise experiments).

        ``rotations`` float64 (V, 3, 3) turns view ``v``'s camera about its own centre (applied in camera
        axes: ``R' = R @ rotations[v]``); ``shifts`` float64 (V, 3) moves its centre in world metres
        (``c' = c + shifts[v]``). A per-frame ``exo_T_world_cam`` (V, T, 4, 4) gets the same error at every
        frame (a calibration error, not jitter). Only these poses change: the videos, intrinsics and the ego
        cameras are those of the clip.
        """
        T = np.array(self.exo_T_world_cam, dtype=np.float64, copy=True)
        rotations, shifts = np.asarray(rotations, dtype=np.float64), np.asarray(shifts, dtype=np.float64)
        expand = (slice(None),) + (None,) * (T.ndim - 3)  # (V, ...) -> broadcast over the frames of (V, T, 4, 4)
        T[..., :3, :3] = T[..., :3, :3] @ rotations[expand]
        T[..., :3, 3] = T[..., :3, 3] + shifts[expand]
        return replace(self, exo_T_world_cam=T)


@dataclass(frozen=True)
class ExoEgoClip:
    """One benchmark clip with ground truth (see the module docstring for shapes)."""

    clip_id: str
    category: str
    fps: float
    text: str
    exo_video: np.ndarray
    exo_cam_ids: list
    exo_K: np.ndarray
    exo_T_world_cam: np.ndarray
    ego_K: np.ndarray
    ego_T_world_cam: np.ndarray
    ego_video: np.ndarray
    exo_depth: Optional[np.ndarray] = None
    ego_depth: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)  # dataset-specific metadata (scene id, take uid, frames...)

    @property
    def num_frames(self) -> int:
        return int(self.ego_video.shape[0])

    @property
    def num_views(self) -> int:
        return int(self.exo_video.shape[0])

    def inputs(self, track: str = "exo-only") -> ExoEgoInputs:
        """The generator's view of this clip. ``first-frame`` adds the true first ego frame."""
        if track not in TRACKS:
            raise ValueError(f"unknown track {track!r}; expected one of {TRACKS}")
        return ExoEgoInputs(
            clip_id=self.clip_id,
            category=self.category,
            fps=self.fps,
            text=self.text,
            exo_video=self.exo_video,
            exo_cam_ids=list(self.exo_cam_ids),
            exo_K=self.exo_K,
            exo_T_world_cam=self.exo_T_world_cam,
            ego_K=self.ego_K,
            ego_T_world_cam=self.ego_T_world_cam,
            ego_height=int(self.ego_video.shape[1]),
            ego_width=int(self.ego_video.shape[2]),
            num_frames=self.num_frames,
            track=track,
            ego_first_frame=self.ego_video[0].copy() if track == "first-frame" else None,
            exo_depth=self.exo_depth,
        )

    def validate(self) -> "ExoEgoClip":
        """Check every field against the schema; raise ``ClipValidationError`` naming clip and field."""
        cid = self.clip_id

        def fail(msg):
            raise ClipValidationError(f"clip {cid!r}: {msg}")

        ev = self.ego_video
        if not (isinstance(ev, np.ndarray) and ev.dtype == np.uint8 and ev.ndim == 4 and ev.shape[-1] == 3):
            fail(f"ego_video must be uint8 (T, H, W, 3), got {_describe(ev)}")
        T = ev.shape[0]
        xv = self.exo_video
        if not (isinstance(xv, np.ndarray) and xv.dtype == np.uint8 and xv.ndim == 5 and xv.shape[-1] == 3):
            fail(f"exo_video must be uint8 (V, T, H, W, 3), got {_describe(xv)}")
        V = xv.shape[0]
        if V < 1:
            fail("exo_video has no views")
        if xv.shape[1] != T:
            fail(f"exo_video has {xv.shape[1]} frames but ego_video has {T}")
        if len(self.exo_cam_ids) != V:
            fail(f"exo_cam_ids has {len(self.exo_cam_ids)} names for {V} views")
        _check_shape(fail, "exo_K", self.exo_K, (V, 3, 3))
        if np.shape(self.exo_T_world_cam) not in ((V, 4, 4), (V, T, 4, 4)):
            fail(f"exo_T_world_cam must be (V, 4, 4) or (V, T, 4, 4) = ({V}, 4, 4) or ({V}, {T}, 4, 4), "
                 f"got {np.shape(self.exo_T_world_cam)}")
        _check_shape(fail, "ego_K", self.ego_K, (3, 3))
        _check_shape(fail, "ego_T_world_cam", self.ego_T_world_cam, (T, 4, 4))
        for name in ("exo_K", "exo_T_world_cam", "ego_K", "ego_T_world_cam"):
            if not np.all(np.isfinite(getattr(self, name))):
                fail(f"{name} has non-finite values")
        if self.exo_depth is not None:
            _check_shape(fail, "exo_depth", self.exo_depth, xv.shape[:4])
        if self.ego_depth is not None:
            _check_shape(fail, "ego_depth", self.ego_depth, ev.shape[:3])
        return self


def _check_shape(fail, name, value, expected):
    if np.shape(value) != tuple(expected):
        fail(f"{name} must have shape {tuple(expected)}, got {np.shape(value)}")


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__


def check_generated_video(video, inputs: ExoEgoInputs, method: str) -> np.ndarray:
    """Validate a generator's output against the clip: uint8 (T, H, W, 3) at the ego resolution.

    Float outputs are rejected rather than silently rescaled, since [0, 1] vs [0, 255] is exactly the
    kind of ambiguity that makes numbers irreproducible. Raises ``ClipValidationError``.
    """
    expected = (inputs.num_frames, inputs.ego_height, inputs.ego_width, 3)
    where = f"method {method!r} on clip {inputs.clip_id!r}"
    if hasattr(video, "detach"):  # a torch tensor: accept, but convert exactly
        video = video.detach().cpu().numpy()
    if not isinstance(video, np.ndarray):
        raise ClipValidationError(f"{where}: expected a uint8 numpy array of shape {expected}, got {type(video).__name__}")
    if video.dtype != np.uint8:
        if np.issubdtype(video.dtype, np.floating) and not np.all(np.isfinite(video)):
            raise ClipValidationError(f"{where}: output contains NaN or infinite values (dtype {video.dtype})")
        raise ClipValidationError(f"{where}: expected dtype uint8 with values in [0, 255], got {video.dtype}")
    if video.shape != expected:
        raise ClipValidationError(f"{where}: expected shape (T, H, W, 3) = {expected}, got {video.shape}")
    return video


CLIP_FIELDS = tuple(f.name for f in fields(ExoEgoClip))
