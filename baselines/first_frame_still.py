"""``first-frame-still``: the trivial floor of the ``first-frame`` track, the given true first ego frame held still.

On the ``first-frame`` track a method receives the true first ego frame ``f``, uint8 (H_ego, W_ego, 3). This
floor outputs it unchanged for every frame::

    out[t] = f,   t = 0 .. T_ego - 1

The given frame is not scored on that track (``MetricSuite(given_frames=1)``), so the floor's score is how
much of the rest of the clip still looks like its start: a camera that does not move would make it perfect,
and a method given the first frame is judged by how far it gets above it. On the synthetic test split it scores
14.85 dB / 0.287 SSIM (frames 1..16), above the exo-only floor ``mean-colour`` (13.81 / 0.310 on all frames)
in PSNR: being given the first frame is worth that much before any synthesis.

It needs the first frame, so it runs on the ``first-frame`` track only; on ``exo-only`` the runner refuses it
(usage error, exit 2) before any clip is read.
"""

from __future__ import annotations

import numpy as np

from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs


def given_first_frame(inputs: ExoEgoInputs, method: str) -> np.ndarray:
    """The first-frame track's given ego frame, uint8 (H_ego, W_ego, 3); a ``ValueError`` naming ``method`` when it
    is missing (another track) or not an ego-sized uint8 RGB frame. Shared by the first-frame baselines."""
    frame = inputs.ego_first_frame
    if frame is None:
        raise ValueError(f"{method} needs the true first ego frame: run it with --track first-frame")
    frame = np.asarray(frame)
    expected = (inputs.ego_height, inputs.ego_width, 3)
    if frame.dtype != np.uint8 or frame.shape != expected:
        raise ValueError(f"{method} expects the given first frame as uint8 {expected}, got {frame.dtype} {frame.shape}")
    return frame


class FirstFrameStill(Generator):
    """Every frame is the given true first ego frame (``first-frame`` track only)."""

    tracks = ("first-frame",)

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        frame = given_first_frame(inputs, "first-frame-still")
        return np.ascontiguousarray(np.broadcast_to(frame, (inputs.num_frames, *frame.shape)))

    def config(self) -> dict:
        return {"frames": "the given true first ego frame, repeated for every frame",
                "inputs": "the first ego frame only (first-frame track)"}
