"""The qualitative grid: each method's video beside the true ego video and the exo views it was made from.

One block per clip, top to bottom::

    synth-test-0000 (pick-place)                               the clip and its category
    exo views      [view 0] [view 1] [view 2] [view 3]         the method inputs, at the first frame shown
                    frame 0  frame 3  frame 5  frame 8         column headings: frame indices of the clip
    ground truth   [ego]    [ego]    [ego]    [ego]            the true ego video (from the dataset)
    exo-copy       [out]    [out]    [out]    [out]            one row per run: its video of the clip; the
    PSNR 10.77 dB                                              label gives the clip's PSNR from per_clip.csv

Everything is read from files: a run folder's ``results.json`` (method name, dataset, split), ``per_clip.csv``
(the PSNR in a row label: read, never recomputed) and ``videos/<clip_id>.mp4``; the true ego video and the
exo views from the dataset the runs name. Frames are shown pixel for pixel (nearest neighbour), so what a
reader sees is what was scored (a frame larger than its panel is smoothed as it is reduced, never aliased).

The layout is computed first, in inches (:func:`grid_layout`), then drawn; it is returned with the file paths
so that a test (or a caption script) can find any panel in the PNG.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import UsageError
from benchmark.metrics.catalog import format_interval
from benchmark.results import PER_CLIP_FILENAME, RESULTS_FILENAME, dataset_config, load_results, read_per_clip
from leaderboard.figures import style

FIGURE_STEM = "qualitative"  # files written: <out>/qualitative.png and .pdf
DEFAULT_N_CLIPS = 3
DEFAULT_N_FRAMES = 4
GROUND_TRUTH_LABEL = "ground truth"
LABEL_METRIC = "psnr"  # the per-clip score shown in a method's row label
VIDEO_SUFFIXES = (".mp4", ".mkv")  # what a run folder's videos/ may hold

# layout, inches
CELL_WIDTH = 0.56  # one ego frame; 4 frames and the labels fit a paper column (style.COLUMN_WIDTH_IN)
EXO_SCALE = 0.8  # exo views are smaller than ego panels, so that they do not line up with the frame columns
EXO_GAP = 0.05  # below the exo views, so that the column headings read as belonging to the ego rows
GAP = 0.03  # between panels
MARGIN = 0.04  # around the figure
TITLE_HEIGHT = 0.17  # the clip's heading line
HEADER_HEIGHT = 0.13  # the "frame t" column headings
BLOCK_GAP = 0.10  # between clips
LABEL_PAD = 0.05  # between a row label and its first panel
MIN_LABEL_WIDTH = 0.5
MAX_LABEL_WIDTH = 1.0  # longer labels are wrapped after a hyphen or a space


# ---------------------------------------------------------------------------------------------- the run folders


@dataclass(frozen=True)
class RunFolder:
    """A run folder as the figure reads it: ``results`` (validated results.json) and ``per_clip`` (its table)."""

    folder: Path
    results: dict
    per_clip: pd.DataFrame

    @property
    def method(self) -> str:
        return self.results["method"]["name"]

    def video_path(self, clip_id: str) -> Path | None:
        """``videos/<clip_id>.mp4`` (or ``.mkv``) of this run, or None when the run has no video of the clip."""
        for suffix in VIDEO_SUFFIXES:
            path = self.folder / "videos" / f"{clip_id}{suffix}"
            if path.is_file():
                return path
        return None


def load_run(folder) -> RunFolder:
    """Read a run folder (or its results.json); a :class:`UsageError` names a folder without results or videos."""
    folder = Path(folder)
    if folder.name == RESULTS_FILENAME and folder.is_file():
        folder = folder.parent
    if not (folder / RESULTS_FILENAME).is_file():
        raise UsageError(f"{folder}: no {RESULTS_FILENAME}; expected a run folder written by `python -m benchmark "
                         "run` (results.json, per_clip.csv, videos/)")
    results = load_results(folder / RESULTS_FILENAME)
    if not (folder / "videos").is_dir():
        raise UsageError(f"{folder}: no videos/ folder; the qualitative figure shows a run's videos, and this run "
                         "folder holds only its scores (run the method with `python -m benchmark run`, which keeps "
                         "them)")
    table = folder / PER_CLIP_FILENAME
    per_clip = read_per_clip(table) if table.is_file() else pd.DataFrame({"clip_id": pd.Series([], dtype=str)})
    return RunFolder(folder, results, per_clip)


def load_runs(run_dirs) -> list[RunFolder]:
    """:func:`load_run` of each folder, in the order given (a folder named twice counts once)."""
    folders, seen = [], set()
    for d in run_dirs:
        key = Path(d).resolve()
        if key not in seen:
            seen.add(key)
            folders.append(d)
    if not folders:
        raise UsageError("no run folders given; name them with --runs RUN_DIR ... or find them with --root DIR")
    return [load_run(d) for d in folders]


def _data_label(run: RunFolder) -> str:
    d = run.results["dataset"]
    config = dataset_config(run.results)
    return f"{d['name']}{'' if config == 'default' else f'[{config}]'}/{d['split']}"


def check_same_data(runs: list[RunFolder]) -> None:
    """Refuse runs made on different datasets, configs or splits (or on different builds of the same split).

    A grid shows one ground truth per clip, so every row must be a video of the same clip. The build is
    compared through ``dataset.split_identity`` where both results record it.
    """
    first = runs[0]
    for run in runs[1:]:
        if _data_label(run) != _data_label(first):
            raise UsageError(f"runs on different data cannot share a qualitative figure: {first.folder} ran on "
                             f"{_data_label(first)}, {run.folder} on {_data_label(run)}; pass --runs with runs of "
                             "one dataset and split (or a --root holding only those)")
        a, b = first.results["dataset"].get("split_identity"), run.results["dataset"].get("split_identity")
        if a and b and a != b:
            raise UsageError(f"{first.folder} and {run.folder} both ran on {_data_label(run)}, but on different "
                             f"builds of it (split identity {a[:12]} vs {b[:12]}); their videos are not of the "
                             "same clips")


def row_names(runs: list[RunFolder]) -> list[str]:
    """The row name of each run: its method name; where two runs share one, the track, then the seed, then the
    folder is added until the names differ."""
    names = [r.method for r in runs]
    extras = (lambda r: r.results["dataset"]["track"], lambda r: f"seed {r.results['seed']}", lambda r: str(r.folder))
    for extra in extras:
        if len(set(names)) == len(names):
            break
        names = [f"{n}, {extra(r)}" if names.count(n) > 1 else n for n, r in zip(names, runs)]
    return names


# ---------------------------------------------------------------------------------------------- what is shown


def open_dataset(run: RunFolder, root=None):
    """The ``ClipSet`` the run was made on: at ``root``, else where its results say, else the default place.

    Refused when the dataset found there is another build than the one the run scored against.
    """
    from benchmark.data import load_split

    d = run.results["dataset"]
    if root is None and d.get("root") and Path(d["root"]).is_dir():
        root = d["root"]
    clips = load_split(d["name"], d["split"], root=root, config=dataset_config(run.results))
    made_on = d.get("split_identity")
    if made_on and clips.identity and made_on != clips.identity:
        raise UsageError(f"{run.folder} was made on {_data_label(run)} with identity {made_on[:12]}, but the dataset "
                         f"at {clips.root} has identity {clips.identity[:12]}; pass --data-root with the dataset "
                         "folder the runs were made on")
    return clips


def choose_clips(categories: dict, n: int = DEFAULT_N_CLIPS, seed: int = 0) -> list[str]:
    """Up to ``n`` clip ids out of ``categories`` (clip_id -> category), from as many categories as possible.

    The categories, and a clip within each, are drawn with ``numpy.random.default_rng(seed)``; the first clip
    drawn of each category comes before any category's second, so clips share a category only when there are
    fewer categories than ``n``. Deterministic: the same clips and seed give the same choice, whatever the
    order of ``categories``. Returned sorted by clip id.
    """
    rng = np.random.default_rng(seed)
    by_category: dict = {}
    for clip_id in sorted(categories):
        by_category.setdefault(str(categories[clip_id]), []).append(clip_id)
    order = sorted(by_category)
    order = [order[i] for i in rng.permutation(len(order))]
    pools = [[by_category[c][i] for i in rng.permutation(len(by_category[c]))] for c in order]
    chosen = []
    for depth in range(max((len(p) for p in pools), default=0)):
        chosen += [p[depth] for p in pools if depth < len(p)]
    return sorted(chosen[:n])


def clips_to_show(runs: list[RunFolder], dataset, clips=None, *, n: int = DEFAULT_N_CLIPS, seed: int = 0) -> list:
    """The clip ids of the figure: ``clips`` as given (each must have a video in every run), else
    :func:`choose_clips` among the dataset's clips that every run has a video of."""
    if clips is not None:
        clips = list(dict.fromkeys(str(c) for c in clips))
        if not clips:
            raise UsageError("--clips names no clip")
        for clip_id in clips:
            missing = [str(r.folder) for r in runs if r.video_path(clip_id) is None]
            if missing:
                where = "" if clip_id in dataset.clip_ids else f"; it is not a clip of {dataset.label} either"
                raise UsageError(f"clip {clip_id!r} is not in every run: no videos/{clip_id}.mp4 in "
                                 f"{', '.join(missing)}{where}")
            dataset.ego_shape(clip_id)  # a clip every run has but the dataset lacks: ClipNotFoundError names it
        return clips
    categories = dataset.categories()
    common = {c: categories[c] for c in dataset.clip_ids if all(r.video_path(c) for r in runs)}
    if not common:
        folders = ", ".join(str(r.folder) for r in runs)
        raise UsageError(f"no clip of {dataset.label} has a video in every run ({folders})")
    return choose_clips(common, n, seed)


