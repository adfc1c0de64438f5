"""Cross-machine spread of the shipped methods' per-clip scores, measured by simulating other CPUs on this one.

    python benchmarks/cross_machine_spread.py                          # builds the test split once, N = 8 clips
    python benchmarks/cross_machine_spread.py --root DIR --limit 4 --json spread.json
    python benchmarks/cross_machine_spread.py --ablations --settings baseline,aten-default

What can change a number between two x86-64 machines running the same code on the same data is which SIMD
kernels the libraries pick and how many threads split a reduction. Each can be forced on one machine:

=================  ============================================================  ===============================
setting            environment (on top of the caller's, with these names unset)   simulates
=================  ============================================================  ===============================
baseline           OMP_NUM_THREADS=1                                              the reference run
repeat             OMP_NUM_THREADS=1                                              the same machine, run again
aten-default       ATEN_CPU_CAPABILITY=default                                    torch without AVX2 / AVX-512
aten-avx2          ATEN_CPU_CAPABILITY=avx2                                       torch on an AVX2-only CPU
threads-2          OMP_NUM_THREADS=2                                              2 torch / OpenBLAS threads
npy-no-avx512      NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"        numpy on an AVX2-only CPU
openblas-haswell   OPENBLAS_CORETYPE=Haswell                                      numpy's OpenBLAS kernels, AVX2
opencv-sse3        OPENCV_CPU_DISABLE=AVX512-SKX,AVX2,AVX,FP16,SSE4.2,SSE4.1,...  OpenCV (SIFT of the ego-motion
                                                                                  error) on a CPU without AVX
old-cpu            the AVX2 settings above together, OpenCV without AVX-512       a whole AVX2-only machine
                   (opt-in)
=================  ============================================================  ===============================

Every setting but ``threads-2`` runs with ``OMP_NUM_THREADS=1``: torch reads it for its intra-op thread count
and numpy's OpenBLAS for its own, so the only difference from ``baseline`` is the variable under test (and
the runs do not fight over a small machine's cores). ``benchmark/threads.py`` pins torch to one thread only
inside reproject's per-frame warp (and the synthetic renderer); the neural generators and the metrics use
torch's global count, which ``threads-2`` changes. Each setting is checked rather than trusted: a probe
subprocess records torch's thread count and CPU capability, numpy's enabled SIMD dispatch targets, OpenBLAS's
core name and the folder ``benchmark`` is imported from, under the setting's environment (in the JSON and the
printed header). The code is that of the checkout holding this script (it runs from there, ahead of any installed
copy): on a working tree others edit during the measurement, run a copy of the checkout so that every setting
runs the same code.

Each method then runs as ``python -m benchmark run --method M --root DATA --out WORK/<setting> --limit N``
in a subprocess, and each setting's ``per_clip.csv`` and videos are compared with the baseline's: per method
and metric the max and median absolute difference over clips, the clips that differ, and whether each video
file is byte-identical and its decoded frames equal (pixels that differ, largest absolute difference).

The dataset is built once (or reused with ``--root``) so every setting scores the same data, and
``EXOEGO_CACHE`` points at a fresh temporary folder so nothing is read from or written to ``~/.cache``.
LPIPS is compared only when its weights are installed (otherwise it is absent from ``per_clip.csv``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHIPPED = ("exo-copy", "reproject", "exo2egosyn", "wan2.2-ti2v")
ABLATIONS = ("exo2egosyn-no-align", "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj")

NPY_NO_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"
# OpenCV's names (cv2.getCPUFeaturesLine() marks a disabled dispatch target with "?"); SSE3 is its x86-64 baseline
CV_SSE3_ONLY = "AVX512-SKX,AVX2,AVX,FP16,FMA3,POPCNT,SSE4.2,SSE4.1"
SETTINGS = {
    "baseline": {"OMP_NUM_THREADS": "1"},
    "repeat": {"OMP_NUM_THREADS": "1"},
    "aten-default": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2"},
    "threads-2": {"OMP_NUM_THREADS": "2"},
    "npy-no-avx512": {"OMP_NUM_THREADS": "1", "NPY_DISABLE_CPU_FEATURES": NPY_NO_AVX512},
    "openblas-haswell": {"OMP_NUM_THREADS": "1", "OPENBLAS_CORETYPE": "Haswell"},
    "opencv-sse3": {"OMP_NUM_THREADS": "1", "OPENCV_CPU_DISABLE": CV_SSE3_ONLY},
    "old-cpu": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2", "NPY_DISABLE_CPU_FEATURES": NPY_NO_AVX512,
                "OPENBLAS_CORETYPE": "Haswell", "OPENCV_CPU_DISABLE": "AVX512-SKX"},
}
DEFAULT_SETTINGS = ("baseline", "repeat", "aten-default", "aten-avx2", "threads-2", "npy-no-avx512",
                    "openblas-haswell", "opencv-sse3")
# Variables that select kernels or thread counts: unset in every child, then set per setting, so the caller's
# shell cannot leak a setting into the baseline.
CONTROLLED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ATEN_CPU_CAPABILITY",
              "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "OPENCV_CPU_DISABLE")

PROBE = r"""
import ctypes, glob, json, os
import numpy, torch
import benchmark
try:
    import cv2
    cv_features = cv2.getCPUFeaturesLine()
