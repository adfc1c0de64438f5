"""SynthEgoExo scenes and activities: what is in the room, how the person moves, where the cameras are.

A *scene* (room, textures, lights, table, furniture, objects, the person's looks, the four exo cameras)
is drawn from its own random stream ``SeedSequence(seed, spawn_key=(split_key, scene_index, 0))``; a
*clip* (activity, target objects, head motion) from ``(split_key, scene_index, 1 + k)``. Splits use
different ``split_key`` values, so val/test scenes are never train scenes: their continuous parameters
(room size, palettes, layout, camera placement) come from independent streams and never coincide.

World frame: metres, z up, floor at z = 0. The table has its own frame (origin on the floor under the
table centre, rotated by ``table_yaw`` about z); the person stands on its -y side facing +y, so the
person's right is +x of the table frame. Motions are written in that frame and mapped to the world at
the end. Time is normalised, ``s = i / (T - 1)``, so every activity fits any number of frames.

Everything here is numpy float64; ``ClipScript.to_tensors`` hands float32 tensors to the ray caster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from benchmark import portable_math as pm
from benchmark.cameras import intrinsics_from_fov, look_at

from .raycast import TEXTURE_KINDS, Materials, SceneTensors

CATEGORIES = ("pick-place", "stack", "push", "inspect", "wave")
SPLIT_KEYS = {"train": 1, "val": 2, "test": 3}
EXO_CAM_IDS = ("cam01", "cam02", "cam03", "cam04")

EXO_HFOV_DEG = 75.0  # wide, like the GoPros of Ego-Exo4D (after undistortion)
EGO_HFOV_DEG = 90.0
HAND_R = 0.045
HEAD_R = 0.11
EGO_HIDDEN_SPHERES = (0, 1)  # the head and hair spheres: the ego camera sits inside them
EYE_OFFSET = np.array([0.0, -0.03, 0.09])  # ego camera centre in the head's camera-aligned frame (x, y down, z)

# Named colours so that the text can say "the red box"; small per-scene jitter keeps palettes unseen.
OBJECT_COLOURS = {
    "red": (0.85, 0.15, 0.12), "green": (0.15, 0.65, 0.22), "blue": (0.15, 0.30, 0.85),
    "yellow": (0.95, 0.85, 0.15), "orange": (0.95, 0.50, 0.10), "purple": (0.55, 0.20, 0.70),
    "white": (0.93, 0.93, 0.90), "pink": (0.95, 0.52, 0.70), "cyan": (0.10, 0.78, 0.85),
    "black": (0.10, 0.10, 0.10),
}
SHAPE_WORDS = {"box": "box", "sphere": "ball", "cylinder": "cylinder"}


# --------------------------------------------------------------------------------------------- streams
def scene_rng(seed: int, split: str, scene_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(SPLIT_KEYS[split], scene_index, 0)))


def clip_rng(seed: int, split: str, scene_index: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(SPLIT_KEYS[split], scene_index, 1 + k)))


# --------------------------------------------------------------------------------------------- scene
@dataclass
class SceneObject:
    """A movable object on the table; ``pos`` is its centre in the table frame at rest."""

    shape: str  # box | sphere | cylinder
    colour: str
    material: int
    half: np.ndarray  # (3,) half extents (sphere: r, r, r; cylinder: r, r, h/2)
    pos: np.ndarray  # (3,)
    yaw: float

    @property
    def name(self) -> str:
        return f"{self.colour} {SHAPE_WORDS[self.shape]}"

    @property
    def footprint(self) -> float:
        """Radius of a circle around the base, for spacing objects and placing the hand."""
        return float(pm.hypot(self.half[0], self.half[1])) if self.shape == "box" else float(self.half[0])


@dataclass
class Scene:
    """Static content of one scene (see the module docstring for frames and units)."""

    scene_id: str
    room: np.ndarray  # (6,) x0 x1 y0 y1 z0 z1
    materials: list  # of dicts: kind, a, b, freq, axis, axis2
    room_material: list  # 6 material indices
    light_dirs: np.ndarray  # (2, 3)
    light_weights: np.ndarray  # (3,)
    table_centre: np.ndarray  # (2,) world xy
    table_yaw: float
    table_height: float
    table_half: np.ndarray  # (2,) half extents x, y (table frame)
    table_material: int
    static_boxes: list  # (centre_world (3,), half (3,), yaw_world, material): table, legs, furniture, rug
    objects: list  # SceneObject
    actor: dict  # scale, x, materials
    exo_T_world_cam: np.ndarray  # (V, 4, 4); intrinsics depend on the stored resolution (see build)

    def to_world(self, p_local: np.ndarray) -> np.ndarray:
        """Table frame -> world, points (..., 3)."""
        c, s = pm.cos(self.table_yaw), pm.sin(self.table_yaw)
        x, y = p_local[..., 0], p_local[..., 1]
        return np.stack([self.table_centre[0] + c * x - s * y, self.table_centre[1] + s * x + c * y,
                         p_local[..., 2]], -1)

    def vector(self) -> np.ndarray:
        """Flat vector of the scene's continuous parameters, for checking that splits never share scenes."""
        parts = [self.room, self.light_dirs.ravel(), self.table_centre, [self.table_yaw, self.table_height],
                 self.table_half, self.exo_T_world_cam[:, :3, :].ravel()]
        parts += [np.concatenate([m["a"], m["b"], [m["freq"]]]) for m in self.materials]
        parts += [np.concatenate([o.half, o.pos, [o.yaw]]) for o in self.objects]
        return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _random_material(rng, base=None, kinds=TEXTURE_KINDS, contrast=(0.25, 0.6), freq=(3.0, 14.0)) -> dict:
    """A textured material: colour ``a`` (or ``base`` jittered), ``b`` a lighter/darker shade of it."""
    if base is None:
        a = rng.uniform(0.15, 0.9, size=3)
    else:
        a = np.clip(np.asarray(base) + rng.normal(0, 0.03, size=3), 0.02, 0.98)
    kind = int(rng.integers(len(kinds)))
    kind = TEXTURE_KINDS.index(kinds[kind])
    k = rng.uniform(*contrast) * rng.choice([-1.0, 1.0])
    b = np.clip(a * (1 - k) if k > 0 else a + (1 - a) * (-k), 0.0, 1.0)
    return {"kind": kind, "a": a, "b": b, "freq": float(rng.uniform(*freq)),
            "axis": _unit(rng.normal(size=3)), "axis2": _unit(rng.normal(size=3))}


