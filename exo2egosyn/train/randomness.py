"""Every random draw of a training step is a function of (seed, step): resuming replays the same draws."""

from __future__ import annotations

import numpy as np
import torch


def step_generator(seed: int, step: int, salt: int = 0) -> torch.Generator:
    """The generator of one step: a function of (seed, step) only, so resuming replays the same draws."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step) * 7919 + salt * 104_729) % (2 ** 63))


def batch_indices(seed: int, step: int, n_items: int, batch_size: int) -> list:
    """Item indices of global batch ``step``: consecutive slices of one permutation per epoch."""
    out = []
    start = step * batch_size
    for pos in range(start, start + batch_size):
        epoch, k = divmod(pos, n_items)
        perm = torch.randperm(n_items, generator=torch.Generator().manual_seed(int(seed) * 9973 + epoch))
        out.append(int(perm[k]))
    return out


def shifted_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    """WAN / UniPC flow shift: ``s u / (1 + (s - 1) u)``."""
    return shift * u / (1 + (shift - 1) * u)


def numpy_rng_to_tensors():
    """numpy's global RNG state as tensors and plain numbers, so resume files load with ``weights_only=True``."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def numpy_rng_from_tensors(d):
    return (d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached_gaussian"])
