"""``exo-copy``: the exo video whose camera looks most nearly where the ego camera looks.

For each clip the exo view ``v* = argmax_v <z_v, mean_t z_ego(t)>`` is chosen, where ``z`` is a camera's
unit viewing direction (its +z axis in the world). One view is used for the whole clip so the output does
not jump between cameras. The chosen video is centre-cropped to the ego aspect ratio and resized.
A lower bound: it uses no geometry beyond picking the camera.
"""

from __future__ import annotations

import numpy as np

from benchmark.cameras import viewing_direction
from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs

from ._resize import center_crop_resize


def closest_exo_view(inputs: ExoEgoInputs) -> int:
    """Index of the exo view whose viewing direction has the largest cosine with the mean ego direction."""
    ego_dir = viewing_direction(inputs.ego_T_world_cam).mean(axis=0)
    ego_dir = ego_dir / np.linalg.norm(ego_dir)
    exo_dirs = viewing_direction(inputs.exo_T_world_cam_per_frame()).mean(axis=1)  # (V, 3)
    exo_dirs = exo_dirs / np.linalg.norm(exo_dirs, axis=-1, keepdims=True)
    return int(np.argmax(exo_dirs @ ego_dir))


class ExoCopy(Generator):
    tracks = ("exo-only", "first-frame")

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        v = closest_exo_view(inputs)
        return center_crop_resize(inputs.exo_video[v], inputs.ego_height, inputs.ego_width)

    def config(self) -> dict:
        return {"view_selection": "max cosine of viewing directions (mean over frames)",
                "resize": "centre crop to ego aspect, bilinear antialiased"}
