"""Render one SynthEgoExo clip: scene + activity script -> ``ExoEgoClip`` with RGB, depth and cameras.

``render_clip(split, index, seed, config)`` is a pure function of its arguments: the clip's scene comes
from ``scene_index = index // clips_per_scene`` and the activity from ``index % len(CATEGORIES)`` (so every
split is balanced over categories), both through the split's own random streams (see ``scene.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from benchmark.data.identity import round_cameras
from benchmark.schema import ExoEgoClip
from benchmark.threads import torch_threads

from .raycast import render_camera
from .scene import (CATEGORIES, EGO_HFOV_DEG, EGO_HIDDEN_SPHERES, EXO_CAM_IDS, EXO_HFOV_DEG, SPLIT_KEYS,
                    camera_intrinsics, clip_rng, make_clip, sample_scene)

# Bump on any change that alters rendered bytes or stored values; the major names the cache dir.
# 2.0.0: scene maths through benchmark.portable_math and cameras rounded to 9 decimals before rendering and
# storage, so every machine builds the same values (1.x differed between CPUs in the last bit of the poses).
GENERATOR_VERSION = "2.0.0"
DEFAULT_N_CLIPS = {"train": 240, "val": 24, "test": 32}


@dataclass(frozen=True)
class SynthConfig:
    """Build parameters. Defaults: 17 frames (4k + 1, as WAN-style video VAEs expect) at 8 fps (~2 s),
    ego 64 x 64, exo 64 x 96 (H, W; GoPro-like 3:2 landscape, multiples of 32), 4 clips per scene."""

    num_frames: int = 17
    fps: float = 8.0
    ego_size: tuple = (64, 64)
    exo_size: tuple = (64, 96)
    clips_per_scene: int = 4
    n_clips: dict = field(default_factory=lambda: dict(DEFAULT_N_CLIPS))

    def __post_init__(self):
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {self.num_frames}")
        for name in ("ego_size", "exo_size"):
            size = tuple(int(v) for v in getattr(self, name))
            if len(size) != 2 or min(size) < 8:
                raise ValueError(f"{name} must be (H, W) with both >= 8, got {getattr(self, name)}")
            object.__setattr__(self, name, size)
        if self.clips_per_scene < 1:
            raise ValueError(f"clips_per_scene must be >= 1, got {self.clips_per_scene}")
        unknown = set(self.n_clips) - set(SPLIT_KEYS)
        if unknown:
            raise ValueError(f"unknown split(s) {sorted(unknown)}; SynthEgoExo has {list(SPLIT_KEYS)}")

    def geometry(self) -> dict:
        """The parameters that must agree between splits of one dataset directory."""
        d = asdict(self)
        d.pop("n_clips")
        d["ego_size"], d["exo_size"] = list(self.ego_size), list(self.exo_size)
        return d


def clip_id_for(split: str, index: int) -> str:
    return f"synth-{split}-{index:04d}"


def render_clip(split: str, index: int, seed: int = 0, config: SynthConfig = SynthConfig(), *,
                return_debug: bool = False, threads: int | None = 1):
    """Render clip ``index`` of ``split``.

    Returns:
        ``ExoEgoClip`` with exo_video uint8 (4, T, He, We, 3), ego_video uint8 (T, H, W, 3),
        exo_depth float32 (4, T, He, We), ego_depth float32 (T, H, W) (z-depth, metres), exo_K (4, 3, 3),
        exo_T_world_cam (4, 4, 4) static, ego_K (3, 3), ego_T_world_cam (T, 4, 4); ``extra`` holds scene_id,
        split, seed, clip_index. With ``return_debug`` also a dict with the script, the primitive tensors
        and per-view hit-id maps (global primitive ids, see ``SceneTensors.id_ranges``).
        ``threads``: torch intra-op threads while rendering (restored afterwards). One is the default: the
        tensors are small, and two threads on a busy 2-core machine are several times slower than one.
    """
    with torch_threads(threads):
        return _render_clip(split, index, seed, config, return_debug)


def _render_clip(split, index, seed, config, return_debug):
    if split not in SPLIT_KEYS:
        raise ValueError(f"unknown split {split!r}; SynthEgoExo has {list(SPLIT_KEYS)}")
    scene_index, k = divmod(index, config.clips_per_scene)
    scene = sample_scene(seed, split, scene_index)
    category = CATEGORIES[index % len(CATEGORIES)]
    script = make_clip(scene, category, clip_rng(seed, split, scene_index, k), config.num_frames)
    tensors = script.to_tensors()
    T = config.num_frames
    (He, We), (H, W) = config.exo_size, config.ego_size
    # Cameras are rounded to the stored precision *before* rendering, so the frames are exactly the images
    # of the cameras the dataset stores (benchmark.data.identity).
    exo_K = round_cameras(np.stack([camera_intrinsics(He, We, EXO_HFOV_DEG)] * len(EXO_CAM_IDS)))
    ego_K = round_cameras(camera_intrinsics(H, W, EGO_HFOV_DEG))
    exo_T_world_cam = round_cameras(scene.exo_T_world_cam)
    ego_T_world_cam = round_cameras(script.ego_T_world_cam)
    hidden = np.zeros(tensors.spheres.shape[1], dtype=bool)
    hidden[list(EGO_HIDDEN_SPHERES)] = True

    exo_rgb, exo_depth, exo_ids = [], [], []
    for v in range(len(EXO_CAM_IDS)):
        poses = np.broadcast_to(exo_T_world_cam[v], (T, 4, 4))
        rgb, depth, ids = render_camera(tensors, exo_K[v], poses, He, We)
        exo_rgb.append(rgb)
        exo_depth.append(depth)
        exo_ids.append(ids)
    ego_rgb, ego_depth, ego_ids = render_camera(tensors, ego_K, ego_T_world_cam, H, W, hidden_spheres=hidden)

    clip = ExoEgoClip(
        clip_id=clip_id_for(split, index), category=category, fps=float(config.fps), text=script.text,
        exo_video=np.stack(exo_rgb), exo_cam_ids=list(EXO_CAM_IDS), exo_K=exo_K,
        exo_T_world_cam=exo_T_world_cam, ego_K=ego_K, ego_T_world_cam=ego_T_world_cam,
        ego_video=ego_rgb, exo_depth=np.stack(exo_depth), ego_depth=ego_depth,
        extra={"scene_id": scene.scene_id, "split": split, "seed": int(seed), "clip_index": int(index),
               "object": script.info.get("object", ""), "active_hand": script.info.get("active_hand", "")},
    ).validate()
    if return_debug:
        return clip, {"script": script, "scene": scene, "tensors": tensors, "exo_ids": np.stack(exo_ids),
                      "ego_ids": ego_ids}
    return clip
