"""A vectorised CPU ray caster for the SynthEgoExo scenes (torch, no OpenGL, no rasteriser).

Every pixel of every frame is one ray ``x(t) = o + t d`` (``|d| = 1``); each ray is tested against every
primitive analytically, the nearest hit wins, and the hit is flat-shaded with two directional lights plus
ambient. All pixels of a chunk of frames are done at once as (T, R, P) tensors (R rays, P primitives);
since all rays of one camera in one frame share their origin, origin-only terms are (T, 1, P).

Scene tensors (T frames, float32, CPU):

============  ===========  ==========================================================================
name          shape        meaning
============  ===========  ==========================================================================
spheres       (T, S, 4)    centre xyz, radius
boxes         (T, B, 8)    centre xyz, half sizes xyz, cos(yaw), sin(yaw): oriented about world z
cylinders     (T, C, 5)    axis x, y, bottom z0, top z1, radius: vertical, capped
room          (6,)         x0, x1, y0, y1, z0, z1: a closed axis-aligned room, seen from inside
material ids  (S,)(B,)(C,) index into the material table; the room's 6 faces use ``room_material`` (6,),
                           ordered x0, x1, y0, y1, floor (z0), ceiling (z1)
============  ===========  ==========================================================================

Intersections (``o`` origin, ``d`` unit direction; "no hit" is ``t = inf``):

* sphere (c, r): ``t = -b - sqrt(b^2 - |o - c|^2 + r^2)`` with ``b = d . (o - c)`` (camera outside);
* oriented box: rotate ``o - c`` and ``d`` by ``Rz(-yaw)``, then the slab test
  ``t_near = max_i min(t1_i, t2_i)``, ``t_far = min_i max(t1_i, t2_i)``, hit iff ``t_near <= t_far``;
* vertical cylinder: side ``(dx^2 + dy^2) t^2 + 2 (dx ox + dy oy) t + ox^2 + oy^2 - r^2 = 0`` with the hit
  height in [z0, z1], caps are the planes z0 / z1 within radius r;
* room: each wall plane ``t = (w - o_i) / d_i``, kept where the ray moves towards it; the nearest is the exit.

Determinism: the per-pixel path uses only IEEE-exact operations (+, -, *, /, sqrt, floor, comparisons),
never transcendental functions whose vectorised and scalar implementations can differ in the last bit,
and dot products are written out instead of reductions. The same inputs give bit-identical images
whatever the thread count.

Textures are procedural in the primitive's local frame (so a carried object's pattern moves with it):
0 solid, 1 checker, 2 stripes, 3 dots, 4 zig-zag waves; colour ``a + (b - a) m`` with the pattern mask m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

EPS_T = 1e-4  # metres: ignore hits this close to the origin
_TEX_OFFSET = 0.3183  # shifts texture cells off axis-aligned faces (e.g. the floor z = 0), avoiding flicker

TEXTURE_KINDS = ("solid", "checker", "stripes", "dots", "waves")


@dataclass
class Materials:
    """Material table, M entries: ``kind`` (M,) long (index into TEXTURE_KINDS), ``color_a``/``color_b``
    (M, 3) in [0, 1], ``freq`` (M,) pattern cycles per metre, ``axis``/``axis2`` (M, 3) unit pattern axes."""

    kind: torch.Tensor
    color_a: torch.Tensor
    color_b: torch.Tensor
    freq: torch.Tensor
    axis: torch.Tensor
    axis2: torch.Tensor


@dataclass
class SceneTensors:
    """Everything the caster needs for T frames (see the module docstring for shapes)."""

    spheres: torch.Tensor
    sphere_material: torch.Tensor
    boxes: torch.Tensor
    box_material: torch.Tensor
    cylinders: torch.Tensor
    cylinder_material: torch.Tensor
    room: torch.Tensor
    room_material: torch.Tensor
    materials: Materials
    light_dirs: torch.Tensor  # (2, 3) unit vectors towards the key and the fill light
    light_weights: torch.Tensor  # (3,) ambient, key, fill

    @property
    def num_frames(self) -> int:
        return int(self.spheres.shape[0])

    def frames(self, sl: slice) -> "SceneTensors":
        return SceneTensors(self.spheres[sl], self.sphere_material, self.boxes[sl], self.box_material,
                            self.cylinders[sl], self.cylinder_material, self.room, self.room_material,
                            self.materials, self.light_dirs, self.light_weights)

    def id_ranges(self) -> dict:
        """Global primitive ids used in hit maps: room faces 0..5, then spheres, boxes, cylinders."""
        S, B, C = self.spheres.shape[1], self.boxes.shape[1], self.cylinders.shape[1]
        return {"room": (0, 6), "spheres": (6, 6 + S), "boxes": (6 + S, 6 + S + B),
                "cylinders": (6 + S + B, 6 + S + B + C)}


def _dot(a, b):
    # written out: a length-3 reduction could be vectorised differently on different machines
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def camera_rays(K, T_world_cam, height: int, width: int):
    """Unit ray directions (T, H*W, 3) float32, origins (T, 1, 3) float32, and ``zscale`` (T, H*W).

    ``d = R [(u - cx) / fx, (v - cy) / fy, 1]^T / n`` with ``n`` the norm of the bracket, so the z-depth of
    a hit at distance ``t`` is ``t / n`` (``zscale = 1 / n``). Computed in float64 with explicit sums.
    K: (3, 3) float64 (zero skew), T_world_cam: (T, 4, 4) float64.
    """
    K = torch.as_tensor(K, dtype=torch.float64)
    T_wc = torch.as_tensor(np.array(T_world_cam, dtype=np.float64))
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                          indexing="ij")
    x = ((u - K[0, 2]) / K[0, 0]).reshape(-1)
    y = ((v - K[1, 2]) / K[1, 1]).reshape(-1)
    n = torch.sqrt(x * x + y * y + 1.0)
    R = T_wc[:, :3, :3]  # (T, 3, 3)
    d = torch.stack([R[:, None, i, 0] * x + R[:, None, i, 1] * y + R[:, None, i, 2] for i in range(3)], -1)
    d = d / n[None, :, None]
    o = T_wc[:, None, :3, 3]
    zscale = (1.0 / n)[None].expand(T_wc.shape[0], -1)
    return o.float(), d.float(), zscale.float()


def _hit_spheres(o, d, sph):
    """t (T, R, S). o (T,1,3), d (T,R,3), sph (T,S,4)."""
    oc = o[:, :, None, :] - sph[:, None, :, :3]  # (T, 1, S, 3)
    b = _dot(d[:, :, None, :], oc)  # (T, R, S)
    c = _dot(oc, oc) - sph[:, None, :, 3] * sph[:, None, :, 3]
    disc = b * b - c
    t = -b - torch.sqrt(disc.clamp(min=0.0))
    return torch.where((disc > 0) & (t > EPS_T), t, torch.full_like(t, float("inf")))


def _to_box_frame(v, boxes, is_point: bool):
    """Rotate world vectors (or points, translated first) into each box's frame: (..., B, 3)."""
    cos, sin = boxes[:, None, :, 6], boxes[:, None, :, 7]
    if is_point:
        v = v - boxes[:, None, :, :3]
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return torch.stack([cos * x + sin * y, -sin * x + cos * y, z.expand_as(cos * x)], -1)


