"""Sweep figures: a metric against what the method was shown, from runs of ``python -m benchmark sweep``.

``views``       each metric against the number of exo views given to the method (``run --views N``: the N views
                closest to the ego view, :class:`benchmark.runner.InputSetting`); x = N.
``pose-noise``  each metric against the error put on the exo camera poses (``run --pose-noise R[:T]``); x = the
                rotation in degrees, or the shift in metres when only the shift varies. The ordinary run of a
                method (true poses) is its point at 0.

One panel per metric (in the catalogue's order, at most two side by side), one line per method with a marker
per point and the run's 95% bootstrap interval as a whisker; a legend on top. Every number is the run's own
``results.json`` ``metrics[metric]`` (``mean``, ``ci95``), read by :func:`sweep_series`, never recomputed.

Which runs make a point: the setting each run records (``method.inputs``); a run's line is its name without the
setting's suffix (``exo-copy@views2`` is on the line ``exo-copy``), so runs of other seeds or tracks need other
names (``--name``) or other folders. A views figure ignores runs with pose noise and vice versa; two runs at one
point of one line, runs on different data or with different ``--limit`` are refused, naming them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import UsageError
from leaderboard.figures import axis_label, check_one_dataset, data_label, metrics_of, read_scored_runs, style
from leaderboard.figures.ablation_bars import Interval

KINDS = ("views", "pose-noise")
PANEL_HEIGHT_IN = 1.35
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # a second cue besides the colour


class NoSweepRuns(UsageError):
    """None of the runs given is a sweep run of the figure's kind (``--which all`` skips the figure)."""


@dataclass(frozen=True)
class SweepPoint:
    """One run of a line: its x, folder and ``values[metric]`` (an :class:`Interval`, ``low == high == mean``
    for a metric without an interval, such as FVD)."""

    x: float
    folder: Path
    values: dict


@dataclass(frozen=True)
class SweepSeries:
    """One line: a method (the run name without the setting suffix) and its points, by increasing x."""

    name: str
    points: list = field(default_factory=list)

    @property
    def xs(self) -> list:
        return [p.x for p in self.points]


@dataclass(frozen=True)
class SweepNumbers:
    """What a sweep figure plots: ``series`` (lines, in the order their first run was given), ``metrics``, the x
    axis's ``x_label`` and what x means (``x_description``, for the caption), for runs on ``data``."""

    kind: str
    series: list
    metrics: list
    x_label: str
    x_description: str
    data: str


def _setting(results):
    from benchmark.runner import InputSetting

    return InputSetting.from_results(results)


def _line_name(results: dict) -> str:
    """The run's name without its setting's suffix (``exo-copy@views2`` -> ``exo-copy``)."""
    name, suffix = results["method"]["name"], _setting(results).suffix()
    return name[:-len(suffix)] if suffix and name.endswith(suffix) else name


def _values(results: dict, metrics) -> dict:
    out = {}
    for metric in metrics:
        entry = results["metrics"].get(metric, {})
        if "mean" in entry:
            mean = float(entry["mean"])
            low, high = entry.get("ci95") or (mean, mean)
            out[metric] = Interval(mean, float(low), float(high), int(entry.get("n", 0)))
    return out


