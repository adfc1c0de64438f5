"""The per-category figure: each run's mean per activity category, as grouped bars with 95% intervals.

One panel per metric (those with per-category numbers, in the catalogue's order), stacked; in each, one group
of bars per category (sorted by name) and one bar per run, in the order the runs are given, coloured as the
legend on top says::

    ■ exo-copy  ■ mean-colour
    PSNR ↑ (dB) |  ▐▌|    ▐▌     ▐▌▐▌
                |  ▐▌▐▌   ▐▌▐▌   ▐▌▐▌
                   inspect  pick-place  push ...

The numbers are read, never recomputed: ``results.json`` ``per_category[category][metric]`` gives each bar's
``mean`` and its whisker's ``ci95`` (the bootstrap interval over the category's clips that the run computed;
a category of one clip has a zero-width interval). A run without a category (it scored none of its clips)
has no bar there. All runs must be on one dataset split, so that a category holds the same clips in each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import UsageError
from leaderboard.figures import axis_label, check_one_dataset, metrics_of, read_scored_runs, run_names, style
from leaderboard.figures.ablation_bars import Interval

FIGURE_STEM = "categories"  # files written: <out>/categories.png and .pdf
PANEL_HEIGHT_IN = 1.25
MAX_BARS_AT_COLUMN_WIDTH = 24  # more bars than this (categories x runs) and the figure takes the text width


@dataclass(frozen=True)
class CategoryNumbers:
    """What the figure plots: ``values[metric][category][run name]`` an :class:`Interval` (``n`` the category's
    clips), for ``runs`` (names, in order), ``categories`` (sorted) and ``metrics``."""

    runs: list
    folders: list
    categories: list
    metrics: list
    values: dict
    data: str


def category_numbers(run_dirs) -> CategoryNumbers:
    """The bars of the figure, as the runs' ``results.json`` record them (see the module docstring)."""
    runs = read_scored_runs(run_dirs)
    data = check_one_dataset(runs, "categories")
    names = run_names(runs)
    results = [r for _, r in runs]
    categories = sorted({c for r in results for c in (r.get("per_category") or {})})
    if not categories:
        raise UsageError(f"no per-category numbers in the runs ({', '.join(str(f) for f, _ in runs)}): their "
                         "results.json have no per_category block")
    metrics = [m for m in metrics_of(results, per_clip_only=True)
               if any(m in (r.get("per_category") or {}).get(c, {}) for r in results for c in categories)]
    values = {m: {c: {} for c in categories} for m in metrics}
    for name, r in zip(names, results):
        for category, per_metric in (r.get("per_category") or {}).items():
            for metric, entry in per_metric.items():
                if metric in values and "mean" in entry:
                    ci = entry.get("ci95") or [entry["mean"], entry["mean"]]
                    values[metric][category][name] = Interval(float(entry["mean"]), float(ci[0]), float(ci[1]),
                                                              int(entry.get("n", 0)))
    return CategoryNumbers(names, [f for f, _ in runs], categories, metrics, values, data)


def legend_on_top(fig, handles, labels, *, width: float) -> None:
    """One legend above the panels, with as many columns as fit in ``width`` inches, read row by row."""
    entry = max(style.text_width_in(label, style.SMALL_FONT_SIZE_PT) for label in labels) + 0.3  # + handle, gap
    ncols = max(1, min(len(labels), int((width - 0.1) // entry)))
    nrows = -(-len(labels) // ncols)
    # matplotlib fills a legend column by column: reorder so that it reads left to right, then down
    order = [r * ncols + c for c in range(ncols) for r in range(nrows) if r * ncols + c < len(labels)]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside upper center", ncols=ncols,
               frameon=False, handlelength=1.0, columnspacing=1.0)


@dataclass(frozen=True)
class CategoriesFigure:
    """What :func:`categories_figure` wrote, and the numbers it drew."""

    png: Path
    pdf: Path
    numbers: CategoryNumbers


def categories_figure(run_dirs, *, out="figures") -> CategoriesFigure:
    """Draw the per-category figure of ``run_dirs`` (bars in this order) to ``<out>/categories.png`` and ``.pdf``.

    Raises :class:`UsageError` for a folder without results, runs on different data, or runs without
    per-category numbers.
    """
    from leaderboard.figures.qualitative import wrap_label

    numbers = category_numbers(run_dirs)
    runs, categories = numbers.runs, numbers.categories
    colours = {name: style.PALETTE[i % len(style.PALETTE)] for i, name in enumerate(runs)}
    group = 0.8  # of the distance between two categories
    bar = group / len(runs)
    with style.figure_style():
        wide = len(categories) * len(runs) > MAX_BARS_AT_COLUMN_WIDTH
        width = style.TEXT_WIDTH_IN if wide else style.COLUMN_WIDTH_IN
        fig = style.new_figure(width, 0.45 + PANEL_HEIGHT_IN * len(numbers.metrics))
        fig.set_layout_engine("constrained", h_pad=0.02, w_pad=0.02, hspace=0.05)
        axes = fig.subplots(len(numbers.metrics), 1, squeeze=False, sharex=True)[:, 0]
        for ax, metric in zip(axes, numbers.metrics):
            for i, name in enumerate(runs):
                xs, shown = [], []
                for j, category in enumerate(categories):
                    if name in numbers.values[metric][category]:
                        xs.append(j - group / 2 + (i + 0.5) * bar)
                        shown.append(numbers.values[metric][category][name])
                errors = [[iv.mean - iv.low for iv in shown], [iv.high - iv.mean for iv in shown]]
                ax.bar(xs, [iv.mean for iv in shown], width=bar * 0.92, color=colours[name], label=name,
                       yerr=errors, edgecolor="none",
                       error_kw={"elinewidth": 0.7, "capsize": 1.2, "capthick": 0.7, "ecolor": "#444444"})
            ax.set_ylabel(axis_label(metric))
            ax.spines[["top", "right"]].set_visible(False)
        axes[-1].set_xticks(range(len(categories)), categories)
        if max(style.text_width_in(c, style.SMALL_FONT_SIZE_PT) for c in categories) > 0.9 * width / len(categories):
            axes[-1].tick_params(axis="x", labelrotation=30)
            for label in axes[-1].get_xticklabels():
                label.set_horizontalalignment("right")
        legend_on_top(fig, *axes[0].get_legend_handles_labels(), width=width)
        caption = f"{numbers.data}: mean per category with its 95% bootstrap interval over the category's clips"
        # below the panels: an "outside" legend on top does not make room for a suptitle
        fig.supxlabel(wrap_label(caption, width - 0.1), fontsize=style.SMALL_FONT_SIZE_PT)
        png, pdf = style.save(fig, Path(out) / FIGURE_STEM)
    return CategoriesFigure(png, pdf, numbers)
