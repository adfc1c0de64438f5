"""The loss modules of the three stages (what ``accelerate`` wraps): VAE (L1 + KL), flow matching, alignment."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .. import conditioning


class VAEStep(nn.Module):
    """L1 reconstruction + KL of the WAN VAE on a batch of videos (B, 3, T, H, W) in [-1, 1].

    The videos go through the causal encoder / decoder whole (frame 0, then chunks of 4 frames, each chunk
    reading the cached activations of the previous one), exactly as inference encodes and decodes them.
    """

    def __init__(self, vae, kl_weight):
        super().__init__()
        self.vae, self.kl_weight = vae, kl_weight

    def forward(self, x, generator):
        post = self.vae.encode(x).latent_dist
        z = post.sample(generator=generator)
        rec = self.vae.decode(z).sample
        rec_loss = (rec - x).abs().mean()
        kl = 0.5 * (post.mean.pow(2) + post.var - 1.0 - post.logvar).mean()
        return rec_loss + self.kl_weight * kl


def flow_inputs(x0, condition, noise, sigma, patch_size):
    """Noisy WAN TI2V input with the clean first latent frame and per-token timesteps (0 on frame 0).

    ``x_t = (1 - sigma) x0 + sigma noise`` on the generated frames, the condition latent on frame 0, timesteps
    ``1000 sigma`` per token (the pipeline's denoising loop builds its inputs with the same functions of
    :mod:`exo2egosyn.conditioning`); target ``noise - x0`` (flow matching velocity).
    """
    B, C, Tl, h, w = x0.shape
    s = sigma.view(B, 1, 1, 1, 1)
    xt = (1 - s) * x0 + s * noise
    mask = conditioning.first_frame_mask(Tl, h, w, device=x0.device, dtype=x0.dtype)
    latent_in = conditioning.with_clean_first_frame(xt, condition, mask)
    timestep = conditioning.token_timesteps(mask, sigma * 1000.0, patch_size, B)  # (B, seq)
    target = noise - x0
    return latent_in, timestep, target


class FlowStep(nn.Module):
    """Flow-matching loss of the transformer (+ optional Exo2EgoSyn injection modules), frames >= 1 only."""

    def __init__(self, transformer, multiexocon=None, poseinj=None):
        super().__init__()
        self.transformer, self.multiexocon, self.poseinj = transformer, multiexocon, poseinj

    def injection(self, exo_latents, rays_exo, rays_ego, ego_latent_size: tuple):
        """MultiExoCon(exo latents, exo rays) + PoseInj(ego rays), (B, inner, T', H', W'), or None without both."""
        injection = None
        if self.multiexocon is not None:
            injection = self.multiexocon(exo_latents, rays_exo, None, ego_latent_size=tuple(ego_latent_size))
        if self.poseinj is not None:
            p = self.poseinj(rays_ego, None)
            injection = p if injection is None else injection + p
        return injection

    def forward(self, x0, condition, text, noise, sigma, exo_latents=None, rays_exo=None, rays_ego=None):
        from ..pipeline import patch_embedding_addition

        latent_in, timestep, target = flow_inputs(x0, condition, noise, sigma, self.transformer.config.patch_size)
        injection = self.injection(exo_latents, rays_exo, rays_ego, tuple(x0.shape[-2:]))
        with patch_embedding_addition(self.transformer, injection):
            pred = self.transformer(hidden_states=latent_in, timestep=timestep, encoder_hidden_states=text,
                                    return_dict=False)[0]
        return F.mse_loss(pred[:, :, 1:].float(), target[:, :, 1:].float())


class AlignStep(nn.Module):
    def __init__(self, align, cosine_weight=0.0):
        super().__init__()
        self.align, self.cosine_weight = align, cosine_weight

    def forward(self, exo_latents, rays_exo, ego_rays0, base_view, target):
        from ..align import alignment_loss

        pred = self.align(exo_latents, rays_exo, ego_rays0, base_view=base_view)
        return alignment_loss(pred, target, self.cosine_weight)
