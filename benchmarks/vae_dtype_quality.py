"""What a bfloat16 VAE costs: the exo latents it gives and the scores of Exo2EgoSyn with it, against float32.

    python benchmarks/vae_dtype_quality.py                       # shipped tiny model, 32 synthetic test clips
    python benchmarks/vae_dtype_quality.py --limit 8 --dtypes bfloat16,float16

Half the VAE's bytes (and activations) is what makes the conditioning of four 720p exo videos fit a small GPU, if
the quality holds. Two measurements, on the synthetic test split:

1. latents: each clip's exo views through the VAE encoder in float32 and in the other dtype (the pipeline's
   ``encode_video``: normalized posterior mode); printed, the relative RMS difference ``||z_h - z_32|| / ||z_32||``
   (mean and worst clip) and the largest absolute difference;
2. scores: the runner generates and scores the split with ``--method-arg vae_dtype=NAME`` (the VAE encodes the exo
   views and decodes the output in that dtype; the transformer stays float32); per-clip PSNR / SSIM change against
   the float32 run, with a 95% percentile bootstrap interval over clips (the project's bootstrap, seed 0).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def latent_differences(method: str, dtype: str, clips) -> list:
    """(relative RMS difference, max abs difference) per clip of the exo latents in ``dtype`` vs float32."""
    import torch

    from benchmark import registry
    from exo2egosyn.conditioning import clip_inputs

    ref = registry.build(method)
    other = registry.build(method, vae_dtype=dtype)
    out = []
    for clip in clips:
        inputs = clip.inputs()
        sizes = ref._sizes(ref.pipeline, inputs)
        video = clip_inputs(inputs, sizes).exo_video[0]  # (V, 3, n, he, we)
        with torch.no_grad():
            z32 = ref.pipeline.encode_video(video)
            zh = other.pipeline.encode_video(video)
        out.append((float((zh - z32).norm() / z32.norm()), float((zh - z32).abs().max())))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="exo2egosyn")
    ap.add_argument("--dtypes", default="bfloat16", help="comma-separated VAE dtypes to compare with float32")
    ap.add_argument("--limit", type=int, default=None, help="first N clips of the test split (default: all 32)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    args = ap.parse_args(argv)

    from benchmark.data import load_split
    from benchmark.metrics.bootstrap import bootstrap_ci
    from benchmark.runner import run

    out = args.out or Path(tempfile.mkdtemp(prefix="vae-dtype-"))
    clips = list(load_split("synth", "test"))[: args.limit]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    per_clip = {}
    for dtype in ["float32"] + dtypes:
        folder = out / dtype
        run(args.method, out=folder, limit=args.limit, metrics=["psnr", "ssim"], progress=False,
            method_kwargs={"vae_dtype": dtype})
        per_clip[dtype] = pd.read_csv(folder / "synth" / "test" / args.method / "per_clip.csv").set_index("clip_id")
    base = per_clip["float32"]
    print(f"{args.method}, synthetic test split, {len(base)} clips; VAE dtype against float32")
    print(f"{'vae dtype':10s} {'latent rel. RMS diff (mean / worst)':>36s} {'max |diff|':>10s}  "
          f"{'PSNR change (dB)':>30s}  {'SSIM change':>30s}")
    for dtype in dtypes:
        lat = latent_differences(args.method, dtype, clips)
        rel = [r for r, _ in lat]
        cells = []
        for m in ("psnr", "ssim"):
            d = (per_clip[dtype][m] - base.loc[per_clip[dtype].index, m]).to_numpy(dtype=float)
            lo, hi = bootstrap_ci(d, n_boot=1000, seed=0)
            cells.append(f"{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]")
        print(f"{dtype:10s} {sum(rel) / len(rel):17.5f} / {max(rel):.5f}{'':9s} {max(m for _, m in lat):10.4f}  "
              f"{cells[0]:>30s}  {cells[1]:>30s}")
    print(f"(runs under {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
