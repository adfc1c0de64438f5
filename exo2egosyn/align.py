"""EgoExo-Align: predicts the ego first-frame latent from the exo first-frame latents and relative poses.

Shapes (B clips, V exo views, C latent channels, Tk exo latent frames used (default 1 = the first
frame), (hx, wx) exo latent grid, (h, w) ego latent grid, P = 6 * temporal_factor, p the token patch)::

    exo_latents  (B, V, C, Tk, hx, wx)  normalized WAN-VAE latents of the exo videos (first Tk latent frames)
    exo_plucker  (B, V, P, Tk, hx, wx)  exo pixel rays in the ego frame (geometry.exo_rays_in_ego_frame)
    ego_plucker  (B, 6, h, w)           ego pixel rays in the ego frame at frame 0 (intrinsics only)
    view_mask    (B, V) bool            False = missing view
    T_ego_exo    (B, V, 4, 4)           relative poses at frame 0 (choose the base view)
    returns      (B, C, 1, h, w)        the ego first-frame latent, used as WAN's image-condition latent

Equation (a small spatio-temporal transformer over views x exo latent frames x space)::

    k   = base view = argmax_{v : mask_v} <z_ego, z_exo_v>   (optical-axis cosine = T_ego_exo[v, 2, 2])
    b   = R(z_k[:, 0])                                      its first latent frame resampled onto (h, w)
    m   = Embed([z_v ; P_v]) + e_t       for every valid view v, exo latent frame t, patch   (memory tokens)
    q   = Embed([b ; P_ego])                                                                 (query tokens)
    q'  = Decoder_L(q, m)               L x (self-attention over q, cross-attention to m, MLP), pre-norm
    z0  = b + Unpatchify(W_0 LN(q'))    W_0 = 0 at init: an untrained Align returns the closest exo view

Trained with the latent alignment loss :func:`alignment_loss` against the normalized VAE latent of the
true ego first frame. No view-index embeddings: views are told apart by their rays only, so any V works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .multiexocon import resample_to_grid


def closest_view(T_ego_exo: torch.Tensor, view_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Index (B,) of the exo view whose optical axis is closest to the ego's: argmax of ``T_ego_exo[..., 2, 2]``.

    ``T_ego_exo[v, :3, 2]`` is exo v's optical axis in ego coordinates, so its z component is the cosine
    between the two viewing directions. T_ego_exo: (B, V, 4, 4); view_mask (B, V) bool.
    """
    score = T_ego_exo[..., 2, 2].float()
    if view_mask is not None:
        score = score.masked_fill(~view_mask.to(score.device), float("-inf"))
    return score.argmax(dim=1)


def alignment_loss(pred: torch.Tensor, target: torch.Tensor, cosine_weight: float = 0.0) -> torch.Tensor:
    """Latent alignment loss: ``mean (pred - target)^2 + cosine_weight * mean (1 - cos_C(pred, target))``.

    pred, target: (B, C, 1, h, w) normalized latents; the cosine is over channels at each position.
    """
    loss = F.mse_loss(pred.float(), target.float())
    if cosine_weight:
        loss = loss + cosine_weight * (1 - F.cosine_similarity(pred.float(), target.float(), dim=1)).mean()
    return loss


class EgoExoAlign(ModelMixin, ConfigMixin):
    """Predicts the ego first-frame latent (B, C, 1, h, w) from exo latents and rays (see module docstring)."""

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 16,
        hidden_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        patch_size: int = 1,
        pose_channels: int = 24,
        num_exo_frames: int = 1,
        resample: str = "bilinear",
    ):
        super().__init__()
        p = patch_size
        self.exo_embed = nn.Conv3d(latent_channels + pose_channels, hidden_dim, kernel_size=(1, p, p), stride=(1, p, p))
        self.query_embed = nn.Conv2d(latent_channels + 6, hidden_dim, kernel_size=p, stride=p)
        self.frame_embed = nn.Parameter(torch.zeros(num_exo_frames, hidden_dim))
        layer = nn.TransformerDecoderLayer(hidden_dim, num_heads, 4 * hidden_dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, num_layers)
        self.norm_out = nn.LayerNorm(hidden_dim)
        self.proj_out = nn.Linear(hidden_dim, latent_channels * p * p)
        nn.init.zeros_(self.proj_out.weight)  # zero-init: the untrained module returns the base view
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, exo_latents, exo_plucker, ego_plucker, view_mask=None, T_ego_exo=None, base_view=None):
        """See the module docstring; returns the predicted ego first-frame latent (B, C, 1, h, w)."""
        cfg = self.config
        p = cfg.patch_size
        B, V, C = exo_latents.shape[:3]
        h, w = ego_plucker.shape[-2:]
        dtype = self.exo_embed.weight.dtype
        device = exo_latents.device
        if view_mask is None:
            view_mask = torch.ones(B, V, dtype=torch.bool, device=device)
        view_mask = view_mask.to(device)
        if view_mask.device.type != "meta" and not bool(view_mask.any(dim=1).all()):
            raise ValueError("EgoExo-Align needs at least one valid exo view per clip")
        if base_view is None:
            base_view = (closest_view(T_ego_exo, view_mask) if T_ego_exo is not None
                         else view_mask.float().argmax(dim=1))
        base_view = base_view.to(device)

        Tk = min(cfg.num_exo_frames, exo_latents.shape[3])
        z = exo_latents[:, :, :, :Tk].to(dtype)
        rays = exo_plucker[:, :, :, :Tk].to(dtype)
        base = resample_to_grid(z[torch.arange(B, device=device), base_view, :, 0], (h, w), cfg.resample)  # (B,C,h,w)

        # memory tokens: every (view, exo latent frame, patch)
        x = torch.cat([z, rays], dim=2)  # (B, V, C + P, Tk, hx, wx)
        hx, wx = x.shape[-2:]
        if hx % p or wx % p:
            x = resample_to_grid(x, (max(p, hx // p * p), max(p, wx // p * p)))
        mem = self.exo_embed(x.flatten(0, 1))  # (B V, D, Tk, hx/p, wx/p)
        mem = mem + self.frame_embed[:Tk].to(mem.dtype)[None, :, :, None, None].transpose(1, 2)
        n_per_view = mem.shape[2] * mem.shape[3] * mem.shape[4]
        mem = mem.flatten(2).transpose(1, 2).unflatten(0, (B, V)).flatten(1, 2)  # (B, V * n, D)
        pad = (~view_mask)[:, :, None].expand(B, V, n_per_view).flatten(1)  # (B, V * n), True = ignore

        q = self.query_embed(torch.cat([base, ego_plucker.to(dtype)], dim=1))  # (B, D, h/p, w/p)
        q = q.flatten(2).transpose(1, 2)
        q = self.decoder(q, mem, memory_key_padding_mask=pad)
        delta = self.proj_out(self.norm_out(q))  # (B, (h/p)(w/p), C p p)
        delta = delta.transpose(1, 2).reshape(B, C * p * p, h // p, w // p)
        delta = F.pixel_shuffle(delta, p) if p > 1 else delta
        return (base + delta)[:, :, None]
