"""What a run reports: loss plots, the hardware of each session, and the model card next to the weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from benchmark.hashing import sha256_file


def plot_losses(losses: dict, path: Path, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in losses if losses[p]]
    fig, axes = plt.subplots(1, max(1, len(phases)), figsize=(5 * max(1, len(phases)), 3.4), squeeze=False)
    for ax, p in zip(axes[0], phases):
        s, v = np.array(losses[p]).T
        ax.plot(s, v, lw=0.5, alpha=0.35, label="per step")
        k = max(1, len(v) // 20)
        if len(v) >= k:
            sm = np.convolve(v, np.ones(k) / k, mode="valid")
            ax.plot(s[k - 1:], sm, lw=1.5, label=f"mean of {k}")
        ax.set_title(f"{title} - {p}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def final_losses(losses: dict, window: int = 50) -> dict:
    return {p: float(np.mean([v for _, v in vals[-window:]])) for p, vals in losses.items() if vals}


def hardware_description() -> str:
    """One line naming the machine a training session runs on: the GPU if one is used, else the CPU model."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:  # platform.processor() is often just the architecture on Linux; the model name is in /proc/cpuinfo
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    host = f"CPU {cpu}, {os.cpu_count()} cores visible"
    if torch.cuda.is_available():
        return f"CUDA {torch.cuda.get_device_name(0)} ({host}); torch {torch.__version__}"
    return f"{host}; torch {torch.__version__}"


def _sessions_markdown(meta: dict) -> str:
    """'hardware' lines of a model card: one per training session (step it started at, machine, threads)."""
    sessions = meta.get("sessions") or []
    if not sessions:
        return "* hardware: not recorded (trained before sessions were logged)"
    return "\n".join(f"* session from step {s['from_step']}: {s['hardware']}; {s['threads']} torch thread(s), "
                     f"{s.get('processes', 1)} process(es)" for s in sessions)


def _vae_eval_markdown(meta: dict) -> str:
    """Model-card section of the VAE stage: the per-frame PSNR measured as it trained."""
    evals = meta.get("vae_eval")
    if not evals:
        return ""
    splits = [k for k in evals[-1] if k not in ("step", "wall_s")]
    last = evals[-1]
    T = len(last[splits[0]])
    lines = ["", f"Reconstruction PSNR per frame index (dB; posterior mode, whole {T}-frame ego clips encoded and "
             "decoded as the pipeline does, mean over the first clips of each split) after "
             f"{last['step']} steps:", "",
             "| frame | " + " | ".join(splits) + " |", "| --- |" + " --- |" * len(splits)]
    for t in range(T):
        lines.append(f"| {t + 1} | " + " | ".join(f"{last[k][t]:.2f}" for k in splits) + " |")
    lines += ["", "As it trained (min / mean over frame indices):", "",
              "| step | wall s | " + " | ".join(splits) + " |", "| --- | --- |" + " --- |" * len(splits)]
    for e in evals:
        lines.append(f"| {e['step']} | {e['wall_s']:.0f} | " +
                     " | ".join(f"{min(e[k]):.2f} / {np.mean(e[k]):.2f}" for k in splits) + " |")
    return "\n".join(lines) + "\n"


def write_model_card(cfg: dict, meta: dict, summary: dict):
    import yaml

    out = Path(summary["output_dir"])
    files = sorted(out.rglob("*.safetensors"))
    if cfg["stage"] == "adapters":
        files = [f for f in files if f.relative_to(out).parts[0] in ("align", "multiexocon", "poseinj",
                                                                     "transformer_lora", "transformer")]
    digests = {str(f.relative_to(out)): sha256_file(f) for f in files}
    rows = "\n".join(f"| `{f.relative_to(out)}` | {f.stat().st_size:,} | `{digests[str(f.relative_to(out))]}` |"
                     for f in files)
    from benchmark.data import load_split

    clips = load_split("synth", cfg["data"]["split"], root=cfg["data"]["root"], build_if_missing=False)
    fl = final_losses(meta["losses"])
    steps = {p: len(v) for p, v in meta["losses"].items()}
    pub = {k: v for k, v in cfg.items() if not k.startswith("_")}
    card_name = "MODEL_CARD.md" if cfg["stage"] == "adapters" else f"MODEL_CARD-{cfg['stage']}.md"
    text = f"""# {cfg['name']} ({'Exo2EgoSyn adapters' if cfg['stage'] == 'adapters' else 'tiny WAN foundation ' + cfg['stage']})

Trained by `python -m exo2egosyn train --config <config>` (`exo2egosyn/train/`), stage `{cfg['stage']}`.

* data: SynthEgoExo `{cfg['data']['split']}` split, {len(clips) if cfg['data']['n_clips'] is None else cfg['data']['n_clips']} clips, built with seed {clips.manifest.get('seed')} (generator {clips.manifest.get('version')}), split sha256 `{clips.manifest_sha256}`
* seed: {cfg['seed']}
* steps per phase: {json.dumps(steps)}; batch size {cfg['train']['batch_size']}
* final loss (mean of the last 50 steps) per phase: {json.dumps({k: round(v, 5) for k, v in fl.items()})}
* wall time: {meta['wall_s']:.0f} s of training steps (summed over sessions)
{_sessions_markdown(meta)}
* loss curve: `loss-{cfg['name']}.png`
{_vae_eval_markdown(meta)}
| file | bytes | sha256 |
| --- | --- | --- |
{rows}

Config (resolved):

```yaml
{yaml.safe_dump(pub, sort_keys=False).strip()}
```

Honest scope: a tiny model (about 1.8M transformer parameters) trained for minutes on one CPU thread on a
synthetic dataset. It exists so that the benchmark's default path runs end to end with trained weights; it is
not a reproduction of the paper's numbers.
"""
    (out / card_name).write_text(text)
    (out / f"train-meta-{cfg['name']}.json").write_text(json.dumps(
        {"name": cfg["name"], "stage": cfg["stage"], "steps": steps, "final_loss": fl, "wall_s": meta["wall_s"],
         "files": digests, **{k: meta[k] for k in ("vae_eval", "sessions") if k in meta}}, indent=1))