def default_frames(num_frames: int, n: int = DEFAULT_N_FRAMES) -> list[int]:
    """``n`` frame indices evenly spread over ``0 .. num_frames - 1``, the first and the last included."""
    return sorted({int(t) for t in np.linspace(0, num_frames - 1, min(n, num_frames)).round()})


def check_frames(frames, clip_id: str, num_frames: int) -> list[int]:
    """``frames`` as a list, or a :class:`UsageError` naming the clip when an index is not one of its frames."""
    frames = [int(t) for t in frames]
    if not frames:
        raise UsageError("--frames names no frame")
    bad = [t for t in frames if not 0 <= t < num_frames]
    if bad:
        raise UsageError(f"--frames: clip {clip_id!r} has {num_frames} frames (0..{num_frames - 1}); cannot show "
                         f"frame(s) {', '.join(map(str, bad))}")
    return frames


def clip_score(per_clip: pd.DataFrame, clip_id: str, metric: str = LABEL_METRIC) -> float | None:
    """The clip's score in a run's per_clip table, or None (metric not scored, clip not scored, not finite)."""
    if metric not in per_clip.columns:
        return None
    values = per_clip.loc[per_clip["clip_id"] == clip_id, metric]
    if len(values) != 1:
        return None
    value = float(values.iloc[0])
    return value if math.isfinite(value) else None


