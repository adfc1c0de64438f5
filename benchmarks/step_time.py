"""Step time of Exo2EgoSyn vs vanilla WAN: one denoising step = one transformer forward (+ module overheads).

    python benchmarks/step_time.py                 # tiny and cpu-medium configurations, V = 1, 2, 4, on CPU
    python benchmarks/step_time.py --real          # Wan2.2-TI2V-5B (random bf16 weights) at 480x832, 81 frames,
                                                   # on CUDA: step time and peak memory (skipped without CUDA)

Three numbers per configuration and view count, medians of ``--reps`` interleaved repetitions:

* ``vanilla``   WAN transformer forward on the TI2V input (per-token timesteps);
* ``cached``    the same forward with the Exo2EgoSyn token injection added to the patch embedding - what each
                denoising step of the pipeline costs (MultiExoCon / PoseInj outputs do not depend on the noisy
                latent or the timestep, so the pipeline computes them once per clip);
* ``uncached``  MultiExoCon + PoseInj forwards + the injected transformer forward - the cost if the modules were
                recomputed every step (as in a training step's forward).

plus ``per-clip`` one-off costs (exo VAE encoding, Plücker maps, EgoExo-Align). Ratios are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exo2egosyn.configs import (CPU_MEDIUM_TRANSFORMER, RESOLUTIONS, TI2V_5B_TRANSFORMER,  # noqa: E402
                                TI2V_5B_VAE_FACTS, build_modules, build_tiny_components)
from exo2egosyn.pipeline import Exo2EgoSynPipeline, patch_embedding_addition, video_to_tensor  # noqa: E402
from exo2egosyn.testing import synthetic_inputs  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device):
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def interleaved_medians(fns: dict, reps: int, device, warmup: int = 2) -> dict:
    """Median seconds of each function, measured alternately so that load drifts hit all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            times[k].append(_time(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def step_inputs(pipe, inputs, device, dtype):
    """Tensors of one denoising step for a clip: latent_model_input, timestep, text, and the module inputs."""
    h, w, n = inputs.ego_height, inputs.ego_width, inputs.num_frames
    s, tf = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
    Tl, hl, wl = (n - 1) // tf + 1, h // s, w // s
    _, ph, pw = pipe.transformer.config.patch_size
    g = torch.Generator().manual_seed(0)
    C = pipe.vae.config.z_dim
    x = torch.randn(1, C, Tl, hl, wl, generator=g).to(device, dtype)
    timestep = torch.full((1, Tl * (hl // ph) * (wl // pw)), 500.0, device=device)
    timestep[:, : (hl // ph) * (wl // pw)] = 0
    text = torch.randn(1, 64, pipe.transformer.config.text_dim, generator=g).to(device, dtype)
    return x, timestep, text


def bench_cpu_config(name, transformer_config, reps, views=(1, 2, 4)):
    device = torch.device("cpu")
    res = RESOLUTIONS[name]
    comps = build_tiny_components(seed=0, transformer_config=transformer_config)
    mods = build_modules(comps["transformer"].config, comps["vae"].config)
    pipe = Exo2EgoSynPipeline(**comps, **mods)
    pipe.set_progress_bar_config(disable=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # nonzero projections, as after training (zeros would not change the cost anyway)
        for m in (pipe.multiexocon, pipe.poseinj, pipe.align):
            for p in m.proj_out.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.01)
    n_tr = sum(p.numel() for p in pipe.transformer.parameters())
    n_mod = {k: sum(p.numel() for p in getattr(pipe, k).parameters()) for k in ("align", "multiexocon", "poseinj")}
    print(f"\n[{name}] ego {res['height']}x{res['width']}, exo {res['exo_height']}x{res['exo_width']}, "
          f"{res['num_frames']} frames; transformer {n_tr / 1e6:.2f}M params, modules "
          + ", ".join(f"{k} {v / 1e6:.3f}M" for k, v in n_mod.items()))
    print(f"{'V':>2} {'vanilla ms':>11} {'cached ms':>10} {'uncached ms':>12} {'cached/van':>11} "
          f"{'uncached/van':>13} {'per-clip ms':>12}")
    rows = []
    for V in views:
        clip = synthetic_inputs(num_views=V, num_frames=res["num_frames"], ego_size=(res["height"], res["width"]),
                                exo_size=(res["exo_height"], res["exo_width"]))
        x, timestep, text = step_inputs(pipe, clip, device, torch.float32)
        geo = dict(exo_video=video_to_tensor(clip.exo_video)[None], exo_K=clip.exo_K[None],
                   exo_T_world_cam=clip.exo_T_world_cam[None], ego_K=clip.ego_K[None],
                   ego_T_world_cam=clip.ego_T_world_cam[None])
        with torch.no_grad():
            t0 = time.perf_counter()
            cond = pipe.prepare_conditions(1, res["height"], res["width"], res["num_frames"], device, **geo)
            per_clip = time.perf_counter() - t0
            # inputs of the two modules (what prepare_conditions built), to time them per step in "uncached"
            hl, wl = res["height"] // pipe.vae_scale_factor_spatial, res["width"] // pipe.vae_scale_factor_spatial
            rays_exo, rays_ego = cond.exo.rays_exo, cond.exo.rays_ego

        tr = pipe.transformer

        def vanilla():
            with torch.no_grad():
                tr(x, timestep, text, return_dict=False)

        def cached():
            with torch.no_grad():
                pipe.predict_noise(x, timestep, text, cond.injection)

        def uncached():
            with torch.no_grad():
                inj = pipe.multiexocon(cond.exo_latents, rays_exo, None, (hl, wl)) + pipe.poseinj(rays_ego)
                pipe.predict_noise(x, timestep, text, inj)

        med = interleaved_medians({"vanilla": vanilla, "cached": cached, "uncached": uncached}, reps, device)
        r = dict(config=name, V=V, **{k: v * 1e3 for k, v in med.items()}, per_clip=per_clip * 1e3)
        rows.append(r)
        print(f"{V:>2} {r['vanilla']:>11.2f} {r['cached']:>10.2f} {r['uncached']:>12.2f} "
              f"{r['cached'] / r['vanilla']:>11.3f} {r['uncached'] / r['vanilla']:>13.3f} {r['per_clip']:>12.1f}")
    return rows


def bench_real(reps, height=480, width=832, frames=81, views=4, wan_path=None):
    if not torch.cuda.is_available():
        print("\n[ti2v-5b] skipped: CUDA is not available")
        return []
    from diffusers import WanTransformer3DModel

    device, dtype = torch.device("cuda"), torch.bfloat16
    if wan_path:
        tr = WanTransformer3DModel.from_pretrained(wan_path, subfolder="transformer", torch_dtype=dtype).to(device)
    else:  # random weights: the step time does not depend on their values
        with torch.device(device):
            tr = WanTransformer3DModel(**TI2V_5B_TRANSFORMER)
        tr.to(dtype)
    tr.eval()
    mods = build_modules(tr.config, TI2V_5B_VAE_FACTS, scale="real")
    mc, pi = mods["multiexocon"].to(device, dtype), mods["poseinj"].to(device, dtype)
    s, tf, C = TI2V_5B_VAE_FACTS["scale_factor_spatial"], TI2V_5B_VAE_FACTS["scale_factor_temporal"], 48
    Tl, hl, wl = (frames - 1) // tf + 1, height // s, width // s
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, C, Tl, hl, wl, generator=g).to(device, dtype)
    timestep = torch.full((1, Tl * (hl // 2) * (wl // 2)), 500.0, device=device)
    text = torch.randn(1, 512, 4096, generator=g).to(device, dtype)
    exo_lat = torch.randn(1, views, C, Tl, hl, wl, generator=g).to(device, dtype)
    rays_exo = torch.randn(1, views, 6 * tf, Tl, hl, wl, generator=g).to(device, dtype)
    rays_ego = torch.randn(1, views, 6 * tf, Tl, hl, wl, generator=g).to(device, dtype)
    with torch.no_grad():
        inj = mc(exo_lat, rays_exo, None, (hl, wl)) + pi(rays_ego)

    def vanilla():
        with torch.no_grad():
            tr(x, timestep, text, return_dict=False)

    def cached():
        with torch.no_grad(), patch_embedding_addition(tr, inj):
            tr(x, timestep, text, return_dict=False)

    def uncached():
        with torch.no_grad():
            i = mc(exo_lat, rays_exo, None, (hl, wl)) + pi(rays_ego)
            with patch_embedding_addition(tr, i):
                tr(x, timestep, text, return_dict=False)

    peaks = {}
    for k, fn in (("vanilla", vanilla), ("cached", cached), ("uncached", uncached)):
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        peaks[k] = torch.cuda.max_memory_allocated() / 2**30
    med = interleaved_medians({"vanilla": vanilla, "cached": cached, "uncached": uncached}, reps, device, warmup=1)
    print(f"\n[ti2v-5b] {torch.cuda.get_device_name()} bf16, ego {height}x{width}, {frames} frames, V={views}, "
          f"{Tl * (hl // 2) * (wl // 2)} tokens")
    for k in ("vanilla", "cached", "uncached"):
        print(f"  {k:>9}: {med[k] * 1e3:9.1f} ms/step  ratio {med[k] / med['vanilla']:.3f}  peak {peaks[k]:.2f} GiB")
    return [dict(config="ti2v-5b", V=views, **{k: v * 1e3 for k, v in med.items()}, peak_gib=peaks)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--configs", nargs="+", default=["tiny", "cpu-medium"], choices=["tiny", "cpu-medium"])
    ap.add_argument("--real", action="store_true", help="Wan2.2-TI2V-5B bf16 at 480p on CUDA (skips without)")
    ap.add_argument("--real-only", action="store_true", help="only the --real measurement")
    ap.add_argument("--wan-path", default=None, help="diffusers-format Wan2.2-TI2V-5B folder (else random weights)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, medians of {args.reps} interleaved reps")
    rows = []
    if not args.real_only:
        transformer_configs = {"tiny": None, "cpu-medium": CPU_MEDIUM_TRANSFORMER}
        for name in args.configs:
            rows += bench_cpu_config(name, transformer_configs[name], args.reps)
    if args.real or args.real_only:
        rows += bench_real(max(3, args.reps // 3), wan_path=args.wan_path)
    return rows


if __name__ == "__main__":
    main()
