"""The ``Generator`` interface: every method, ours or a baseline, is scored through it.

A generator maps the inputs of one clip (no ground truth) to an ego video::

    video = generator.generate(inputs, seed=seed)   # uint8 (T, H, W, 3), the clip's ego resolution

Generators are built by the registry (``benchmark.registry``) from a name plus keyword arguments, so an
ablation is a registry entry of the same class with other flags.
"""

from __future__ import annotations

import abc
from typing import Sequence

import numpy as np

from .schema import ExoEgoInputs


class Generator(abc.ABC):
    """Base class of all methods.

    Subclasses set ``name`` (filled in by the registry) and ``tracks`` (the tracks they support), and
    implement :meth:`generate`. They may override :meth:`generate_batch` to batch clips, :meth:`config`
    to record every setting that changes their output, and :meth:`checkpoint_sha256`.
    """

    name: str = "unnamed"
    tracks: tuple = ("exo-only", "first-frame")
    #: True when the method uses privileged information (e.g. oracle depth): flagged in tables.
    oracle: bool = False
    #: Fewest exo views the method can work with; a clip with fewer fails its input check (rule ``views``).
    min_views: int = 1
    #: True when the method needs ``inputs.exo_depth``: the runner refuses datasets without depth before it starts.
    needs_exo_depth: bool = False

    @abc.abstractmethod
    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        """Return the ego video, uint8 (T, H, W, 3) with T, H, W = inputs.num_frames, ego_height, ego_width."""

    def generate_batch(self, batch: Sequence[ExoEgoInputs], *, seeds: Sequence[int]) -> list:
        """Generate several clips; the default loops over :meth:`generate`."""
        return [self.generate(x, seed=s) for x, s in zip(batch, seeds)]

    def config(self) -> dict:
        """JSON-serializable settings recorded in results.json (override to add yours)."""
        return {}

    def checkpoint_sha256(self):
        """sha256 of the weights used, or None for methods without weights."""
        return None

    def source_fingerprint(self, clip_id: str):
        """A fingerprint of outside sources this clip's output depends on (e.g. the sha256 of a video file that
        ``from-folder`` reads), or None when the output depends only on the inputs and the settings.

        The runner stores it with each generated video; when it changes, the clip is generated again
        instead of reusing the old copy.
        """
        return None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": self.config(),
            "checkpoint_sha256": self.checkpoint_sha256(),
            "oracle": self.oracle,
        }
