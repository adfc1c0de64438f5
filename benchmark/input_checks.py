"""Checks a clip's inputs must pass before any generator sees them: the rules, their tolerances, one place.

The runner applies :func:`check_inputs` to every clip after loading it and before generating; a clip that breaks
a rule is recorded as failed (stage ``check``) with the rule's name and what was found, and the other clips go
on. Each rule:

``views``
    The clip has at least one exo view, and at least as many as the generator needs
    (``Generator.min_views``, default 1). Zero views means nothing to synthesise from.
``frame-count``
    Every exo view has the clip's ``num_frames`` frames, and so do the per-frame poses
    (``ego_T_world_cam`` (T, 4, 4); per-frame ``exo_T_world_cam`` (V, T, 4, 4)). Views of different lengths
    would silently pair frame ``t`` of one camera with another instant of another. (The dataset loaders
    already refuse a video of the wrong length when reading it, naming the file; this rule covers inputs made
    any other way.)
``pose-finite`` / ``pose-rigid``
    Every ``T_world_cam`` (exo and ego) is finite, its last row is ``[0, 0, 0, 1]`` within ``POSE_ATOL``
    (1e-6), and its rotation block ``R`` is a rotation: ``max |R^T R - I| <= ROTATION_ATOL`` and
    ``|det R - 1| <= ROTATION_ATOL`` with ``ROTATION_ATOL = 1e-4``. Why 1e-4: poses stored in float32 (as
    many capture rigs export them), or rounded to 6 decimals, are off by less than 1e-5; a scaled camera (a
    unit mix-up of 1 % already gives 2e-2), a shear, a reflection (det -1) or a transposed / swapped matrix is
    off by far more than 1e-3. The tolerance therefore separates the two by an order of magnitude each way.
``intrinsics``
    Every ``K`` is finite, has focal lengths ``fx, fy > 0`` and last row ``[0, 0, 1]`` (within ``POSE_ATOL``).
``exo-signal``
    No exo view is constant: a view whose pixel values span at most ``CONSTANT_PTP`` (2) levels of 255 over
    all its frames and channels (all black, all white, one flat colour, or such a frame with the +-1 noise of
    lossy encoding) carries no information about the scene; a real scene spans far more.

Every failure is an :class:`InputCheckError` (a ``ClipValidationError``) whose ``rule`` attribute is the
rule's name and whose message names the clip, the field or camera, the value found and the tolerance.
"""

from __future__ import annotations

import numpy as np

from .schema import ClipValidationError, ExoEgoInputs

POSE_ATOL = 1e-6
ROTATION_ATOL = 1e-4
CONSTANT_PTP = 2

RULES = ("views", "frame-count", "pose-finite", "pose-rigid", "intrinsics", "exo-signal")


