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
