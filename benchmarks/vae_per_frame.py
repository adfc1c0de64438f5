"""Per-frame reconstruction PSNR of a (tiny) WAN VAE on the synthetic ego clips, next to the flat-colour oracle.

Every use of the VAE (the pipeline, the transformer's latent cache) encodes and decodes whole 17-frame clips:
frame 0 alone, then four chunks of 4 frames, each reading the causal cache of the chunk before. A VAE that is
good on the first frames and bad on the last ones caps every later frame the generator makes, so the figure of
merit is the PSNR per frame index (mean over clips), posterior mode, not the mean over a clip.

The flat-colour oracle is the mean colour of the true ego clip (over all its frames and pixels) shown as a
flat video: the floor a reconstruction has to clear to show anything of the scene.

Usage (from the repository root)::

    python benchmarks/vae_per_frame.py                                  # the shipped tiny-wan VAE
    python benchmarks/vae_per_frame.py --vae /work/vae-runs/x/tiny-wan/vae --clips 32 --splits test

Prints, per split, one row per frame index (VAE PSNR, oracle PSNR) and the min / mean over frame indices.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VAE = REPO / "exo2egosyn" / "checkpoints" / "tiny-wan" / "vae"


def flat_colour_oracle(videos: np.ndarray) -> np.ndarray:
    """uint8 (N, T, H, W, 3) -> uint8 videos of the same shape, each one flat in its clip's mean colour."""
    mean = videos.reshape(len(videos), -1, 3).astype(np.float64).mean(1)  # (N, 3)
    flat = np.clip(np.round(mean), 0, 255).astype(np.uint8)[:, None, None, None, :]
    return np.broadcast_to(flat, videos.shape).copy()


def ego_videos(split: str, n: int | None, root: str | None) -> np.ndarray:
    """uint8 (N, T, H, W, 3) ego videos of the first ``n`` clips of a synthetic split."""
    from benchmark.data import load_split

    clips = load_split("synth", split, root=root)
    n = len(clips) if n is None else min(n, len(clips))
    return np.stack([clips[i].ego_video for i in range(n)])


def main(argv=None) -> int:
    from diffusers import AutoencoderKLWan

    from benchmark.errors import UsageError
    from exo2egosyn.train import frame_psnr_table, vae_frame_psnr

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vae", default=str(DEFAULT_VAE), help="a diffusers AutoencoderKLWan folder (default: shipped)")
    ap.add_argument("--splits", default="train,test", help="comma-separated synthetic splits (default: train,test)")
    ap.add_argument("--clips", type=int, default=32, help="clips per split (default: 32)")
    ap.add_argument("--root", default=None, help="SynthEgoExo root (default: the cache's synth folder)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = ap.parse_args(argv)
    if not (Path(args.vae) / "config.json").is_file():
        raise UsageError(f"--vae {args.vae}: not a diffusers VAE folder (no config.json)")
    torch.set_num_threads(max(1, args.threads))
    vae = AutoencoderKLWan.from_pretrained(args.vae, torch_dtype=torch.float32).eval()
    c = vae.config
    print(f"VAE {args.vae}: z_dim {c.z_dim}, base_dim {c.base_dim}, dim_mult {list(c.dim_mult)}, "
          f"{c.scale_factor_spatial}x spatial, {c.scale_factor_temporal}x temporal, "
          f"{sum(p.numel() for p in vae.parameters()):,} parameters")
    for split in [s for s in args.splits.split(",") if s]:
        videos = ego_videos(split, args.clips, args.root)
        t0 = time.perf_counter()
        vae_db = vae_frame_psnr(vae, videos).mean(0)
        dt = time.perf_counter() - t0
        flat_db = frame_psnr_table(flat_colour_oracle(videos), videos).mean(0)
        print(f"\n{split}: {len(videos)} clips x {videos.shape[1]} frames {videos.shape[2]}x{videos.shape[3]} "
              f"(encode + decode {dt / len(videos):.2f} s a clip)")
        print("frame | VAE dB | flat-colour dB")
        for t, (a, b) in enumerate(zip(vae_db, flat_db)):
            print(f"{t + 1:5d} | {a:6.2f} | {b:6.2f}")
        print(f"min   | {vae_db.min():6.2f} | {flat_db.min():6.2f}")
        print(f"mean  | {vae_db.mean():6.2f} | {flat_db.mean():6.2f}")
        print("VAE per frame: " + " ".join(f"{x:.1f}" for x in vae_db))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    try:
        sys.exit(main())
    except ValueError as e:  # UsageError and the loaders' clear errors: one line, exit 2
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
