"""A contact sheet of one clip for checking its cameras by eye (``python -m benchmark data show``).

Rows are time steps; columns are the exo views with the ego camera drawn on them, then the ego frame. In
every exo view, projected with that view's K and pose:

* the ego camera centre ``c = T_world_ego[:3, 3]`` (red dot) and an arrow to ``c + 0.3 m * z_ego``;
* the ego camera's frustum: the four corners of the ego image at 0.5 m depth, joined to the centre and to
  each other (red lines);
* the line of sight through the ego image centre (yellow), with points at 0.5, 1, 2 and 4 m from ``c``
  coloured by distance (:data:`SIGHT_COLOURS`); the ego frame marks its image centre with a yellow cross.

If the cameras are right, the dot sits on the wearer's head, the frustum opens where the ego frame looks,
and in every exo view the line of sight passes through what lies under the cross in the ego frame (at the
distance of the point nearest to it). A point behind an exo camera or outside its image is not drawn, and
neither is a line with an end behind the camera. The geometry is :func:`ego_check_points` and
:func:`project_check`; the figure only draws what they return.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.cameras import camera_centre, project_points, transform_points, viewing_direction
from benchmark.errors import UsageError

ARROW_LENGTH_M = 0.3
FRUSTUM_DEPTH_M = 0.5  # z-depth of the drawn ego image corners
SIGHT_DISTANCES_M = (0.5, 1.0, 2.0, 4.0)  # points on the line of sight, metres from the ego camera centre
SIGHT_COLOURS = ("#ffe000", "#ff8c00", "#ff00c8", "#00e5ff")  # one per distance, near to far
SIGHT_LINE_COLOUR = "#ffe000"  # the line of sight and the cross on the ego frame
EGO_COLOUR = "red"  # ego centre, arrow and frustum
_MIN_DEPTH = 1e-6  # metres in front of a camera for a point to be drawn in it
DEFAULT_OUT_DIR = Path("runs") / "show"  # pictures go to DEFAULT_OUT_DIR/<dataset>/<split>/<clip_id>.png


def default_out_path(dataset: str, split: str, clip_id: str) -> Path:
    """Where ``data show`` writes a clip's picture unless told otherwise (relative to the current folder).

    A clip's picture does not depend on the config it was picked from, so the config is not part of the path.
    """
    return DEFAULT_OUT_DIR / dataset / split / f"{clip_id}.png"


def require_clip_id(clips, clip_id: str) -> None:
    """Raise :class:`UsageError` unless ``clip_id`` is a clip of ``clips`` (a ``ClipSet``).

    The message names the id and the dataset/split, gives close matches, says which other split of the same
    dataset folder holds the id (found from the splits' parquet tables; no video is read), and names the
    command that lists the clip ids.
    """
    if clip_id in clips.clip_ids:
        return
    from .hf_format import DEFAULT_CONFIG, config_parquet, read_rows

    def holds(config, split) -> bool:
        parquet = clips.root / config_parquet(config, split)
        return parquet.is_file() and any(r["clip_id"] == clip_id for r in read_rows(parquet))

    config = clips.config
    elsewhere = [split for split in sorted(clips.manifest.get("splits", {})) if split != clips.split
                 and holds(config, split)]
    close = difflib.get_close_matches(clip_id, clips.clip_ids, n=3)
    hints = [f"it is in split {elsewhere[0]!r}: pass --split {elsewhere[0]}"] if elsewhere else []
    if config != DEFAULT_CONFIG and holds(DEFAULT_CONFIG, clips.split):
        hints.append(f"it is in split {clips.split!r} but not in config {config!r}: leave --config out")
    if close:
        hints.append("close matches: " + ", ".join(close))
    hints.append(f"list the clip ids with `python -m benchmark data list {clips.cli_args()}`")
    raise UsageError(f"clip {clip_id!r} is not in {clips.label} ({len(clips)} clips at {clips.root}); " + "; ".join(hints))


def ego_marker(clip, view: int, t: int):
    """Projected ego centre and arrow tip in exo ``view`` at frame ``t``: ((u, v) or None, (u, v) or None)."""
    T_ego = clip.ego_T_world_cam[t]
    c = camera_centre(T_ego)
    pts = np.stack([c, c + ARROW_LENGTH_M * viewing_direction(T_ego)])
    T_exo = clip.exo_T_world_cam[view]
    if T_exo.ndim == 3:
        T_exo = T_exo[t]
    uv, z = project_points(clip.exo_K[view], T_exo, pts)
    return tuple(uv[i] if z[i] > 1e-6 else None for i in range(2))


@dataclass(frozen=True)
class EgoCheckPoints:
    """World points (metres) that show where an ego camera is and what it looks at, at one frame.

    ``centre`` (3,): camera centre. ``corners`` (4, 3): the ego image corners (top-left, top-right,
    bottom-right, bottom-left, at the outer edges of the corner pixels) at z-depth ``FRUSTUM_DEPTH_M``.
    ``sight`` (S, 3): points on the ray through the image centre ``image_centre`` (u, v) =
    ((W - 1) / 2, (H - 1) / 2) at the distances ``SIGHT_DISTANCES_M`` from ``centre``.
    """

    centre: np.ndarray
    corners: np.ndarray
    sight: np.ndarray
    image_centre: tuple


def ego_check_points(ego_K, T_world_ego, ego_size, *, frustum_depth: float = FRUSTUM_DEPTH_M,
                     distances=SIGHT_DISTANCES_M) -> EgoCheckPoints:
    """The :class:`EgoCheckPoints` of a pinhole camera ``ego_K`` (3, 3) at ``T_world_ego`` (4, 4), image (H, W).

    A pixel (u, v) lies on the ray ``K^-1 [u, v, 1]`` of the camera frame (OpenCV axes, ``benchmark.cameras``);
    a corner at z-depth ``d`` is ``d K^-1 [u, v, 1]``, a sight point at distance ``s`` is ``s`` times the unit ray.
    """
    K = np.asarray(ego_K, dtype=np.float64)
    T = np.asarray(T_world_ego, dtype=np.float64)
    H, W = int(ego_size[0]), int(ego_size[1])
    K_inv = np.linalg.inv(K)
    corner_px = np.array([[-0.5, -0.5, 1.0], [W - 0.5, -0.5, 1.0], [W - 0.5, H - 0.5, 1.0], [-0.5, H - 0.5, 1.0]])
    corners_cam = frustum_depth * corner_px @ K_inv.T  # rows have z = frustum_depth
    centre_px = ((W - 1) / 2, (H - 1) / 2)
    ray = K_inv @ np.array([centre_px[0], centre_px[1], 1.0])
    ray /= np.linalg.norm(ray)
    sight_cam = np.asarray(distances, dtype=np.float64)[:, None] * ray
    return EgoCheckPoints(centre=camera_centre(T).copy(), corners=transform_points(T, corners_cam),
                          sight=transform_points(T, sight_cam), image_centre=centre_px)


def project_check(K, T_world_cam, image_size, points_world):
    """Project world points (N, 3) into a camera; which of them can be drawn.

    Returns ``(uv (N, 2), in_front (N,) bool, in_view (N,) bool)``: ``in_front`` when the point is at least
    1 um in front of the camera (z > 0), ``in_view`` when it is in front and inside the image
    ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` (``image_size`` = (H, W)). ``uv`` of a point behind is meaningless.
    """
    uv, z = project_points(np.asarray(K, dtype=np.float64), np.asarray(T_world_cam, dtype=np.float64),
                           np.asarray(points_world, dtype=np.float64).reshape(-1, 3))
    H, W = int(image_size[0]), int(image_size[1])
    in_front = z > _MIN_DEPTH
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] <= W - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= H - 0.5)
    return uv, in_front, in_front & inside


def ego_overlay(clip, view: int, t: int) -> dict:
    """What to draw on exo ``view`` at frame ``t``: the ego camera's frustum and line of sight in that view.

    Returns ``{"centre": (u, v) or None, "corners": [(u, v) or None] * 4, "sight": [(u, v) or None] * S,
    "frustum": [((u, v), (u, v)), ...], "sight_line": [((u, v), (u, v)), ...]}``: a point is given only where
    it is in front of the exo camera and inside its image; a segment (frustum: centre to corner and corner to
    corner; sight line: centre to the first sight point, then each to the next) only where both its ends are in
    front of the camera (the axes clip the part outside the image).
    """
    pts = ego_check_points(clip.ego_K, clip.ego_T_world_cam[t], clip.ego_video.shape[1:3])
    T_exo = clip.exo_T_world_cam[view]
    if T_exo.ndim == 3:
        T_exo = T_exo[t]
    world = np.concatenate([pts.centre[None], pts.corners, pts.sight])
    uv, front, view_ok = project_check(clip.exo_K[view], T_exo, clip.exo_video.shape[2:4], world)

    def point(i):
        return tuple(float(x) for x in uv[i]) if view_ok[i] else None

    def segment(a, b):
        return (tuple(float(x) for x in uv[a]), tuple(float(x) for x in uv[b])) if front[a] and front[b] else None

    # indices into world: 0 the centre, 1..4 the corners, 5.. the sight points (near to far)
    edges = [(0, k) for k in range(1, 5)] + [(k, k % 4 + 1) for k in range(1, 5)]  # centre-corner, corner-corner
    chain = [0, *range(5, len(world))]  # centre, then each sight point
    return {"centre": point(0), "corners": [point(k) for k in range(1, 5)],
            "sight": [point(k) for k in range(5, len(world))],
            "frustum": [seg for seg in (segment(a, b) for a, b in edges) if seg is not None],
            "sight_line": [seg for seg in (segment(a, b) for a, b in zip(chain, chain[1:])) if seg is not None]}


def show_clip(clip, out_path, frames=None) -> Path:
    """Write a PNG grid (rows: frames, default 4 spread over the clip; columns: exo views + ego)."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend and figures alone

    T, V = clip.num_frames, clip.num_views
    frames = list(np.unique(np.linspace(0, T - 1, min(4, T)).round().astype(int))) if frames is None else list(frames)
    bad = [t for t in frames if not 0 <= t < T]
    if bad:
        raise UsageError(f"clip {clip.clip_id!r} has {T} frames (0..{T - 1}); cannot show frames {bad}")
    fig = Figure(figsize=(2.2 * (V + 1), 1.7 * len(frames) + 0.9))
    axes = fig.subplots(len(frames), V + 1, squeeze=False)
    He, We = clip.exo_video.shape[2:4]
    for r, t in enumerate(frames):
        for v in range(V):
            ax = axes[r, v]
            ax.imshow(clip.exo_video[v, t], interpolation="nearest")
            _draw_overlay(ax, ego_overlay(clip, v, t), ego_marker(clip, v, t))
            _bare(ax, We, He)
            if r == 0:
                ax.set_title(str(clip.exo_cam_ids[v]), fontsize=8)
            if v == 0:
                ax.set_ylabel(f"t={t}", fontsize=8)
        ax = axes[r, V]
        ax.imshow(clip.ego_video[t], interpolation="nearest")
        u, v_ = ego_check_points(clip.ego_K, clip.ego_T_world_cam[t], clip.ego_video.shape[1:3]).image_centre
        ax.plot(u, v_, "+", color=SIGHT_LINE_COLOUR, markersize=9, markeredgewidth=1.5)
        _bare(ax, clip.ego_video.shape[2], clip.ego_video.shape[1])
        if r == 0:
            ax.set_title("ego", fontsize=8)
    legend = ", ".join(f"{d:g} m" for d in SIGHT_DISTANCES_M)
    fig.suptitle(f"{clip.clip_id} [{clip.category}]\n{clip.text}\nred: ego centre, heading, frustum at "
                 f"{FRUSTUM_DEPTH_M:g} m; yellow: line of sight of the ego image centre (+), points at {legend}",
                 fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    return out_path


def _bare(ax, width: int, height: int) -> None:
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_overlay(ax, overlay: dict, marker) -> None:
    """Draw :func:`ego_overlay` and :func:`ego_marker`'s arrow on an exo view's axes."""
    for (u0, v0), (u1, v1) in overlay["frustum"]:
        ax.plot([u0, u1], [v0, v1], "-", color=EGO_COLOUR, lw=0.6, alpha=0.8)
    for (u0, v0), (u1, v1) in overlay["sight_line"]:
        ax.plot([u0, u1], [v0, v1], "-", color=SIGHT_LINE_COLOUR, lw=0.8)
    for uv, colour in zip(overlay["sight"], SIGHT_COLOURS):
        if uv is not None:
            ax.plot(*uv, "o", color=colour, markersize=3.5, markeredgecolor="black", markeredgewidth=0.4)
    centre, tip = marker
    if centre is not None:
        ax.plot(*centre, "o", color=EGO_COLOUR, markersize=4, markeredgecolor="white", markeredgewidth=0.5)
        if tip is not None:
            ax.annotate("", xy=tuple(tip), xytext=tuple(centre),
                        arrowprops={"arrowstyle": "->", "color": EGO_COLOUR, "lw": 1.2})
