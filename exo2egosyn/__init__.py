"""Exo2EgoSyn on diffusers' WAN 2.2: EgoExo-Align, MultiExoCon, PoseInj and the pipeline.

The module classes are exported here because diffusers' ``from_pretrained`` finds a pipeline component
by ``getattr(importlib.import_module(<library>), <class name>)`` with library = ``exo2egosyn``.
"""

from .align import EgoExoAlign, alignment_loss
from .multiexocon import MultiExoCon
from .poseinj import PoseInj

__all__ = ["EgoExoAlign", "MultiExoCon", "PoseInj", "Exo2EgoSynPipeline", "alignment_loss"]


def __getattr__(name):  # the pipeline imports more of diffusers; load it on first use
    if name == "Exo2EgoSynPipeline":
        from .pipeline import Exo2EgoSynPipeline

        return Exo2EgoSynPipeline
    raise AttributeError(name)
