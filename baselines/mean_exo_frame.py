"""``mean-exo-frame``: a trivial floor, the time-averaged frame of the closest exo view, shown as a still.

For each clip the exo view ``v`` is chosen exactly as ``exo-copy`` chooses it
(:meth:`~benchmark.schema.ExoEgoInputs.closest_exo_view`: largest cosine between viewing directions averaged
over the clip). Its frames ``x[t]``, uint8 (T, h, w, 3), are averaged over time in integers::

    m[y, x, k] = floor(S / T + 1/2) = (2 * S + T) // (2 * T),   S = sum over t of x[t, y, x, k]

(the nearest integer, halves rounded up; exact, so identical on every machine). The mean frame ``m`` is then
centre-cropped to the ego aspect ratio and resized to the ego size with the same
:func:`~benchmark.video_ops.resize_video` (``crop=True``) that ``exo-copy`` uses, and repeated for every frame:
the output, uint8 (T_ego, H_ego, W_ego, 3), is constant in time. Averaging comes before resizing (one resize
instead of T); the resize is a weighted average with non-negative weights, so the other order would differ by
rounding only.

It uses the exo videos and cameras only, on both tracks: on the first-frame track the given ego first frame
is ignored, so the floor means the same thing in both tables. It shows how much a method gains over the
static, blurred average of the best-placed camera.
"""

from __future__ import annotations

import numpy as np

from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs
from benchmark.video_ops import resize_video


def temporal_mean_frame(video: np.ndarray) -> np.ndarray:
    """uint8 (T, h, w, 3) -> uint8 (h, w, 3): the mean over frames, rounded half up, in integers."""
    x = np.asarray(video)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0:
        raise ValueError(f"temporal_mean_frame expects a uint8 (T, h, w, 3) video with T >= 1, got {x.dtype} {x.shape}")
    t = x.shape[0]
    total = x.sum(axis=0, dtype=np.int64)  # exact: at most 255 * T per pixel
    return ((2 * total + t) // (2 * t)).astype(np.uint8)


class MeanExoFrame(Generator):
    """Every frame is the closest exo view's time-averaged frame, resized like exo-copy (see the module docstring)."""

    tracks = ("exo-only", "first-frame")

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        v = inputs.closest_exo_view()
        still = resize_video(temporal_mean_frame(inputs.exo_video[v]), inputs.ego_height, inputs.ego_width,
                             crop=True)
        shape = (inputs.num_frames, inputs.ego_height, inputs.ego_width, 3)
        return np.ascontiguousarray(np.broadcast_to(still, shape))

    def config(self) -> dict:
        return {"view_selection": "max cosine of viewing directions (mean over frames), as exo-copy",
                "temporal_mean": "mean over all frames of that view; exact integer sum, rounded to nearest, "
                                 "halves up",
                "resize": "centre crop to ego aspect, bilinear antialiased (after the mean)",
                "inputs": "exo videos and cameras only, on both tracks (the first ego frame is not used)"}