except ImportError:
    cv_features = None
try:
    from numpy._core._multiarray_umath import __cpu_features__ as features
except ImportError:  # numpy < 2
    from numpy.core._multiarray_umath import __cpu_features__ as features
corename = None
for lib in glob.glob(os.path.join(os.path.dirname(numpy.__file__), "..", "numpy.libs", "*openblas*")):
    for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
        f = getattr(ctypes.CDLL(lib), symbol, None)
        if f is not None:
            f.restype = ctypes.c_char_p
            corename = f().decode()
            break
print(json.dumps({"torch": torch.__version__, "numpy": numpy.__version__, "torch_threads": torch.get_num_threads(),
                  "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                  "numpy_dispatch": [k for k in ("X86_V3", "X86_V4", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR")
                                     if features.get(k)],
                  "openblas_core": corename, "opencv_cpu_features": cv_features, "benchmark_from": os.path.dirname(benchmark.__file__)}))
"""


def child_env(setting: dict, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    env.update(setting)
    env["EXOEGO_CACHE"] = str(cache)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_logged(cmd: list, env: dict, log: Path, timeout: float) -> tuple[int, float]:
    """Run ``cmd`` with stdout + stderr into ``log``; (return code, wall seconds). A timeout counts as rc -9."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, env=env, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -9
    return rc, time.perf_counter() - t0


