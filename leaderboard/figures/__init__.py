"""Figures for papers and the README (``python -m benchmark figures``), drawn from run folders only.

Nothing here computes a metric or generates a video: a figure reads ``results.json``, ``per_clip.csv`` and
``videos/`` of run folders (and the dataset they name), and every figure is drawn in the one style of
:mod:`leaderboard.figures.style` and written as PNG and PDF.

The figures (:data:`FIGURES`, name -> ``"module:function"`` and what it shows):

    qualitative  :func:`leaderboard.figures.qualitative.qualitative_grid`: per clip, the exo views, the true
                 ego video and each run's video over several frames, each run's row labelled with the clip's PSNR

Modules are imported when a figure is drawn, so listing them costs no matplotlib import.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from benchmark.errors import UsageError

FIGURES = {
    "qualitative": ("leaderboard.figures.qualitative:qualitative_grid",
                    "the exo views, the true ego video and each run's video over several frames, per clip"),
}
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


def draw_figures(names, run_dirs, *, out, clips=None, frames=None, data_root=None, seed: int = 0) -> list[Path]:
    """Draw each figure of ``names`` from ``run_dirs`` into the folder ``out``; return the files written."""
    written = []
    for name in names:
        if name == "qualitative":
            fig = figure_function(name)(run_dirs, clips=clips, frames=frames, root=data_root, out=out, seed=seed)
            written += [fig.png, fig.pdf]
    return written


__all__ = ["ALL", "FIGURES", "draw_figures", "figure_function", "figure_names", "run_dirs_under"]
