"""What a step cache costs in quality and saves in transformer work: Exo2EgoSyn with and without diffusers' First
Block Cache on the synthetic test split, paired per clip.

    python benchmarks/step_cache_quality.py                          # thresholds 0.1, 0.2, 0.3; 32 clips
    python benchmarks/step_cache_quality.py --thresholds 0.3 --limit 8 --method exo2egosyn-no-align

For each setting the runner generates and scores the split (``--method-arg cache=first-block:T``; ``none`` is the
uncached run), and a forward hook on the last transformer block's self-attention counts how often the tail of
the transformer really ran (First Block Cache skips the blocks after the first while the first block's output
changes by less than the threshold). Printed per setting: full evaluations per clip (of the sampler's steps), the
factor saved, and the per-clip PSNR / SSIM change against the uncached run with a 95% percentile bootstrap
interval over clips (the project's bootstrap, seed 0). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def full_evaluations(method: str, cache: str, clips) -> float:
    """Mean number of times the last transformer block ran per clip."""
    from benchmark import registry

    g = registry.build(method, cache=cache)
    counter = [0]
    g.pipeline.transformer.blocks[-1].attn1.register_forward_hook(
        lambda *a: counter.__setitem__(0, counter[0] + 1))
    for clip in clips:
        g.generate(clip.inputs(), seed=0)
    return counter[0] / max(len(clips), 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="exo2egosyn")
    ap.add_argument("--thresholds", default="0.1,0.2,0.3", help="comma-separated First Block Cache thresholds")
    ap.add_argument("--limit", type=int, default=None, help="first N clips of the test split (default: all 32)")
    ap.add_argument("--count-clips", type=int, default=8, help="clips on which the evaluations are counted")
    ap.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    args = ap.parse_args(argv)

    from benchmark.data import load_split
    from benchmark.metrics.bootstrap import bootstrap_ci
    from benchmark.runner import run

    out = args.out or Path(tempfile.mkdtemp(prefix="step-cache-"))
    clips = list(load_split("synth", "test"))[: args.count_clips]
    settings = ["none"] + [f"first-block:{t.strip()}" for t in args.thresholds.split(",")]
    per_clip = {}
    for cache in settings:
        folder = out / cache.replace(":", "-")
        run(args.method, out=folder, limit=args.limit, metrics=["psnr", "ssim"], progress=False,
            method_kwargs={"cache": cache})
        per_clip[cache] = pd.read_csv(folder / "synth" / "test" / args.method / "per_clip.csv").set_index("clip_id")
    base = per_clip["none"]
    steps = full_evaluations(args.method, "none", clips)
    print(f"{args.method}, synthetic test split, {len(base)} clips; full evaluations counted on {len(clips)} clips")
    print(f"{'cache':18s} {'full evals / clip':>17s} {'fewer':>6s}  {'PSNR change (dB)':>30s}  {'SSIM change':>30s}")
    for cache in settings:
        n = steps if cache == "none" else full_evaluations(args.method, cache, clips)
        cells = []
        for m in ("psnr", "ssim"):
            d = (per_clip[cache][m] - base.loc[per_clip[cache].index, m]).to_numpy(dtype=float)
            lo, hi = bootstrap_ci(d, n_boot=1000, seed=0)
            cells.append(f"{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]")
        print(f"{cache:18s} {n:17.2f} {steps / n:5.2f}x  {cells[0]:>30s}  {cells[1]:>30s}")
    print(f"(runs under {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