def probe(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def code_state() -> dict:
    """The commit of the checkout that ran (and whether it had uncommitted changes); nulls outside a git checkout."""
    def git(*a):
        out = subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def run_folder(work: Path, setting: str, method: str) -> Path:
    return work / "runs" / setting / "synth" / "test" / method


def compare_scores(base_dir: Path, other_dir: Path) -> dict:
    """Per metric: max / median |difference| over the clips both scored, and how many clips differ at all."""
    from benchmark.results import read_per_clip

    a = read_per_clip(base_dir / "per_clip.csv").set_index("clip_id")
    b = read_per_clip(other_dir / "per_clip.csv").set_index("clip_id")
    common = sorted(set(a.index) & set(b.index))
    out = {"n_clips": len(common), "only_in_one": sorted(set(a.index) ^ set(b.index)), "metrics": {}}
    for m in [c for c in a.columns if c != "category" and c in b.columns]:
        d = np.abs(a.loc[common, m].to_numpy(float) - b.loc[common, m].to_numpy(float))
        out["metrics"][m] = {"max_abs_diff": float(np.max(d)) if len(d) else None,
                             "median_abs_diff": float(np.median(d)) if len(d) else None,
                             "clips_differing": int(np.count_nonzero(d))}
    return out


def compare_videos(base_dir: Path, other_dir: Path) -> dict:
    """Byte equality of each video file and equality of its decoded frames (pixel = one (t, y, x) position)."""
    from benchmark.video_io import read_video

    names = sorted(p.name for p in (base_dir / "videos").glob("*.mp4"))
    files_identical = frames_identical = pixels_differing = pixels_total = max_pixel_diff = max_in_a_clip = 0
    missing = []
    for name in names:
        pa, pb = base_dir / "videos" / name, other_dir / "videos" / name
        if not pb.is_file():
            missing.append(name)
            continue
        files_identical += pa.read_bytes() == pb.read_bytes()
        va, vb = read_video(pa).astype(np.int16), read_video(pb).astype(np.int16)
        if va.shape != vb.shape:
            missing.append(f"{name} (shape {va.shape} vs {vb.shape})")
            continue
        diff = np.abs(va - vb)
        differing = int(np.count_nonzero(diff.max(axis=-1)))
        frames_identical += differing == 0
        pixels_differing += differing
        max_in_a_clip = max(max_in_a_clip, differing)
        pixels_total += int(np.prod(diff.shape[:-1]))
        max_pixel_diff = max(max_pixel_diff, int(diff.max()))
    return {"n_videos": len(names), "files_identical": files_identical, "frames_identical": frames_identical,
            "pixels_differing": pixels_differing, "max_pixels_differing_in_a_clip": max_in_a_clip,
            "pixels_total": pixels_total, "max_pixel_diff": max_pixel_diff,
            "missing_or_mismatched": missing}


def compare_means(base_dir: Path, other_dir: Path) -> dict:
    """|difference| of each metric's aggregate mean in results.json."""
    a = json.loads((base_dir / "results.json").read_text())["metrics"]
    b = json.loads((other_dir / "results.json").read_text())["metrics"]
    return {m: abs(a[m]["mean"] - b[m]["mean"]) for m in a
            if isinstance(a[m], dict) and "mean" in a[m] and isinstance(b.get(m), dict) and "mean" in b[m]}


def fmt(x) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.2e}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, help="an existing SynthEgoExo folder with the test split (default: build one)")
    p.add_argument("--work", type=Path, help="folder for the data, runs and logs (default: a new temporary folder)")
    p.add_argument("--limit", type=int, default=8, help="clips per run (default: 8)")
    p.add_argument("--methods", default=",".join(SHIPPED), help=f"comma-separated (default: {','.join(SHIPPED)})")
    p.add_argument("--ablations", action="store_true", help=f"also run {', '.join(ABLATIONS)}")
    p.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                   help=f"comma-separated, from {', '.join(SETTINGS)} (default: all but old-cpu); "
                        "baseline is always run")
    p.add_argument("--json", type=Path, help="write the figures here as JSON")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (default: 1800)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (always kept when --work is given)")
    p.add_argument("--compare-only", action="store_true",
                   help="run nothing: compare the runs already in --work (e.g. to print the table again)")
    args = p.parse_args(argv)

    methods = [m for m in args.methods.split(",") if m] + (list(ABLATIONS) if args.ablations else [])
    settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        p.error(f"unknown setting(s) {unknown}; choose from {list(SETTINGS)}")
    settings = ["baseline"] + [s for s in settings if s != "baseline"]
    if args.limit < 1:
        p.error("--limit must be >= 1")
    if args.compare_only and not (args.work and (args.work / "runs").is_dir()):
        p.error("--compare-only needs --work pointing at the folder of an earlier measurement")

    work = args.work or Path(tempfile.mkdtemp(prefix="xmachine-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    cache = None if args.compare_only else Path(tempfile.mkdtemp(prefix="exoego-cache-", dir=work))
    print(f"work folder {work}; EXOEGO_CACHE={cache}", flush=True)

    root = args.root or work / "data"
    if args.root is None and not args.compare_only:
        rc, secs = run_logged([sys.executable, "-m", "benchmark", "data", "build", "synth", "--out", str(root),
                               "--splits", "test"], child_env(SETTINGS["baseline"], cache), work / "logs" / "build.log",
                              args.timeout)
        if rc != 0:
            print(f"building the dataset failed (see {work / 'logs' / 'build.log'})", file=sys.stderr)
            return 1
        print(f"built the test split at {root} in {secs:.0f} s", flush=True)
    manifest_path = Path(root) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}

    test_split = manifest.get("splits", {}).get("test", {})
    report = {"limit": args.limit, "methods": methods, "root": str(root), "code": code_state(),
              "dataset_version": manifest.get("version"), "dataset_identity": test_split.get("identity"),
              "settings": {}, "runs": {}, "comparisons": {}}
    for s in [] if args.compare_only else settings:
        env = child_env(SETTINGS[s], cache)
        report["settings"][s] = {"env": SETTINGS[s], "probe": probe(env)}
        print(f"[{s}] {SETTINGS[s]} -> {report['settings'][s]['probe']}", flush=True)
        for m in methods:
            cmd = [sys.executable, "-m", "benchmark", "run", "--method", m, "--root", str(root),
                   "--out", str(work / "runs" / s), "--limit", str(args.limit), "--no-progress"]
            rc, secs = run_logged(cmd, env, work / "logs" / f"{s}--{m}.log", args.timeout)
            report["runs"].setdefault(s, {})[m] = {"rc": rc, "seconds": round(secs, 1)}
            print(f"  {m:28s} rc={rc} {secs:6.1f} s", flush=True)

    for s in settings[1:]:
        for m in methods:
            base, other = run_folder(work, "baseline", m), run_folder(work, s, m)
            failed = any(report["runs"].get(x, {}).get(m, {}).get("rc", 0) != 0 for x in ("baseline", s))
            if failed or not ((base / "per_clip.csv").is_file() and (other / "per_clip.csv").is_file()):
                report["comparisons"].setdefault(s, {})[m] = {"error": "a run did not finish; see its log"}
                continue
            report["comparisons"].setdefault(s, {})[m] = {"scores": compare_scores(base, other),
                                                          "means": compare_means(base, other),
                                                          "videos": compare_videos(base, other)}

    # The figure a tolerance is set from: per method and metric, the largest difference any setting produced.
    worst = {}
    for s, per_method in report["comparisons"].items():
        for m, c in per_method.items():
            for metric, f in c.get("scores", {}).get("metrics", {}).items():
                w = worst.setdefault(m, {}).setdefault(metric, {"max_abs_diff": 0.0, "setting": None,
                                                                "max_mean_abs_diff": 0.0})
                if f["max_abs_diff"] is not None and f["max_abs_diff"] > w["max_abs_diff"]:
                    w.update(max_abs_diff=f["max_abs_diff"], setting=s)
                w["max_mean_abs_diff"] = max(w["max_mean_abs_diff"], c["means"].get(metric, 0.0))
    report["worst_per_method"] = worst

    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    if not (args.work or args.keep):
        shutil.rmtree(work, ignore_errors=True)
    failed = [(s, m) for s, r in report["runs"].items() for m, x in r.items() if x["rc"] != 0]
    if failed:
        print(f"runs that failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


def print_table(report: dict) -> None:
    metrics = sorted({metric for per_method in report["comparisons"].values() for c in per_method.values()
                      for metric in c.get("scores", {}).get("metrics", {})})
    head = f"{'setting':17s} {'method':26s} " + " ".join(f"{m + ' max':>9s} {m + ' med':>9s} {'#diff':>5s}"
                                                          for m in metrics)
    head += f" {'files=':>7s} {'frames=':>7s} {'px differ':>9s} {'/clip':>5s} {'max px':>6s}"
    print(f"\nper-clip differences from 'baseline' ({report['limit']} clips per run). max / med: largest and median "
          "|difference| over clips; #diff: clips whose score differs at all;\n"
          "files= / frames=: videos byte-identical / "
          "with identical decoded frames; px differ: pixels (t, y, x) that differ in any channel, in all clips and "
          "at most in one (/clip); max px: largest |difference| in levels of 255")
    print(head)
    print("-" * len(head))
    for s, per_method in report["comparisons"].items():
        for m, c in per_method.items():
            if "error" in c:
                print(f"{s:17s} {m:26s} {c['error']}")
                continue
            sc, v = c["scores"], c["videos"]
            cells = []
            for metric in metrics:
                f = sc["metrics"].get(metric)
                if f is None:
                    cells.append(f"{'-':>9s} {'-':>9s} {'-':>5s}")
                else:
                    cells.append(f"{fmt(f['max_abs_diff']):>9s} {fmt(f['median_abs_diff']):>9s} "
                                 f"{f['clips_differing']:>2d}/{sc['n_clips']:<2d}")
            n = v["n_videos"]
            print(f"{s:17s} {m:26s} " + " ".join(cells)
                  + f" {v['files_identical']:>3d}/{n:<3d} {v['frames_identical']:>3d}/{n:<3d} "
                  f"{v['pixels_differing']:>9d} {v['max_pixels_differing_in_a_clip']:>5d} {v['max_pixel_diff']:>6d}")
    print("\nlargest per-clip |difference| over all settings")
    for m, per_metric in report["worst_per_method"].items():
        cells = [f"{metric} {fmt(w['max_abs_diff'])} ({w['setting'] or 'none'}; "
                 f"of the mean {fmt(w['max_mean_abs_diff'])})" for metric, w in per_metric.items()]
        print(f"  {m:26s} " + "  ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
