r"""Ego-motion error: how far the camera rotation seen in a generated ego video is from the true ego trajectory.

No peer reports it. PSNR, SSIM, LPIPS and CLIP-I compare pixels and features frame by frame; none of them asks
whether the *camera* of the generated video moves as the wearer's head did. This metric estimates the
frame-to-frame camera rotation from the generated video alone (classical features, no learned weights, so it
works offline) and compares it with the rotation of the known ego trajectory, in degrees (lower is better).

For the frame pairs :math:`(t, t+1)` of a clip of :math:`T` frames, with the OpenCV convention that a rotation
maps points of the first camera's frame to the second's (as ``cv2.recoverPose`` returns it),

.. math::

    R^\text{true}_t = R_{t+1}^\top R_t \quad (R_t = \text{rotation block of } T^\text{world}_\text{cam}(t)), \qquad
    e_t = \angle\big(\hat{R}_t^\top R^\text{true}_t\big) = \operatorname{atan2}\big(\tfrac12 \lVert
    \operatorname{vee}(M - M^\top) \rVert,\ \tfrac12(\operatorname{tr} M - 1)\big) \cdot \tfrac{180}{\pi},

the geodesic distance on SO(3) between the estimated rotation :math:`\hat{R}_t` and the true one, and the clip
score is the **mean over the** :math:`T - 1` **pairs** of :math:`e_t`; the run score is the mean over clips.

**Frame pairs.** Consecutive frames (``frame_step = 1``): at the stored 7.5-8 fps the true rotation between
consecutive frames is 0.2-40 degrees (median 2.9 on the synthetic test split, 3.6 on the fixture), large enough to
be measured above the estimation noise and small enough for the two views to overlap. Every pair is scored, so
jitter between any two frames counts. Skipping frames (``frame_step = 2``) doubles the rotations but makes the true
video score 3x worse (synthetic test split: mean clip error 0.54 degrees with step 1, 1.60 with step 2, where the
views overlap less and the wearer's body, which turns with the camera, outweighs the scene in some pairs).

**Estimating one pair** (``model="rotation"``, the default):

1. Frames to grey (``cv2.COLOR_RGB2GRAY``); frames whose short side is below ``detect_min_side`` (256) are
   upsampled by the integer factor that reaches it (bicubic) before detection, keypoints mapped back to stored
   pixels (centre convention ``(p + 0.5) / s - 0.5``). At 64x64, SIFT finds about 4x more matches after a 4x
   upsampling and the error of the true video halves (mean clip error 0.54 vs 1.15 degrees, 100 % vs 96 % of the
   pairs estimable).
2. SIFT keypoints and descriptors (``cv2.SIFT_create(nfeatures=2000)``), brute-force L2 matching with Lowe's ratio
   test (0.85). Pixels that are (near) black in every frame of the ground truth (the empty corners an undistortion
   leaves, as in ExoEgo4D) and a margin around them are masked out in both videos: their corners never move and
   would vote for "no rotation".
3. A rotation-only model (3 degrees of freedom, the homography :math:`K R K^{-1}` of a purely rotating camera) fitted
   by RANSAC: every hypothesis is the rotation of two matches (Kabsch on the unit bearing vectors
   :math:`K^{-1}[u, v, 1]^\top`), scored by the truncated squared transfer error in pixels (MSAC, threshold
   ``ransac_threshold_px`` = 2), then refined by least squares on its inliers. Hypotheses: all pairs of matches when
   there are at most ``ransac_iterations`` (256) of them, else 256 pairs drawn by ``numpy.random.default_rng(seed)``.

Why not the essential matrix by default: between consecutive ego frames the camera translates 1-3 cm while the
scene is about a metre away, so the motion is nearly a pure rotation, for which the essential matrix is degenerate
(any translation direction fits). ``model="essential"`` (``cv2.findEssentialMat`` with RANSAC, seeded by
``cv2.setRNGSeed``, then ``cv2.recoverPose``, falling back to the rotation-only model when Torr's GRIC prefers it,
i.e. when the essential matrix is degenerate) is kept for comparison: on the true videos it is less accurate (mean
clip error 1.08 vs 0.54 degrees on the synthetic split, with one clip at 10.9; 1.12 vs 0.94 on the fixture), so
the rotation-only model is the default.

**Pairs that cannot be estimated are scored, never dropped.** A pair is *not estimable* when it has fewer than
``min_matches`` (8) ratio-test matches (textureless or blank frames, no overlap) or its best model has fewer than
``min_inliers`` (6) inliers (no consistent motion: on the synthetic clips every estimate off by 90-180 degrees had
2-4 inliers, while correct estimates of large rotations had as few as 5-7). Such a pair gets the estimate "no
rotation" (identity), so its error is the true rotation angle: a blank or textureless video scores like a frozen one
and can never beat a video whose motion is measured.
The fraction of estimable pairs is recorded per clip (:meth:`EgoMotionError.estimable_fractions`) and, over the
run, in the metric's settings (``notes.estimable_pairs``; per-clip tables hold metric scores only).

**Tiny motion** is not a special case for the rotation-only model (a small rotation is as well conditioned as a
large one); the error then is the estimation noise itself. That noise floor, measured on the true videos, is the
number a method can at best approach (figures below).

**Determinism.** OpenCV runs single-threaded inside the metric (``cv2.setNumThreads(1)``, restored after), the
RANSAC draws come from a fixed seed, and ``findEssentialMat`` is seeded through ``cv2.setRNGSeed``: the same
inputs give the same number.

**Measured** (``benchmarks/ego_motion_validation.py``), clip scores in degrees as mean / median / max over clips:

* synthetic test split, 32 clips, 64x64, 8 fps: true ego video 0.54 / 0.57 / 0.93 (100 % of the pairs
  estimable); frozen first frame 5.15 / 4.91 / 11.10; exo-copy baseline 5.15 / 4.91 / 11.10;
* ExoEgo4D fixture, 5 clips, 256x256, 7.5 fps: true 0.94 / 0.57 / 2.53 (97.5 % estimable: one clip has 2 pairs
  with too few inliers); frozen 5.11 / 4.64 / 8.10; exo copy 5.10 / 4.63 / 8.10.

The mean true rotation per pair is 5.15 (synthetic) and 5.11 degrees (fixture): frozen and exo copy score it,
because a static exo camera shows no ego rotation. On both sets every clip's true score is below its frozen score
(the largest true score is 0.81x and 0.83x the smallest frozen one). The fixture's frames are undistorted from 64x64
renders (blurred at 256x256); its black corners are masked. **Resolution:** the synthetic clips downsampled to
32x32 give a mean of 1.59 degrees with 91 % of the pairs estimable (0.54 and 100 % at 64x64): features still work,
but the noise floor is then a third of the signal (a tenth at 64x64). Time: about 0.5 s per 17-frame clip on
one CPU core (SIFT on the upsampled frames dominates).

Example (a frozen video, while the true camera turns 2 degrees about its y axis every frame):
    >>> import numpy as np
    >>> from benchmark.metrics.ego_motion import EgoMotionError
    >>> rng = np.random.default_rng(0)
    >>> video = np.repeat(rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8), 3, axis=0)
    >>> K = np.array([[16.0, 0, 15.5], [0, 16.0, 15.5], [0, 0, 1]])
    >>> a = np.radians(2.0) * np.arange(3)
    >>> poses = np.zeros((3, 4, 4)); poses[:, 1, 1] = poses[:, 3, 3] = 1
    >>> poses[:, 0, 0] = poses[:, 2, 2] = np.cos(a); poses[:, 0, 2] = np.sin(a); poses[:, 2, 0] = -np.sin(a)
    >>> metric = EgoMotionError()
    >>> metric.update(video, video, ego_K=K, ego_T_world_cam=poses)
    >>> round(float(metric.compute()), 6)  # "no rotation" measured, 2 degrees per pair in truth
    2.0
    >>> metric.estimable_fractions().tolist()
    [1.0]
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from benchmark.metrics._video import VideoMetric, check_video_pair

MODELS = ("rotation", "essential")
DARK_LEVEL = 16  # a ground-truth pixel whose channels stay <= this in every frame is outside the image
DARK_MARGIN = 0.03  # of the short side (at least 2 px): SIFT's support around a masked corner
NOT_ESTIMABLE_RULE = ("a pair with fewer than min_matches ratio-test matches or fewer than min_inliers inliers is "
                      "scored as the estimate 'no rotation' (identity): its error is the true rotation angle")

DEFAULTS = {
    "model": "rotation",
    "frame_step": 1,
    "detect_min_side": 256,
    "max_features": 2000,
    "ratio": 0.85,
    "ransac_threshold_px": 2.0,
    "ransac_iterations": 256,
    "min_matches": 8,
    "min_inliers": 6,
    "seed": 0,
}

def _option_error(name: str, value, expected: str) -> ValueError:
    return ValueError(f"EgoMotionError option {name}={value!r}: expected {expected}")


def check_options(options: dict) -> dict:
    """The full option dict (defaults filled in), or ``ValueError`` naming the option that is wrong."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"EgoMotionError: unknown option(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **options}
    if out["model"] not in MODELS:
        raise _option_error("model", out["model"], f"one of {MODELS}")
    for name in ("frame_step", "detect_min_side", "max_features", "ransac_iterations", "min_inliers", "seed"):
        if isinstance(out[name], bool) or not isinstance(out[name], (int, np.integer)) or out[name] < 0:
            raise _option_error(name, out[name], "an integer >= 0")
        out[name] = int(out[name])
    if out["frame_step"] < 1 or out["ransac_iterations"] < 1:
        raise _option_error("frame_step / ransac_iterations", (out["frame_step"], out["ransac_iterations"]), ">= 1")
    if isinstance(out["min_matches"], bool) or not isinstance(out["min_matches"], (int, np.integer)) \
            or out["min_matches"] < 3:
        raise _option_error("min_matches", out["min_matches"], "an integer >= 3 (2 fix a rotation, 1 checks it)")
    out["min_matches"] = int(out["min_matches"])
    if not 0 < float(out["ratio"]) <= 1:
        raise _option_error("ratio", out["ratio"], "a number in (0, 1]")
    if not float(out["ransac_threshold_px"]) > 0:
        raise _option_error("ransac_threshold_px", out["ransac_threshold_px"], "a number > 0")
    out["ratio"], out["ransac_threshold_px"] = float(out["ratio"]), float(out["ransac_threshold_px"])
    return out