def row_label(name: str, run: RunFolder, clip_id: str) -> str:
    """A method row's label: its name, then the clip's PSNR as the run's per_clip.csv records it
    (``"exo-copy\\nPSNR 10.77 dB"``; ``"PSNR n/a"`` when the clip has no PSNR there)."""
    return f"{name}\nPSNR {format_interval(LABEL_METRIC, clip_score(run.per_clip, clip_id), None)}"


@dataclass
class ClipPanel:
    """What one clip's block shows: ``exo`` the exo views at ``frames[0]``, uint8 (V, He, We, 3); ``rows`` the
    labelled ego frames, ground truth first: ``[(label, uint8 (len(frames), H, W, 3)), ...]``."""

    clip_id: str
    category: str
    frames: list
    exo: np.ndarray
    rows: list = field(default_factory=list)

    @property
    def title(self) -> str:
        """The block's heading: ``"<clip_id> (<category>)"``."""
        return f"{self.clip_id} ({self.category})"


def clip_panel(dataset, runs: list[RunFolder], names: list[str], clip_id: str, frames=None) -> ClipPanel:
    """Read the frames one clip's block shows: truth and exo views from ``dataset``, each run's video."""
    from benchmark.video_io import VideoReadError, read_video

    clip = dataset.get(clip_id)
    T, H, W = clip.ego_video.shape[:3]
    frames = default_frames(T) if frames is None else check_frames(frames, clip_id, T)
    panel = ClipPanel(clip_id, str(clip.category), frames, clip.exo_video[:, frames[0]])
    panel.rows.append((GROUND_TRUTH_LABEL, clip.ego_video[frames]))
    for name, run in zip(names, runs):
        try:
            video = read_video(run.video_path(clip_id), expected_frames=T, expected_size=(H, W))
        except VideoReadError as exc:
            raise UsageError(f"cannot show clip {clip_id!r} of run {run.folder}: {exc}") from exc
        panel.rows.append((row_label(name, run, clip_id), video[frames]))
    return panel


