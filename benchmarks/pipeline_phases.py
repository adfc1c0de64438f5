"""Time and peak memory of one Exo2EgoSyn clip, per phase: text encoding, conditioning, denoising steps, decode.

    python benchmarks/pipeline_phases.py                      # the shipped tiny model on CPU (64x64, 17 frames)
    python benchmarks/pipeline_phases.py --real               # Wan2.2-TI2V-5B configuration, random bf16 weights,
                                                              # 480x832x81 and 704x1280x121 on CUDA (skipped
                                                              # without CUDA)
    python benchmarks/pipeline_phases.py --real --sizes 480p --steps 10 --views 4

The clip goes through the generator exactly as ``python -m benchmark run`` sends it (``Exo2EgoSynGenerator``:
exo videos resized to the working size, cameras, ``Exo2EgoSynPipeline.__call__``); the pipeline's own methods
are wrapped with timers, so the phases are what the pipeline does, not a re-implementation:

==============  ====================================================================================
phase           wrapped call
==============  ====================================================================================
text            ``encode_prompt`` (UMT5; prompt and, with CFG, the negative prompt)
conditioning    ``prepare_conditions`` (exo views through the VAE encoder, Plücker rays, EgoExo-Align,
                MultiExoCon / PoseInj once per clip)
steps           every ``predict_noise`` call (one transformer forward each; two per step with CFG)
decode          ``vae.decode``
==============  ====================================================================================

``other`` is the rest of the call (scheduler, resizing, output conversion). On CUDA every timer synchronizes,
and the peak memory of a phase is ``torch.cuda.max_memory_allocated`` with the statistics reset when the phase
starts (the largest over its calls); on CPU the peak is the process's resident set (``ru_maxrss``), which only
grows, so the CPU column says how much memory the process had reached by the end of the phase.

The real configuration's weights are random (the cost does not depend on the values): transformer, VAE
(``configs.TI2V_5B_VAE``) and UMT5-XXL are built directly on the GPU in bfloat16 (VAE in float32, the
pipeline's default for quality), with a byte-level tokenizer (no files). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {"480p": (480, 832, 81), "720p": (704, 1280, 121)}
PHASES = ("text", "conditioning", "steps", "decode")


class PhaseTimer:
    """Wraps a pipeline's methods; accumulates seconds, calls and peak memory per phase."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.calls = dict.fromkeys(PHASES, 0)
        self.peak = dict.fromkeys(PHASES, 0)

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _memory(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

    def wrap(self, owner, name: str, phase: str):
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            self._sync()
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            t0 = time.perf_counter()
            out = inner(*args, **kwargs)
            self._sync()
            self.seconds[phase] += time.perf_counter() - t0
            self.calls[phase] += 1
            self.peak[phase] = max(self.peak[phase], self._memory())
            return out

        setattr(owner, name, timed)


def real_components(device: torch.device) -> dict:
    """Random-weight Wan2.2-TI2V-5B components built on ``device`` (bf16; VAE fp32)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    from exo2egosyn.configs import TI2V_5B_TRANSFORMER, TI2V_5B_VAE, UMT5_XXL

    with torch.device(device):
        transformer = WanTransformer3DModel(**TI2V_5B_TRANSFORMER).to(torch.bfloat16).eval()
        vae = AutoencoderKLWan(**TI2V_5B_VAE).eval()
        text_encoder = UMT5EncoderModel(UMT5Config(**UMT5_XXL)).to(torch.bfloat16).eval()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=5.0)
    return dict(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=ByT5Tokenizer(),
                scheduler=scheduler)


def one_clip(generator, inputs, device) -> dict:
    """Generate one clip with timers on the pipeline's phases; returns the figures."""
    pipe = generator.pipeline
    timer = PhaseTimer(device)
    timer.wrap(pipe, "encode_prompt", "text")
    timer.wrap(pipe, "prepare_conditions", "conditioning")
    timer.wrap(pipe, "predict_noise", "steps")
    timer.wrap(pipe.vae, "decode", "decode")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    video = generator.generate(inputs, seed=0)
    total = time.perf_counter() - t0
    peak_total = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else timer._memory()
    return {"total_s": total, "video_shape": tuple(video.shape), "seconds": timer.seconds, "calls": timer.calls,
            "peak_bytes": timer.peak, "peak_total_bytes": max([peak_total, *timer.peak.values()])}


def report(label: str, fig: dict):
    gib = 1024 ** 3
    print(f"\n{label}: one clip {fig['total_s']:.2f} s, output {fig['video_shape']}, "
          f"peak memory {fig['peak_total_bytes'] / gib:.2f} GiB")
    print(f"{'phase':14s} {'seconds':>9s} {'share':>7s} {'calls':>6s} {'s / call':>9s} {'peak GiB':>9s}")
    accounted = 0.0
    for p in PHASES:
        s, n = fig["seconds"][p], fig["calls"][p]
        accounted += s
        print(f"{p:14s} {s:9.3f} {s / fig['total_s']:7.1%} {n:6d} {(s / n if n else 0):9.4f} "
              f"{fig['peak_bytes'][p] / gib:9.2f}")
    other = fig["total_s"] - accounted
    print(f"{'other':14s} {other:9.3f} {other / fig['total_s']:7.1%}")


def measure_components(comps: dict, device: torch.device, height: int, width: int, num_frames: int, views: int,
                       **generator_kwargs) -> dict:
    """One clip (after a warm-up clip) through an ``Exo2EgoSynGenerator`` whose pipeline is built from ``comps``
    (weights in memory, nothing loaded from disk) with freshly initialized modules sized for them."""
    from exo2egosyn.configs import build_modules
    from exo2egosyn.generator import Exo2EgoSynGenerator
    from exo2egosyn.pipeline import Exo2EgoSynPipeline
    from exo2egosyn.testing import synthetic_inputs

    dtype = comps["transformer"].dtype
    modules = build_modules(comps["transformer"].config, comps["vae"].config, seed=0)
    for m in modules.values():
        if m is not None:
            m.to(device=device, dtype=dtype)
    g = Exo2EgoSynGenerator(backbone="in-memory", device=device.type, max_area=height * width,
                            max_exo_area=height * width, **generator_kwargs)
    g._pipe = g._place(Exo2EgoSynPipeline(**comps, **modules))
    x = synthetic_inputs(num_views=views, num_frames=num_frames, ego_size=(height, width),
                         exo_size=(height, width), seed=1)
    one_clip(g, x, device)
    fig = one_clip(g, x, device)
    fig.update(steps=g.num_inference_steps, guidance_scale=g.guidance_scale)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", action="store_true", help="Wan2.2-TI2V-5B configuration on CUDA (random weights)")
    ap.add_argument("--sizes", default="480p,720p", help="with --real: comma-separated of 480p, 720p")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the generator's)")
    ap.add_argument("--views", type=int, default=4, help="exo views (default 4)")
    ap.add_argument("--guidance-scale", type=float, default=None, help="CFG scale (default: the generator's)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: the generator's)")
    args = ap.parse_args(argv)

    from exo2egosyn.configs import RESOLUTIONS
    from exo2egosyn.generator import Exo2EgoSynGenerator
    from exo2egosyn.testing import synthetic_inputs

    kw = {k: v for k, v in dict(num_inference_steps=args.steps, guidance_scale=args.guidance_scale,
                                threads=args.threads).items() if v is not None}
    if not args.real:
        device = torch.device("cpu")
        r = RESOLUTIONS["tiny"]
        g = Exo2EgoSynGenerator(device="cpu", **kw)
        x = synthetic_inputs(num_views=args.views, num_frames=r["num_frames"], seed=1)
        one_clip(g, x, device)  # warm-up: weights loaded, first-call allocations
        fig = one_clip(g, x, device)
        report(f"tiny on CPU ({r['height']}x{r['width']}x{r['num_frames']}, {args.views} views, "
               f"{g.num_inference_steps} steps, guidance {g.guidance_scale}, "
               f"{torch.get_num_threads()} torch threads outside generate)", fig)
        return 0
    if not torch.cuda.is_available():
        print("--real needs a CUDA GPU; none here (skipped)")
        return 0
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    comps = real_components(device)
    for size in args.sizes.split(","):
        h, w, n = SIZES[size.strip()]
        fig = measure_components(comps, device, h, w, n, args.views, **kw)
        report(f"Wan2.2-TI2V-5B config, {h}x{w}x{n}, {args.views} views, {fig['steps']} steps, "
               f"guidance {fig['guidance_scale']}", fig)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
