"""Camera geometry: the one place that owns the project's camera conventions.

Conventions (see README "Camera conventions"):

* Extrinsics are camera-to-world ``T_world_cam`` (4x4, metres). A point ``p_cam`` in camera
  coordinates maps to the world as ``p_world = T_world_cam @ [p_cam, 1]``.
* Camera axes are OpenCV's: x right, y down, z forward (the viewing direction is ``+z``).
* Intrinsics ``K`` are 3x3 pinhole matrices in pixels of the *stored* resolution, with the pixel
  centre convention of OpenCV: the centre of the top-left pixel is at ``(0, 0)``.
* Relative pose of camera ``b`` seen from camera ``a``: ``T_a_b = inv(T_world_a) @ T_world_b``
  (maps points in ``b``'s frame to ``a``'s frame). For exo-to-ego: ``T_ego_exo``.
* The world of the synthetic dataset is z-up, like Ego-Exo4D's.

All functions are batched over leading dimensions and work on numpy arrays or torch tensors
(torch tensors in, torch tensors out) so that the renderer, the baselines and the model share them.
"""

from __future__ import annotations

import math

from typing import Union

import numpy as np

try:  # torch is a dependency, but keep this module importable for numpy-only tools
    import torch
except ImportError:  # pragma: no cover
    torch = None

Array = Union[np.ndarray, "torch.Tensor"]


def _is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _stack(xs, axis):
    return torch.stack(xs, dim=axis) if _is_torch(xs[0]) else np.stack(xs, axis=axis)


def _cat(xs, axis):
    return torch.cat(xs, dim=axis) if _is_torch(xs[0]) else np.concatenate(xs, axis=axis)


def _swap_last(x):
    return x.transpose(-1, -2) if _is_torch(x) else np.swapaxes(x, -1, -2)


def _norm(x):
    return torch.linalg.norm(x, dim=-1, keepdim=True) if _is_torch(x) else np.linalg.norm(x, axis=-1, keepdims=True)


def invert_se3(T: Array) -> Array:
    """Inverse of rigid transforms ``T`` (..., 4, 4): ``inv(T) = [[R^T, -R^T t], [0, 1]]``.

    Exact for rigid motions and cheaper / better conditioned than a general matrix inverse.
    """
    R = T[..., :3, :3]
    t = T[..., :3, 3:4]
    Rt = _swap_last(R)
    out = T.clone() if _is_torch(T) else T.copy()
    out[..., :3, :3] = Rt
    out[..., :3, 3:4] = -(Rt @ t)
    out[..., 3, :3] = 0
    out[..., 3, 3] = 1
    return out


def relative_pose(T_world_a: Array, T_world_b: Array) -> Array:
    """``T_a_b = inv(T_world_a) @ T_world_b``: pose of camera ``b`` expressed in camera ``a``'s frame.

    Shapes broadcast: (..., 4, 4) and (..., 4, 4) -> (..., 4, 4).
    """
    return invert_se3(T_world_a) @ T_world_b


def transform_points(T: Array, points: Array) -> Array:
    """Apply rigid transforms (..., 4, 4) to points (..., N, 3) -> (..., N, 3)."""
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    return points @ _swap_last(R) + t[..., None, :]


def project_points(K: Array, T_world_cam: Array, points_world: Array):
    """Project world points into a camera.

    Args:
        K: (..., 3, 3) intrinsics. T_world_cam: (..., 4, 4) camera-to-world. points_world: (..., N, 3).
    Returns:
        uv: (..., N, 2) pixel coordinates ``u = fx x/z + cx``, ``v = fy y/z + cy``;
        z: (..., N) depth along the optical axis (``z <= 0`` means behind the camera).
    """
    p_cam = transform_points(invert_se3(T_world_cam), points_world)
    z = p_cam[..., 2]
    safe_z = z.clamp(min=1e-9) if _is_torch(z) else np.maximum(z, 1e-9)
    xy = p_cam[..., :2] / safe_z[..., None]
    uv = xy @ _swap_last(K[..., :2, :2]) + K[..., None, :2, 2]
    return uv, z