def sample_scene(seed: int, split: str, scene_index: int) -> Scene:
    """Draw one scene from its own random stream (deterministic in ``(seed, split, scene_index)``)."""
    rng = scene_rng(seed, split, scene_index)
    materials: list = []

    def add(m):
        materials.append(m)
        return len(materials) - 1

    # room: walls with big patterns, floor with tiles / planks
    hx, hy = rng.uniform(2.3, 3.1, size=2)
    off = rng.uniform(-0.3, 0.3, size=2)
    height = rng.uniform(2.6, 3.1)
    room = np.array([off[0] - hx, off[0] + hx, off[1] - hy, off[1] + hy, 0.0, height])
    wall_mat = [add(_random_material(rng, freq=(1.0, 4.0))) for _ in range(2)]
    floor_mat = add(_random_material(rng, kinds=("checker", "stripes", "waves"), freq=(1.5, 5.0)))
    ceil_mat = add(_random_material(rng, kinds=("solid",), freq=(1.0, 2.0)))
    # opposite walls share a material, so walls read as a room rather than a collage
    room_material = [wall_mat[0], wall_mat[0], wall_mat[1], wall_mat[1], floor_mat, ceil_mat]

    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(np.deg2rad(45), np.deg2rad(75))
    key = np.array([pm.cos(el) * pm.cos(az), pm.cos(el) * pm.sin(az), pm.sin(el)])
    fill = _unit([-key[0], -key[1], 0.6])
    light_weights = np.array([rng.uniform(0.35, 0.5), rng.uniform(0.45, 0.6), rng.uniform(0.1, 0.2)])

    table_centre = off + rng.uniform(-0.25, 0.25, size=2)
    table_yaw = float(rng.uniform(-np.pi, np.pi))
    table_height = float(rng.uniform(0.72, 0.8))
    table_half = np.array([rng.uniform(0.45, 0.6), rng.uniform(0.32, 0.4)])
    table_material = add(_random_material(rng, kinds=("solid", "stripes", "waves"), contrast=(0.1, 0.3),
                                          freq=(4.0, 12.0)))
    scene = Scene(scene_id=f"{split}-scene-{scene_index:03d}", room=room, materials=materials,
                  room_material=room_material, light_dirs=np.stack([key, fill]), light_weights=light_weights,
                  table_centre=table_centre, table_yaw=table_yaw, table_height=table_height,
                  table_half=table_half, table_material=table_material, static_boxes=[], objects=[], actor={},
                  exo_T_world_cam=np.zeros((4, 4, 4)))

    # table top and legs (table frame -> world)
    top_t = 0.025
    scene.static_boxes.append((scene.to_world(np.array([0.0, 0.0, table_height - top_t])),
                               np.array([table_half[0], table_half[1], top_t]), table_yaw, table_material))
    leg_h = (table_height - 2 * top_t) / 2
    for sx in (-1, 1):
        for sy in (-1, 1):
            p = np.array([sx * (table_half[0] - 0.06), sy * (table_half[1] - 0.06), leg_h])
            scene.static_boxes.append((scene.to_world(p), np.array([0.03, 0.03, leg_h]), table_yaw, table_material))
    # a rug under the table and two pieces of furniture against walls, for varied backgrounds
    rug = add(_random_material(rng, kinds=("stripes", "checker", "dots"), freq=(2.0, 6.0)))
    scene.static_boxes.append((np.array([*table_centre, 0.004]), np.array([*(table_half + rng.uniform(0.3, 0.6)), 0.004]),
                               table_yaw, rug))
    for _ in range(2):
        wall = int(rng.integers(4))
        along = rng.uniform(-0.6, 0.6)
        half = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.3), rng.uniform(0.3, 0.6)])
        if wall < 2:  # x walls: the long side runs along y
            x = room[wall] + (half[1] + 0.01) * (1 if wall == 0 else -1)
            centre = np.array([x, off[1] + along * hy, half[2]])
            yaw = np.pi / 2
        else:
            y = room[wall] + (half[1] + 0.01) * (1 if wall == 2 else -1)
            centre = np.array([off[0] + along * hx, y, half[2]])
            yaw = 0.0
        scene.static_boxes.append((centre, half, yaw, add(_random_material(rng, freq=(3.0, 8.0)))))

    # objects: at least one box and one cylinder (flat tops to stack on), distinct colour names
    shapes = ["box", "cylinder"] + list(rng.choice(["box", "sphere", "cylinder"], size=2))
    rng.shuffle(shapes)
    colours = rng.choice(list(OBJECT_COLOURS), size=len(shapes), replace=False)
    placed: list = []
    for shape, colour in zip(shapes, colours):
        if shape == "box":
            half = np.array([rng.uniform(0.035, 0.06), rng.uniform(0.035, 0.06), rng.uniform(0.03, 0.07)])
        elif shape == "sphere":
            half = np.full(3, rng.uniform(0.04, 0.06))
        else:
            r = rng.uniform(0.03, 0.05)
            half = np.array([r, r, rng.uniform(0.04, 0.08)])
        mat = add(_random_material(rng, base=OBJECT_COLOURS[colour], kinds=("solid", "stripes", "checker", "dots"),
                                   contrast=(0.2, 0.45), freq=(20.0, 45.0)))
        obj = SceneObject(shape, str(colour), mat, half, np.zeros(3), float(rng.uniform(-np.pi, np.pi)))
        for _ in range(200):  # rejection sampling in the reachable front part of the table
            xy = np.array([rng.uniform(-table_half[0] + 0.1, table_half[0] - 0.1),
                           rng.uniform(-table_half[1] + 0.08, min(table_half[1] - 0.08, -table_half[1] + 0.45))])
            if all(np.linalg.norm(xy - o.pos[:2]) > o.footprint + obj.footprint + 0.06 for o in placed):
                break
        obj.pos = np.array([xy[0], xy[1], table_height + half[2]])
        placed.append(obj)
    scene.objects = placed

    skin = add(_random_material(rng, base=rng.choice([(0.95, 0.8, 0.68), (0.8, 0.6, 0.45), (0.55, 0.38, 0.26),
                                                      (0.35, 0.24, 0.16)]), kinds=("solid",)))
    shirt = add(_random_material(rng, kinds=("solid", "stripes", "checker"), freq=(8.0, 20.0)))
    pants = add(_random_material(rng, kinds=("solid", "stripes"), contrast=(0.1, 0.25), freq=(8.0, 20.0)))
    hair = add(_random_material(rng, base=(0.12, 0.08, 0.05), kinds=("solid",)))
    scene.actor = {"scale": float(rng.uniform(0.95, 1.05)), "x": float(rng.uniform(-0.08, 0.08)),
                   "skin": skin, "shirt": shirt, "pants": pants, "hair": hair}

    # four exo cameras around the action, elevated, on the person's diagonals (like Ego-Exo4D's GoPros)
    actor_y = -table_half[1] - 0.24
    focus_local = np.array([scene.actor["x"], (actor_y + 0.1) / 2, 0.0])
    focus = scene.to_world(focus_local)
    facing = table_yaw + np.pi / 2  # the person looks along table +y
    T_cams = []
    for base in (45.0, 135.0, 225.0, 315.0):
        a = facing + np.deg2rad(base + rng.uniform(-15, 15))
        radius = rng.uniform(1.7, 2.3)
        eye = np.array([focus[0] + radius * pm.cos(a), focus[1] + radius * pm.sin(a), rng.uniform(1.8, 2.3)])
        eye[0] = np.clip(eye[0], room[0] + 0.15, room[1] - 0.15)
        eye[1] = np.clip(eye[1], room[2] + 0.15, room[3] - 0.15)
        target = focus + np.array([*rng.uniform(-0.12, 0.12, size=2), rng.uniform(0.85, 1.05)])
        T_cams.append(look_at(eye, target))
    scene.exo_T_world_cam = np.stack(T_cams)
    return scene


