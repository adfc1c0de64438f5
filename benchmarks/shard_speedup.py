"""Wall-clock speed-up of a run sharded over 2 processes against 1 process, on this machine.

    python benchmarks/shard_speedup.py                       # reproject, 8 clips of 17 frames at 64x64, torchrun
    python benchmarks/shard_speedup.py --method exo-copy --clips 16 --launcher accelerate

Builds a small synthetic test split in a temporary folder, then times, interleaved ``--reps`` times each:

* ``1 process``   ``python -m benchmark run ...`` into a fresh folder;
* ``2 processes`` ``torchrun --nproc_per_node 2 -m benchmark run ...`` (or ``accelerate launch --multi_gpu
                  --num_processes 2``, which runs torchrun underneath and needs no GPU) into a fresh folder;
* ``fixed cost``  the 1-process command again on its finished folder (every clip reused): interpreter start,
                  imports, dataset index and scoring, the part that sharding does not divide.

and prints the medians and the speed-up ``1 process / 2 processes``; the two runs' metrics are checked to be
identical. A figure, never asserted: it depends on the cores free at the time (sharding divides only the
generation; both processes start Python and torch, and one of them scores every clip).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed(cmd, env) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", default="reproject")
    p.add_argument("--clips", type=int, default=8, help="clips in the split (default: %(default)s)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip (default: %(default)s)")
    p.add_argument("--size", type=int, default=64, help="ego frames are SIZE x SIZE, exo SIZE x 1.5 SIZE")
    p.add_argument("--metrics", default="psnr,ssim,lpips")
    p.add_argument("--reps", type=int, default=1, help="timed repetitions of each setting (default: %(default)s)")
    p.add_argument("--launcher", choices=["torchrun", "accelerate"], default="torchrun")
    args = p.parse_args(argv)

    from benchmark.data import build_synth

    with tempfile.TemporaryDirectory(prefix="shard-speedup-") as tmp:
        tmp = Path(tmp)
        size = (args.size, args.size)
        root = build_synth(tmp / "data", splits=("test",), seed=0, n_clips={"test": args.clips}, progress=False,
                           num_frames=args.frames, ego_size=size, exo_size=(args.size, args.size * 3 // 2))
        env = {**os.environ, "HF_HOME": str(tmp / "hf-home")}  # no user accelerate config changes the launcher
        run_args = ["-m", "benchmark", "run", "--method", args.method, "--root", str(root), "--metrics", args.metrics,
                    "--no-progress"]

        def two(out):
            if args.launcher == "torchrun":
                launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port())]
            else:
                launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "--main_process_port", str(_free_port())]
            return launch + run_args + ["--out", str(out)]

        one_s, two_s, fixed_s = [], [], []
        for rep in range(args.reps):
            one_out, two_out = tmp / f"one-{rep}", tmp / f"two-{rep}"
            one_s.append(_timed([sys.executable] + run_args + ["--out", str(one_out)], env))
            two_s.append(_timed(two(two_out), env))
            fixed_s.append(_timed([sys.executable] + run_args + ["--out", str(one_out)], env))
            a, b = (json.loads(next(o.rglob("results.json")).read_text()) for o in (one_out, two_out))
            if a["metrics"] != b["metrics"] or b["counts"].get("shards") != 2:
                raise SystemExit("the 2-process run did not give the 1-process metrics from 2 shards")

        one, two_med, fixed = (statistics.median(x) for x in (one_s, two_s, fixed_s))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # other jobs on the machine change the figure
        print(f"method {args.method}, {args.clips} clips x {args.frames} frames at {args.size}x{args.size}, "
              f"metrics {args.metrics}, {os.cpu_count()} CPUs (load average {load}), launcher {args.launcher}, "
              f"median of {args.reps}")
        print(f"  1 process    {one:7.2f} s")
        print(f"  2 processes  {two_med:7.2f} s")
        print(f"  fixed cost   {fixed:7.2f} s  (1 process, every clip reused: start-up, imports, scoring)")
        print(f"  speed-up     {one / two_med:7.2f} x  (1 process / 2 processes; metrics identical)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