def _hit_boxes(o, d, boxes):
    """t (T, R, B) by the slab test in each box's frame."""
    ol = _to_box_frame(o[:, :, None, :], boxes, True)  # (T, 1, B, 3)
    dl = _to_box_frame(d[:, :, None, :], boxes, False)  # (T, R, B, 3)
    # exact zeros would give 0 * inf = nan; a tiny direction component gives the same (correct) answer
    dl = torch.where(dl == 0, torch.full_like(dl, 1e-20), dl)
    h = boxes[:, None, :, 3:6]
    t1 = (-h - ol) / dl
    t2 = (h - ol) / dl
    lo, hi = torch.minimum(t1, t2), torch.maximum(t1, t2)
    t_near = torch.maximum(torch.maximum(lo[..., 0], lo[..., 1]), lo[..., 2])
    t_far = torch.minimum(torch.minimum(hi[..., 0], hi[..., 1]), hi[..., 2])
    ok = (t_near <= t_far) & (t_near > EPS_T)
    return torch.where(ok, t_near, torch.full_like(t_near, float("inf")))


def _hit_cylinders(o, d, cyl):
    """t (T, R, C) for vertical capped cylinders."""
    inf = float("inf")
    ox = o[:, :, None, 0] - cyl[:, None, :, 0]  # (T, 1, C)
    oy = o[:, :, None, 1] - cyl[:, None, :, 1]
    oz = o[:, :, None, 2]
    dx, dy, dz = d[:, :, None, 0], d[:, :, None, 1], d[:, :, None, 2]  # (T, R, 1)
    z0, z1, r = cyl[:, None, :, 2], cyl[:, None, :, 3], cyl[:, None, :, 4]
    a = dx * dx + dy * dy
    b = dx * ox + dy * oy
    c = ox * ox + oy * oy - r * r
    disc = b * b - a * c
    a_safe = torch.where(a > 1e-12, a, torch.ones_like(a))
    t_side = (-b - torch.sqrt(disc.clamp(min=0.0))) / a_safe
    z_side = oz + t_side * dz
    ok = (disc > 0) & (a > 1e-12) & (t_side > EPS_T) & (z_side >= z0) & (z_side <= z1)
    t = torch.where(ok, t_side, torch.full_like(t_side, inf))
    dz_safe = torch.where(dz == 0, torch.full_like(dz, 1e-20), dz)
    for zc in (z0, z1):
        tc = (zc - oz) / dz_safe
        px, py = ox + tc * dx, oy + tc * dy
        okc = (tc > EPS_T) & (px * px + py * py <= r * r)
        t = torch.minimum(t, torch.where(okc, tc, torch.full_like(tc, inf)))
    return t