class InputCheckError(ClipValidationError):
    """A clip's inputs break one of the rules of :mod:`benchmark.input_checks`; ``rule`` names it."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"input rule {rule!r}: {message}")
        self.rule = rule


def check_inputs(inputs: ExoEgoInputs, *, min_views: int = 1) -> ExoEgoInputs:
    """Apply every rule (in the order of ``RULES``) to ``inputs``; raise :class:`InputCheckError` at the first break.

    ``min_views``: how many exo views the generator needs. Returns ``inputs`` unchanged when all rules pass.
    """
    cid = inputs.clip_id
    _check_views(cid, inputs, min_views)
    _check_frame_counts(cid, inputs)
    T = inputs.num_frames
    exo_T = np.asarray(inputs.exo_T_world_cam, dtype=np.float64)
    _check_poses(cid, "ego_T_world_cam", np.asarray(inputs.ego_T_world_cam, dtype=np.float64).reshape(T, 4, 4),
                 lambda i: f"frame {i}")
    _check_poses(cid, "exo_T_world_cam", exo_T.reshape(-1, 4, 4), _exo_label(inputs, exo_T))
    _check_intrinsics(cid, "ego_K", np.asarray(inputs.ego_K, dtype=np.float64).reshape(1, 3, 3), lambda i: "")
    _check_intrinsics(cid, "exo_K", np.asarray(inputs.exo_K, dtype=np.float64).reshape(-1, 3, 3),
                      lambda i: f"view {i} ({_cam(inputs, i)})")
    _check_signal(cid, inputs)
    return inputs


def _cam(inputs: ExoEgoInputs, v: int) -> str:
    return str(inputs.exo_cam_ids[v]) if v < len(inputs.exo_cam_ids) else f"#{v}"


def _exo_label(inputs, exo_T):
    if exo_T.ndim == 4:  # (V, T, 4, 4) flattened to V*T
        T = exo_T.shape[1]
        return lambda i: f"view {i // T} ({_cam(inputs, i // T)}) frame {i % T}"
    return lambda i: f"view {i} ({_cam(inputs, i)})"


def _check_views(cid, inputs, min_views):
    video = np.asarray(inputs.exo_video)
    V = video.shape[0] if video.ndim == 5 else 0
    if V == 0:
        raise InputCheckError("views", f"clip {cid!r} has no exo views (exo_video shape {video.shape})")
    if V < min_views:
        raise InputCheckError("views", f"clip {cid!r} has {V} exo view(s) ({', '.join(map(str, inputs.exo_cam_ids))}) "
                                       f"but the method needs at least {min_views}")


def _check_frame_counts(cid, inputs):
    T = inputs.num_frames
    video = inputs.exo_video
    if video.shape[1] != T:
        raise InputCheckError("frame-count", f"clip {cid!r}: exo_video has {video.shape[1]} frames per view, "
                                             f"the clip has {T}")
    ego_T = np.shape(inputs.ego_T_world_cam)
    if ego_T != (T, 4, 4):
        raise InputCheckError("frame-count", f"clip {cid!r}: ego_T_world_cam has shape {ego_T}, expected ({T}, 4, 4)")
    exo_T = np.shape(inputs.exo_T_world_cam)
    V = video.shape[0]
    if exo_T not in ((V, 4, 4), (V, T, 4, 4)):
        raise InputCheckError("frame-count", f"clip {cid!r}: exo_T_world_cam has shape {exo_T}, expected "
                                             f"({V}, 4, 4) or ({V}, {T}, 4, 4)")


def _check_poses(cid, field, poses, label):
    """``poses`` (N, 4, 4) float64; ``label(i)`` says which camera / frame the i-th is."""
    finite = np.isfinite(poses).all(axis=(1, 2))
    if not finite.all():
        i = int(np.argmin(finite))
        raise InputCheckError("pose-finite", f"clip {cid!r}: {field} {label(i)} has non-finite values "
                                             f"{poses[i].tolist()}")
    bottom = np.abs(poses[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    if (bottom > POSE_ATOL).any():
        i = int(np.argmax(bottom))
        raise InputCheckError("pose-rigid", f"clip {cid!r}: {field} {label(i)} has last row {poses[i, 3].tolist()}, "
                                            f"expected [0, 0, 0, 1] (tolerance {POSE_ATOL:g})")
    R = poses[:, :3, :3]
    ortho = np.abs(np.swapaxes(R, 1, 2) @ R - np.eye(3)).max(axis=(1, 2))
    det_err = np.abs(np.linalg.det(R) - 1.0)
    worst = np.maximum(ortho, det_err)
    if (worst > ROTATION_ATOL).any():
        i = int(np.argmax(worst))
        raise InputCheckError(
            "pose-rigid", f"clip {cid!r}: {field} {label(i)} is not a rigid camera-to-world pose: its rotation block "
                          f"has max |R^T R - I| = {ortho[i]:.3g} and det = {np.linalg.det(R[i]):.6g} (expected an "
                          f"orthonormal matrix with det +1 within {ROTATION_ATOL:g})")


def _check_intrinsics(cid, field, Ks, label):
    for i, K in enumerate(Ks):
        where = f"{field} {label(i)}".rstrip()
        if not np.isfinite(K).all():
            raise InputCheckError("intrinsics", f"clip {cid!r}: {where} has non-finite values {K.tolist()}")
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise InputCheckError("intrinsics", f"clip {cid!r}: {where} has focal lengths fx={K[0, 0]:g}, "
                                                f"fy={K[1, 1]:g}; expected both > 0")
        if np.abs(K[2] - np.array([0.0, 0.0, 1.0])).max() > POSE_ATOL:
            raise InputCheckError("intrinsics", f"clip {cid!r}: {where} has last row {K[2].tolist()}, expected "
                                                f"[0, 0, 1]")


def _check_signal(cid, inputs):
    video = inputs.exo_video  # (V, T, H, W, 3) uint8
    for v in range(video.shape[0]):
        lo, hi = int(video[v].min()), int(video[v].max())
        if hi - lo <= CONSTANT_PTP:
            what = "all black" if hi <= CONSTANT_PTP else f"constant (values {lo}..{hi})"
            raise InputCheckError("exo-signal", f"clip {cid!r}: exo view {v} ({_cam(inputs, v)}) is {what} over all "
                                                f"{video.shape[1]} frames: it carries no signal (a view must span "
                                                f"more than {CONSTANT_PTP} levels of 255)")
