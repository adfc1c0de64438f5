"""``first-frame-rotate``: a geometric baseline of the ``first-frame`` track, the given first ego frame turned with the head.

On the ``first-frame`` track a method receives the true first ego frame ``f`` (H, W, 3) and, like every method,
the ego camera's intrinsics ``K`` (pixels of the ego video) and its per-frame poses ``T_t`` (camera-to-world,
rotation ``R_t``). A pixel ``x_t`` of frame ``t`` (homogeneous, pixel centres at integer + 0.5) looks along the
world ray ``R_t K^-1 x_t``; frame 0 saw that direction at::

    x_0 ~ H_t x_t,    H_t = K R_0^T R_t K^-1

(the infinite homography: exact for a camera that only turns, or for a scene far away). Frame ``t`` of the output
is ``f`` sampled at ``H_t x_t`` bilinearly; a pixel whose source falls outside ``f`` takes the nearest border
pixel; the result is rounded half to even to uint8 (``torch.round``). Frame 0 is ``f`` itself (``H_0 = I``).
Translation of the head and the parallax it causes are ignored, which is what separates this baseline from a
method that understands the scene.

It measures how much of the clip the first frame and the known ego rotation explain together, with no learning:
on the synthetic test split 18.16 dB / 0.547 SSIM on frames 1-16 (the given frame is not scored), against 14.85 /
0.287 for the same frame held still (``first-frame-still``). A first-frame method that does not clear it does not
yet use the ego poses it is given. ``first-frame`` track only; refused on ``exo-only``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs
from benchmark.threads import torch_threads

from .first_frame_still import given_first_frame


def rotation_warp(frame0: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) first frame, K (3, 3) in its pixels, T_world_cam (T, 4, 4) -> uint8 (T, H, W, 3).

    Frame t is ``frame0`` sampled at ``K R_0^T R_t K^-1 x`` for every pixel centre ``x`` (float64, bilinear,
    border padding); see the module docstring.
    """
    frame0 = np.asarray(frame0)
    if frame0.dtype != np.uint8 or frame0.ndim != 3 or frame0.shape[-1] != 3:
        raise ValueError(f"rotation_warp expects a uint8 (H, W, 3) frame, got {frame0.dtype} {frame0.shape}")
    h, w = frame0.shape[:2]
    Kt = torch.as_tensor(np.asarray(K), dtype=torch.float64)
    R = torch.as_tensor(np.asarray(T_world_cam)[:, :3, :3], dtype=torch.float64)  # (T, 3, 3)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5,
                            indexing="ij")
    pix = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(-1, 3)  # (H W, 3)
    H = Kt @ R[0].T @ R @ torch.linalg.inv(Kt)  # (T, 3, 3): frame-t pixel -> frame-0 pixel
    src = torch.einsum("tij,pj->tpi", H, pix)
    src = src[..., :2] / src[..., 2:].clamp(min=1e-9)
    t = R.shape[0]
    grid = torch.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1).reshape(t, h, w, 2)
    image = torch.from_numpy(np.ascontiguousarray(frame0)).permute(2, 0, 1)[None].double().expand(t, -1, -1, -1)
    warped = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return warped.permute(0, 2, 3, 1).round().clamp(0, 255).byte().numpy()


class FirstFrameRotate(Generator):
    """The given first ego frame warped to every frame by the ego camera's rotation (``first-frame`` track only)."""

    tracks = ("first-frame",)

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        frame = given_first_frame(inputs, "first-frame-rotate")
        with torch_threads(1):
            return rotation_warp(frame, inputs.ego_K, inputs.ego_T_world_cam)

    def config(self) -> dict:
        return {"warp": "frame t = first frame sampled at K R_0^T R_t K^-1 x (rotation only), bilinear, float64, "
                        "border padding, rounded half to even",
                "inputs": "the first ego frame, the ego intrinsics and per-frame poses (first-frame track)"}
