"""Stage 0b: the tiny WAN transformer as an ordinary image-to-video model (WAN 2.2 TI2V), flow matching."""

from __future__ import annotations

from pathlib import Path

import torch

from .data import build_cache, load_clips, text_embeds
from .loop import local_slice, run_phase
from .losses import FlowStep
from .randomness import batch_indices, shifted_sigmas, step_generator
from .vae_stage import save_backbone


def fresh_transformer(overrides: dict, z_dim: int, seed: int):
    """A randomly initialised ``WanTransformer3DModel``: ``configs.TINY_TRANSFORMER`` with ``overrides``, reading
    and writing latents of ``z_dim`` channels; the same ``seed`` gives the same weights on every machine."""
    from diffusers import WanTransformer3DModel

    from ..configs import TINY_TRANSFORMER

    arch = dict(TINY_TRANSFORMER, in_channels=z_dim, out_channels=z_dim) | dict(overrides)  # keys: load_config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return WanTransformer3DModel(**arch)


def train_transformer(cfg, accelerator, state, meta, stop_after, progress):
    from ..pipeline import load_wan_components

    seed = cfg["seed"]
    comps = load_wan_components(cfg["backbone"], torch_dtype=torch.float32)
    if cfg["transformer"]["model"]:  # another architecture: from scratch, not the backbone's weights
        comps["transformer"] = fresh_transformer(cfg["transformer"]["model"], int(comps["vae"].config.z_dim), seed)
    clips, idx = load_clips(cfg)
    cache = build_cache(cfg, comps, clips, idx, "foundation", accelerator)
    # items: (clip position, -1 = ego or exo view v)
    items = [(c, -1) for c in range(len(idx))] + [(c, v) for c in range(len(idx))
                                                   for v in range(cache["exo"][c].shape[0])]
    tr = comps["transformer"]
    for p in tr.parameters():
        p.requires_grad_(True)
    shift = float(comps["scheduler"].config.get("flow_shift", 3.0) or 1.0)
    empty = text_embeds(comps, [""], cfg["flow"]["max_sequence_length"])[0]
    tc = cfg["train"]

    def batch_fn(step):
        g = step_generator(seed, step)
        B = tc["batch_size"]
        ids = batch_indices(seed, step, len(items), B)
        x0 = torch.stack([cache["ego"][c] if v < 0 else cache["exo"][c][v] for c, v in (items[i] for i in ids)])
        noise = torch.randn(x0.shape, generator=g)
        sigma = shifted_sigmas(torch.rand(B, generator=g), shift)
        drop = torch.rand(B, generator=g) < cfg["flow"]["text_dropout"]
        text = torch.stack([empty if d else cache["text"][items[i][0]] for i, d in zip(ids, drop.tolist())])
        sl = slice(*local_slice(B, accelerator))
        d = accelerator.device
        return {"x0": x0[sl].to(d), "condition": x0[sl, :, :1].to(d), "text": text[sl].to(d),
                "noise": noise[sl].to(d), "sigma": sigma[sl].to(d)}

    model = FlowStep(tr)
    finished = run_phase(accelerator, cfg, state, model, "transformer", 0, tc["steps"], tc["lr"], batch_fn, meta,
                          stop_after, progress)
    out = Path(cfg["output_dir"])
    if finished and accelerator.is_main_process:
        comps["transformer"] = accelerator.unwrap_model(model).transformer.eval()
        if out.resolve() != Path(cfg["backbone"]).resolve():
            save_backbone(comps, out)
        else:
            comps["transformer"].save_pretrained(str(out / "transformer"), safe_serialization=True)
    return finished, {"output_dir": str(out)}