# --------------------------------------------------------------------------------------------- motion
def _ease(x):
    return x * x * (3.0 - 2.0 * x)


def keyframes(s: np.ndarray, times, points) -> np.ndarray:
    """Smoothstep-eased piecewise interpolation. s (T,), times (K,) increasing, points (K, D) -> (T, D)."""
    times = np.asarray(times, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    s = np.clip(s, times[0], times[-1])
    seg = np.clip(np.searchsorted(times, s, side="right") - 1, 0, len(times) - 2)
    u = (s - times[seg]) / (times[seg + 1] - times[seg])
    w = _ease(u)[:, None]
    return points[seg] + (points[seg + 1] - points[seg]) * w


@dataclass
class ClipScript:
    """Per-frame state of one clip (world frame, T frames)."""

    category: str
    text: str
    scene: Scene
    hands: np.ndarray  # (T, 2, 3) hand centres (0 = right, 1 = left)
    shoulders: np.ndarray  # (2, 3)
    head: np.ndarray  # (T, 3) head centre
    ego_T_world_cam: np.ndarray  # (T, 4, 4)
    object_pos: np.ndarray  # (T, N, 3)
    object_yaw: np.ndarray  # (T, N) world yaw
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.head.shape[0])

    def to_tensors(self) -> SceneTensors:
        """Primitive tensors for the ray caster; spheres 0 and 1 are the head and hair (``EGO_HIDDEN_SPHERES``)."""
        sc, a = self.scene, self.scene.actor
        T = self.num_frames
        s = a["scale"]
        spheres, sphere_mat = [], []

        def sphere(c, r, m):  # c (T, 3) or (3,)
            c = np.broadcast_to(c, (T, 3))
            spheres.append(np.concatenate([c, np.full((T, 1), r)], -1))
            sphere_mat.append(m)

        sphere(self.head, HEAD_R * s, a["skin"])
        # hair: a slightly smaller sphere behind / above the head so the exo views show which way it faces
        fwd = self.ego_T_world_cam[:, :3, 2]
        sphere(self.head - 0.025 * _unit(fwd * [1, 1, 0]) + [0, 0, 0.02], HEAD_R * s * 0.97, a["hair"])
        for side in range(2):
            sh, hand = self.shoulders[side], self.hands[:, side]
            sphere(sh, 0.065 * s, a["shirt"])
            sphere(hand, HAND_R, a["skin"])
            elbow = _elbow(sh, hand, 0.3 * s, side)
            for k in range(1, 5):
                sphere(sh + (elbow - sh) * k / 4, 0.042 * s, a["shirt"])
            for k in range(1, 4):
                sphere(elbow + (hand - elbow) * k / 4, 0.036 * s, a["skin"])

        boxes, box_mat = [], []
        for centre, half, yaw, m in sc.static_boxes:
            boxes.append(np.broadcast_to(np.concatenate([centre, half, [pm.cos(yaw), pm.sin(yaw)]]), (T, 8)))
            box_mat.append(m)
        cylinders, cyl_mat = [], []
        base = sc.to_world(np.array([a["x"], -sc.table_half[1] - 0.24, 0.0]))
        for dx, r, z0, z1, m in ((0.0, 0.16 * s, 0.80 * s, 1.42 * s, a["shirt"]),
                                 (0.0, 0.05 * s, 1.40 * s, 1.56 * s, a["skin"]),
                                 (0.085, 0.065 * s, 0.0, 0.82 * s, a["pants"]),
                                 (-0.085, 0.065 * s, 0.0, 0.82 * s, a["pants"])):
            p = sc.to_world(np.array([a["x"] + dx * s, -sc.table_half[1] - 0.24, 0.0])) if dx else base
            cylinders.append(np.broadcast_to(np.array([p[0], p[1], z0, z1, r]), (T, 5)))
            cyl_mat.append(m)
        for n, obj in enumerate(sc.objects):
            c = self.object_pos[:, n]
            if obj.shape == "sphere":
                sphere(c, obj.half[0], obj.material)
            elif obj.shape == "box":
                yaw = self.object_yaw[:, n]
                boxes.append(np.concatenate([c, np.broadcast_to(obj.half, (T, 3)), pm.cos(yaw)[:, None],
                                             pm.sin(yaw)[:, None]], -1))
                box_mat.append(obj.material)
            else:
                cylinders.append(np.stack([c[:, 0], c[:, 1], c[:, 2] - obj.half[2], c[:, 2] + obj.half[2],
                                           np.full(T, obj.half[0])], -1))
                cyl_mat.append(obj.material)

        def f32(x):
            return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)

        mats = sc.materials
        materials = Materials(
            kind=torch.tensor([m["kind"] for m in mats], dtype=torch.long),
            color_a=f32(np.stack([m["a"] for m in mats])), color_b=f32(np.stack([m["b"] for m in mats])),
            freq=f32(np.array([m["freq"] for m in mats])), axis=f32(np.stack([m["axis"] for m in mats])),
            axis2=f32(np.stack([m["axis2"] for m in mats])))
        return SceneTensors(
            spheres=f32(np.stack(spheres, 1)), sphere_material=torch.tensor(sphere_mat, dtype=torch.long),
            boxes=f32(np.stack(boxes, 1)), box_material=torch.tensor(box_mat, dtype=torch.long),
            cylinders=f32(np.stack(cylinders, 1)), cylinder_material=torch.tensor(cyl_mat, dtype=torch.long),
            room=f32(sc.room), room_material=torch.tensor(sc.room_material, dtype=torch.long),
            materials=materials, light_dirs=f32(sc.light_dirs), light_weights=f32(sc.light_weights))


