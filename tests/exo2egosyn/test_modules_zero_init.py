"""The three modules: zero-init identities, any number of views, missing views, output shapes."""

import pytest
import torch

from exo2egosyn.align import EgoExoAlign, closest_view
from exo2egosyn.multiexocon import MultiExoCon, resample_to_grid
from exo2egosyn.poseinj import PoseInj

B, C, TL, HX, WX, H, W, P = 2, 16, 5, 8, 12, 8, 8, 24


def _inputs(V, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, V, C, TL, HX, WX, generator=g), torch.randn(B, V, P, TL, HX, WX, generator=g),
            torch.randn(B, V, P, TL, H, W, generator=g))


def _perturb(module, seed=1):
    """Stand-in for training: give the zero-initialized output projection nonzero weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.proj_out.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module


def test_fresh_multiexocon_outputs_exactly_zero():
    z, r, _ = _inputs(4)
    out = MultiExoCon(latent_channels=C, inner_dim=128)(z, r, ego_latent_size=(H, W))
    assert out.shape == (B, 128, TL, H // 2, W // 2)
    assert torch.count_nonzero(out) == 0


def test_fresh_poseinj_outputs_exactly_zero():
    _, _, rays = _inputs(4)
    out = PoseInj(inner_dim=128)(rays)
    assert out.shape == (B, 128, TL, H // 2, W // 2)
    assert torch.count_nonzero(out) == 0


def test_fresh_align_returns_the_closest_exo_view_resampled():
    z, r, _ = _inputs(3)
    T_ego_exo = torch.eye(4).repeat(B, 3, 1, 1)
    T_ego_exo[:, :, 2, 2] = torch.tensor([[0.1, 0.9, -0.5], [0.8, 0.2, 0.3]])  # optical-axis cosines
    assert closest_view(T_ego_exo).tolist() == [1, 0]
    out = EgoExoAlign(latent_channels=C)(z, r, torch.randn(B, 6, H, W), T_ego_exo=T_ego_exo)
    expected = torch.stack([resample_to_grid(z[0, 1, :, 0], (H, W)), resample_to_grid(z[1, 0, :, 0], (H, W))])
    torch.testing.assert_close(out[:, :, 0], expected)


@pytest.mark.parametrize("patch_size", [1, 2])
def test_align_output_has_the_shape_of_the_ego_first_frame_latent(patch_size):
    z, r, _ = _inputs(3)
    align = _perturb(EgoExoAlign(latent_channels=C, patch_size=patch_size))
    out = align(z, r, torch.randn(B, 6, H, W))
    assert out.shape == (B, C, 1, H, W)


@pytest.mark.parametrize("V", [1, 2, 3, 4])
def test_multiexocon_accepts_any_number_of_views(V):
    z, r, _ = _inputs(V)
    out = _perturb(MultiExoCon(latent_channels=C, inner_dim=128))(z, r, ego_latent_size=(H, W))
    assert out.shape == (B, 128, TL, H // 2, W // 2) and torch.isfinite(out).all()


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_multiexocon_masked_view_equals_dropping_it(pooling):
    z, r, _ = _inputs(4)
    m = _perturb(MultiExoCon(latent_channels=C, inner_dim=128, pooling=pooling))
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    masked = m(z, r, mask, (H, W))
    for b, keep in enumerate(([0, 2, 3], [1, 2])):
        dropped = m(z[b:b + 1, keep], r[b:b + 1, keep], None, (H, W))
        torch.testing.assert_close(masked[b:b + 1], dropped, atol=1e-5, rtol=1e-5)


def test_multiexocon_is_invariant_to_the_order_of_views():
    z, r, _ = _inputs(3)
    m = _perturb(MultiExoCon(latent_channels=C, inner_dim=128))
    perm = [2, 0, 1]
    torch.testing.assert_close(m(z, r, None, (H, W)), m(z[:, perm], r[:, perm], None, (H, W)), atol=1e-5, rtol=1e-5)


def test_poseinj_masked_view_equals_dropping_it():
    _, _, rays = _inputs(4)
    p = _perturb(PoseInj(inner_dim=128))
    mask = torch.tensor([[True, True, False, True]] * B)
    torch.testing.assert_close(p(rays, mask), p(rays[:, [0, 1, 3]]), atol=1e-5, rtol=1e-5)


def test_align_masked_view_equals_dropping_it():
    z, r, _ = _inputs(4)
    a = _perturb(EgoExoAlign(latent_channels=C))
    ego = torch.randn(B, 6, H, W)
    mask = torch.tensor([[True, False, True, True]] * B)
    base = torch.zeros(B, dtype=torch.long)
    dropped = a(z[:, [0, 2, 3]], r[:, [0, 2, 3]], ego, base_view=base)
    torch.testing.assert_close(a(z, r, ego, mask, base_view=base), dropped, atol=1e-5, rtol=1e-5)


def test_modules_reject_a_clip_without_any_view():
    z, r, rays = _inputs(2)
    none = torch.zeros(B, 2, dtype=torch.bool)
    with pytest.raises(ValueError):
        MultiExoCon(latent_channels=C)(z, r, none, (H, W))
    with pytest.raises(ValueError):
        PoseInj()(rays, none)


def test_tiny_align_keeps_8x8_tokens_whatever_the_vae_compression():
    """Align's patch follows the VAE: a 64x64 frame is 8x8 latents under an 8x VAE (patch 1) and 16x16 under a
    4x one (patch 2), so Align attends over 64 tokens either way; the real model uses patch 2."""
    from exo2egosyn.configs import TI2V_5B_TRANSFORMER, TI2V_5B_VAE, TINY_TRANSFORMER, TINY_VAE, module_configs

    assert module_configs(TINY_TRANSFORMER, TINY_VAE)["align"]["patch_size"] == 1
    four_x = dict(TINY_VAE, z_dim=32, scale_factor_spatial=4)
    assert module_configs(TINY_TRANSFORMER, four_x)["align"]["patch_size"] == 2
    assert module_configs(TI2V_5B_TRANSFORMER, TI2V_5B_VAE)["align"]["patch_size"] == 2