def _hit_room(o, d, room):
    """t (T, R, 6): distance to each of the 6 room planes, inf unless the ray moves towards it."""
    inf = float("inf")
    cols = []
    for axis in range(3):
        di = d[..., axis]
        di_safe = torch.where(di == 0, torch.full_like(di, 1e-20), di)
        for side, keep in ((0, di < 0), (1, di > 0)):
            t = (room[2 * axis + side] - o[..., axis]) / di_safe
            cols.append(torch.where(keep & (t > EPS_T), t, torch.full_like(t, inf)))
    return torch.stack(cols, -1)


def _gather(params, idx):
    """params (T, P, k), idx (T, R) long -> (T, R, k)."""
    return torch.gather(params, 1, idx[..., None].expand(-1, -1, params.shape[-1]))


def _texture(local, mat_id, materials: Materials):
    """Albedo (T, R, 3) from local hit coordinates (T, R, 3) and material ids (T, R)."""
    kind = materials.kind[mat_id]
    f = materials.freq[mat_id][..., None]
    q = local * f + _TEX_OFFSET
    cell = torch.floor(q)
    frac = q - cell
    checker = torch.remainder(cell[..., 0] + cell[..., 1] + cell[..., 2], 2.0)
    s = _dot(q, materials.axis[mat_id])
    stripes = torch.remainder(torch.floor(s), 2.0)
    dd = frac - 0.5
    dots = (_dot(dd, dd) < 0.09).to(local.dtype)
    s2 = _dot(q, materials.axis2[mat_id])
    tri2 = 2.0 * torch.abs(s2 - torch.floor(s2) - 0.5)  # triangle wave in [0, 1], exact arithmetic
    w = s + 0.5 * tri2
    waves = 2.0 * torch.abs(w - torch.floor(w) - 0.5)
    m = torch.zeros_like(checker)
    for k, pattern in ((1, checker), (2, stripes), (3, dots), (4, waves)):
        m = torch.where(kind == k, pattern, m)
    a, b = materials.color_a[mat_id], materials.color_b[mat_id]
    return a + (b - a) * m[..., None]


