"""Temporarily set torch's intra-op thread count.

Small tensor ops (a 64x64 frame, a ray-cast chunk) gain nothing from several threads, and on a loaded
machine the threads' spinning makes them up to 10x slower (measured on 2 cores: reproject's warp of one
frame 0.19 s with 1 thread vs 1.7 s with 2 while another process ran).
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int | None = None):
    """Use ``n`` intra-op threads (default 1) inside the block; restores the caller's setting after."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n or 1))
    try:
        yield
    finally:
        torch.set_num_threads(old)
