"""A contact sheet of one clip for checking camera conventions by eye.

Rows are time steps; columns are the exo views with the ego camera drawn on them (a dot at its centre
``c = T_world_ego[:3, 3]``, an arrow to ``c + 0.3 m * z_ego``, both projected with the exo K and pose),
then the ego frame. If the conventions are right, the dot sits on the person's face and the arrow
points to where the ego frame looks. Points behind an exo camera (z <= 0) are not drawn.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from benchmark.cameras import camera_centre, project_points, viewing_direction
from benchmark.errors import UsageError

ARROW_LENGTH_M = 0.3
DEFAULT_OUT_DIR = Path("runs") / "show"  # pictures go to DEFAULT_OUT_DIR/<dataset>/<split>/<clip_id>.png


def default_out_path(dataset: str, split: str, clip_id: str) -> Path:
    """Where ``data show`` writes a clip's picture unless told otherwise (relative to the current folder)."""
    return DEFAULT_OUT_DIR / dataset / split / f"{clip_id}.png"


def require_clip_id(clips, clip_id: str) -> None:
    """Raise :class:`UsageError` unless ``clip_id`` is a clip of ``clips`` (a ``ClipSet``).

    The message names the id and the dataset/split, gives close matches, says which other split of the same
    dataset folder holds the id (found from the splits' parquet tables; no video is read), and names the
    command that lists the clip ids.
    """
    if clip_id in clips.clip_ids:
        return
    from .hf_format import read_rows

    elsewhere = []
    for split in sorted(clips.manifest.get("splits", {})):
        parquet = clips.root / "data" / f"{split}.parquet"
        if split != clips.split and parquet.is_file() and any(r["clip_id"] == clip_id for r in read_rows(parquet)):
            elsewhere.append(split)
    close = difflib.get_close_matches(clip_id, clips.clip_ids, n=3)
    hints = [f"it is in split {elsewhere[0]!r}: pass --split {elsewhere[0]}"] if elsewhere else []
    if close:
        hints.append("close matches: " + ", ".join(close))
    hints.append(f"list the clip ids with `python -m benchmark data list --dataset {clips.name} --split {clips.split} "
                 f"--root {clips.root}`")
    raise UsageError(f"clip {clip_id!r} is not in {clips.name}/{clips.split} ({len(clips)} clips at {clips.root}); "
                     + "; ".join(hints))


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


def show_clip(clip, out_path, frames=None) -> Path:
    """Write a PNG grid (rows: frames, default 4 spread over the clip; columns: exo views + ego)."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend and figures alone

    T, V = clip.num_frames, clip.num_views
    frames = list(np.unique(np.linspace(0, T - 1, min(4, T)).round().astype(int))) if frames is None else list(frames)
    bad = [t for t in frames if not 0 <= t < T]
    if bad:
        raise UsageError(f"clip {clip.clip_id!r} has {T} frames (0..{T - 1}); cannot show frames {bad}")
    fig = Figure(figsize=(2.2 * (V + 1), 1.7 * len(frames) + 0.6))
    axes = fig.subplots(len(frames), V + 1, squeeze=False)
    for r, t in enumerate(frames):
        for v in range(V):
            ax = axes[r, v]
            He, We = clip.exo_video.shape[2:4]
            ax.imshow(clip.exo_video[v, t], interpolation="nearest")
            centre, tip = ego_marker(clip, v, t)
            if centre is not None:
                ax.plot(*centre, "o", color="red", markersize=4, markeredgecolor="white", markeredgewidth=0.5)
                if tip is not None:
                    ax.annotate("", xy=tuple(tip), xytext=tuple(centre),
                                arrowprops={"arrowstyle": "->", "color": "red", "lw": 1.2})
            ax.set_xlim(-0.5, We - 0.5)
            ax.set_ylim(He - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(str(clip.exo_cam_ids[v]), fontsize=8)
            if v == 0:
                ax.set_ylabel(f"t={t}", fontsize=8)
        ax = axes[r, V]
        ax.imshow(clip.ego_video[t], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title("ego", fontsize=8)
    fig.suptitle(f"{clip.clip_id} [{clip.category}]\n{clip.text}", fontsize=9)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    return out_path
