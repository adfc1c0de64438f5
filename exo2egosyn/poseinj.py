"""PoseInj: pose-aware latent injection of the relative exo-to-ego camera poses, per frame.

Shapes (B clips, V exo views, P = 6 * temporal_factor, T' latent frames, (h, w) ego latent grid)::

    ego_plucker  (B, V, P, T', h, w)   ego pixel rays in each exo camera's frame (geometry.ego_rays_in_exo_frames),
                                        the temporal_factor frames of each latent frame stacked on channels
    view_mask    (B, V) bool           False = missing view
    returns      (B, inner, T'/pt, h/ph, w/pw)   added to the output of transformer.patch_embedding

Equation::

    e_v  = SiLU(W_1 P_v)                    shared per-view pointwise ray encoder
    e    = sum_{v : mask_v} e_v / |mask|     masked mean over views (order- and count-invariant)
    out  = W_0 * SiLU(W_2 * e)               W_2: 1x3x3 conv (spatial context, after pooling: cost independent
                                             of V); W_0: Conv3d with the patch kernel/stride, W_0 = 0 at init

The rays are per video frame, not one pose per clip: a latent frame sees the 4 poses it covers (stacked
on channels), so fast head turns inside the clip stay visible to the model (a reported weakness of
whole-clip pose injection).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PoseInj(ModelMixin, ConfigMixin):
    """Encodes per-frame relative-pose Plücker maps into an additive token conditioning (zero at init)."""

    @register_to_config
    def __init__(
        self,
        inner_dim: int = 128,
        hidden_dim: int = 32,
        patch_size: tuple = (1, 2, 2),
        pose_channels: int = 24,
    ):
        super().__init__()
        self.conv1 = nn.Conv3d(pose_channels, hidden_dim, kernel_size=1)
        self.conv2 = nn.Conv3d(hidden_dim, hidden_dim, kernel_size=(1, 3, 3), padding=(0, 1, 1))
        self.proj_out = nn.Conv3d(hidden_dim, inner_dim, kernel_size=tuple(patch_size), stride=tuple(patch_size))
        nn.init.zeros_(self.proj_out.weight)  # zero-init: the backbone is unchanged until trained
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, ego_plucker: torch.Tensor, view_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ego_plucker (B, V, P, T', h, w), view_mask (B, V) bool -> (B, inner, T'/pt, h/ph, w/pw)."""
        B, V = ego_plucker.shape[:2]
        if view_mask is None:
            view_mask = torch.ones(B, V, dtype=torch.bool, device=ego_plucker.device)
        if view_mask.device.type != "meta" and not bool(view_mask.any(dim=1).all()):
            raise ValueError("PoseInj needs at least one valid exo view per clip")
        x = ego_plucker.to(self.conv1.weight.dtype).flatten(0, 1)
        e = F.silu(self.conv1(x)).unflatten(0, (B, V))  # (B, V, D, T', h, w)
        m = view_mask.to(e.device)[:, :, None, None, None, None].to(e.dtype)
        e = (e * m).sum(dim=1) / m.sum(dim=1)
        return self.proj_out(F.silu(self.conv2(e)))
