"""Resume state of a run (``work_dir/state/``): trainable weights, optimizer, scheduler, RNG, loss history."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from .randomness import numpy_rng_from_tensors, numpy_rng_to_tensors


class RunState:
    """Resume state in ``work_dir``: ``state/`` (latest) with trainable weights (safetensors), optimizer,
    scheduler, RNG and ``meta.json`` (step, stage, losses, wall time)."""

    def __init__(self, work_dir):
        self.dir = Path(work_dir) / "state"

    def exists(self):
        return (self.dir / "meta.json").is_file()

    def save(self, params: dict, optimizer, scheduler, meta: dict):
        from safetensors.torch import save_file

        tmp = self.dir.with_name("state.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in params.items()}, str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "numpy_rng": numpy_rng_to_tensors()}, tmp / "optim.pt")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if self.dir.exists():
            shutil.rmtree(self.dir)
        os.replace(tmp, self.dir)

    def meta(self):
        return json.loads((self.dir / "meta.json").read_text())

    def load(self, named_params: dict, optimizer, scheduler):
        from safetensors.torch import load_file

        state = load_file(str(self.dir / "trainable.safetensors"))
        missing = set(named_params) ^ set(state)
        if missing:
            raise ValueError(f"resume state in {self.dir} does not match the model: {sorted(missing)[:5]}")
        with torch.no_grad():
            for k, p in named_params.items():
                p.copy_(state[k])
        opt = torch.load(self.dir / "optim.pt", weights_only=True)
        optimizer.load_state_dict(opt["optimizer"])
        scheduler.load_state_dict(opt["scheduler"])
        torch.set_rng_state(opt["torch_rng"])
        np.random.set_state(numpy_rng_from_tensors(opt["numpy_rng"]))


def trainable_params(module) -> dict:
    return {n: p for n, p in module.named_parameters() if p.requires_grad}


# What a resumed run may change: how long it runs and how it reports, where files go (the data by path: its content
# identity is compared instead), the hardware (threads, mixed precision) and later learning-rate milestones.
# Everything else defines the run: resuming another run's state under a different value would silently continue
# the wrong model.
RESUMABLE_CHANGES = ("name", "output_dir", "work_dir", "cache_dir", "data.root", "threads", "mixed_precision",
                     "train.steps", "train.save_every", "train.log_every", "train.lr_decay")


class RunMismatchError(ValueError):
    """A work_dir's resume state belongs to a run with other settings."""


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def run_identity(cfg: dict, data_identity: str | None = None) -> dict:
    """The settings that define a run (a config as loaded, before paths are made absolute, so that a run resumes
    on another machine), flattened to dotted keys, plus the training data's content identity when known."""
    flat = {k: v for k, v in _flatten(cfg).items() if k not in RESUMABLE_CHANGES and not k.startswith("_")}
    if data_identity is not None:
        flat["data.identity"] = data_identity
    return json.loads(json.dumps(flat, sort_keys=True, default=str))


def check_resume(work_dir, recorded: dict | None, current: dict) -> None:
    """Raise :class:`RunMismatchError` naming every setting in which ``current`` differs from the state's run."""
    if recorded is None:  # a state written before run identities were recorded: nothing to compare
        return
    keys = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    if keys:
        what = "; ".join(f"{k}: {recorded.get(k)!r} there, {current.get(k)!r} now" for k in keys[:8])
        raise RunMismatchError(
            f"{work_dir} holds the resume state of another run ({what}). Resuming it would continue that model. "
            f"Use another work_dir (--set work_dir=NAME) or delete {work_dir} to start this run from scratch. "
            f"A resumed run may change only: {', '.join(RESUMABLE_CHANGES)}.")
