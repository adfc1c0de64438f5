"""``mean-colour``: a trivial floor, one flat colour per clip, the mean colour of that clip's exo videos.

For a clip with exo videos ``x`` of shape (V, T, h, w, 3), uint8, the output colour of channel ``k`` is::

    S_k = sum over v, t, y, x of x[v, t, y, x, k]          (an exact integer sum, int64)
    N   = V * T * h * w                                     (all views share T, h, w in one array)
    c_k = floor(S_k / N + 1/2) = (2 * S_k + N) // (2 * N)   (nearest integer, halves rounded up)

that is the mean over views, frames and pixels of the uint8 values, rounded to the nearest integer with ties
going up, computed in integers only, so the colour is the same on every machine and needs no float rounding
rule. Every pixel of every frame of the output, uint8 (T_ego, H_ego, W_ego, 3), is ``(c_0, c_1, c_2)``.

It uses the exo videos only, on both tracks: on the first-frame track the given ego first frame is ignored,
so the floor means the same thing in both tables (the issue defines the floors for the exo-only setting).
Any method that looks at the scene should clear it; a result close to it says the method has learned little
more than the clip's average colour.
"""

from __future__ import annotations

import numpy as np

from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs


def mean_colour(exo_video: np.ndarray) -> np.ndarray:
    """uint8 (V, T, h, w, 3) (or any (..., 3)) -> uint8 (3,): the per-channel mean, rounded half up, in integers."""
    x = np.asarray(exo_video)
    if x.dtype != np.uint8 or x.ndim < 2 or x.shape[-1] != 3:
        raise ValueError(f"mean_colour expects uint8 (..., 3) exo videos, got {x.dtype} {x.shape}")
    n = x.size // 3
    if n == 0:
        raise ValueError(f"mean_colour needs at least one pixel, got exo videos of shape {x.shape}")
    # The reduction casts chunk by chunk to int64, so the sum is exact (no float) without copying the video.
    total = x.reshape(-1, 3).sum(axis=0, dtype=np.int64)
    return ((2 * total + n) // (2 * n)).astype(np.uint8)


class MeanColour(Generator):
    """Every frame is the clip's mean exo colour (see the module docstring for the exact rule)."""

    tracks = ("exo-only", "first-frame")

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        colour = mean_colour(inputs.exo_video)
        shape = (inputs.num_frames, inputs.ego_height, inputs.ego_width, 3)
        return np.ascontiguousarray(np.broadcast_to(colour, shape))

    def config(self) -> dict:
        return {"colour": "mean over exo views, frames and pixels per RGB channel; exact integer sum, "
                          "rounded to nearest, halves up",
                "inputs": "exo videos only, on both tracks (the first ego frame is not used)"}
