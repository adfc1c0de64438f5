"""Why does PoseInj have no measurable effect? Diagnostics on the shipped tiny checkpoints (prints figures).

Run from the repository root (CPU, 1 thread, ~1-2 min)::

    EXOEGO_CACHE=/work/cache EXO2EGOSYN_SCRATCH=/work/train-scratch python benchmarks/poseinj_study.py

Reads the adapters latent cache written by ``exo2egosyn train`` (``$EXO2EGOSYN_SCRATCH/latent-cache/adapters-*.pt``,
the exact tensors the adapters were trained on) and, when present, the resume state of the ``exo2egosyn`` run
(``$EXO2EGOSYN_SCRATCH/exo2egosyn/state``) for Adam's running gradient moments. Sections:

1. weights: norms of the trained modules vs their seed-0 initialization;
2. inputs: scale and variance decomposition of PoseInj's Plücker maps (clip / view / frame / pixel);
3. injection: RMS of PoseInj's and MultiExoCon's token injections vs the patch embedding they are added to,
   and how much of PoseInj's injection is a constant (clip-independent) offset;
4. gradients: Adam second moments (RMS gradient) per module at the end of training;
5. loss: flow loss on training clips with the trained PoseInj on / zeroed / fed another clip's rays
   (paired over the same noise draws);
6. test PSNR, paired per clip (bootstrap 95% CI), of Align+PoseInj (shipped ``exo2egosyn-no-multiexocon``) vs
   Align only (``configs/exo2egosyn-align-only.yaml``), when both ``per_clip.csv`` files exist. The Align-only run::

       python -m exo2egosyn train --config exo2egosyn/configs/exo2egosyn-align-only.yaml
       python -m benchmark run --method exo2egosyn-no-multiexocon --method-arg use_poseinj=false \
           --method-arg checkpoint=runs/train/exo2egosyn-align-only --name align-only --seed 0 \
           --out $EXO2EGOSYN_SCRATCH/poseinj-study --no-progress

   (the config writes to runs/train/exo2egosyn-align-only, relative to the repository root.)
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(1)

from exo2egosyn.configs import build_modules  # noqa: E402
from exo2egosyn.pipeline import Exo2EgoSynPipeline, load_wan_components  # noqa: E402
from exo2egosyn.train import FlowStep, shifted_sigmas  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CK = ROOT / "exo2egosyn" / "checkpoints"
SCRATCH = Path(os.environ.get("EXO2EGOSYN_SCRATCH", "~/.cache/exo2egosyn/train-runs")).expanduser()


def rms(x):
    return float(x.float().pow(2).mean().sqrt())


def load_pipe(name, folder=None):
    comps = load_wan_components(str(CK / "tiny-wan"), torch_dtype=torch.float32)
    flags = dict(use_align="no-align" not in name, use_multiexocon="no-multiexocon" not in name,
                 use_poseinj="no-poseinj" not in name)
    mods = build_modules(comps["transformer"].config, comps["vae"].config, **flags, seed=0)
    pipe = Exo2EgoSynPipeline(**comps, **mods)
    pipe.load_adapters(str(folder or CK / name))
    return pipe


def main():
    cache_path = sorted(glob.glob(str(SCRATCH / "latent-cache" / "adapters-*.pt")))[0]
    cache = torch.load(cache_path, weights_only=True)
    n = len(cache["ego"])
    print(f"cache: {cache_path} ({n} training clips)")

    # ---------------------------------------------------------------- 1. weights
    print("\n== 1. weights (trained vs seed-0 init) ==")
    comps0 = load_wan_components(str(CK / "tiny-wan"), torch_dtype=torch.float32)
    init = build_modules(comps0["transformer"].config, comps0["vae"].config, True, True, True, seed=0)
    for variant in ("exo2egosyn", "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj", "exo2egosyn-no-align"):
        for mod in ("poseinj", "multiexocon"):
            f = CK / variant / mod / "diffusion_pytorch_model.safetensors"
            if not f.is_file():
                continue
            from safetensors.torch import load_file
            sd, sd0 = load_file(str(f)), init[mod].state_dict()
            parts = []
            for k in sd:
                if k.startswith("proj_out") or k.startswith("conv1.weight") or k.startswith("conv2.weight"):
                    d = (sd[k] - sd0[k]).norm() / max(sd0[k].norm(), 1e-12)
                    parts.append(f"{k} |w|={sd[k].norm():.4f} (init {sd0[k].norm():.4f}, rel.change {d:.3f})")
            print(f"{variant:28s} {mod:11s} " + "; ".join(parts))

    # ---------------------------------------------------------------- 2. inputs
    print("\n== 2. PoseInj inputs: ego rays in exo frames, (N, V, 24, T', h, w) ==")
    R = torch.stack([g["rays_ego"] for g in cache["geom"]]).double()  # (N, V, 24, T', h, w)
    N, V, P, Tl, h, w = R.shape
    Rf = R.unflatten(2, (4, 6))  # (N, V, 4 frames, 6, T', h, w)
    d, m = Rf[:, :, :, :3], Rf[:, :, :, 3:]
    print(f"|d| mean {d.norm(dim=3).mean():.3f}; |m| = |o x d| mean {m.norm(dim=3).mean():.3f} m "
          f"(min {m.norm(dim=3).min():.3f}, max {m.norm(dim=3).max():.3f})")
    X = Rf.movedim(3, -1).reshape(N, V, 4 * Tl, h, w, 6)  # frame axis = 4 sub-frames x T' (with repeats)
    tot = X.var(dim=(0, 1, 2, 3, 4), unbiased=False)
    clip_mean = X.mean(dim=(1, 2, 3, 4))
    view_mean = X.mean(dim=(2, 3, 4))
    frame_mean = X.mean(dim=(3, 4))
    comp = {
        "across clips": clip_mean.var(dim=0, unbiased=False),
        "across views (within clip)": (view_mean - clip_mean[:, None]).pow(2).mean(dim=(0, 1)),
        "across frames (within clip+view)": (frame_mean - view_mean[:, :, None]).pow(2).mean(dim=(0, 1, 2)),
        "across pixels (within frame)": (X - frame_mean[:, :, :, None, None]).pow(2).mean(dim=(0, 1, 2, 3, 4)),
    }
    print("variance per channel [dx dy dz mx my mz]; total:", np.round(tot.numpy(), 4))
    for k, v in comp.items():
        print(f"  {k:34s} {np.round(v.numpy(), 4)}  share of total {float(v.sum() / tot.sum()):.3f}")
    # ego motion inside a clip: rotation angle / translation of T_ego(t) vs frame 0 is encoded by frame changes
    dd = (d[:, :, :, :, 1:] - d[:, :, :, :, :1]).norm(dim=3)  # direction change vs latent frame 0
    print(f"mean |d(t) - d(0)| over latent frames 1..: {dd.mean():.4f} (max {dd.max():.4f}); "
          f"mean |d_v1 - d_v2| across views: {(d[:, 0] - d[:, 1]).norm(dim=2).mean():.4f}")

    # ---------------------------------------------------------------- 3. injection magnitudes
    print("\n== 3. token injections on training clips (RMS per element) ==")
    full = load_pipe("exo2egosyn")
    nomx = load_pipe("exo2egosyn-no-multiexocon")
    ids = list(range(min(32, n)))
    exo = torch.stack([cache["exo"][i] for i in ids])
    rex = torch.stack([cache["geom"][i]["rays_exo"] for i in ids])
    reg = torch.stack([cache["geom"][i]["rays_ego"] for i in ids])
    x0 = torch.stack([cache["ego"][i] for i in ids])
    with torch.no_grad():
        pe = full.transformer.patch_embedding(x0)
        mx = full.multiexocon(exo, rex, None, ego_latent_size=(h, w))
        for name, pipe in (("full", full), ("no-multiexocon", nomx)):
            pj = pipe.poseinj(reg, None)
            const = pj.mean(dim=0, keepdim=True)  # clip-independent part
            print(f"{name:15s} PoseInj RMS {rms(pj):.4f}; clip-independent part RMS {rms(const):.4f}, "
                  f"clip-dependent part RMS {rms(pj - const):.4f}; bias-only (zero rays) RMS "
                  f"{rms(pipe.poseinj(torch.zeros_like(reg[:1]), None)):.4f}")
        const = mx.mean(dim=0, keepdim=True)
        print(f"full            MultiExoCon RMS {rms(mx):.4f}; clip-independent {rms(const):.4f}, "
              f"clip-dependent {rms(mx - const):.4f}")
        print(f"patch_embedding(x0) RMS {rms(pe):.4f} (what the injections are added to)")

    # ---------------------------------------------------------------- 4. gradients (Adam second moments)
    print("\n== 4. RMS gradient at the end of training (sqrt of Adam exp_avg_sq), full model run ==")
    st = SCRATCH / "exo2egosyn" / "state" / "optim.pt"
    if st.is_file():
        from exo2egosyn.lora import add_lora
        torch.manual_seed(7)
        add_lora(comps0["transformer"], rank=8)
        model = FlowStep(comps0["transformer"], init["multiexocon"].train().requires_grad_(True),
                         init["poseinj"].train().requires_grad_(True))
        names = [k for k, p in model.named_parameters() if p.requires_grad]
        opt = torch.load(st, weights_only=True)["optimizer"]["state"]
        if len(opt) == len(names):
            for k, s in zip(names, (opt[i] for i in range(len(names)))):
                if ("poseinj" in k or "multiexocon" in k) and ("proj_out" in k or "conv1.weight" in k):
                    g = s["exp_avg_sq"].sqrt()
                    print(f"  {k:40s} RMS grad {float(g.pow(2).mean().sqrt()):.2e}  (numel {g.numel()})")
        else:
            print(f"  optimizer has {len(opt)} params, model {len(names)}: skipped")

    # ---------------------------------------------------------------- 5. flow loss on/off/shuffled
    print("\n== 5. flow loss on training clips: trained PoseInj on / zeroed / another clip's rays ==")
    g = torch.Generator().manual_seed(123)
    K = 4  # noise draws per clip
    for name, pipe in (("no-multiexocon", nomx), ("full", full)):
        with torch.no_grad():
            conds = pipe.align(exo, rex, torch.stack([cache["geom"][i]["ego_rays0"] for i in ids]),
                               base_view=torch.stack([cache["geom"][i]["base_view"] for i in ids]))
        text = torch.stack([cache["text"][i] for i in ids])
        res = {"on": [], "off": [], "shuffled": []}
        perm = torch.roll(torch.arange(len(ids)), 7)
        for _ in range(K):
            noise = torch.randn(x0.shape, generator=g)
            sigma = shifted_sigmas(torch.rand(len(ids), generator=g), 3.0)
            for mode in res:
                step = FlowStep(pipe.transformer, pipe.multiexocon, pipe.poseinj if mode != "off" else None)
                r = reg if mode != "shuffled" else reg[perm]
                with torch.no_grad():
                    per = [float(step(x0[i:i + 1], conds[i:i + 1], text[i:i + 1], noise[i:i + 1], sigma[i:i + 1],
                                      exo[i:i + 1], rex[i:i + 1], r[i:i + 1])) for i in range(len(ids))]
                res[mode].append(per)
        arr = {k: np.array(v).mean(axis=0) for k, v in res.items()}  # per clip, mean over draws
        for mode in ("off", "shuffled"):
            diff = arr[mode] - arr["on"]
            rng = np.random.default_rng(0)
            boots = [rng.choice(diff, len(diff)).mean() for _ in range(2000)]
            print(f"{name:15s} loss on {arr['on'].mean():.5f}; {mode:8s} {arr[mode].mean():.5f}; "
                  f"diff {diff.mean():+.5f} [{np.percentile(boots, 2.5):+.5f}, {np.percentile(boots, 97.5):+.5f}]")

    # ---------------------------------------------------------------- 6. paired test PSNR
    print("\n== 6. test PSNR, paired per clip ==")
    import csv
    pairs = [("Align+PoseInj - Align only",
              ROOT / "leaderboard/results/ablation/seed0/synth/test/exo2egosyn-no-multiexocon/per_clip.csv",
              SCRATCH / "poseinj-study/synth/test/align-only/per_clip.csv"),
             ("full - no-poseinj",
              ROOT / "leaderboard/results/ablation/seed0/synth/test/exo2egosyn/per_clip.csv",
              ROOT / "leaderboard/results/ablation/seed0/synth/test/exo2egosyn-no-poseinj/per_clip.csv"),
             ("Align+MultiExoCon - Align only",
              ROOT / "leaderboard/results/ablation/seed0/synth/test/exo2egosyn-no-poseinj/per_clip.csv",
              SCRATCH / "poseinj-study/synth/test/align-only/per_clip.csv")]
    for label, a, b in pairs:
        if not (a.is_file() and b.is_file()):
            print(f"  {label}: missing {a if not a.is_file() else b}")
            continue
        ra, rb = ({r["clip_id"]: float(r["psnr"]) for r in csv.DictReader(open(f))} for f in (a, b))
        diff = np.array([ra[k] - rb[k] for k in sorted(ra) if k in rb])
        rng = np.random.default_rng(0)
        boots = [rng.choice(diff, len(diff)).mean() for _ in range(10000)]
        print(f"  {label:32s} {diff.mean():+.4f} dB [{np.percentile(boots, 2.5):+.4f}, "
              f"{np.percentile(boots, 97.5):+.4f}], n={len(diff)}, wins {int((diff > 0).sum())}")


if __name__ == "__main__":
    main()
