"""Does a method's output depend on its clip? PSNR against the clip's own truth vs against another clip's truth.

A generator that has learned a dataset-wide average (a blob in the typical colours) scores nearly the same
against any clip's ground truth; one that uses the clip's exo views scores clearly better against its own. For
each run folder this prints, over the clips of the split (in dataset order, clip i paired with clip i + 1,
wrapping round):

    own    = mean_i PSNR(output_i, truth_i)
    other  = mean_i PSNR(output_{i+1}, truth_i)
    own - other, and the share of clips where own > other

PSNR here is over the whole clip (one MSE over all frames, pixels and channels, values in [0, 1]), so `own`
differs slightly from the benchmark's per-frame-averaged PSNR; the difference `own - other` is the figure of
merit. Measured on the 32 synthetic test clips (issue 10): the miniature shipped before issue 10 lost 0.3-0.7 dB
when scored against the next clip's truth; see exo2egosyn/README.md for the shipped one.

Usage (from the repository root)::

    python -m benchmark run --method exo2egosyn --out runs/dep
    python benchmarks/clip_dependence.py runs/dep/synth/test/exo2egosyn [more run folders]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def clip_psnr(video: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB) over a whole clip; ``video`` and ``truth`` are uint8 arrays of one shape (T, H, W, 3)."""
    mse = np.mean((video.astype(np.float64) / 255 - truth.astype(np.float64) / 255) ** 2)
    return float(-10 * np.log10(max(mse, 1e-10)))


def dependence(run_dir: Path, root: str | None = None) -> dict:
    """``own``, ``other``, their mean difference and the share of clips with own > other, for one run folder."""
    from benchmark.data import load_split
    from benchmark.video_io import read_video

    results = json.loads((run_dir / "results.json").read_text())
    dataset = results["dataset"]
    clips = load_split(dataset["name"], dataset["split"], root=root or dataset.get("root"))
    videos = {p.stem: p for p in (run_dir / "videos").iterdir()}
    ids = [clips[i].clip_id for i in range(len(clips)) if clips[i].clip_id in videos]
    if len(ids) < 2:
        raise SystemExit(f"{run_dir}: needs the videos of at least 2 clips in {run_dir / 'videos'}")
    by_id = {clips[i].clip_id: clips[i] for i in range(len(clips))}
    outputs = [read_video(videos[c]) for c in ids]
    truths = [by_id[c].ego_video for c in ids]
    n = len(ids)
    own = np.array([clip_psnr(outputs[i], truths[i]) for i in range(n)])
    other = np.array([clip_psnr(outputs[(i + 1) % n], truths[i]) for i in range(n)])
    return {"clips": n, "own": own.mean(), "other": other.mean(), "difference": float(np.mean(own - other)),
            "own_better": float(np.mean(own > other))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders (results.json and videos/)")
    p.add_argument("--root", help="dataset folder (default: the one results.json names)")
    args = p.parse_args(argv)
    print(f"{'run':<40} {'clips':>5} {'own':>7} {'other':>7} {'own-other':>10} {'own better':>10}")
    for run_dir in args.runs:
        d = dependence(run_dir, args.root)
        print(f"{str(run_dir)[-40:]:<40} {d['clips']:>5} {d['own']:>7.2f} {d['other']:>7.2f} "
              f"{d['difference']:>+10.2f} {d['own_better']:>10.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