def _elbow(shoulder, hand, seg_len, side):
    """Elbow positions (T, 3): two segments of ``seg_len`` bent down and outwards (straight if too far)."""
    v = hand - shoulder
    dist = np.linalg.norm(v, axis=-1, keepdims=True)
    mid = shoulder + v / 2
    bend = np.sqrt(np.clip(seg_len ** 2 - (dist / 2) ** 2, 0.0, None))
    out = np.array([0.0, 0.0, -1.0]) + np.cross(v, [0.0, 0.0, 1.0]) * (0.6 if side == 0 else -0.6)
    u = v / np.maximum(dist, 1e-9)
    out = out - (out * u).sum(-1, keepdims=True) * u  # perpendicular to the forearm-upper-arm chord
    out = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-9)
    return mid + bend * out


def _free_spot(rng, scene: Scene, exclude: int, away_from: np.ndarray, min_move=0.15):
    """A table-frame xy for object ``exclude`` clear of the others and at least ``min_move`` from its start."""
    obj = scene.objects[exclude]
    th = scene.table_half
    best = None
    for _ in range(300):
        xy = np.array([rng.uniform(-th[0] + 0.1, th[0] - 0.1), rng.uniform(-th[1] + 0.08, min(th[1] - 0.08, -th[1] + 0.5))])
        if np.linalg.norm(xy - away_from) < min_move:
            continue
        if all(np.linalg.norm(xy - o.pos[:2]) > o.footprint + obj.footprint + 0.05
               for i, o in enumerate(scene.objects) if i != exclude):
            best = xy
            break
    if best is None:  # crowded table: move sideways anyway; overlap is only visual
        best = away_from + np.array([0.2 if away_from[0] < 0 else -0.2, 0.0])
    return best


