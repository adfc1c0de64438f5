"""MultiExoCon: multi-view exocentric video conditioning, injected channel-wise into WAN's tokens.

Shapes (B clips, V exo views, C latent channels, T' latent frames, (hx, wx) exo latent grid,
(h, w) ego latent grid, P = 6 * temporal_factor pose channels, D hidden channels, (pt, ph, pw) the
transformer's patch size, ``inner`` its width)::

    exo_latents  (B, V, C, T', hx, wx)   normalized WAN-VAE latents of the exo videos
    exo_plucker  (B, V, P, T', hx, wx)   exo pixel rays in the ego frame (geometry.exo_rays_in_ego_frame)
    view_mask    (B, V) bool             False = missing view (padding); at least one view per clip
    returns      (B, inner, T'/pt, h/ph, w/pw)   added to the output of transformer.patch_embedding

Equation, per latent position ``x`` of the ego grid::

    f_v(x) = SiLU(W_in [ R(z_v) ; R(P_v) ](x))          shared per-view pointwise encoder, R = resample
    a_v(x) = softmax_{v : mask_v} ( w . f_v(x) )        attention pooling over views ("mean": a_v = 1/|mask|)
    c      = Res_N( sum_v a_v f_v )                      N residual conv blocks after pooling (cost independent of V)
    out    = W_0 * SiLU(GN(c))                           Conv3d with the patch kernel/stride, W_0 = 0 at init

``W_0 * c`` added to ``patch_embedding(z)`` is exactly a ``patch_embedding`` widened by D input channels whose
new weights start at zero (Wan I2V's channel-concat conditioning), computed once per clip instead of once
per denoising step, and with any number of views folded into a fixed width - no extra tokens, so the
transformer's cost does not grow with V.

Resampling onto the ego grid (``resample``): exo and ego cameras have different aspect ratios (e.g. 64x96
vs 64x64), and an exo pixel has no fixed ego pixel it corresponds to; the grid alignment is only a
container. ``"bilinear"`` (default) squashes the whole exo field of view onto the ego grid (antialiased),
keeping every exo pixel; the Plücker channels are resampled with it, so each feature keeps the ray it was
seen along and the true geometry stays available. ``"center-crop"`` crops the exo latent to the ego
aspect then resizes (keeps the pixel aspect, drops the sides).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def resample_to_grid(x: torch.Tensor, size: tuple, mode: str = "bilinear") -> torch.Tensor:
    """Resample the last two (spatial) dims of ``x`` (..., H, W) to ``size`` (h, w).

    ``mode``: ``"bilinear"`` (antialiased, whole field of view) or ``"center-crop"`` (crop to the target
    aspect, then bilinear).
    """
    h, w = size
    H, W = x.shape[-2:]
    if mode == "center-crop":
        target_aspect = w / h
        if W / H > target_aspect:
            new_w = max(1, round(H * target_aspect))
            x0 = (W - new_w) // 2
            x = x[..., :, x0:x0 + new_w]
        else:
            new_h = max(1, round(W / target_aspect))
            y0 = (H - new_h) // 2
            x = x[..., y0:y0 + new_h, :]
        H, W = x.shape[-2:]
    elif mode != "bilinear":
        raise ValueError(f"unknown resample mode {mode!r}; expected 'bilinear' or 'center-crop'")
    if (H, W) == (h, w):
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, H, W)
    out = F.interpolate(flat.float(), size=(h, w), mode="bilinear", align_corners=False,
                        antialias=(h < H or w < W))
    return out.to(x.dtype).reshape(*lead, h, w)


class _ResBlock3d(nn.Module):
    def __init__(self, dim: int, kernel_size=(3, 3, 3)):
        super().__init__()
        self.norm = nn.GroupNorm(min(8, dim), dim)
        self.conv = nn.Conv3d(dim, dim, kernel_size=tuple(kernel_size), padding=tuple(k // 2 for k in kernel_size))

    def forward(self, x):
        return x + self.conv(F.silu(self.norm(x)))


class MultiExoCon(ModelMixin, ConfigMixin):
    """Aggregates V exo videos (any V >= 1, masked) into one additive token conditioning (see module docstring)."""

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 16,
        inner_dim: int = 128,
        hidden_dim: int = 64,
        patch_size: tuple = (1, 2, 2),
        pose_channels: int = 24,
        num_res_blocks: int = 1,
        pooling: str = "attention",
        resample: str = "bilinear",
        res_kernel_size: tuple = (3, 3, 3),
    ):
        super().__init__()
        if pooling not in ("attention", "mean"):
            raise ValueError(f"pooling must be 'attention' or 'mean', got {pooling!r}")
        self.conv_in = nn.Conv3d(latent_channels + pose_channels, hidden_dim, kernel_size=1)
        self.blocks = nn.ModuleList([_ResBlock3d(hidden_dim, res_kernel_size) for _ in range(num_res_blocks)])
        self.norm_out = nn.GroupNorm(min(8, hidden_dim), hidden_dim)
        self.view_score = nn.Conv3d(hidden_dim, 1, kernel_size=1) if pooling == "attention" else None
        self.proj_out = nn.Conv3d(hidden_dim, inner_dim, kernel_size=tuple(patch_size), stride=tuple(patch_size))
        nn.init.zeros_(self.proj_out.weight)  # zero-init: the backbone is unchanged until trained
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, exo_latents, exo_plucker, view_mask=None, ego_latent_size=None):
        """exo_latents (B, V, C, T', hx, wx), exo_plucker (B, V, P, T', hx, wx), view_mask (B, V) bool,
        ego_latent_size (h, w) -> (B, inner, T'/pt, h/ph, w/pw)."""
        B, V, C, Tl, hx, wx = exo_latents.shape
        h, w = ego_latent_size if ego_latent_size is not None else (hx, wx)
        dtype = self.conv_in.weight.dtype
        if view_mask is None:
            view_mask = torch.ones(B, V, dtype=torch.bool, device=exo_latents.device)
        if view_mask.device.type != "meta" and not bool(view_mask.any(dim=1).all()):
            raise ValueError("MultiExoCon needs at least one valid exo view per clip")
        x = torch.cat([exo_latents.to(dtype), exo_plucker.to(dtype)], dim=2)  # (B, V, C + P, T', hx, wx)
        x = resample_to_grid(x, (h, w), self.config.resample)
        f = F.silu(self.conv_in(x.flatten(0, 1))).unflatten(0, (B, V))  # (B, V, D, T', h, w)
        m = view_mask.to(f.device)[:, :, None, None, None, None]
        if self.view_score is not None:
            score = self.view_score(f.flatten(0, 1)).unflatten(0, (B, V)).float()  # (B, V, 1, T', h, w)
            score = score.masked_fill(~m, float("-inf"))
            weight = torch.softmax(score, dim=1).to(f.dtype)
        else:
            weight = m.to(f.dtype) / m.sum(dim=1, keepdim=True).to(f.dtype)
        c = (weight * f.masked_fill(~m, 0.0)).sum(dim=1)  # (B, D, T', h, w)
        for block in self.blocks:
            c = block(c)
        return self.proj_out(F.silu(self.norm_out(c)))
