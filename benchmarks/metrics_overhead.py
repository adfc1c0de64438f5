"""What the metrics harness costs: memory flat in the number of clips, and time over calling the metrics directly.

    python benchmarks/metrics_overhead.py                   # CPU; 100 vs 1000 clips, 200 clips timed
    python benchmarks/metrics_overhead.py --device cuda     # the metrics on a GPU
    python benchmarks/metrics_overhead.py --small 50 --large 500 --timed 100 --repeats 3   # quicker

(a) **Memory.** Scoring streams clips: a clip's videos are released once it is scored and only its scores (one
float per metric) are kept. Each of two child processes scores ``--small`` and ``--large`` random uint8 clip
pairs of the synth size (17 x 64 x 64 x 3) through ``MetricSuite(("psnr", "ssim"))`` — clips made one at a time,
as the runner reads them — then builds the per-clip table and the bootstrap summary, and reports its peak
resident memory (``ru_maxrss``) and its resident memory after the first 10 clips (what the process needs
before the clip count matters). Goal: peak(large) / peak(small) at most 1.2.

(b) **Time.** On the same ``--timed`` clip pairs (made once, in memory), the harness (``suite.update`` per clip,
then ``suite.per_clip()``) against torchmetrics' functionals called directly: per clip the frames converted
once to float ``(T, 3, H, W)`` in [0, 1], ``peak_signal_noise_ratio(..., reduction="none", dim=(1, 2, 3))``
and ``structural_similarity_index_measure(..., reduction="none", **SSIM_SETTINGS)``, each averaged over frames.
The two give the same clip scores (checked). Each side runs ``--repeats`` times, alternating; the best time
of each is compared. Goal: harness / direct at most 1.10. The bootstrap summary is timed on its own (it is not
a metric call).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPE = (17, 64, 64, 3)  # the synth ego clip: frames, height, width, RGB
METRICS = ("psnr", "ssim")


def _rss_mib() -> float:
    """Current resident memory of this process (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def clip_pair(rng: np.random.Generator):
    """A random uint8 (prediction, ground truth) pair of the synth size; the prediction is the truth plus noise."""
    target = rng.integers(0, 256, size=SHAPE, dtype=np.uint8)
    noise = rng.integers(-30, 31, size=SHAPE)
    return np.clip(target.astype(np.int16) + noise, 0, 255).astype(np.uint8), target


def score_streaming(n_clips: int, device: str) -> dict:
    """Child process body of (a): score ``n_clips`` pairs made one at a time; report memory in MiB."""
    from benchmark.metrics import MetricSuite

    suite = MetricSuite(METRICS, device=device)
    rng = np.random.default_rng(0)
    after_warmup = None
    for i in range(n_clips):
        pred, target = clip_pair(rng)
        suite.update(f"clip-{i:05d}", f"category-{i % 5}", pred, target)
        if i == 9:
            after_warmup = _rss_mib()
    table = suite.per_clip()
    summary = suite.summary(n_boot=1000, seed=0)
    assert len(table) == n_clips and summary["metrics"]["psnr"]["n"] == n_clips
    out = {"clips": n_clips, "rss_after_10_clips_mib": after_warmup, "peak_rss_mib": _peak_mib()}
    if device.startswith("cuda"):
        import torch

        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def memory(n_small: int, n_large: int, device: str) -> dict:
    """(a): one fresh process per clip count, so that each peak is its own."""
    found = {}
    for n in (n_small, n_large):
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--device", device],
                              capture_output=True, text=True, check=True)
        found[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    small, large = found[n_small], found[n_large]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    growth = (large["peak_rss_mib"] - large["rss_after_10_clips_mib"],
              small["peak_rss_mib"] - small["rss_after_10_clips_mib"])
    return {"small": small, "large": large, "peak_ratio": ratio, "growth_after_10_clips_mib": growth}


def timing(n_clips: int, repeats: int, device: str) -> dict:
    """(b): harness against direct torchmetrics calls on the same in-memory clips."""
    import torch
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    from benchmark.metrics import MetricSuite
    from benchmark.metrics.video_ssim import SSIM_SETTINGS

    rng = np.random.default_rng(1)
    pairs = [clip_pair(rng) for _ in range(n_clips)]
    dev = torch.device(device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def harness():
        suite = MetricSuite(METRICS, device=device)
        for i, (pred, target) in enumerate(pairs):
            suite.update(f"clip-{i:05d}", "c", pred, target)
        table = suite.per_clip()
        sync()
        return suite, table

    def direct():
        psnr, ssim = [], []
        for pred, target in pairs:
            p = torch.from_numpy(pred).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
            t = torch.from_numpy(target).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
            psnr.append(peak_signal_noise_ratio(p, t, data_range=1.0, reduction="none", dim=(1, 2, 3)).mean())
            ssim.append(structural_similarity_index_measure(p, t, reduction="none", **SSIM_SETTINGS).mean())
        out = torch.stack(psnr).cpu().numpy(), torch.stack(ssim).cpu().numpy()
        sync()
        return out

    harness()  # warm-up: first calls build kernels and caches
    direct()
    times = {"harness": [], "direct": []}
    for _ in range(repeats):
        for name, fn in (("harness", harness), ("direct", direct)):
            t0 = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t0)
            if name == "harness":
                suite, table = result
            else:
                psnr, ssim = result
    agree = max(float(np.max(np.abs(table["psnr"].to_numpy() - psnr))),
                float(np.max(np.abs(table["ssim"].to_numpy() - ssim))))
    t0 = time.perf_counter()
    suite.summary(n_boot=1000, seed=0)
    summary_seconds = time.perf_counter() - t0
    best = {k: min(v) for k, v in times.items()}
    return {"clips": n_clips, "repeats": repeats, "seconds": times, "best": best,
            "ratio": best["harness"] / best["direct"], "max_score_difference": agree,
            "summary_seconds": summary_seconds, "torch_threads": torch.get_num_threads()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100, help="clips of the smaller memory run (default: 100)")
    parser.add_argument("--large", type=int, default=1000, help="clips of the larger memory run (default: 1000)")
    parser.add_argument("--timed", type=int, default=200, help="clips of the timing runs (default: 200)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats per side (default: 5)")
    parser.add_argument("--device", default="cpu", help="where the metrics compute (default: cpu)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(score_streaming(args.child, args.device)))
        return 0

    mem = memory(args.small, args.large, args.device)
    s, lg = mem["small"], mem["large"]
    print(f"(a) memory, MetricSuite{METRICS} on random uint8 {SHAPE} clip pairs, device {args.device}:")
    print(f"    {s['clips']:>5} clips: peak RSS {s['peak_rss_mib']:.1f} MiB (after 10 clips "
          f"{s['rss_after_10_clips_mib']:.1f})")
    print(f"    {lg['clips']:>5} clips: peak RSS {lg['peak_rss_mib']:.1f} MiB (after 10 clips "
          f"{lg['rss_after_10_clips_mib']:.1f})")
    if "peak_gpu_mib" in s:
        print(f"    peak GPU memory: {s['peak_gpu_mib']:.1f} MiB vs {lg['peak_gpu_mib']:.1f} MiB")
    grow_large, grow_small = mem["growth_after_10_clips_mib"]
    print(f"    peak ratio {lg['clips']}/{s['clips']} clips: {mem['peak_ratio']:.3f}x (goal <= 1.2x); growth after the "
          f"first 10 clips: {grow_small:.1f} MiB vs {grow_large:.1f} MiB")

    t = timing(args.timed, args.repeats, args.device)
    print(f"(b) time on {t['clips']} clips, best of {t['repeats']} (torch threads {t['torch_threads']}):")
    print(f"    harness (MetricSuite.update + per_clip): {t['best']['harness']:.3f} s "
          f"({1000 * t['best']['harness'] / t['clips']:.2f} ms/clip)")
    print(f"    direct torchmetrics functionals:         {t['best']['direct']:.3f} s "
          f"({1000 * t['best']['direct'] / t['clips']:.2f} ms/clip)")
    print(f"    overhead: {100 * (t['ratio'] - 1):+.1f}% (goal <= +10%); same clip scores to "
          f"{t['max_score_difference']:.1e}; bootstrap summary (1000 resamples) {t['summary_seconds']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