# ---------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Box:
    """A panel's place in inches, measured from the figure's top-left corner."""

    left: float
    top: float
    width: float
    height: float

    def rect(self, fig_width: float, fig_height: float) -> list:
        """matplotlib's ``[left, bottom, width, height]`` in figure fractions."""
        return [self.left / fig_width, 1 - (self.top + self.height) / fig_height,
                self.width / fig_width, self.height / fig_height]

    def pixels(self, dpi: float) -> tuple:
        """``(x0, y0, x1, y1)`` pixel bounds in an image of the figure at ``dpi`` (y from the top)."""
        return (self.left * dpi, self.top * dpi, (self.left + self.width) * dpi, (self.top + self.height) * dpi)


@dataclass(frozen=True)
class BlockLayout:
    """One clip's block. Text anchors are (x, y) in inches from the top-left: ``title_at`` the left end of the
    heading, ``exo_label_at`` / ``row_labels_at`` the right end of a row label, ``headers_at`` the centres of the
    column headings. ``rows[0]`` holds the ground truth's panels, ``rows[1 + i]`` the i-th run's."""

    title_at: tuple
    exo: list
    exo_label_at: tuple
    headers_at: list
    rows: list
    row_labels_at: list


@dataclass(frozen=True)
class GridLayout:
    """The whole figure: its size in inches and one :class:`BlockLayout` per clip."""

    width: float
    height: float
    blocks: list


def grid_layout(shapes, n_rows: int, label_width: float, min_width: float = 0.0) -> GridLayout:
    """Place every panel. ``shapes``: per clip ``(n_frames, (H, W) of ego frames, (He, We) of exo views, V)``;
    ``n_rows``: ground truth plus runs; ``label_width``: inches kept on the left for the row labels;
    ``min_width``: the figure is at least this wide (the clips' headings must fit).

    Ego panels are :data:`CELL_WIDTH` wide; the exo views share the width of the block's frames (each at most
    :data:`EXO_SCALE` of an ego panel wide). The widest block sets the figure's width; the height grows with
    clips and runs.
    """
    x0 = MARGIN + label_width
    widths = [n * CELL_WIDTH + (n - 1) * GAP for n, _, _, _ in shapes]
    y, blocks = MARGIN, []
    for (n, (H, W), (He, We), V), block_width in zip(shapes, widths):
        title_at = (MARGIN, y + TITLE_HEIGHT / 2)
        y += TITLE_HEIGHT
        exo_width = min(EXO_SCALE * CELL_WIDTH, (block_width - (V - 1) * GAP) / V)
        exo_height = exo_width * He / We
        exo = [Box(x0 + v * (exo_width + GAP), y, exo_width, exo_height) for v in range(V)]
        exo_label_at = (x0 - LABEL_PAD, y + exo_height / 2)
        y += exo_height + EXO_GAP
        headers_at = [(x0 + j * (CELL_WIDTH + GAP) + CELL_WIDTH / 2, y + HEADER_HEIGHT / 2) for j in range(n)]
        y += HEADER_HEIGHT
        cell_height = CELL_WIDTH * H / W
        rows, labels_at = [], []
        for _ in range(n_rows):
            rows.append([Box(x0 + j * (CELL_WIDTH + GAP), y, CELL_WIDTH, cell_height) for j in range(n)])
            labels_at.append((x0 - LABEL_PAD, y + cell_height / 2))
            y += cell_height + GAP
        y += BLOCK_GAP - GAP
        blocks.append(BlockLayout(title_at, exo, exo_label_at, headers_at, rows, labels_at))
    return GridLayout(max(x0 + max(widths) + MARGIN, min_width), y - BLOCK_GAP + MARGIN, blocks)


def wrap_label(text: str, max_width: float = MAX_LABEL_WIDTH) -> str:
    """``text`` with each line broken after a hyphen or a space where it is wider than ``max_width`` inches."""
    out = []
    for line in text.split("\n"):
        current = ""
        for piece in re.split(r"(?<=[-\s])", line):
            if current and style.text_width_in(current + piece) > max_width:
                out.append(current.rstrip())
                current = piece.lstrip()
            else:
                current += piece
        out.append(current.rstrip())
    return "\n".join(out)


def label_width(labels) -> float:
    """Inches the row labels need: their widest line, at least :data:`MIN_LABEL_WIDTH`."""
    widest = max(style.text_width_in(line) for label in labels for line in label.split("\n"))
    return max(MIN_LABEL_WIDTH, widest)


