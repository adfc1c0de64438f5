"""The ablation figure: what ``python -m benchmark ablation``'s table says, as bars with their intervals.

One row of panels per metric (those scored per clip by the runs, in the catalogue's order)::

    method names   | mean of the seed-averaged clip scores  | reference minus this method, per clip
    exo2egosyn     | ███████████|-|                         |   (reference)
    exo2egosyn-... | ██████████|-|                          |        ██|-|
    exo-copy       | ██████|-|                              |        ██████████|-|
                   0        PSNR ↑ (dB)                     0    exo2egosyn − method (dB)

Left: for each method, the mean over clips of its seed-averaged clip scores with the 95% percentile bootstrap
interval over clips. Right: the paired difference ``reference - method`` per clip (seed-averaged, on the clips
both scored), its mean with the 95% bootstrap interval; a dashed line at 0. Methods are ordered as in the table
(best first by the first metric), the reference drawn in black.

The numbers are not recomputed here in any other way: :func:`ablation_numbers` reads the runs with
:func:`leaderboard.ablation.collect` and takes :func:`~leaderboard.ablation.seed_averaged`,
:func:`~benchmark.metrics.bootstrap.bootstrap_ci` and :func:`~leaderboard.ablation.paired_difference` with the
table's bootstrap settings, so every bar and interval is the number printed in ``ABLATION.md``. Without the
reference among the runs (or with only one method) the right column is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import UsageError
from leaderboard.figures import axis_label, check_one_dataset, metrics_of, read_scored_runs, style

FIGURE_STEM = "ablation"  # files written: <out>/ablation.png and .pdf
DEFAULT_REFERENCE = "exo2egosyn"
BAR_HEIGHT_IN = 0.16  # one method's row of a panel
PANEL_EXTRA_IN = 0.55  # a panel's axis label and ticks
MIN_PANEL_WIDTH_IN = 1.0


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% interval ``[low, high]``; ``n`` the clips it is over."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class AblationNumbers:
    """What the figure plots. ``methods``: top to bottom; ``means[metric][method]`` and
    ``differences[metric][method]`` (reference minus method; the reference itself has none) are
    :class:`Interval` s; ``reference`` is None when it is not among the runs."""

    methods: list
    metrics: list
    seeds: list
    reference: str | None
    means: dict
    differences: dict
    higher_is_better: dict
    data: str


def collect_runs(run_dirs) -> dict:
    """``{method: {seed: per-clip DataFrame}}`` of the run folders, through :func:`leaderboard.ablation.collect`;
    two folders with the same method and seed are refused, naming both (an ablation has one run of each)."""
    from leaderboard.ablation import collect

    tables, where = {}, {}
    for folder in run_dirs:
        for method, per_seed in collect(folder).items():
            for seed, table in per_seed.items():
                if (method, seed) in where:
                    raise UsageError(f"two runs of {method} with seed {seed}: {where[method, seed]} and {folder}; an "
                                     "ablation figure takes one run per method and seed (pass --runs, or a --root "
                                     "holding one ablation)")
                where[method, seed] = folder
                tables.setdefault(method, {})[seed] = table
    return tables


def ablation_numbers(run_dirs, *, reference: str = DEFAULT_REFERENCE, n_boot: int = 1000,
                     seed: int = 0) -> AblationNumbers:
    """The bars and intervals of the figure from ``run_dirs`` (see the module docstring); ``n_boot`` and ``seed``
    are the bootstrap's, the defaults those of ``python -m benchmark ablation``'s table."""
    from benchmark.metrics import catalog
    from benchmark.metrics.bootstrap import bootstrap_ci
    from leaderboard.ablation import paired_difference, seed_averaged

    runs = read_scored_runs(run_dirs)
    data = check_one_dataset(runs, "ablation")
    tables = collect_runs([folder for folder, _ in runs])
    columns = {c for per in tables.values() for df in per.values() for c in df.columns}
    metrics = [m for m in metrics_of([r for _, r in runs], per_clip_only=True) if m in columns]
    if reference in tables and len(tables) > 1:
        # the figure reads every method against the reference: a metric the reference was not scored with (e.g.
        # runs made before the metric existed) would be a panel of bars without a single paired difference
        ref_columns = {c for df in tables[reference].values() for c in df.columns}
        metrics = [m for m in metrics if m in ref_columns] or metrics
    if not metrics:
        raise UsageError(f"no per-clip scores in the runs ({', '.join(str(f) for f, _ in runs)}): the ablation "
                         "figure needs per_clip.csv columns of metrics scored per clip")
    recorded = {m: {r["metrics"][m].get("higher_is_better") for _, r in runs if m in r["metrics"]} for m in metrics}
    higher = {m: catalog.entry(m, next(iter(v)) if len(v) == 1 else None).higher_is_better is not False
              for m, v in recorded.items()}
    averaged = {m: {name: seed_averaged(per, m) for name, per in tables.items()} for m in metrics}
    first = metrics[0]
    order = sorted(tables, key=lambda n: _sort_key(averaged[first][n], higher[first]))
    means = {m: {} for m in metrics}
    for m in metrics:
        for name in order:
            avg = averaged[m][name]
            if not avg.empty:
                low, high = bootstrap_ci(avg.to_numpy(dtype=float), n_boot=n_boot, seed=seed)
                means[m][name] = Interval(float(avg.mean()), float(low), float(high), int(avg.size))
    ref = reference if reference in tables and len(tables) > 1 else None
    differences = {m: {} for m in metrics}
    if ref is not None:
        for m in metrics:
            for name in order:
                if name == ref:
                    continue
                d = paired_difference(averaged[m][ref], averaged[m][name], n_boot=n_boot, seed=seed,
                                      higher_is_better=higher[m])
                if d["n"]:
                    differences[m][name] = Interval(d["mean"], d["ci95"][0], d["ci95"][1], d["n"])
    seeds = sorted({s for per in tables.values() for s in per})
    return AblationNumbers(order, metrics, seeds, ref, means, differences, higher, data)


def _sort_key(avg, higher: bool) -> float:
    """Best first by the first metric, as in the ablation table; a method without its scores last."""
    if avg.empty:
        return float("inf")
    return -float(avg.mean()) if higher else float(avg.mean())


@dataclass(frozen=True)
class AblationFigure:
    """What :func:`ablation_figure` wrote, and the numbers it drew."""

    png: Path
    pdf: Path
    numbers: AblationNumbers


def method_colours(methods, reference) -> dict:
    """The reference in black (the palette's first colour), every other method the next palette colour in order."""
    others = [m for m in methods if m != reference]
    colours = {m: style.PALETTE[1 + i % (len(style.PALETTE) - 1)] for i, m in enumerate(others)}
    if reference is not None:
        colours[reference] = style.PALETTE[0]
    return colours


def _bars(ax, y, intervals, colours) -> None:
    """Horizontal bars from 0 to each mean, with the interval as a whisker."""
    means = [iv.mean for iv in intervals]
    errors = [[iv.mean - iv.low for iv in intervals], [iv.high - iv.mean for iv in intervals]]
    ax.barh(y, means, height=0.7, color=colours, xerr=errors, edgecolor="none",
            error_kw={"elinewidth": 0.7, "capsize": 1.5, "capthick": 0.7, "ecolor": "#444444"})


def ablation_figure(run_dirs, *, out="figures", reference: str = DEFAULT_REFERENCE, n_boot: int = 1000,
                    seed: int = 0) -> AblationFigure:
    """Draw the ablation figure of ``run_dirs`` to ``<out>/ablation.png`` and ``.pdf`` (see the module docstring).

    ``run_dirs``: run folders, e.g. every folder under an ablation folder (``ROOT/seed<K>/<dataset>/<split>/<run>``),
    all on one dataset split; several seeds of a method are averaged per clip. Raises :class:`UsageError` for a
    folder without results, runs on different data, two runs of one method and seed, or no per-clip scores.
    """
    from leaderboard.figures.qualitative import wrap_label

    numbers = ablation_numbers(run_dirs, reference=reference, n_boot=n_boot, seed=seed)
    methods, ref = numbers.methods, numbers.reference
    colours = method_colours(methods, ref)
    y = list(range(len(methods)))[::-1]  # the first method at the top
    position = dict(zip(methods, y))
    with style.figure_style():
        label_in = max(style.text_width_in(m, style.SMALL_FONT_SIZE_PT) for m in methods) + 0.15
        n_cols = 2 if ref is not None else 1
        width = max(style.COLUMN_WIDTH_IN, label_in + n_cols * MIN_PANEL_WIDTH_IN + 0.2)
        height = 0.3 + len(numbers.metrics) * (len(methods) * BAR_HEIGHT_IN + PANEL_EXTRA_IN)
        # x labels wrap to their panel: side by side, two long ones ("Ego-motion error ↓ (deg)") would overlap
        panel_in = (width - label_in - 0.2) / n_cols
        fig = style.new_figure(width, height)
        fig.set_layout_engine("constrained", h_pad=0.02, w_pad=0.02, hspace=0.04, wspace=0.03)
        axes = fig.subplots(len(numbers.metrics), n_cols, squeeze=False, sharey="row")
        for row, metric in zip(axes, numbers.metrics):
            shown = [m for m in methods if m in numbers.means[metric]]
            _bars(row[0], [position[m] for m in shown], [numbers.means[metric][m] for m in shown],
                  [colours[m] for m in shown])
            row[0].set_xlabel(wrap_label(axis_label(metric), panel_in))
            if n_cols == 2:
                ax = row[1]
                diffs = numbers.differences[metric]
                others = [m for m in methods if m in diffs]
                _bars(ax, [position[m] for m in others], [diffs[m] for m in others], [colours[m] for m in others])
                ax.axvline(0.0, color=style.PALETTE[0], linewidth=0.6, linestyle="--")
                ax.text(0.0, position[ref], " reference", va="center", ha="left", fontsize=style.SMALL_FONT_SIZE_PT,
                        style="italic", color="#555555")
                ax.set_xlabel(wrap_label(f"Δ {axis_label(metric)}", panel_in))
                ax.tick_params(axis="y", left=False)
            row[0].set_yticks(y, methods)
            for ax in row:
                ax.set_ylim(-0.6, len(methods) - 0.4)
                ax.spines[["top", "right"]].set_visible(False)
        seeds = ", ".join(map(str, numbers.seeds))
        title = (f"{numbers.data}, seed{'s' if len(numbers.seeds) > 1 else ''} {seeds} averaged per clip; "
                 "95% bootstrap intervals over clips")
        if ref is not None:
            title += f"\nright: Δ = {ref} − method, paired per clip ({ref} better on the arrow's side of 0)"
        title = wrap_label(title, width - 0.1)
        fig.set_figheight(height + 0.1 * title.count("\n"))
        fig.suptitle(title, fontsize=style.SMALL_FONT_SIZE_PT)
        png, pdf = style.save(fig, Path(out) / FIGURE_STEM)
    return AblationFigure(png, pdf, numbers)