# ---- rotations -------------------------------------------------------------------------------------------------


def rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """Rotation angle in degrees of rotation matrices ``(..., 3, 3)`` -> ``(...)``, accurate near 0 and 180."""
    R = np.asarray(R, dtype=np.float64)
    vee = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = 0.5 * np.linalg.norm(vee, axis=-1)
    cos = 0.5 * (np.trace(R, axis1=-2, axis2=-1) - 1.0)
    return np.degrees(np.arctan2(sin, cos))


def true_relative_rotations(ego_T_world_cam: np.ndarray, frame_step: int = 1) -> np.ndarray:
    """``(T, 4, 4)`` camera-to-world poses -> ``(T - step, 3, 3)`` rotations ``R_{t+step}^T R_t``.

    Each maps a point's coordinates in camera ``t`` to camera ``t + step`` (``x_2 = R x_1 + t``), the convention
    of ``cv2.recoverPose``; it is the transpose of the relative pose rotation ``R_t^T R_{t+step}`` of
    :func:`benchmark.cameras.relative_pose`.
    """
    R = np.asarray(ego_T_world_cam, dtype=np.float64)[:, :3, :3]
    return np.swapaxes(R[frame_step:], -1, -2) @ R[:-frame_step]


def _nearest_rotation(M: np.ndarray) -> np.ndarray:
    """The rotation closest to ``M`` (..., 3, 3) in Frobenius norm (SVD, determinant forced to +1)."""
    U, _, Vt = np.linalg.svd(M)
    d = np.sign(np.linalg.det(U @ Vt))
    d = np.where(d == 0, 1.0, d)
    U = U.copy()
    U[..., :, 2] *= d[..., None]
    return U @ Vt