def _intersect(hit_fn, o, d, params, static_cam: bool):
    """``hit_fn(o, d, params)`` -> (t (T, R, P'), columns (P',) long): the hit distances of all P
    primitives, in the column order ``columns``. Primitives that do not move are computed only once when
    the camera does not move either (static exo cameras see the room, table and furniture identically in
    every frame), which is most of the work."""
    T, P = params.shape[:2]
    if not static_cam or P == 0:
        return hit_fn(o, d, params), torch.arange(P)
    static = (params == params[:1]).reshape(T, P, -1).all(-1).all(0)  # (P,)
    idx_s, idx_d = torch.nonzero(static)[:, 0], torch.nonzero(~static)[:, 0]
    parts = []
    if len(idx_s):
        parts.append(hit_fn(o[:1], d[:1], params[:1, idx_s]).expand(T, -1, -1))
    if len(idx_d):
        parts.append(hit_fn(o, d, params[:, idx_d]))
    return torch.cat(parts, -1), torch.cat([idx_s, idx_d])


def cast(scene: SceneTensors, o, d, hidden_spheres=None):
    """Nearest hit of each ray.

    Args:
        o: (T, 1, 3) origins, d: (T, R, 3) unit directions (float32); ``hidden_spheres``: optional bool
        (S,) mask of spheres this camera must not see (the ego camera skips its own head).
    Returns:
        t (T, R) distance, hit_id (T, R) long global primitive id (see ``SceneTensors.id_ranges``),
        normal (T, R, 3) unit, facing the ray, albedo (T, R, 3).
    """
    T = d.shape[0]
    static_cam = T > 1 and bool((o == o[:1]).all()) and bool((d == d[:1]).all())
    ranges = scene.id_ranges()
    t_room = _hit_room(o[:1], d[:1], scene.room).expand(T, -1, -1) if static_cam else _hit_room(o, d, scene.room)
    t, hit = torch.min(t_room, -1)  # room face ids are 0..5
    for name, fn, params in (("spheres", _hit_spheres, scene.spheres), ("boxes", _hit_boxes, scene.boxes),
                             ("cylinders", _hit_cylinders, scene.cylinders)):
        if params.shape[1] == 0:
            continue
        t_k, cols = _intersect(fn, o, d, params, static_cam)
        if name == "spheres" and hidden_spheres is not None:
            t_k = t_k.masked_fill(torch.as_tensor(hidden_spheres, dtype=torch.bool)[cols], float("inf"))
        t_best, column = torch.min(t_k, -1)
        closer = t_best < t  # strict: ties keep the earlier kind, deterministically
        t = torch.where(closer, t_best, t)
        hit = torch.where(closer, (cols + ranges[name][0])[column], hit)
    p = o + t[..., None] * d  # (T, R, 3) world hit points

    normal = torch.zeros_like(p)
    local = p.clone()
    mat = torch.zeros_like(hit)

    # room: inward normals; textures in world coordinates
    face = hit.clamp(max=5)
    room_normals = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                                dtype=p.dtype)
    is_room = hit < 6
    normal = torch.where(is_room[..., None], room_normals[face], normal)
    mat = torch.where(is_room, scene.room_material[face], mat)

    def sub_index(name):
        lo, hi = ranges[name]
        inside = (hit >= lo) & (hit < hi)
        return inside, (hit - lo).clamp(min=0, max=max(hi - lo - 1, 0))

    if scene.spheres.shape[1]:
        inside, j = sub_index("spheres")
        s = _gather(scene.spheres, j)
        rel = p - s[..., :3]
        normal = torch.where(inside[..., None], rel / s[..., 3:4], normal)
        local = torch.where(inside[..., None], rel, local)
        mat = torch.where(inside, scene.sphere_material[j], mat)
    if scene.boxes.shape[1]:
        inside, j = sub_index("boxes")
        bx = _gather(scene.boxes, j)  # (T, R, 8)
        cos, sin = bx[..., 6], bx[..., 7]
        rel = p - bx[..., :3]
        lx = cos * rel[..., 0] + sin * rel[..., 1]
        ly = -sin * rel[..., 0] + cos * rel[..., 1]
        lz = rel[..., 2]
        loc = torch.stack([lx, ly, lz], -1)
        ratio = torch.abs(loc) / bx[..., 3:6]
        axis = torch.argmax(ratio, -1)  # the face whose slab bound the hit
        sign = torch.sign(torch.gather(loc, -1, axis[..., None]))[..., 0]
        nl = torch.nn.functional.one_hot(axis, 3).to(p.dtype) * sign[..., None]
        nw = torch.stack([cos * nl[..., 0] - sin * nl[..., 1], sin * nl[..., 0] + cos * nl[..., 1], nl[..., 2]], -1)
        normal = torch.where(inside[..., None], nw, normal)
        local = torch.where(inside[..., None], loc, local)
        mat = torch.where(inside, scene.box_material[j], mat)
    if scene.cylinders.shape[1]:
        inside, j = sub_index("cylinders")
        cy = _gather(scene.cylinders, j)
        rel = torch.stack([p[..., 0] - cy[..., 0], p[..., 1] - cy[..., 1], p[..., 2] - cy[..., 2]], -1)
        radial = torch.stack([rel[..., 0] / cy[..., 4], rel[..., 1] / cy[..., 4], torch.zeros_like(rel[..., 0])], -1)
        up = torch.zeros_like(radial)
        up[..., 2] = 1.0
        # within 0.1 mm of a cap plane counts as a cap hit
        nc = torch.where((p[..., 2] >= cy[..., 3] - 1e-4)[..., None], up,
                         torch.where((p[..., 2] <= cy[..., 2] + 1e-4)[..., None], -up, radial))
        normal = torch.where(inside[..., None], nc, normal)
        local = torch.where(inside[..., None], rel, local)
        mat = torch.where(inside, scene.cylinder_material[j], mat)

    facing = _dot(normal, d) > 0
    normal = torch.where(facing[..., None], -normal, normal)
    albedo = _texture(local, mat, scene.materials)
    return t, hit, normal, albedo


