"""sha256 of files, streamed in 1 MiB blocks (datasets, weights and checkpoints can be large)."""

from __future__ import annotations

import hashlib


def sha256_file(path) -> str:
    """Hex sha256 digest of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