# ---- features --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _cv2_single_thread():
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield cv2
    finally:
        cv2.setNumThreads(previous)


def static_dark_mask(target: np.ndarray) -> Optional[np.ndarray]:
    """Where features may be detected, from the ground truth ``(T, H, W, 3)``: ``(H, W)`` bool, or None (everywhere).

    Pixels whose channels stay <= :data:`DARK_LEVEL` in every frame (the empty corners left by undistortion) and a
    margin of :data:`DARK_MARGIN` of the short side around them are excluded.
    """
    import cv2

    dark = np.asarray(target).max(axis=(0, 3)) <= DARK_LEVEL
    if not dark.any():
        return None
    r = max(2, int(round(DARK_MARGIN * min(dark.shape))))
    grown = cv2.dilate(dark.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    return ~grown


@dataclass(frozen=True)
class Features:
    """SIFT keypoints of one frame: ``points`` (N, 2) float64 in stored pixels, ``descriptors`` (N, 128) float32."""

    points: np.ndarray
    descriptors: np.ndarray


def detect_features(cv2, frame: np.ndarray, mask: Optional[np.ndarray], opts: dict) -> Features:
    """SIFT on one uint8 RGB frame ``(H, W, 3)`` (upsampled to ``detect_min_side`` first; see the module docstring)."""
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    scale = max(1, math.ceil(opts["detect_min_side"] / min(grey.shape))) if opts["detect_min_side"] else 1
    cv_mask = None
    if scale > 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if mask is not None:
        cv_mask = cv2.resize(mask.astype(np.uint8) * 255, (grey.shape[1], grey.shape[0]),
                             interpolation=cv2.INTER_NEAREST)
    keypoints, descriptors = cv2.SIFT_create(nfeatures=opts["max_features"]).detectAndCompute(grey, cv_mask)
    if descriptors is None or not keypoints:
        return Features(np.zeros((0, 2)), np.zeros((0, 128), np.float32))
    points = np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2)
    return Features((points + 0.5) / scale - 0.5, descriptors)