def pixel_grid(height: int, width: int, like: Array | None = None) -> Array:
    """Pixel centres (H, W, 2) as (u, v) = (column, row), OpenCV convention (first centre at 0, 0)."""
    if like is not None and _is_torch(like):
        v, u = torch.meshgrid(
            torch.arange(height, dtype=like.dtype, device=like.device),
            torch.arange(width, dtype=like.dtype, device=like.device),
            indexing="ij",
        )
        return torch.stack([u, v], dim=-1)
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    return np.stack([u, v], axis=-1)


def pixel_rays(K: Array, T_world_cam: Array, height: int, width: int):
    """World-space rays through every pixel centre.

    Args:
        K: (..., 3, 3); T_world_cam: (..., 4, 4).
    Returns:
        origins (..., H, W, 3): the camera centre, repeated;
        directions (..., H, W, 3): unit vectors ``d = R K^-1 [u, v, 1]^T / ||.||``.
    """
    uv = pixel_grid(height, width, like=K)
    ones = uv[..., :1] * 0 + 1
    homog = _cat([uv, ones], -1)  # (H, W, 3)
    K_inv = torch.linalg.inv(K) if _is_torch(K) else np.linalg.inv(K)
    R = T_world_cam[..., :3, :3]
    M = R @ K_inv  # (..., 3, 3)
    d = homog @ _swap_last(M)[..., None, :, :]  # (..., H, W, 3)
    d = d / _norm(d)
    o = T_world_cam[..., None, None, :3, 3] + d * 0
    return o, d


def unproject_depth(K: Array, T_world_cam: Array, depth: Array) -> Array:
    """Lift a z-depth map (..., H, W) to world points (..., H, W, 3): ``p = T (z K^-1 [u, v, 1])``."""
    height, width = depth.shape[-2:]
    uv = pixel_grid(height, width, like=depth if _is_torch(depth) else None)
    ones = uv[..., :1] * 0 + 1
    homog = _cat([uv, ones], -1)
    K_inv = torch.linalg.inv(K) if _is_torch(K) else np.linalg.inv(K)
    p_cam = (homog @ _swap_last(K_inv)[..., None, :, :]) * depth[..., None]
    R = T_world_cam[..., :3, :3]
    t = T_world_cam[..., :3, 3]
    return p_cam @ _swap_last(R)[..., None, :, :] + t[..., None, None, :]


def look_at(eye: Array, target: Array, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world pose of an OpenCV camera at ``eye`` looking at ``target`` (numpy, (..., 4, 4)).

    z axis = normalized (target - eye); x = normalized(z x up) (right); y = z x x (down in the image).
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.broadcast_to(np.asarray(up, dtype=np.float64), eye.shape)
    z = target - eye
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, up)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    T = np.zeros(eye.shape[:-1] + (4, 4))
    T[..., :3, 0] = x
    T[..., :3, 1] = y
    T[..., :3, 2] = z
    T[..., :3, 3] = eye
    T[..., 3, 3] = 1.0
    return T


def intrinsics_from_fov(height: int, width: int, horizontal_fov_deg: float) -> np.ndarray:
    """Pinhole K (3, 3) with square pixels, principal point at the image centre ((W-1)/2, (H-1)/2)."""
    # math.tan (the C library's scalar tangent), not np.tan: numpy's SIMD kernels differ in the last bit between CPUs
    f = 0.5 * width / math.tan(math.radians(horizontal_fov_deg) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def scale_intrinsics(K: Array, sx: float, sy: float) -> Array:
    """Intrinsics after resizing an image by (sx, sy) with pixel-centre alignment.

    A pixel centre u maps to ``(u + 0.5) * s - 0.5``, hence ``f' = s f`` and ``c' = (c + 0.5) s - 0.5``.
    """
    K2 = K.clone() if _is_torch(K) else np.array(K, dtype=np.float64, copy=True)
    K2[..., 0, 0] = K[..., 0, 0] * sx
    K2[..., 0, 1] = K[..., 0, 1] * sx
    K2[..., 0, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5
    K2[..., 1, 1] = K[..., 1, 1] * sy
    K2[..., 1, 2] = (K[..., 1, 2] + 0.5) * sy - 0.5
    return K2


def viewing_direction(T_world_cam: Array) -> Array:
    """World-space optical axis (+z of the camera), (..., 3)."""
    return T_world_cam[..., :3, 2]


def camera_centre(T_world_cam: Array) -> Array:
    """World-space camera centre, (..., 3)."""
    return T_world_cam[..., :3, 3]