# ---------------------------------------------------------------------------------------------- drawing


def _image(fig, layout: GridLayout, box: Box, frame: np.ndarray) -> None:
    """One frame filling ``box`` exactly, without axes.

    A frame enlarged in the PNG is shown pixel for pixel (nearest neighbour: no colour that is not in the
    frame); one reduced is smoothed first ("antialiased"), since dropping rows and columns would alias.
    """
    ax = fig.add_axes(box.rect(layout.width, layout.height))
    enlarged = box.width * style.PNG_DPI >= frame.shape[1] and box.height * style.PNG_DPI >= frame.shape[0]
    ax.imshow(frame, interpolation="nearest" if enlarged else "antialiased", aspect="auto")
    ax.set_axis_off()


def _text(fig, layout: GridLayout, at: tuple, text: str, **kwargs) -> None:
    fig.text(at[0] / layout.width, 1 - at[1] / layout.height, text, va="center", **kwargs)


def draw_block(fig, layout: GridLayout, block: BlockLayout, panel: ClipPanel) -> None:
    """Draw one clip: heading, exo views (labelled with their frame), column headings, then the rows."""
    _text(fig, layout, block.title_at, panel.title, ha="left", weight="bold")
    for box, view in zip(block.exo, panel.exo):
        _image(fig, layout, box, view)
    _text(fig, layout, block.exo_label_at, f"exo views\nframe {panel.frames[0]}", ha="right")
    for at, t in zip(block.headers_at, panel.frames):
        _text(fig, layout, at, f"frame {t}", ha="center", fontsize=style.SMALL_FONT_SIZE_PT)
    for boxes, at, (label, frames) in zip(block.rows, block.row_labels_at, panel.rows):
        for box, frame in zip(boxes, frames):
            _image(fig, layout, box, frame)
        _text(fig, layout, at, label, ha="right", linespacing=1.1)


@dataclass(frozen=True)
class QualitativeFigure:
    """What :func:`qualitative_grid` wrote: the files, the layout (inches) and what each block shows."""

    png: Path
    pdf: Path
    layout: GridLayout
    clips: list
    frames: list  # per clip, the frame indices of its columns
    rows: list  # row names: "ground truth", then one per run


def qualitative_grid(run_dirs, *, clips=None, frames=None, root=None, out="figures", seed: int = 0,
                     n_clips: int = DEFAULT_N_CLIPS) -> QualitativeFigure:
    """Draw the qualitative grid of ``run_dirs`` (rows in this order) to ``<out>/qualitative.png`` and ``.pdf``.

    Args:
        run_dirs: run folders (each with results.json and videos/), all made on one dataset split.
        clips: clip ids, one block each (default: ``n_clips`` clips of different categories that every run
            has a video of, chosen with ``seed``; see :func:`choose_clips`).
        frames: frame indices, the same for every clip (default: :func:`default_frames` of each clip).
        root: the dataset folder (default: the ``dataset.root`` the results name, else the default place).
    Raises :class:`UsageError` for a folder without results.json or videos/, runs on different data, a clip
    missing from a run, or a frame a clip does not have.
    """
    runs = load_runs(run_dirs)
    check_same_data(runs)
    names = row_names(runs)
    dataset = open_dataset(runs[0], root)
    clip_ids = clips_to_show(runs, dataset, clips, n=n_clips, seed=seed)
    panels = [clip_panel(dataset, runs, names, clip_id, frames) for clip_id in clip_ids]
    with style.figure_style():
        for panel in panels:
            panel.rows = [(wrap_label(label), video) for label, video in panel.rows]
        labels = [label for p in panels for label, _ in p.rows] + [f"exo views\nframe {p.frames[0]}" for p in panels]
        shapes = [(len(p.frames), p.rows[0][1].shape[1:3], p.exo.shape[1:3], len(p.exo)) for p in panels]
        titles = max(style.text_width_in(p.title, bold=True) for p in panels) + 2 * MARGIN
        layout = grid_layout(shapes, 1 + len(runs), label_width(labels) + LABEL_PAD, min_width=titles)
        fig = style.new_figure(layout.width, layout.height)
        for block, panel in zip(layout.blocks, panels):
            draw_block(fig, layout, block, panel)
        png, pdf = style.save(fig, Path(out) / FIGURE_STEM)
    return QualitativeFigure(png, pdf, layout, clip_ids, [p.frames for p in panels], [GROUND_TRUTH_LABEL, *names])