def _where_words(delta):
    """Describe a table-frame displacement from the person's viewpoint (they face +y; +x is their right)."""
    if abs(delta[0]) >= abs(delta[1]):
        return "to the right" if delta[0] > 0 else "to the left"
    return "further away" if delta[1] > 0 else "closer to the edge of the table"


def make_clip(scene: Scene, category: str, rng: np.random.Generator, num_frames: int) -> ClipScript:
    """Script one activity in ``scene``: hand, object and head trajectories, the ego pose and the text."""
    T = num_frames
    s = np.linspace(0.0, 1.0, T)
    a = scene.actor
    sc = a["scale"]
    actor_y = -scene.table_half[1] - 0.24
    top = scene.table_height
    shoulders_l = np.array([[a["x"] + 0.2 * sc, actor_y, 1.40 * sc], [a["x"] - 0.2 * sc, actor_y, 1.40 * sc]])
    rest = np.array([[a["x"] + 0.24 * sc, actor_y + 0.1, 0.9 * sc], [a["x"] - 0.24 * sc, actor_y + 0.1, 0.9 * sc]])
    n_obj = len(scene.objects)
    obj_pos = np.broadcast_to(np.stack([o.pos for o in scene.objects]), (T, n_obj, 3)).copy()
    obj_yaw = np.broadcast_to(np.array([o.yaw for o in scene.objects]), (T, n_obj)).copy()
    hands = np.broadcast_to(rest, (T, 2, 3)).copy()
    # idle sway of both hands (overwritten for the active one)
    sway = rng.uniform(0.005, 0.015) * pm.sin(2 * np.pi * (s[:, None] * rng.uniform(0.5, 1.5) + rng.uniform(0, 1, 2)))
    hands[:, :, 2] += sway

    def side_of(xy):
        return 0 if xy[0] >= a["x"] else 1  # right hand for objects on the right

    def grasp_point(obj, from_xy):
        """Hand centre touching the object's side that faces ``from_xy``, at a comfortable height."""
        d = obj.pos[:2] - from_xy
        d = d / max(np.linalg.norm(d), 1e-9)
        xy = obj.pos[:2] - d * (obj.footprint + 0.8 * HAND_R)
        return np.array([xy[0], xy[1], max(obj.pos[2], top + HAND_R)])

    def carry(n, times, pts, t_grab, t_release, hand_idx, yaw_turn=0.0):
        """Move hand ``hand_idx`` along keyframes; object ``n`` follows it between grab and release."""
        hand = keyframes(s, times, pts)
        hands[:, hand_idx] = hand
        grab_hand = keyframes(np.array([t_grab]), times, pts)[0]
        offset = scene.objects[n].pos - grab_hand
        rel_hand = keyframes(np.array([t_release]), times, pts)[0]
        held = (s >= t_grab) & (s <= t_release)
        after = s > t_release
        obj_pos[held, n] = hand[held] + offset
        obj_pos[after, n] = rel_hand + offset
        if yaw_turn:
            u = np.clip((s - t_grab) / (t_release - t_grab), 0, 1)
            obj_yaw[:, n] += yaw_turn * _ease(u)
        return offset

    lift = np.array([0.0, 0.0, 0.15])
    if category in ("pick-place", "stack", "inspect"):
        n = int(rng.integers(n_obj))
        obj = scene.objects[n]
        if category == "stack":
            flat = [i for i, o in enumerate(scene.objects) if o.shape != "sphere"]
            m = int(rng.choice(flat))
            n = int(rng.choice([i for i in range(n_obj) if i != m]))
            obj, base = scene.objects[n], scene.objects[m]
            dest = np.array([base.pos[0], base.pos[1], base.pos[2] + base.half[2] + obj.half[2]])
            text = f"A person stacks the {obj.name} on top of the {base.name}."
        elif category == "pick-place":
            xy = _free_spot(rng, scene, n, obj.pos[:2])
            dest = np.array([xy[0], xy[1], obj.pos[2]])
            text = f"A person picks up the {obj.name} and puts it down {_where_words(dest - obj.pos)} on the table."
        else:
            dest = obj.pos.copy()
            text = f"A person picks up the {obj.name}, looks at it closely and puts it back."
        h = side_of(obj.pos[:2])
        g = grasp_point(obj, shoulders_l[h, :2])
        off = obj.pos - g
        place = dest - off
        if category == "inspect":
            face = np.array([a["x"], actor_y + 0.32, 1.3 * sc]) - off
            times = [0, 0.22, 0.28, 0.45, 0.62, 0.76, 0.82, 1.0]
            pts = [rest[h], g, g, face, face, place, place, rest[h]]
            carry(n, times, pts, 0.28, 0.76, h, yaw_turn=float(rng.uniform(0.8, 1.6)) * rng.choice([-1, 1]))
        else:
            times = [0, 0.22, 0.28, 0.42, 0.6, 0.72, 0.8, 1.0]
            pts = [rest[h], g, g, g + lift, place + lift + [0, 0, 0.03 if category == "stack" else 0], place,
                   place, rest[h]]
            carry(n, times, pts, 0.28, 0.72, h)
        active = h
        info = {"object": obj.name}
    elif category == "push":
        n = int(rng.integers(n_obj))
        obj = scene.objects[n]
        th = scene.table_half
        options = []
        for word, direction in (("to the left", [-1.0, 0.0]), ("to the right", [1.0, 0.0]),
                                ("away from them", [0.0, 1.0])):
            dist = rng.uniform(0.15, 0.25)
            end = obj.pos[:2] + np.array(direction) * dist
            if abs(end[0]) < th[0] - 0.06 and abs(end[1]) < th[1] - 0.06:
                options.append((word, np.array(direction), dist))
        if not options:  # always possible to push a little away from the near edge
            options = [("away from them", np.array([0.0, 1.0]), 0.1)]
        word, direction, dist = options[int(rng.integers(len(options)))]
        contact_xy = obj.pos[:2] - direction * (obj.footprint + HAND_R)
        contact = np.array([contact_xy[0], contact_xy[1], max(obj.pos[2] - obj.half[2] + HAND_R, top + HAND_R)])
        h = side_of(contact_xy)
        push = np.array([*direction * dist, 0.0])
        pre = contact - np.array([*direction * 0.08, 0.0]) + [0, 0, 0.06]
        times = [0, 0.2, 0.3, 0.7, 0.8, 1.0]
        pts = [rest[h], pre, contact, contact + push, contact + push + [0, 0, 0.08], rest[h]]
        hand = keyframes(s, times, pts)
        hands[:, h] = hand
        offset = obj.pos - contact
        during = (s >= 0.3) & (s <= 0.7)
        obj_pos[during, n] = hand[during] + offset
        obj_pos[s > 0.7, n] = contact + push + offset
        text = f"A person pushes the {obj.name} {word} across the table."
        active, info = h, {"object": obj.name}
    elif category == "wave":
        h = int(rng.integers(2))
        side = 1.0 if h == 0 else -1.0
        up = np.array([a["x"] + side * 0.36 * sc, actor_y + 0.12, 1.68 * sc])
        times = [0, 0.25, 0.75, 1.0]
        hand = keyframes(s, times, [rest[h], up, up, rest[h]])
        u = np.clip((s - 0.25) / 0.5, 0, 1)
        hand[:, 0] += 0.1 * pm.sin(2 * np.pi * 2 * u)  # two waves while the hand is up
        hands[:, h] = hand
        text = f"A person waves with their {'right' if h == 0 else 'left'} hand."
        active, info = h, {"object": ""}
    else:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")

    # head: looks at the active hand (or, for waving, across the table) with per-clip wobble and a lean
    table_focus = np.array([a["x"], -scene.table_half[1] + 0.3, top])
    if category == "wave":
        gaze = np.broadcast_to(np.array([a["x"], actor_y + 2.0, 1.3]), (T, 3)).copy()
    reach = np.linalg.norm(hands[:, active] - rest[active], axis=-1)
    reach = reach / max(reach.max(), 1e-9)
    if category != "wave":  # at rest the eyes are on the table, while reaching they follow the hand
        w = (0.3 + 0.45 * reach)[:, None]
        gaze = w * hands[:, active] + (1 - w) * table_focus
    head_base = np.array([a["x"], actor_y, 1.62 * sc])
    wobble = lambda amp: amp * pm.sin(2 * np.pi * (rng.uniform(0.3, 1.2) * s + rng.uniform(0, 1)))  # noqa: E731
    head = head_base + np.stack([wobble(0.015), 0.08 + 0.06 * reach + wobble(0.01), wobble(0.008)], -1)
    look = gaze - head
    yaw = pm.arctan2(look[:, 1], look[:, 0]) + np.deg2rad(wobble(rng.uniform(4, 12)) + rng.uniform(-5, 5))
    pitch = pm.arctan2(look[:, 2], pm.hypot(look[:, 0], look[:, 1])) + np.deg2rad(wobble(rng.uniform(2, 6)))
    fwd = np.stack([pm.cos(pitch) * pm.cos(yaw), pm.cos(pitch) * pm.sin(yaw), pm.sin(pitch)], -1)
    # to world
    R_head = look_at(np.zeros((T, 3)), fwd)[:, :3, :3]  # camera-aligned head orientation (table frame)
    roll = np.deg2rad(rng.uniform(-4, 4) + wobble(2.0))
    c, sn = pm.cos(roll), pm.sin(roll)
    Rz = np.zeros((T, 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -sn, sn, c, 1.0
    R_head = pm.matmul(R_head, Rz)  # roll about the optical axis
    yaw_t = scene.table_yaw
    R_table = np.array([[pm.cos(yaw_t), -pm.sin(yaw_t), 0], [pm.sin(yaw_t), pm.cos(yaw_t), 0], [0, 0, 1]])
    head_w = scene.to_world(head)
    ego = np.zeros((T, 4, 4))
    ego[:, :3, :3] = pm.matmul(R_table, R_head)
    ego[:, :3, 3] = head_w + pm.matmul(ego[:, :3, :3], EYE_OFFSET)
    ego[:, 3, 3] = 1.0
    yaw_obj = obj_yaw + yaw_t
    info.update({"active_hand": "right" if active == 0 else "left"})
    return ClipScript(category=category, text=text, scene=scene, hands=scene.to_world(hands),
                      shoulders=scene.to_world(shoulders_l), head=head_w, ego_T_world_cam=ego,
                      object_pos=scene.to_world(obj_pos), object_yaw=yaw_obj, info=info)


def camera_intrinsics(height: int, width: int, hfov_deg: float) -> np.ndarray:
    """Pinhole K (3, 3) of a centred camera with the given horizontal field of view."""
    return intrinsics_from_fov(height, width, hfov_deg)
