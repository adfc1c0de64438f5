"""The training loop of one phase on ``accelerate``, with periodic resumable state."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .config import lr_factor
from .state import trainable_params


def run_phase(accelerator, cfg, state, model, phase: str, first_step: int, n_steps: int, lr: float,
               batch_fn, meta: dict, stop_after: int | None, progress: bool):
    """Train ``model`` (a loss module) for global steps [first_step, first_step + n_steps) of ``phase``.

    Returns False when stopped early by ``stop_after`` (a simulated interruption), else True.
    """
    from tqdm.auto import tqdm

    tc = cfg["train"]
    named = trainable_params(model)
    params = list(named.values())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=tc["weight_decay"], betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(tc))
    start = first_step
    if meta["step"] > first_step and state.exists() and state.meta()["phase"] == phase:
        state.load(named, optimizer, scheduler)
        start = meta["step"]
    model, optimizer = accelerator.prepare(model, optimizer)
    end = first_step + n_steps
    bar = tqdm(total=n_steps, initial=start - first_step, desc=f"{meta['name']}:{phase}",
               disable=not (progress and accelerator.is_main_process), dynamic_ncols=True)
    t_last = time.time()
    finished = True
    for step in range(start, end):
        if stop_after is not None and step >= stop_after:
            finished = False
            break
        model.train()
        loss = model(**batch_fn(step))
        accelerator.backward(loss)
        if tc["grad_clip"]:
            accelerator.clip_grad_norm_(params, tc["grad_clip"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(accelerator.reduce(loss.detach()[None], reduction="mean")[0])
        if not math.isfinite(value):
            raise FloatingPointError(f"{phase}: loss is {value} at step {step}")
        meta["losses"].setdefault(phase, []).append([step, value])
        meta["step"] = step + 1
        bar.update(1)
        if (step + 1) % tc["log_every"] == 0:
            recent = [v for _, v in meta["losses"][phase][-tc["log_every"]:]]
            bar.set_postfix(loss=f"{np.mean(recent):.4f}")
        if (step + 1) % tc["save_every"] == 0 or step + 1 == end:
            now = time.time()
            meta["wall_s"] += now - t_last
            t_last = now
            meta["phase"] = phase
            if accelerator.is_main_process:
                state.save(trainable_params(accelerator.unwrap_model(model)), optimizer, scheduler, meta)
            accelerator.wait_for_everyone()
    bar.close()
    return finished


def local_items(batch_global: list, accelerator) -> list:
    n, r = accelerator.num_processes, accelerator.process_index
    per = len(batch_global) // n
    if per * n != len(batch_global):
        raise ValueError(f"batch_size {len(batch_global)} is not divisible by {n} processes")
    return batch_global[r * per:(r + 1) * per]


def local_slice(B, accelerator):
    n, r = accelerator.num_processes, accelerator.process_index
    if B % n:
        raise ValueError(f"batch_size {B} is not divisible by {n} processes")
    per = B // n
    return r * per, (r + 1) * per
