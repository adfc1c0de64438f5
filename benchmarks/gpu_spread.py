"""How much do the neural generators' outputs and scores move between CPU and GPU (and between GPU runs)?

Two steps, so that the GPU machine needs neither the dataset tooling nor a video codec:

    # here (CPU): the inputs of N clips, their ground truth, and each method's CPU output
    python benchmarks/gpu_spread.py dump --limit 8 --out .gpu/spread.npz [--root DATASET_DIR]
    # on the GPU machine: the same methods on cuda, twice; compare with the CPU outputs
    python benchmarks/gpu_spread.py compare --inputs .gpu/spread.npz --json OUT.json

``compare`` prints, per method: how many pixels of the GPU video differ from the CPU video and by how much,
the per-clip |PSNR| and |SSIM| differences (GPU score minus CPU score, both scored by the benchmark's
metric code on the same machine), and the same between two GPU runs (GPU run-to-run determinism). The
figures feed ``leaderboard/tolerances.json`` (see ``leaderboard/tolerances.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

METHODS = ("exo2egosyn", "wan2.2-ti2v")
_INPUT_FIELDS = ("exo_video", "exo_K", "exo_T_world_cam", "ego_K", "ego_T_world_cam")


def _clip_seed(seed: int, clip_id: str) -> int:
    from benchmark.runner import clip_seed

    return clip_seed(seed, clip_id)


def dump(args) -> None:
    from benchmark import registry
    from benchmark.data import load_split

    clips = load_split("synth", "test", root=args.root)
    arrays, meta = {}, []
    gens = {m: registry.build(m, device="cpu") for m in METHODS}
    for i, cid in enumerate(clips.clip_ids[: args.limit]):
        clip = clips.get(cid)
        inputs = clip.inputs("exo-only")
        meta.append({"clip_id": cid, "category": clip.category, "fps": clip.fps, "text": clip.text,
                     "exo_cam_ids": list(clip.exo_cam_ids)})
        for f in _INPUT_FIELDS:
            arrays[f"{i}/{f}"] = getattr(inputs, f)
        arrays[f"{i}/ego_video"] = clip.ego_video
        for m, gen in gens.items():
            arrays[f"{i}/cpu/{m}"] = gen.generate(inputs, seed=_clip_seed(0, cid))
        print(f"dumped {cid}", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, meta=json.dumps(meta), **arrays)
    print(f"wrote {args.out}")


def _scores(pred: np.ndarray, target: np.ndarray) -> tuple:
    from benchmark.metrics.video_psnr import video_psnr
    from benchmark.metrics.video_ssim import video_ssim

    return float(video_psnr(pred, target)), float(video_ssim(pred, target))


def compare(args) -> None:
    import torch

    from benchmark import registry
    from benchmark.schema import ExoEgoInputs

    z = np.load(args.inputs)
    meta = json.loads(str(z["meta"]))[: args.limit]
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    report = {"device": device, "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
              "torch": torch.__version__, "n_clips": len(meta), "methods": {}}
    for m in METHODS:
        gen = registry.build(m, device=device)
        rows = []
        t0 = time.perf_counter()
        for i, info in enumerate(meta):
            T, H, W = z[f"{i}/ego_video"].shape[:3]
            inputs = ExoEgoInputs(clip_id=info["clip_id"], category=info["category"], fps=info["fps"], text=info["text"],
                                  exo_cam_ids=info["exo_cam_ids"], ego_height=H, ego_width=W, num_frames=T,
                                  **{f: z[f"{i}/{f}"] for f in _INPUT_FIELDS})
            seed = _clip_seed(0, info["clip_id"])
            gpu_a = gen.generate(inputs, seed=seed)
            gpu_b = gen.generate(inputs, seed=seed)
            cpu = z[f"{i}/cpu/{m}"]
            gt = z[f"{i}/ego_video"]
            s_cpu, s_a, s_b = _scores(cpu, gt), _scores(gpu_a, gt), _scores(gpu_b, gt)
            d = np.abs(gpu_a.astype(np.int16) - cpu.astype(np.int16))
            rows.append({"clip_id": info["clip_id"], "pixels_differing_vs_cpu": int((d > 0).sum()),
                         "pixels": int(d.size), "max_pixel_diff_vs_cpu": int(d.max()),
                         "psnr_diff_vs_cpu": s_a[0] - s_cpu[0], "ssim_diff_vs_cpu": s_a[1] - s_cpu[1],
                         "psnr_diff_gpu_runs": s_b[0] - s_a[0], "ssim_diff_gpu_runs": s_b[1] - s_a[1],
                         "gpu_runs_identical": bool(np.array_equal(gpu_a, gpu_b))})
        seconds = time.perf_counter() - t0
        summary = {
            "max_abs_psnr_diff_vs_cpu": max(abs(r["psnr_diff_vs_cpu"]) for r in rows),
            "max_abs_ssim_diff_vs_cpu": max(abs(r["ssim_diff_vs_cpu"]) for r in rows),
            "median_abs_psnr_diff_vs_cpu": float(np.median([abs(r["psnr_diff_vs_cpu"]) for r in rows])),
            "fraction_pixels_differing_vs_cpu": sum(r["pixels_differing_vs_cpu"] for r in rows) / sum(r["pixels"] for r in rows),
            "max_pixel_diff_vs_cpu": max(r["max_pixel_diff_vs_cpu"] for r in rows),
            "max_abs_psnr_diff_gpu_runs": max(abs(r["psnr_diff_gpu_runs"]) for r in rows),
            "gpu_runs_identical": all(r["gpu_runs_identical"] for r in rows),
            "seconds_for_2_runs": seconds,
        }
        report["methods"][m] = {"summary": summary, "clips": rows}
        print(f"{m} on {device}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in summary.items()), flush=True)
        if args.json:  # written as it goes, so a cut-off run still leaves its figures
            Path(args.json).write_text(json.dumps(report, indent=1))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--root", default=None)
    d.add_argument("--limit", type=int, default=8)
    d.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--inputs", required=True)
    c.add_argument("--device", default=None)
    c.add_argument("--json", default=None)
    c.add_argument("--limit", type=int, default=None, help="only the first N dumped clips")
    args = p.parse_args(argv)
    (dump if args.cmd == "dump" else compare)(args)


if __name__ == "__main__":
    main()