def sweep_series(run_dirs, kind: str) -> SweepNumbers:
    """The lines of the ``kind`` figure (``"views"`` or ``"pose-noise"``) from ``run_dirs``.

    Raises :class:`NoSweepRuns` when no run is a sweep run of that kind, and :class:`UsageError` for runs on
    different data or ``--limit``, two runs at one point of a line, or pose-noise runs where rotation and shift
    both vary.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown sweep {kind!r}; expected one of {', '.join(KINDS)}")
    runs = read_scored_runs(run_dirs)
    settings = {folder: _setting(results) for folder, results in runs}
    if kind == "views":
        chosen = [(f, r) for f, r in runs if settings[f].views is not None and not settings[f].pose_noise]
    else:
        chosen = [(f, r) for f, r in runs if settings[f].pose_noise and settings[f].views is None]
    if not chosen:
        option = "--views 1,2,3,4" if kind == "views" else "--pose-noise 0,1,2,5"
        raise NoSweepRuns(f"no {kind} sweep run among the {len(runs)} run(s) given (runs made with `python -m "
                          f"benchmark sweep --methods M {option}` or `run --{kind} ...` record it)")
    data = check_one_dataset(chosen, f"{kind} sweep")
    if kind == "pose-noise":  # a method's ordinary run, on the same data, is its point at 0
        lines = {_line_name(r) for _, r in chosen}
        chosen += [(f, r) for f, r in runs if settings[f].is_default and _line_name(r) in lines
                   and data_label(r) == data]
        x_of, x_label, x_description = _pose_axis([settings[f] for f, _ in chosen])
    else:
        x_of, x_label = (lambda s: float(s.views)), "exo views shown"
        x_description = "the N exo views closest to the ego view"
    limits = {}
    for folder, results in chosen:
        limits.setdefault(int(results["dataset"]["n_clips"]), folder)
    if len(limits) > 1:
        shown = "; ".join(f"{folder}: {n}" for n, folder in limits.items())
        raise UsageError(f"the {kind} sweep's runs scored different numbers of clips ({shown}); the points of a "
                         "sweep must be on the same clips (the same --limit)")
    metrics = metrics_of([r for _, r in chosen])
    series: dict = {}
    for folder, results in chosen:
        line = series.setdefault(_line_name(results), {})
        x = x_of(settings[folder])
        if x in line:
            raise UsageError(f"two runs at {kind} {x:g} of {_line_name(results)}: {line[x].folder} and {folder}; a "
                             "sweep figure takes one run per point (give the other seeds' runs other names or "
                             "folders)")
        line[x] = SweepPoint(x, folder, _values(results, metrics))
    lines = [SweepSeries(name, [points[x] for x in sorted(points)]) for name, points in series.items()]
    return SweepNumbers(kind, lines, metrics, x_label, x_description, data)


def _pose_axis(settings) -> tuple:
    """``(setting -> x, axis label, caption text)`` of a pose-noise sweep: x is the rotation when every point has
    the same shift, the shift when every point has the same rotation."""
    noisy = [s for s in settings if s.pose_noise]
    shifts, rotations = {s.translation_m for s in settings}, {s.rotation_deg for s in settings}
    if len(shifts) == 1:
        return ((lambda s: s.rotation_deg), "exo pose error (°)",
                "each exo camera turned by x degrees about a random axis" + _and(shifts.pop(), "m shift"))
    if len(rotations) == 1:
        return ((lambda s: s.translation_m), "exo pose error (m)",
                "each exo camera moved by x metres in a random direction" + _and(rotations.pop(), "° rotation"))
    if len({s.translation_m for s in noisy}) == 1:  # the ordinary runs have another shift: the 0 point goes
        raise UsageError("the pose-noise runs all shift the cameras by the same distance, but the ordinary runs "
                         "(at 0) do not; pass --runs without the ordinary runs, or sweep the rotation alone")
    raise UsageError("the pose-noise runs vary both the rotation and the shift of the exo cameras; a sweep figure "
                     "has one x axis: draw runs that vary one of them (--runs)")


def _and(value: float, unit: str) -> str:
    return f", with {value:g} {unit}" if value else ""


@dataclass(frozen=True)
class SweepFigure:
    """What a sweep figure wrote, and the numbers it drew."""

    png: Path
    pdf: Path
    numbers: SweepNumbers


def sweep_figure(run_dirs, kind: str, *, out="figures") -> SweepFigure:
    """Draw the ``kind`` sweep figure of ``run_dirs`` to ``<out>/<kind>.png`` and ``.pdf`` (module docstring)."""
    from leaderboard.figures.categories import legend_on_top
    from leaderboard.figures.qualitative import wrap_label

    numbers = sweep_series(run_dirs, kind)
    metrics = numbers.metrics
    n_cols = 1 if len(metrics) == 1 else 2
    n_rows = math.ceil(len(metrics) / n_cols)
    colours = [c for c in style.PALETTE if c != style.OKABE_ITO["yellow"]]  # too light for thin lines
    width = style.COLUMN_WIDTH_IN
    with style.figure_style():
        fig = style.new_figure(width, 0.7 + PANEL_HEIGHT_IN * n_rows)
        fig.set_layout_engine("constrained", h_pad=0.02, w_pad=0.02, hspace=0.05, wspace=0.05)
        axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
        xs = sorted({x for s in numbers.series for x in s.xs})
        for ax, metric in zip(axes, metrics):
            for i, line in enumerate(numbers.series):
                points = [p for p in line.points if metric in p.values]
                values = [p.values[metric] for p in points]
                errors = [[v.mean - v.low for v in values], [v.high - v.mean for v in values]]
                ax.errorbar([p.x for p in points], [v.mean for v in values], yerr=errors, label=line.name,
                            color=colours[i % len(colours)], marker=MARKERS[i % len(MARKERS)], markersize=3,
                            linewidth=1.0, elinewidth=0.7, capsize=1.5, capthick=0.7)
            ax.set_ylabel(axis_label(metric))
            ax.set_xlabel(numbers.x_label)
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.spines[["top", "right"]].set_visible(False)
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        legend_on_top(fig, handles, labels, width=width)
        caption = f"{numbers.data}, x: {numbers.x_description}; mean with its 95% bootstrap interval over clips"
        fig.supxlabel(wrap_label(caption, width - 0.1), fontsize=style.SMALL_FONT_SIZE_PT)
        png, pdf = style.save(fig, Path(out) / kind)
    return SweepFigure(png, pdf, numbers)


def views_figure(run_dirs, *, out="figures") -> SweepFigure:
    """Each metric against the number of exo views shown (``<out>/views.png`` and ``.pdf``)."""
    return sweep_figure(run_dirs, "views", out=out)


def pose_noise_figure(run_dirs, *, out="figures") -> SweepFigure:
    """Each metric against the error on the exo poses shown (``<out>/pose-noise.png`` and ``.pdf``)."""
    return sweep_figure(run_dirs, "pose-noise", out=out)
