"""``exo-copy``: the exo video whose camera looks most nearly where the ego camera looks.

For each clip the exo view ``v* = argmax_v <z_v, mean_t z_ego(t)>`` is chosen, where ``z`` is a camera's
unit viewing direction (its +z axis in the world). One view is used for the whole clip so the output does
not jump between cameras. The chosen video is centre-cropped to the ego aspect ratio and resized.
A lower bound: it uses no geometry beyond picking the camera.
"""

from __future__ import annotations

import numpy as np

from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs
from benchmark.video_ops import resize_video


class ExoCopy(Generator):
    tracks = ("exo-only", "first-frame")

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        v = inputs.closest_exo_view()
        return resize_video(inputs.exo_video[v], inputs.ego_height, inputs.ego_width, crop=True)

    def config(self) -> dict:
        return {"view_selection": "max cosine of viewing directions (mean over frames)",
                "resize": "centre crop to ego aspect, bilinear antialiased"}
