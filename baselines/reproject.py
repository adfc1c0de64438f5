"""``reproject``: forward-warp exo pixels into the ego camera with depth (oracle depth on synthetic data).

For every frame t and exo view v, each exo pixel with depth ``z > 0`` is lifted to the world and
projected into the ego camera:

    p_world = T_world_exo (z K_exo^-1 [u, v, 1]^T),     [u', v'] = pi(K_ego, inv(T_world_ego(t)) p_world)

Points nearer to the ego camera than ``near`` (0.2 m; the wearer's own head) are dropped. Points from all
views are splatted to their nearest ego pixel with a z-buffer (the nearest surface wins;
ties go to the lowest point index, so the result is deterministic). Each exo pixel is first split into
``supersample x supersample`` sub-pixels (depth and colour repeated) so that magnified regions, which the
ego camera sees from closer than the exo cameras, are covered without cracks. Remaining holes are filled
by repeatedly averaging their already-filled 3x3 neighbours; pixels no view sees at all end up with the
colour of their nearest filled region.

Uses ``inputs.exo_depth``: it is an **oracle** method on datasets that ship exo depth (the synthetic one),
and fails with a clear error on datasets without depth. On co-visible pixels it reproduces the true ego
frame almost exactly, which makes it the end-to-end test of the camera conventions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.cameras import invert_se3
from benchmark.errors import UsageError
from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs
from benchmark.threads import torch_threads


def splat_to_camera(points: torch.Tensor, colors: torch.Tensor, K: torch.Tensor, T_world_cam: torch.Tensor,
                    height: int, width: int, near: float = 1e-3, depth_tolerance: float = 0.03):
    """Z-buffered nearest-pixel splat.

    Every point goes to the pixel its projection rounds to. Among the points of a pixel, those within
    ``depth_tolerance`` (relative) of the nearest depth belong to the visible surface; of these the one
    projecting closest to the pixel centre gives the colour (a plain "nearest depth wins" rule would pick
    the sample at the pixel's near edge on every slanted surface and shift textures by up to half a pixel).
    Remaining ties go to the lowest point index, so the result is deterministic.

    Args:
        points: (N, 3) world points; colors: (N, C); K: (3, 3); T_world_cam: (4, 4).
    Returns:
        image (H, W, C) float, depth (H, W) (0 where empty), filled (H, W) bool.
    """
    T_cam_world = invert_se3(T_world_cam)
    p = points @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    z = p[:, 2]
    uv = (p[:, :2] / z.clamp(min=near)[:, None]) @ K[:2, :2].T + K[:2, 2]
    px = torch.round(uv).long()
    ok = (z > near) & (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
    idx = px[ok, 1] * width + px[ok, 0]
    z_ok, c_ok = z[ok], colors[ok]
    offset2 = ((uv[ok] - px[ok].to(uv.dtype)) ** 2).sum(-1)  # squared distance to the pixel centre
    n_pix = height * width
    zbuf = torch.full((n_pix,), float("inf"), dtype=z.dtype)
    zbuf.scatter_reduce_(0, idx, z_ok, reduce="amin")
    front = z_ok <= zbuf[idx] * (1.0 + depth_tolerance)
    best_off = torch.full((n_pix,), float("inf"), dtype=z.dtype)
    best_off.scatter_reduce_(0, idx[front], offset2[front], reduce="amin")
    winner = front & (offset2 == best_off[idx])
    order = torch.arange(z_ok.shape[0])
    best = torch.full((n_pix,), z_ok.shape[0], dtype=torch.long)
    best.scatter_reduce_(0, idx[winner], order[winner], reduce="amin")
    filled = best < z_ok.shape[0]
    image = torch.zeros(n_pix, colors.shape[1], dtype=colors.dtype)
    image[filled] = c_ok[best[filled]]
    depth = torch.where(filled, zbuf, torch.zeros_like(zbuf))
    return image.view(height, width, -1), depth.view(height, width), filled.view(height, width)


def fill_holes(image: torch.Tensor, filled: torch.Tensor, max_iters: int = 256) -> torch.Tensor:
    """Fill empty pixels (H, W, C) by iterated 3x3 averaging of filled neighbours (diffusion inpainting)."""
    img = image.permute(2, 0, 1)[None]  # (1, C, H, W)
    mask = filled[None, None].to(img.dtype)
    kernel = torch.ones(1, 1, 3, 3, dtype=img.dtype)
    for _ in range(max_iters):
        if bool(mask.all()):
            break
        C = img.shape[1]
        s = F.conv2d(F.pad(img * mask, (1, 1, 1, 1), mode="replicate"), kernel.expand(C, 1, 3, 3), groups=C)
        n = F.conv2d(F.pad(mask, (1, 1, 1, 1), mode="replicate"), kernel)
        new = (mask == 0) & (n > 0)
        img = torch.where(new, s / n.clamp(min=1), img)
        mask = torch.where(new, torch.ones_like(mask), mask)
    if not bool(mask.all()):  # nothing was visible at all: a neutral grey, not black
        img = torch.where(mask > 0, img, torch.full_like(img, 0.5))
    return img[0].permute(1, 2, 0)


class Reproject(Generator):
    tracks = ("exo-only", "first-frame")
    oracle = True
    needs_exo_depth = True

    def __init__(self, supersample: int = 3, fill_holes: bool = True, near: float = 0.2):
        # the user's --method-arg values: a wrong one is a usage error naming it, not a traceback on the first clip
        if isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer)) or supersample < 1:
            raise UsageError(f"reproject: supersample (--method-arg supersample=N) must be an integer >= 1 "
                             f"(sub-pixels per exo pixel side), got {supersample!r}")
        if not isinstance(fill_holes, (bool, np.bool_)):
            raise UsageError(f"reproject: fill_holes (--method-arg fill_holes=true|false) must be true or false, "
                             f"got {fill_holes!r}")
        if isinstance(near, bool) or not isinstance(near, (int, float, np.number)) or not 0 < float(near) < np.inf:
            raise UsageError(f"reproject: near (--method-arg near=METRES) must be a positive finite distance in "
                             f"metres, got {near!r}")
        self.supersample = int(supersample)
        self.fill = bool(fill_holes)
        # The exo cameras see the wearer's own head, which surrounds the ego camera: its surface lies a few
        # centimetres in front of the lens and would be splatted over the whole image. A head-mounted camera
        # sees nothing nearer than the wearer's face, so points nearer than ``near`` metres are dropped.
        self.near = float(near)

    def config(self) -> dict:
        return {"depth": "exo_depth from the dataset (oracle on synthetic data)", "supersample": self.supersample,
                "splat": "nearest pixel, z-buffer", "near_m": self.near, "hole_filling": "iterated 3x3 mean" if self.fill else "none (black)"}

    def warp_frame(self, inputs: ExoEgoInputs, t: int):
        """Splat all exo views of frame ``t`` into the ego camera: returns (image (H,W,3) in [0,1], filled mask)."""
        V = inputs.num_views
        s = self.supersample
        T_world_exo = torch.tensor(inputs.exo_T_world_cam_per_frame()[:, t], dtype=torch.float64)
        points, colors = [], []
        for v in range(V):
            depth = torch.from_numpy(inputs.exo_depth[v, t].astype(np.float64))
            rgb = torch.from_numpy(inputs.exo_video[v, t].astype(np.float64) / 255.0)
            H, W = depth.shape
            # Sub-pixel sample positions: pixel centre u + (k + 0.5)/s - 0.5, k = 0..s-1.
            offs = (torch.arange(s, dtype=torch.float64) + 0.5) / s - 0.5
            u = (torch.arange(W, dtype=torch.float64)[:, None] + offs).reshape(-1)
            vv = (torch.arange(H, dtype=torch.float64)[:, None] + offs).reshape(-1)
            gv, gu = torch.meshgrid(vv, u, indexing="ij")
            d = depth.repeat_interleave(s, 0).repeat_interleave(s, 1)
            c = rgb.repeat_interleave(s, 0).repeat_interleave(s, 1)
            ok = d > 0
            K_inv = torch.linalg.inv(torch.from_numpy(inputs.exo_K[v]).double())
            homog = torch.stack([gu[ok], gv[ok], torch.ones_like(gu[ok])], -1)
            p_cam = (homog @ K_inv.T) * d[ok][:, None]
            Tw = T_world_exo[v]
            points.append(p_cam @ Tw[:3, :3].T + Tw[:3, 3])
            colors.append(c[ok])
        K_ego = torch.from_numpy(inputs.ego_K).double()
        T_ego = torch.from_numpy(inputs.ego_T_world_cam[t]).double()
        image, _, filled = splat_to_camera(torch.cat(points), torch.cat(colors), K_ego, T_ego,
                                           inputs.ego_height, inputs.ego_width, near=self.near)
        return image, filled

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        if inputs.exo_depth is None:
            raise ValueError(
                f"clip {inputs.clip_id!r}: method 'reproject' needs exo depth maps (inputs.exo_depth), "
                "which this dataset does not provide; it runs on datasets with depth (e.g. synth)."
            )
        frames = []
        with torch_threads(1):  # per-frame ops are small: threads only add overhead
            for t in range(inputs.num_frames):
                image, filled = self.warp_frame(inputs, t)
                if self.fill:
                    image = fill_holes(image, filled)
                frames.append((image * 255.0).round().clamp(0, 255).to(torch.uint8).numpy())
        return np.stack(frames)
