"""Small synthetic inputs for tests and benchmarks (random frames, real camera geometry)."""

from __future__ import annotations

import numpy as np

from benchmark import cameras
from benchmark.schema import ExoEgoInputs


def synthetic_rig(num_views: int = 4, num_frames: int = 17, ego_size=(64, 64), exo_size=(64, 96), seed: int = 0):
    """Cameras of a small scene: ``num_views`` static exo cameras on a circle looking at the origin, and an ego
    camera walking and turning its head. Returns dict(exo_K (V,3,3), exo_T_world_cam (V,4,4), ego_K (3,3),
    ego_T_world_cam (T,4,4)) as float64 numpy arrays."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, num_views, endpoint=False) + rng.uniform(0, 0.3)
    eyes = np.stack([3 * np.cos(angles), 3 * np.sin(angles), np.full(num_views, 1.8)], axis=-1)
    exo_T = cameras.look_at(eyes, np.zeros((num_views, 3)) + [0, 0, 0.8])
    exo_K = np.stack([cameras.intrinsics_from_fov(*exo_size, 70.0)] * num_views)
    s = np.linspace(0, 1, num_frames)[:, None]
    ego_eye = np.concatenate([0.3 * s, 0.1 * s, np.full_like(s, 1.6)], axis=-1)
    heading = 0.8 * np.pi * s[:, 0]
    ego_target = ego_eye + np.stack([np.cos(heading), np.sin(heading), np.full_like(heading, -0.4)], axis=-1)
    ego_T = cameras.look_at(ego_eye, ego_target)
    ego_K = cameras.intrinsics_from_fov(*ego_size, 90.0)
    return dict(exo_K=exo_K, exo_T_world_cam=exo_T, ego_K=ego_K, ego_T_world_cam=ego_T)


def synthetic_inputs(num_views: int = 4, num_frames: int = 17, ego_size=(64, 64), exo_size=(64, 96),
                     track: str = "exo-only", seed: int = 0) -> ExoEgoInputs:
    """An ``ExoEgoInputs`` with random uint8 frames and :func:`synthetic_rig` cameras."""
    rng = np.random.default_rng(seed)
    rig = synthetic_rig(num_views, num_frames, ego_size, exo_size, seed)
    exo_video = rng.integers(0, 256, (num_views, num_frames, *exo_size, 3), dtype=np.uint8)
    first = rng.integers(0, 256, (*ego_size, 3), dtype=np.uint8) if track == "first-frame" else None
    return ExoEgoInputs(
        clip_id=f"synthetic-{seed}", category="synthetic", fps=8.0, text="a person walks in a room",
        exo_video=exo_video, exo_cam_ids=[f"cam{i:02d}" for i in range(num_views)], ego_height=ego_size[0],
        ego_width=ego_size[1], num_frames=num_frames, track=track, ego_first_frame=first, **rig,
    )
