"""Where the time of README's first command goes: ``python -m benchmark run --method exo2egosyn`` from cold.

    python benchmarks/main_command_phases.py                    # exo2egosyn, 1 and 2 torch threads, 8 clips timed
    python benchmarks/main_command_phases.py --method wan2.2-ti2v --clips 4
    python benchmarks/main_command_phases.py --whole 3          # also time the whole cold command 3 times

Every phase runs in a fresh child process with an empty dataset cache (``EXOEGO_CACHE`` points at a new temporary
folder), as a newcomer's first command does, and the child reports:

* ``import``: importing ``benchmark.cli`` and the generator's module (torch, diffusers, transformers);
* ``dataset build``: building the synthetic test split into the empty cache (``load_split``, 32 clips);
* ``model load``: ``registry.build(method)`` and its pipeline (shipped checkpoints from disk);
* ``generation``: seconds per clip over ``--clips`` clips, the first clip apart (it pays one-time warm-up), once per
  torch thread count of ``--threads``, with the thread count set by the method argument ``threads`` (the number the
  WAN generators use inside ``generate``);
* ``scoring``: seconds per clip of the default metrics (``MetricSuite`` on the saved videos' frames), including
  the ego-motion error.

``--whole N`` then times the whole command (``python -m benchmark run --method M --out DIR``) N times, each with
its own empty cache: the figure README states. Wall seconds on this machine; the machine's load is printed
(``os.getloadavg``) because other processes on a small machine change every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import torch
import benchmark.cli  # noqa: F401  (what the command imports first)
from benchmark import registry
from benchmark.data import load_split
from benchmark.metrics import MetricSuite
from benchmark.metrics.catalog import DEFAULT_METRICS
from benchmark.runner import clip_seed
method, n_clips, threads = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]
registry.method_class(method)
out = {"import": time.perf_counter() - t0}
t0 = time.perf_counter()
clips = load_split("synth", "test")
out["dataset build"] = time.perf_counter() - t0
t0 = time.perf_counter()
gen = registry.build(method)
getattr(gen, "pipeline", None)
out["model load"] = time.perf_counter() - t0
ids = list(clips.clip_ids)[:n_clips]
videos = {}
out["generation"] = {}
for n in threads:
    if hasattr(gen, "threads"):
        gen.threads = n
    else:
        torch.set_num_threads(n)
    seconds = []
    for cid in ids:
        clip = clips.get(cid)
        t0 = time.perf_counter()
        videos[cid] = gen.generate(clip.inputs("exo-only"), seed=clip_seed(0, cid))
        seconds.append(time.perf_counter() - t0)
    out["generation"][n] = {"first": seconds[0], "rest_mean": float(np.mean(seconds[1:])) if len(seconds) > 1 else None,
                            "rest_min": float(np.min(seconds[1:])) if len(seconds) > 1 else None}
torch.set_num_threads(1)
suite = MetricSuite(DEFAULT_METRICS)
t0 = time.perf_counter()
for cid in ids:
    clip = clips.get(cid)
    suite.update(cid, clip.category, videos[cid], clip.ego_video, ego_K=clip.ego_K, ego_T_world_cam=clip.ego_T_world_cam)
out["scoring per clip"] = (time.perf_counter() - t0) / len(ids)
out["scored"] = list(suite.available)
print(json.dumps(out))
"""


def child_env(cache: Path) -> dict:
    env = dict(os.environ)
    env["EXOEGO_CACHE"] = str(cache)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="exo2egosyn", help="the method of the command (default: exo2egosyn)")
    p.add_argument("--clips", type=int, default=8, help="clips generated per thread count (default: 8)")
    p.add_argument("--threads", default="1,2", help="torch thread counts to time generation with (default: 1,2)")
    p.add_argument("--whole", type=int, default=0, help="also time the whole cold command this many times (default: 0)")
    args = p.parse_args(argv)
    if args.clips < 2:
        p.error("--clips must be at least 2 (the first clip is timed apart)")

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, args.method, str(args.clips), args.threads],
                             env=child_env(Path(tmp) / "cache"), cwd=REPO, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        phases = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.method}, phases of a cold start (fresh process, empty cache):")
    for key in ("import", "dataset build", "model load"):
        print(f"  {key:<16} {phases[key]:7.2f} s")
    for n, g in phases["generation"].items():
        print(f"  generation, {n} thread(s): first clip {g['first']:.2f} s, then {g['rest_mean']:.2f} s/clip "
              f"(best {g['rest_min']:.2f})")
    print(f"  scoring          {phases['scoring per clip']:7.3f} s/clip ({', '.join(phases['scored'])})")
    gens = {int(n): g["rest_mean"] for n, g in phases["generation"].items()}
    if 1 in gens and 2 in gens:
        print(f"  2 threads / 1 thread per clip: {gens[2] / gens[1]:.2f}x")

    if args.whole:
        walls = []
        for i in range(args.whole):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                rc = subprocess.run([sys.executable, "-m", "benchmark", "run", "--method", args.method, "--out",
                                     str(Path(tmp) / "runs"), "--no-progress"], env=child_env(Path(tmp) / "cache"),
                                    cwd=REPO, capture_output=True, text=True).returncode
                walls.append(time.perf_counter() - t0)
                print(f"  whole command, cold, run {i + 1}: {walls[-1]:.1f} s (exit {rc})")
        walls.sort()
        print(f"whole command: min {walls[0]:.1f} / median {walls[len(walls) // 2]:.1f} / max {walls[-1]:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
