"""Stages 1 and 2: EgoExo-Align (alignment loss), then MultiExoCon + PoseInj + LoRA (flow loss) on the frozen
backbone; writes ``save_adapters``."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .data import build_cache, load_clips
from .loop import local_slice, run_phase
from .losses import AlignStep, FlowStep
from .randomness import batch_indices, shifted_sigmas, step_generator


@torch.no_grad()
def first_frame_conditions(align, cache: dict, batch_size: int = 16) -> torch.Tensor:
    """Stage 2's first-frame condition latents (N, C, 1, h, w) of the cached clips: what inference uses in the
    exo-only track - EgoExo-Align's prediction, or (no Align) the closest exo view's encoded first frame."""
    if align is None:
        return torch.stack(cache["closest"])
    geom, n, conds = cache["geom"], len(cache["exo"]), []
    for i0 in range(0, n, batch_size):
        ids = range(i0, min(n, i0 + batch_size))
        conds.append(align(torch.stack([cache["exo"][i] for i in ids]),
                           torch.stack([geom[i]["rays_exo"] for i in ids]),
                           torch.stack([geom[i]["ego_rays0"] for i in ids]),
                           base_view=torch.stack([geom[i]["base_view"] for i in ids])))
    return torch.cat(conds)


def train_adapters(cfg, accelerator, state, meta, stop_after, progress):
    from ..configs import build_modules
    from ..lora import add_lora
    from ..pipeline import Exo2EgoSynPipeline, load_wan_components

    seed = cfg["seed"]
    ac = cfg["adapters"]
    comps = load_wan_components(cfg["backbone"], torch_dtype=torch.float32)
    for k in ("transformer", "vae", "text_encoder"):
        comps[k].requires_grad_(False)
    clips, idx = load_clips(cfg)
    cache = build_cache(cfg, comps, clips, idx, "adapters", accelerator)
    mods = build_modules(comps["transformer"].config, comps["vae"].config, ac["use_align"], ac["use_multiexocon"],
                         ac["use_poseinj"], seed=ac["module_seed"])
    tc = cfg["train"]
    B = tc["batch_size"]
    n = len(idx)
    geom = cache["geom"]
    d = accelerator.device

    def gather(ids, key):
        return torch.stack([geom[i][key] for i in ids])

    s1 = int(ac["stage1_steps"]) if ac["use_align"] else 0
    finished = True
    # ---- stage 1: EgoExo-Align
    if s1:
        def batch1(step):
            ids = batch_indices(seed, step, n, B)[slice(*local_slice(B, accelerator))]
            return {"exo_latents": torch.stack([cache["exo"][i] for i in ids]).to(d),
                    "rays_exo": gather(ids, "rays_exo").to(d), "ego_rays0": gather(ids, "ego_rays0").to(d),
                    "base_view": gather(ids, "base_view").to(d),
                    "target": torch.stack([cache["ego"][i][:, :1] for i in ids]).to(d)}

        align_final = Path(cfg["work_dir"]) / "align-final.safetensors"
        if meta["step"] >= s1 and align_final.is_file():  # resuming inside stage 2: stage 1 is done
            from safetensors.torch import load_file

            mods["align"].load_state_dict(load_file(str(align_final)))
        else:
            model1 = AlignStep(mods["align"], ac["cosine_weight"])
            finished = run_phase(accelerator, cfg, state, model1, "align", 0, s1, ac["stage1_lr"], batch1, meta,
                                  stop_after, progress)
            if not finished:
                return False, {"output_dir": cfg["output_dir"]}
            mods["align"] = accelerator.unwrap_model(model1).align
            if accelerator.is_main_process:
                from safetensors.torch import save_file

                save_file({k: v.contiguous() for k, v in mods["align"].state_dict().items()}, str(align_final))
            accelerator.wait_for_everyone()
        mods["align"] = mods["align"].eval().requires_grad_(False)
    conds = first_frame_conditions(mods["align"], cache)

    # ---- stage 2: MultiExoCon + PoseInj + LoRA, flow loss
    tr = comps["transformer"]
    with torch.random.fork_rng(devices=[]):  # LoRA A init: a function of the seed only (resume-safe)
        torch.manual_seed(seed + 7)
        add_lora(tr, rank=int(ac["lora_rank"]))
    for name in ("multiexocon", "poseinj"):
        if mods[name] is not None:
            mods[name].train().requires_grad_(True)
    shift = float(comps["scheduler"].config.get("flow_shift", 3.0) or 1.0)
    p_true = float(ac["true_first_frame"])

    def batch2(step):
        g = step_generator(seed, step)
        ids = batch_indices(seed, step, n, B)
        x0 = torch.stack([cache["ego"][i] for i in ids])
        noise = torch.randn(x0.shape, generator=g)
        sigma = shifted_sigmas(torch.rand(B, generator=g), shift)
        condition = conds[ids]
        if p_true > 0:  # drawn after noise and sigma, and only then: the default's draws stay as they were
            use_true = (torch.rand(B, generator=g) < p_true)[:, None, None, None, None]
            condition = torch.where(use_true, x0[:, :, :1], condition)
        sl = slice(*local_slice(B, accelerator))
        ids = ids[sl.start:sl.stop]
        return {"x0": x0[sl].to(d), "condition": condition[sl].to(d),
                "text": torch.stack([cache["text"][i] for i in ids]).to(d), "noise": noise[sl].to(d),
                "sigma": sigma[sl].to(d), "exo_latents": torch.stack([cache["exo"][i] for i in ids]).to(d),
                "rays_exo": gather(ids, "rays_exo").to(d), "rays_ego": gather(ids, "rays_ego").to(d)}

    model2 = FlowStep(tr, mods["multiexocon"], mods["poseinj"])
    finished = run_phase(accelerator, cfg, state, model2, "flow", s1, int(tc["steps"]), ac["stage2_lr"], batch2,
                          meta, stop_after, progress)
    out = Path(cfg["output_dir"])
    if finished and accelerator.is_main_process:
        m2 = accelerator.unwrap_model(model2)
        pipe = Exo2EgoSynPipeline(**{**comps, "transformer": m2.transformer}, align=mods["align"],
                                  multiexocon=m2.multiexocon, poseinj=m2.poseinj)
        if out.exists():
            for sub in ("align", "multiexocon", "poseinj", "transformer_lora"):
                if (out / sub).exists():
                    shutil.rmtree(out / sub)
        pipe.save_adapters(str(out))
    return finished, {"output_dir": str(out)}
