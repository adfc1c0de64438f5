"""The real Wan2.2-TI2V-5B configuration with all modules, on the meta device (no memory, no weights)."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from exo2egosyn import geometry
from exo2egosyn.configs import TI2V_5B_TRANSFORMER, TI2V_5B_VAE_FACTS, build_modules
from exo2egosyn.pipeline import patch_embedding_addition
from exo2egosyn.testing import synthetic_rig


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def model():
    with torch.device("meta"):
        transformer = WanTransformer3DModel(**TI2V_5B_TRANSFORMER)
        modules = build_modules(transformer.config, TI2V_5B_VAE_FACTS, seed=None)
    return transformer, modules


def test_backbone_has_five_billion_parameters_and_modules_add_under_one_percent(model):
    transformer, modules = model
    n = _count(transformer)
    assert abs(n - 5.0e9) / 5.0e9 < 0.03, n
    counts = {k: _count(m) for k, m in modules.items()}
    print("TI2V-5B backbone", n, "modules", counts)
    assert all(c > 0 for c in counts.values())
    assert sum(counts.values()) < 0.01 * n


@pytest.mark.parametrize("height,width,frames", [(480, 832, 81), (704, 1280, 121)])
def test_shapes_flow_for_four_exo_views_at_real_resolution(model, height, width, frames):
    transformer, modules = model
    B, V, C = 1, 4, TI2V_5B_VAE_FACTS["z_dim"]
    s, tf = TI2V_5B_VAE_FACTS["scale_factor_spatial"], TI2V_5B_VAE_FACTS["scale_factor_temporal"]
    T = (frames - 1) // tf + 1
    h, w = height // s, width // s
    hx, wx = 1088 // s, 1920 // s  # Ego-Exo4D-like 16:9 exo views at a different resolution
    # the geometry is real (small), at the real latent grids
    rig = {k: torch.from_numpy(v) for k, v in synthetic_rig(V, frames, (height, width), (1088, 1920)).items()}
    exo_T = rig["exo_T_world_cam"][None, :, None].expand(B, V, frames, 4, 4)
    ego_rays = geometry.pack_to_latent_frames(geometry.ego_rays_in_exo_frames(
        rig["ego_K"][None], rig["ego_T_world_cam"][None], exo_T, h, w, image_size=(height, width)), tf)
    exo_rays = geometry.pack_to_latent_frames(geometry.exo_rays_in_ego_frame(
        rig["exo_K"][None], exo_T, rig["ego_T_world_cam"][None], hx, wx, image_size=(1088, 1920)), tf)
    assert ego_rays.shape == (B, V, 6 * tf, T, h, w) and exo_rays.shape == (B, V, 6 * tf, T, hx, wx)

    meta = dict(device="meta")
    mask = torch.ones(B, V, dtype=torch.bool, **meta)
    exo_latents = torch.empty(B, V, C, T, hx, wx, **meta)
    injection = modules["multiexocon"](exo_latents, exo_rays.to(**meta), mask, (h, w)) + \
        modules["poseinj"](ego_rays.to(**meta), mask)
    inner = TI2V_5B_TRANSFORMER["num_attention_heads"] * TI2V_5B_TRANSFORMER["attention_head_dim"]
    assert injection.shape == (B, inner, T, h // 2, w // 2)
    first = modules["align"](exo_latents[:, :, :, :1], exo_rays[:, :, :, :1].to(**meta),
                             torch.empty(B, 6, h, w, **meta), mask, base_view=torch.zeros(B, dtype=torch.long, **meta))
    assert first.shape == (B, C, 1, h, w)

    latents = torch.empty(B, C, T, h, w, **meta)
    timestep = torch.empty(B, T * (h // 2) * (w // 2), **meta)  # per-token timesteps (TI2V)
    with patch_embedding_addition(transformer, injection):
        out = transformer(latents, timestep, torch.empty(B, 512, 4096, **meta)).sample
    assert out.shape == latents.shape
