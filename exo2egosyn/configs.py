"""Configurations: the tiny CPU model, a larger CPU-sized one for timings, and the real Wan2.2-TI2V-5B.

Sizes (parameters, measured by ``tests/exo2egosyn/test_real_config.py`` / the README):

* ``tiny``  (ego 64x64, exo 64x96, 17 frames, 4 views, CPU): transformer 4 heads x 32 (inner 128), 6 layers,
  ffn 512, text_dim 32 (~1.9M parameters); UMT5 text encoder d_model 32, 2 layers, byte-level tokenizer (ByT5, no
  files). Two VAEs:
  - ``TINY_VAE`` (what ``build_tiny_components`` builds, random, for tests): Wan2.1-style, z_dim 16, 8x spatial,
    4x temporal, not residual -> ego latents 16 x 5 x 8 x 8 = 80 tokens with patch (1, 2, 2). Why not Wan2.2's
    (z_dim 48, 16x spatial): at 64x64 it gives 4x4 latents, 2x2 = 4 tokens per latent frame, too coarse for any
    spatial structure to be learned.
  - the shipped ``checkpoints/tiny-wan`` VAE (issue 10, ``configs/foundation-vae-v2.yaml``): ``TINY_VAE`` with
    z_dim 32, 4x spatial, Wan2.2-style residual sampling -> 32 x 5 x 16 x 16 latents, 320 tokens; the 8x VAE
    reconstructed the test ego clips at about 14 dB, this one at 19.4 (exo2egosyn/README.md).
  The pipeline is VAE-agnostic (reads z_dim / scale factors from the VAE config), so the same code runs
  the real 48-channel / 16x VAE.
* ``cpu-medium`` (ego 128x128): 6 heads x 64, 8 layers (~17M): the "larger CPU-sized" timing point.
* ``ti2v-5b``: Wan2.2-TI2V-5B transformer (24 x 128, 30 layers, ffn 14336, in/out 48; ~5.0e9).
"""

from __future__ import annotations

import copy

TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=32, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=256, ffn_dim=512, num_layers=6, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, rope_max_seq_len=64,
)
TINY_VAE = dict(
    base_dim=16, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1, attn_scales=[],
    temperal_downsample=[False, True, True], latents_mean=[0.0] * 16, latents_std=[1.0] * 16,
    is_residual=False, scale_factor_spatial=8, scale_factor_temporal=4,
)
TINY_TEXT_ENCODER = dict(
    vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
    relative_attention_num_buckets=8, relative_attention_max_distance=32, dropout_rate=0.0,
)
TINY_SCHEDULER = dict(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
                      flow_shift=3.0)

CPU_MEDIUM_TRANSFORMER = dict(TINY_TRANSFORMER, num_attention_heads=6, attention_head_dim=64, ffn_dim=1024,
                              num_layers=8)

TI2V_5B_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=24, attention_head_dim=128, in_channels=48, out_channels=48,
    text_dim=4096, freq_dim=256, ffn_dim=14336, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)
# Shape facts of the Wan2.2 VAE (the real weights and latents_mean / latents_std come from the model folder).
TI2V_5B_VAE_FACTS = dict(z_dim=48, scale_factor_spatial=16, scale_factor_temporal=4)
#: The Wan2.2 VAE's architecture (vae/config.json of Wan-AI/Wan2.2-TI2V-5B-Diffusers) with neutral latent statistics:
#: random-weight builds for cost measurements (benchmarks/); real runs load the folder's own config and weights.
TI2V_5B_VAE = dict(
    base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
    temperal_downsample=[False, True, True], dropout=0.0, is_residual=True, in_channels=12, out_channels=12,
    patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4,
    latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
)
#: UMT5-XXL encoder dimensions (WAN's text encoder; 4096-wide embeddings), for random-weight cost measurements.
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                feed_forward_proj="gated-gelu", dropout_rate=0.0)
TI2V_5B_HUB_ID = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"

#: Working resolution of each configuration: (ego height, ego width, frames, exo height, exo width).
RESOLUTIONS = {
    "tiny": dict(height=64, width=64, num_frames=17, exo_height=64, exo_width=96),
    "cpu-medium": dict(height=128, width=128, num_frames=17, exo_height=128, exo_width=192),
    "ti2v-5b": dict(height=704, width=1280, num_frames=121, exo_height=704, exo_width=1280),
}