def shade(normal, albedo, scene: SceneTensors):
    """Flat Lambert shading: ``c = albedo (w0 + w1 max(0, n.L1) + w2 max(0, n.L2))``, clamped to [0, 1]."""
    w = scene.light_weights
    L = scene.light_dirs
    light = w[0] + w[1] * _dot(normal, L[0]).clamp(min=0) + w[2] * _dot(normal, L[1]).clamp(min=0)
    return (albedo * light[..., None]).clamp(0.0, 1.0)


def render_camera(scene: SceneTensors, K, T_world_cam, height: int, width: int, hidden_spheres=None,
                  max_elements: int = 8_000_000):
    """Render one camera over all T frames.

    Args:
        K: (3, 3) float64; T_world_cam: (T, 4, 4) float64 (a static camera repeats its pose).
        max_elements: bound on rays x primitives per chunk of frames (memory).
    Returns:
        rgb uint8 (T, H, W, 3), depth float32 (T, H, W) z-depth in metres, hit_id int64 (T, H, W).
    """
    T = scene.num_frames
    o, d, zscale = camera_rays(K, T_world_cam, height, width)
    n_prims = 6 + scene.spheres.shape[1] + scene.boxes.shape[1] + scene.cylinders.shape[1]
    step = max(1, max_elements // (height * width * n_prims * 3))
    rgb, depth, ids = [], [], []
    for start in range(0, T, step):
        sl = slice(start, min(T, start + step))
        sub = scene.frames(sl)
        t, hit, normal, albedo = cast(sub, o[sl], d[sl], hidden_spheres)
        colour = shade(normal, albedo, sub)
        rgb.append(torch.floor(colour * 255.0 + 0.5).to(torch.uint8))
        depth.append(torch.where(torch.isfinite(t), t * zscale[sl], torch.zeros_like(t)))
        ids.append(hit)
    rgb = torch.cat(rgb).reshape(T, height, width, 3)
    depth = torch.cat(depth).reshape(T, height, width)
    ids = torch.cat(ids).reshape(T, height, width)
    return rgb.numpy(), depth.numpy().astype("float32"), ids.numpy()