def match_features(cv2, a: Features, b: Features, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test matches ``a -> b``: matched points ``(M, 2)`` in ``a`` and in ``b``."""
    if len(a.points) < 2 or len(b.points) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2))
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m for m, n in (p for p in knn if len(p) == 2) if m.distance < ratio * n.distance]
    ia = np.array([m.queryIdx for m in good], dtype=np.int64)
    ib = np.array([m.trainIdx for m in good], dtype=np.int64)
    return a.points[ia].reshape(-1, 2), b.points[ib].reshape(-1, 2)


# ---- models ----------------------------------------------------------------------------------------------------


def _bearings(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    rays = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ np.linalg.inv(K).T
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def _transfer_sq_error(R: np.ndarray, b1: np.ndarray, p2: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Squared pixel distance between ``p2`` and ``b1`` rotated by ``R`` (..., 3, 3) and projected: (..., N)."""
    q = (b1 @ np.swapaxes(R, -1, -2)) @ K.T
    z = q[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = q[..., :2] / z[..., None]
    err = ((uv - p2) ** 2).sum(-1)
    return np.where(z > 1e-9, err, np.inf)  # a point rotated behind the camera fits nothing


def _kabsch(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Rotation(s) ``R`` minimising ``sum ||b2 - R b1||^2`` for bearings (..., N, 3)."""
    return _nearest_rotation(np.swapaxes(b2, -1, -2) @ b1)


def fit_rotation(p1: np.ndarray, p2: np.ndarray, K: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rotation-only RANSAC (MSAC) on matched pixels ``(M, 2)``: ``(R (3, 3), inliers (M,) bool)``.

    ``R`` maps camera-1 coordinates to camera-2 coordinates (``x_2 ~ K R K^-1 x_1``).
    """
    b1, b2 = _bearings(p1, K), _bearings(p2, K)
    thr2 = opts["ransac_threshold_px"] ** 2
    n = len(p1)
    all_pairs = np.stack(np.triu_indices(n, k=1), axis=1)
    if len(all_pairs) <= opts["ransac_iterations"]:
        samples = all_pairs
    else:
        rng = np.random.default_rng(opts["seed"])
        first = rng.integers(0, n, size=opts["ransac_iterations"])
        second = (first + rng.integers(1, n, size=opts["ransac_iterations"])) % n  # never the same match twice
        samples = np.stack([first, second], axis=1)
    hypotheses = _kabsch(b1[samples], b2[samples])  # (S, 3, 3)
    cost = np.minimum(_transfer_sq_error(hypotheses, b1, p2, K), thr2).sum(-1)
    R = hypotheses[int(np.argmin(cost))]  # first minimum: ties resolve the same way every time
    inliers = _transfer_sq_error(R, b1, p2, K) < thr2
    for _ in range(5):  # least-squares refinement on the inliers until the set is stable
        if inliers.sum() < 2:
            break
        R = _kabsch(b1[inliers], b2[inliers])
        new = _transfer_sq_error(R, b1, p2, K) < thr2
        if np.array_equal(new, inliers):
            break
        inliers = new
    return R, inliers


def _sampson_sq_error(E: np.ndarray, p1: np.ndarray, p2: np.ndarray, K: np.ndarray) -> np.ndarray:
    K_inv = np.linalg.inv(K)
    F = K_inv.T @ E @ K_inv
    x1 = np.concatenate([p1, np.ones((len(p1), 1))], axis=1)
    x2 = np.concatenate([p2, np.ones((len(p2), 1))], axis=1)
    Fx1, Ftx2 = x1 @ F.T, x2 @ F
    den = Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2
    return (x2 * Fx1).sum(1) ** 2 / np.maximum(den, 1e-300)


def gric(sq_errors: np.ndarray, sigma: float, manifold_dim: int, n_params: int) -> float:
    """Torr's geometric robust information criterion (lower is better) for 2-view matches (data dimension 4)."""
    r = 4
    n = len(sq_errors)
    rho = np.minimum(sq_errors / sigma ** 2, 2.0 * (r - manifold_dim)).sum()
    return float(rho + math.log(r) * manifold_dim * n + math.log(r * n) * n_params)


def fit_essential(cv2, p1: np.ndarray, p2: np.ndarray, K: np.ndarray, opts: dict):
    """``findEssentialMat`` + ``recoverPose``, or the rotation-only model when GRIC prefers it.

    Returns ``(R, n_inliers, model)``; ``model`` is ``"essential"`` or ``"rotation"`` (degenerate essential
    matrix: pure rotation or too little translation, or OpenCV found no essential matrix).
    """
    R_rot, inl_rot = fit_rotation(p1, p2, K, opts)
    cv2.setRNGSeed(opts["seed"])
    E, mask = cv2.findEssentialMat(p1, p2, K, method=cv2.RANSAC, prob=0.999, threshold=opts["ransac_threshold_px"])
    if E is None or E.shape != (3, 3):  # none found, or several stacked solutions: not a usable single model
        return R_rot, int(inl_rot.sum()), "rotation"
    n_good, R_ess, _, pose_mask = cv2.recoverPose(E, p1, p2, K, mask=mask.copy())
    sigma = opts["ransac_threshold_px"] / 2.0
    # transfer error is measured in one image; the 4-D distance to the rotation's variety is about half of it
    g_rot = gric(_transfer_sq_error(R_rot, _bearings(p1, K), p2, K) / 2.0, sigma, 2, 3)
    g_ess = gric(_sampson_sq_error(E, p1, p2, K), sigma, 3, 5)
    if g_rot <= g_ess:
        return R_rot, int(inl_rot.sum()), "rotation"
    return np.asarray(R_ess, dtype=np.float64), int(n_good), "essential"


# ---- one clip --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairEstimate:
    """One frame pair ``(t, t + step)``: the estimate, why it is (not) estimable, and its error in degrees."""

    t: int
    estimable: bool
    reason: str  # "ok", "too few matches", "too few inliers"
    n_matches: int
    n_inliers: int
    model: str  # "rotation", "essential", or "none" (not estimable)
    R_est: np.ndarray  # identity when not estimable
    true_angle_deg: float
    error_deg: float


@dataclass(frozen=True)
class ClipEstimate:
    """Every pair of one clip; ``score`` (mean error, degrees) and ``estimable_fraction``."""

    pairs: tuple

    @property
    def errors_deg(self) -> np.ndarray:
        return np.array([p.error_deg for p in self.pairs], dtype=np.float64)

    @property
    def score(self) -> float:
        return float(self.errors_deg.mean())

    @property
    def estimable_fraction(self) -> float:
        return float(np.mean([p.estimable for p in self.pairs]))


def _as_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # noqa: BLE001 - anything that is not array-like
        raise ValueError(f"{name}: expected an array, got {type(x).__name__} ({err})") from None


def check_cameras(ego_K, ego_T_world_cam, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``ego_K`` (3, 3) and ``ego_T_world_cam`` (T, 4, 4) as float64, or ``ValueError`` naming what is wrong."""
    K = _as_numpy(ego_K, "ego_K").astype(np.float64)
    T = _as_numpy(ego_T_world_cam, "ego_T_world_cam").astype(np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0 \
            or not np.allclose(K[2], [0, 0, 1]):
        raise ValueError(f"ego_K: expected a finite 3x3 pinhole matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with "
                         f"fx, fy > 0, got shape {K.shape}: {K.tolist() if K.size <= 9 else '...'}")
    if T.shape != (num_frames, 4, 4):
        raise ValueError(f"ego_T_world_cam: expected one 4x4 camera-to-world pose per frame, ({num_frames}, 4, 4), "
                         f"got {T.shape}")
    R = T[:, :3, :3]
    if not np.all(np.isfinite(T)) or not np.allclose(np.swapaxes(R, 1, 2) @ R, np.eye(3), atol=1e-4) \
            or not np.all(np.linalg.det(R) > 0):
        raise ValueError("ego_T_world_cam: the rotation blocks are not all rotations (R^T R = I, det R = +1 within "
                         "1e-4); expected rigid camera-to-world poses")
    return K, T


def estimate_clip(pred, ego_K, ego_T_world_cam, *, target=None, **options: Any) -> ClipEstimate:
    """Estimate every frame pair of one generated clip and score it against the true trajectory.

    Args:
        pred: uint8 ``(T, H, W, 3)`` generated ego video (RGB).
        ego_K: ``(3, 3)`` true ego intrinsics at the stored resolution.
        ego_T_world_cam: ``(T, 4, 4)`` true camera-to-world ego poses.
        target: the ground-truth video ``(T, H, W, 3)``, used only for the mask of never-lit pixels
            (:func:`static_dark_mask`); None: no mask.
        options: see :data:`DEFAULTS`.
    Returns:
        :class:`ClipEstimate` with one :class:`PairEstimate` per pair ``(t, t + frame_step)``.
    """
    opts = check_options(options)
    video = _as_numpy(pred, "pred")
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"pred: expected a uint8 video (T, H, W, 3), got {video.dtype} {video.shape}")
    num_frames = video.shape[0]
    step = opts["frame_step"]
    if num_frames <= step:
        raise ValueError(f"pred: the ego-motion error needs at least {step + 1} frames (frame_step={step}), "
                         f"got {num_frames}")
    K, poses = check_cameras(ego_K, ego_T_world_cam, num_frames)
    mask = None
    if target is not None:
        check_video_pair(video, _as_numpy(target, "target"))
        mask = static_dark_mask(_as_numpy(target, "target"))
    true_R = true_relative_rotations(poses, step)
    pairs = []
    with _cv2_single_thread() as cv2:
        features = [detect_features(cv2, frame, mask, opts) for frame in video]
        for t in range(num_frames - step):
            p1, p2 = match_features(cv2, features[t], features[t + step], opts["ratio"])
            R, n_inliers, model, reason = np.eye(3), 0, "none", "ok"
            if len(p1) < opts["min_matches"]:
                reason = "too few matches"
            else:
                if opts["model"] == "rotation":
                    R, inliers = fit_rotation(p1, p2, K, opts)
                    n_inliers, model = int(inliers.sum()), "rotation"
                else:
                    R, n_inliers, model = fit_essential(cv2, p1, p2, K, opts)
                if n_inliers < opts["min_inliers"]:
                    R, model, reason = np.eye(3), "none", "too few inliers"
            estimable = reason == "ok"
            pairs.append(PairEstimate(
                t=t, estimable=estimable, reason=reason, n_matches=len(p1), n_inliers=n_inliers, model=model,
                R_est=R, true_angle_deg=float(rotation_angle_deg(true_R[t])),
                error_deg=float(rotation_angle_deg(R.T @ true_R[t]))))
    return ClipEstimate(tuple(pairs))


def ego_motion_error(pred, target, ego_K, ego_T_world_cam, *, per_pair: bool = False, **options: Any) -> Tensor:
    """Functional twin of :class:`EgoMotionError` for one clip.

    ``pred``, ``target``: uint8 ``(T, H, W, 3)`` (``target`` may be None: no mask of never-lit pixels);
    ``ego_K`` (3, 3); ``ego_T_world_cam`` (T, 4, 4). Returns the clip score (float64 scalar, degrees, mean over
    frame pairs) or, with ``per_pair=True``, the ``(T - frame_step,)`` pair errors.
    """
    estimate = estimate_clip(pred, ego_K, ego_T_world_cam, target=target, **options)
    errors = torch.from_numpy(estimate.errors_deg)
    return errors if per_pair else errors.mean()


def ego_motion_settings(**options: Any) -> dict:
    """What results record about the metric (every option that changes a number, plus prose ``notes``)."""
    import cv2

    opts = check_options(options)
    return {
        "implementation": "benchmark.metrics.ego_motion (OpenCV SIFT + ratio test; rotation-only RANSAC on bearing "
                          "vectors, or cv2.findEssentialMat + cv2.recoverPose with GRIC fallback)",
        **opts,
        "pairs": f"(t, t + {opts['frame_step']}) for every t",
        "error": "geodesic angle in degrees between the estimated and the true relative rotation R_{t+1}^T R_t",
        "pair_reduction": "mean over frame pairs (clip score)",
        "not_estimable": NOT_ESTIMABLE_RULE,
        "mask": f"pixels <= {DARK_LEVEL} in every ground-truth frame, grown by {DARK_MARGIN:g} of the short side",
        "threads": "cv2.setNumThreads(1) inside the metric",
        # a version, like the suite's "versions": recorded, but not part of what makes two runs comparable
        "notes": {"opencv": cv2.__version__},
    }


class EgoMotionError(VideoMetric):
    """Streaming ego-motion error (degrees, lower is better); see the module docstring for the method and rules.

    ``update(pred, target, ego_K=..., ego_T_world_cam=...)`` takes one uint8 clip ``(T, H, W, 3)`` with its
    ``(3, 3)`` intrinsics and ``(T, 4, 4)`` poses, or a batch ``(B, T, H, W, 3)`` with ``(B, 3, 3)`` (or one
    shared ``(3, 3)``) and ``(B, T, 4, 4)``. ``compute()`` is the mean over clips; ``per_clip_scores()`` the clip
    scores; ``estimable_fractions()`` the fraction of estimable pairs of each clip.
    """

    higher_is_better = False
    takes_unit_frames = False  # OpenCV reads the uint8 frames
    needs = ("ego_K", "ego_T_world_cam")
    estimable: list
    pair_counts: list

    def __init__(self, **kwargs: Any) -> None:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in DEFAULTS}
        super().__init__(**kwargs)
        self.options = check_options(options)
        self.add_state("estimable", default=[], dist_reduce_fx="cat")
        self.add_state("pair_counts", default=[], dist_reduce_fx="cat")

    def update(self, pred, target, ego_K=None, ego_T_world_cam=None) -> None:  # type: ignore[override]
        if ego_K is None or ego_T_world_cam is None:
            missing = [n for n, v in (("ego_K", ego_K), ("ego_T_world_cam", ego_T_world_cam)) if v is None]
            raise ValueError(f"EgoMotionError.update needs {' and '.join(missing)} (the true ego cameras of the clip)")
        check_video_pair(pred, target, batched=True)
        K, T = _as_numpy(ego_K, "ego_K"), _as_numpy(ego_T_world_cam, "ego_T_world_cam")
        if len(pred.shape) == 4:
            clips = [(pred, target, K, T)]
        else:
            B = pred.shape[0]
            Ks = np.broadcast_to(K, (B, 3, 3)) if K.shape == (3, 3) else K
            if Ks.shape[:1] != (B,) or T.shape[:1] != (B,):
                raise ValueError(f"a batch of {B} clips needs ego_K (B, 3, 3) or (3, 3) and ego_T_world_cam "
                                 f"(B, T, 4, 4); got {K.shape} and {T.shape}")
            clips = list(zip(pred, target, Ks, T))
        estimates = [estimate_clip(p, k, poses, target=t, **self.options) for p, t, k, poses in clips]
        self._store(torch.tensor([e.score for e in estimates], dtype=torch.float64))  # refuses non-finite scores
        self.estimable.append(torch.tensor([e.estimable_fraction for e in estimates], dtype=torch.float64,
                                           device=self.device))
        self.pair_counts.append(torch.tensor([len(e.pairs) for e in estimates], dtype=torch.float64,
                                             device=self.device))

    def estimable_fractions(self) -> Tensor:
        """Fraction of estimable frame pairs of each clip seen, in update order, float64 ``(N,)``."""
        if not self.estimable:
            return torch.zeros(0, dtype=torch.float64)
        return dim_zero_cat(self.estimable).detach().cpu()

    def drop_last_update(self) -> None:
        if self.clip_scores:
            self.estimable.pop()
            self.pair_counts.pop()
        super().drop_last_update()

    def settings(self) -> dict:
        """:func:`ego_motion_settings` of this metric's options, with the observed estimable pairs in ``notes``."""
        out = ego_motion_settings(**self.options)
        fractions = self.estimable_fractions().numpy()
        counts = dim_zero_cat(self.pair_counts).detach().cpu().numpy() if self.pair_counts else np.zeros(0)
        n_pairs = int(counts.sum())
        estimable = int(round(float((fractions * counts).sum())))
        observed = {
            "pairs": n_pairs,
            "estimable": estimable,
            "fraction": estimable / n_pairs if n_pairs else None,
            "clips": int(fractions.size),
            "clips_with_unestimable_pairs": int((fractions < 1).sum()),
            "lowest_clip_fraction": float(fractions.min()) if fractions.size else None,
        }
        # observations of this run, not settings: under "notes", which leaderboard protocols leave out
        out["notes"] = {**out["notes"], "estimable_pairs": observed,
                        "rule": NOT_ESTIMABLE_RULE + "; per-clip fractions: EgoMotionError.estimable_fractions()"}
        return out