def module_configs(transformer_config, vae_config, scale: str = "auto") -> dict:
    """Configs of the three modules sized for a backbone: ``{"align": ..., "multiexocon": ..., "poseinj": ...}``.

    ``scale``: ``"tiny"`` (hidden 64/64/32), ``"real"`` (hidden 512/256/128, Align patch 2), or ``"auto"``
    (real when the transformer is wider than 512).
    """
    inner = transformer_config["num_attention_heads"] * transformer_config["attention_head_dim"]
    patch = tuple(transformer_config["patch_size"])
    z_dim = vae_config["z_dim"]
    tf = vae_config.get("scale_factor_temporal", 4) or 4
    if scale == "auto":
        scale = "real" if inner > 512 else "tiny"
    real = scale == "real"
    pose_channels = 6 * tf
    # Align attends over the first-frame latent: patches of 2 for the real model; for a tiny one, patches that keep
    # its 8x8 tokens of a 64x64 frame (1 with an 8x VAE, 2 with a 4x VAE)
    align_patch = 2 if real else max(1, 8 // int(vae_config.get("scale_factor_spatial", 8) or 8))
    return {
        "align": dict(latent_channels=z_dim, hidden_dim=512 if real else 64, num_layers=4 if real else 2,
                      num_heads=8 if real else 4, patch_size=align_patch, pose_channels=pose_channels,
                      num_exo_frames=1, resample="bilinear"),
        "multiexocon": dict(latent_channels=z_dim, inner_dim=inner, hidden_dim=256 if real else 64, patch_size=patch,
                            pose_channels=pose_channels, num_res_blocks=2 if real else 1, pooling="attention",
                            resample="bilinear", res_kernel_size=(3, 3, 3) if real else (1, 3, 3)),
        "poseinj": dict(inner_dim=inner, hidden_dim=128 if real else 32, patch_size=patch,
                        pose_channels=pose_channels),
    }


def build_tiny_components(seed: int = 0, transformer_config: dict | None = None) -> dict:
    """Freshly initialized tiny WAN components (deterministic for a seed): transformer, vae, text_encoder,
    tokenizer, scheduler. Nothing is downloaded."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    cpu_rng = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        transformer = WanTransformer3DModel(**copy.deepcopy(transformer_config or TINY_TRANSFORMER))
        torch.manual_seed(seed + 1)
        vae = AutoencoderKLWan(**copy.deepcopy(TINY_VAE))
        torch.manual_seed(seed + 2)
        text_encoder = UMT5EncoderModel(UMT5Config(**TINY_TEXT_ENCODER)).eval()
    finally:
        torch.random.set_rng_state(cpu_rng)
    return dict(transformer=transformer.eval(), vae=vae.eval(), text_encoder=text_encoder,
                tokenizer=ByT5Tokenizer(), scheduler=UniPCMultistepScheduler(**TINY_SCHEDULER))


def build_modules(transformer_config, vae_config, use_align=True, use_multiexocon=True, use_poseinj=True,
                  scale: str = "auto", seed: int | None = 0, overrides: dict | None = None) -> dict:
    """Freshly initialized modules for a backbone (None where disabled), deterministic for a seed."""
    import torch

    from .align import EgoExoAlign
    from .multiexocon import MultiExoCon
    from .poseinj import PoseInj

    cfgs = module_configs(dict(transformer_config), dict(vae_config), scale)
    for name, extra in (overrides or {}).items():
        cfgs[name].update(extra)
    classes = {"align": EgoExoAlign, "multiexocon": MultiExoCon, "poseinj": PoseInj}
    flags = {"align": use_align, "multiexocon": use_multiexocon, "poseinj": use_poseinj}
    out = {}
    cpu_rng = torch.random.get_rng_state()
    try:
        for i, name in enumerate(("align", "multiexocon", "poseinj")):
            if seed is not None:
                torch.manual_seed(seed + 100 + i)
            out[name] = classes[name](**cfgs[name]).eval() if flags[name] else None
    finally:
        torch.random.set_rng_state(cpu_rng)
    return out
