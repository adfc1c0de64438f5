"""Exo2EgoSyn on diffusers' WAN 2.2: EgoExo-Align, MultiExoCon, PoseInj and the pipeline.

The module classes are exported here because diffusers' ``from_pretrained`` finds a pipeline component
by ``getattr(importlib.import_module(<library>), <class name>)`` with library = ``exo2egosyn``. They are
loaded on first use (they import torch and diffusers, several seconds), so that building a generator with a
bad argument fails at once, before any of that is imported.
"""

import importlib

_EXPORTS = {"EgoExoAlign": ".align", "alignment_loss": ".align", "MultiExoCon": ".multiexocon",
            "PoseInj": ".poseinj", "Exo2EgoSynPipeline": ".pipeline"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
