"""Figures for papers and the README (``python -m benchmark figures``), drawn from run folders only.

Nothing here computes a metric or generates a video: a figure reads ``results.json``, ``per_clip.csv`` and
``videos/`` of run folders (and the dataset they name), and every figure is drawn in the one style of
:mod:`leaderboard.figures.style` and written as PNG and PDF.

The figures (:data:`FIGURES`, name -> ``"module:function"`` and what it shows):

    qualitative  :func:`leaderboard.figures.qualitative.qualitative_grid`: per clip, the exo views, the true
                 ego video and each run's video over several frames, each run's row labelled with the clip's PSNR
    ablation     :func:`leaderboard.figures.ablation_bars.ablation_figure`: per method and metric the mean of the
                 seed-averaged clip scores with its 95% interval, and the paired differences reference minus
                 each other method (the numbers of ``python -m benchmark ablation``'s table)
    categories   :func:`leaderboard.figures.categories.categories_figure`: per category, each run's mean with its
                 95% interval (``results.json`` ``per_category``), grouped bars
    views        :func:`leaderboard.figures.sweeps.views_figure`: each metric against the number of exo views
                 the method was shown (runs of ``python -m benchmark sweep --views``)
    pose-noise   :func:`leaderboard.figures.sweeps.pose_noise_figure`: each metric against the error put on the
                 exo camera poses (runs of ``python -m benchmark sweep --pose-noise``)

Every figure reads the runs it is given: ``--root DIR`` (every run folder under it) or ``--runs``. With
``--which all`` the two sweep figures are drawn when the runs include sweep runs of their kind, and skipped with a
line on stderr otherwise; a figure named in ``--which`` that its runs cannot make is a usage error.

Modules are imported when a figure is drawn, so listing them costs no matplotlib import.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmark.errors import UsageError

FIGURES = {
    "qualitative": ("leaderboard.figures.qualitative:qualitative_grid",
                    "the exo views, the true ego video and each run's video over several frames, per clip"),
    "ablation": ("leaderboard.figures.ablation_bars:ablation_figure",
                 "per method and metric, the mean with its 95% interval, and paired differences to the reference"),
    "categories": ("leaderboard.figures.categories:categories_figure",
                   "per category, each run's mean with its 95% interval, grouped bars"),
    "views": ("leaderboard.figures.sweeps:views_figure",
              "each metric against the number of exo views shown to the method (sweep runs)"),
    "pose-noise": ("leaderboard.figures.sweeps:pose_noise_figure",
                   "each metric against the error on the exo camera poses shown to the method (sweep runs)"),
}
SWEEP_FIGURES = ("views", "pose-noise")  # drawn by "all" only when the runs include sweep runs of their kind
ALL = "all"


def figure_names(text: str) -> tuple:
    """``--which``: ``"all"`` or comma-separated names of :data:`FIGURES`; an unknown name is a UsageError."""
    names = tuple(dict.fromkeys(n.strip() for n in str(text).split(",") if n.strip()))
    if names == (ALL,):
        return tuple(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown or not names:
        raise UsageError(f"--which {text!r}: expected {ALL} or comma-separated figure names out of: "
                         f"{', '.join(FIGURES)}")
    return names


def run_dirs_under(root) -> list[Path]:
    """The run folders under ``root``: every folder holding a results.json, found recursively, sorted."""
    from benchmark.results import find_results

    root = Path(root)
    if not root.exists():
        raise UsageError(f"--root {root}: no such folder")
    found = [p.parent for p in find_results(root)]
    if not found:
        raise UsageError(f"--root {root}: no results.json under it; point --root at a folder of run folders (what "
                         "`python -m benchmark run --out` wrote) or name them with --runs")
    return found


def figure_function(name: str):
    """The function that draws figure ``name`` (imported now)."""
    module, _, function = FIGURES[name][0].partition(":")
    return getattr(importlib.import_module(module), function)


def draw_figures(names, run_dirs, *, out, clips=None, frames=None, data_root=None, seed: int = 0,
                 skip_missing_sweeps: bool = False) -> list[Path]:
    """Draw each figure of ``names`` from ``run_dirs`` into the folder ``out``; return the files written.

    ``skip_missing_sweeps`` (``--which all``): a sweep figure whose runs hold no sweep run of its kind is left
    out with a line on stderr instead of being an error.
    """
    written = []
    for name in names:
        if name == "qualitative":
            fig = figure_function(name)(run_dirs, clips=clips, frames=frames, root=data_root, out=out, seed=seed)
        elif name in SWEEP_FIGURES:
            from leaderboard.figures.sweeps import NoSweepRuns

            try:
                fig = figure_function(name)(run_dirs, out=out)
            except NoSweepRuns as exc:
                if not skip_missing_sweeps:
                    raise
                print(f"skipped figure {name}: {exc}", file=sys.stderr)
                continue
        else:
            fig = figure_function(name)(run_dirs, out=out)
        written += [fig.png, fig.pdf]
    return written


# ---------------------------------------------------------------------------------------------- shared by figures


def read_scored_runs(run_dirs) -> list:
    """``[(folder, results dict), ...]`` of the run folders (or their results.json), in the order given; a folder
    named twice counts once. A :class:`UsageError` names a folder without a results.json."""
    from benchmark.results import RESULTS_FILENAME, load_results

    runs, seen = [], set()
    for d in run_dirs:
        folder = Path(d)
        if folder.name == RESULTS_FILENAME and folder.is_file():
            folder = folder.parent
        if folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        if not (folder / RESULTS_FILENAME).is_file():
            raise UsageError(f"{folder}: no {RESULTS_FILENAME}; expected a run folder written by `python -m "
                             "benchmark run` (or sweep / ablation)")
        runs.append((folder, load_results(folder / RESULTS_FILENAME)))
    if not runs:
        raise UsageError("no run folders given; name them with --runs RUN_DIR ... or find them with --root DIR")
    return runs


def data_label(results: dict) -> str:
    """``name/split``, or ``name[config]/split``: the data a run scored, as messages and captions name it."""
    from benchmark.results import dataset_config

    d, config = results["dataset"], dataset_config(results)
    return f"{d['name']}{'' if config == 'default' else f'[{config}]'}/{d['split']}"


def check_one_dataset(runs, figure: str) -> str:
    """The one :func:`data_label` of ``runs`` (``[(folder, results)]``); runs on different data are refused, naming
    a run of each (their numbers are of different clips and do not share an axis)."""
    labels = {}
    for folder, results in runs:
        labels.setdefault(data_label(results), folder)
    if len(labels) > 1:
        shown = "; ".join(f"{folder} on {label}" for label, folder in labels.items())
        raise UsageError(f"the {figure} figure compares runs on one dataset split, but these runs are on "
                         f"{len(labels)}: {shown}; pass --runs with runs of one dataset and split (or a --root "
                         "holding only those)")
    return next(iter(labels))


def metrics_of(results_list, *, per_clip_only: bool = False) -> list:
    """The metrics with a number in any of the results dicts: the catalogue's order first, then others by name.
    ``per_clip_only`` leaves out metrics that are one number over the set of clips (FVD)."""
    from benchmark.metrics import catalog

    found = {name for r in results_list for name, m in r["metrics"].items() if "mean" in m}
    if per_clip_only:
        found = {name for name in found if not catalog.is_set_metric(name)}
    return [m for m in catalog.METRICS if m in found] + sorted(found - set(catalog.METRICS))


def run_names(runs) -> list:
    """A distinct name per run (``[(folder, results)]``): the method name, then the track, seed or folder where two
    share one (the rule of the qualitative grid's rows)."""
    import pandas as pd

    from leaderboard.figures.qualitative import RunFolder, row_names

    return row_names([RunFolder(Path(folder), results, pd.DataFrame()) for folder, results in runs])


def axis_label(metric: str, results_list=()) -> str:
    """``"PSNR ↑ (dB)"``: the catalogue's heading with the better direction, and the unit when there is one."""
    from benchmark.metrics import catalog

    recorded = {r["metrics"][metric].get("higher_is_better") for r in results_list if metric in r["metrics"]}
    direction = recorded.pop() if len(recorded) == 1 else None
    unit = catalog.entry(metric, direction).unit
    return catalog.heading(metric, direction) + (f" ({unit})" if unit else "")


__all__ = ["ALL", "FIGURES", "SWEEP_FIGURES", "axis_label", "check_one_dataset", "data_label", "draw_figures",
           "figure_function", "figure_names", "metrics_of", "read_scored_runs", "run_dirs_under", "run_names"]
