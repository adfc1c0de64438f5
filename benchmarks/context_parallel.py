"""One Exo2EgoSyn clip over several processes with diffusers' context parallelism: same latents as one process?

    torchrun --standalone --nproc_per_node 2 benchmarks/context_parallel.py                  # CPU (gloo), tiny
    torchrun --standalone --nproc_per_node 2 benchmarks/context_parallel.py --mode ring      # ring attention
    torchrun --standalone --nproc_per_node 4 benchmarks/context_parallel.py --real --size 704x1280x121   # GPUs

Every process runs the whole pipeline on the same clip with the same seed (text, conditioning, scheduler and decode
are replicated); only the transformer is split: ``transformer.enable_parallelism(config=ContextParallelConfig(...))``
shards the token sequence after the patch embedding (diffusers' ``WanTransformer3DModel._cp_plan``: the sequence
at ``blocks.0``, the per-token timesteps of TI2V, the rotary embedding) and gathers it at ``proj_out``. Exo2EgoSyn's
token injection is added to the patch embedding's output, before the split, so each rank adds the part of the
injection that belongs to its tokens. Ulysses (``--mode ulysses``) gives every rank all tokens of 1/N of the heads
(all-to-all); ring (``--mode ring``) keeps 1/N of the tokens and passes keys / values around (it needs an attention
backend that returns log-sum-exp: flash / cuDNN on GPUs; torch's native SDPA backend does not).

The script first generates the clip in each process alone (the reference), then with the transformer split, and
prints per rank: the tokens one block sees, the largest latent difference from the reference, and both times.
On CPU, diffusers derives a device index as ``rank % torch.accelerator.device_count()`` (0 on a CPU), so the script
reports one CPU device (the gloo process group does the communication). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exo2egosyn.configs import build_modules, build_tiny_components  # noqa: E402
from exo2egosyn.pipeline import Exo2EgoSynPipeline  # noqa: E402
from exo2egosyn.testing import synthetic_inputs  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("ulysses", "ring"), default="ulysses")
    p.add_argument("--steps", type=int, default=4, help="denoising steps (default 4)")
    p.add_argument("--real", action="store_true", help="Wan2.2-TI2V-5B transformer configuration, random bf16 "
                                                       "weights, on CUDA (the tiny VAE / text encoder stay: only "
                                                       "the transformer is split)")
    p.add_argument("--size", default="64x64x17", help="HxWxframes of the ego video (default 64x64x17)")
    return p.parse_args(argv)


def build_pipeline(real: bool, device, dtype):
    comps = build_tiny_components(seed=0)
    if real:
        from diffusers import WanTransformer3DModel

        from exo2egosyn.configs import TI2V_5B_TRANSFORMER

        cfg = dict(TI2V_5B_TRANSFORMER, in_channels=comps["vae"].config.z_dim,
                   out_channels=comps["vae"].config.z_dim, text_dim=comps["text_encoder"].config.d_model)
        with torch.device(device):
            torch.manual_seed(0)
            comps["transformer"] = WanTransformer3DModel(**cfg).to(dtype)
    mods = build_modules(comps["transformer"].config, comps["vae"].config, seed=0)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # trained-looking (non-zero) injection, so the split of the injection is exercised
        for name in ("multiexocon", "poseinj"):
            for p in mods[name].proj_out.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    pipe = Exo2EgoSynPipeline(**comps, **mods).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main(argv=None):
    args = parse_args(argv)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        torch.set_num_threads(1)
        device = torch.device("cpu")
        torch.accelerator.device_count = lambda: 1  # see the module doc: one CPU device for diffusers' mesh
    if args.real and not cuda:
        print("--real needs CUDA; skipped", flush=True)
        return 0
    H, W, T = (int(v) for v in args.size.lower().split("x"))
    pipe = build_pipeline(args.real, device, torch.bfloat16 if args.real else torch.float32)
    clip = synthetic_inputs(num_views=4, num_frames=T, ego_size=(H, W), exo_size=(H, W * 3 // 2), seed=1)
    embeds = torch.randn(1, 16, pipe.text_encoder.config.d_model, generator=torch.Generator().manual_seed(0))
    kw = dict(prompt_embeds=embeds.to(device), height=H, width=W, num_frames=T, num_inference_steps=args.steps,
              guidance_scale=1.0, output_type="latent", exo_video=torch.from_numpy(clip.exo_video).float()
              .div(127.5).sub(1).movedim(-1, -4)[None], exo_K=clip.exo_K[None],
              exo_T_world_cam=clip.exo_T_world_cam[None], ego_K=clip.ego_K[None],
              ego_T_world_cam=clip.ego_T_world_cam[None])

    def run():
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = pipe(generator=torch.Generator().manual_seed(0), **kw).frames
        if cuda:
            torch.cuda.synchronize()
        return out.float().cpu(), time.perf_counter() - t0

    ref, t_ref = run()
    from diffusers import ContextParallelConfig

    cfg = ContextParallelConfig(ulysses_degree=world) if args.mode == "ulysses" else \
        ContextParallelConfig(ring_degree=world)
    tokens = []
    hook = pipe.transformer.blocks[1].register_forward_pre_hook(
        lambda m, a, k: tokens.append((a[0] if a else k["hidden_states"]).shape[1]), with_kwargs=True)
    try:
        pipe.transformer.enable_parallelism(config=cfg)
        out, t_cp = run()
        diff = float((out - ref).abs().max())
        print(f"rank {rank}/{world} {args.mode}: a block sees {tokens[-1]} tokens; max |latent - one process| = "
              f"{diff:.3g}; one process {t_ref:.2f} s, split {t_cp:.2f} s ({device})", flush=True)
        status = 0
    except Exception as exc:  # the figure is "does not run", with the reason
        print(f"rank {rank}/{world} {args.mode}: FAILED {type(exc).__name__}: {exc}", flush=True)
        status = 1
    finally:
        hook.remove()
        dist.destroy_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
