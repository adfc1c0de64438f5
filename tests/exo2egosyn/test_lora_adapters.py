"""LoRA on the WAN transformer: add (no-op at init), save, load."""

import torch

from exo2egosyn.configs import build_tiny_components
from exo2egosyn.lora import add_lora, load_lora, lora_parameters, save_lora


def _forward(transformer):
    g = torch.Generator().manual_seed(0)
    c, (_, ph, pw) = transformer.config.in_channels, transformer.config.patch_size
    x = torch.randn(1, c, 5, 16, 16, generator=g)  # the latents of a 17-frame 64x64 clip under the tiny 4x VAE
    text = torch.randn(1, 12, 32, generator=g)
    tokens = 5 * (16 // ph) * (16 // pw)
    with torch.no_grad():
        return transformer(x, torch.full((1, tokens), 700.0), text).sample


def test_added_lora_starts_as_a_no_op_and_targets_the_attention_projections():
    transformer = build_tiny_components(seed=0)["transformer"]
    before = _forward(transformer)
    add_lora(transformer, rank=4)
    lora_names = [n for n, _ in transformer.named_parameters() if "lora_" in n]
    assert lora_names and all(any(t in n for t in ("to_q", "to_k", "to_v", "to_out.0")) for n in lora_names)
    torch.testing.assert_close(_forward(transformer), before, atol=0, rtol=0)
    assert len(lora_parameters(transformer)) == len(lora_names)


def test_saved_lora_loads_into_a_fresh_transformer(tmp_path):
    trained = build_tiny_components(seed=0)["transformer"]
    base = _forward(trained)
    add_lora(trained, rank=4)
    with torch.no_grad():  # stand-in for training
        for p in lora_parameters(trained):
            p.add_(0.05 * torch.randn_like(p))
    path = save_lora(trained, tmp_path / "lora")
    assert path.endswith(".safetensors")
    fresh = build_tiny_components(seed=0)["transformer"]
    load_lora(fresh, tmp_path / "lora")
    out = _forward(fresh)
    torch.testing.assert_close(out, _forward(trained), atol=0, rtol=0)
    assert (out - base).abs().max() > 1e-4
