r"""Paired comparison of two methods (or two versions of one) on the clips both scored: ``compare RUN_A RUN_B``.

Reads result folders only (``results.json`` + ``per_clip.csv``). For each metric, with clip scores
:math:`a_i` (side A) and :math:`b_i` (side B) on the :math:`n` clips both sides scored,

.. math::

    d_i = b_i - a_i, \qquad \bar d = \frac{1}{n}\sum_i d_i, \qquad
    s_d = \sqrt{\tfrac{1}{n-1}\textstyle\sum_i (d_i - \bar d)^2}, \qquad d_z = \bar d / s_d

and reports

* ``diff``: :math:`\bar d` (B minus A; for a metric where lower is better, e.g. LPIPS, a negative difference is
  B's improvement) with a **paired bootstrap** 95 % interval: clips are resampled with replacement, each
  resample keeps a clip's pair together (:func:`benchmark.metrics.bootstrap.bootstrap_ci` on the :math:`d_i`);
* ``p_permutation``: two-sided **sign-flip permutation test** of "A and B are exchangeable on every clip"
  (the :math:`d_i` are symmetric about 0): the statistic is :math:`|\bar d|`; with :math:`2^n` at most
  ``n_perm`` every sign vector is enumerated and the p-value is exact, otherwise ``n_perm`` random sign vectors
  from ``numpy.random.default_rng(seed)`` give :math:`p = (1 + \#\{|\bar d^*| \ge |\bar d|\}) / (1 + n_{perm})`
  (never 0). Equal runs give :math:`p = 1`;
* ``p_wilcoxon``: the two-sided **Wilcoxon signed-rank** p-value, ``scipy.stats.wilcoxon(d)`` with scipy's
  defaults (zero differences dropped; 1 when every difference is 0);
* ``effect_size``: **Cohen's** :math:`d_z` (mean difference over the sd of the differences; 0 when every
  difference is 0, None when all are equal but not 0);
* ``improved`` / ``worse``: the fraction of clips on which B is better / worse than A, read with the metric's
  direction (``benchmark.metrics.catalog.METRICS[name].higher_is_better``); ties count as neither.

**Several seeds.** A side may be several runs of one method (seeds): each clip's score is first averaged over
that side's runs (on the clips every run of the side scored), then paired. The tests above then ask whether the
methods differ beyond what the clips' own variation explains, with seed noise averaged out of each clip, not
whether one seed differs from another. Pairing per clip removes the between-clip variance that dominates
each run's own interval.

**Same protocol.** Runs are compared only under one protocol (:mod:`leaderboard.protocol`): same dataset
name, config, split and track, the same split content identity (``dataset.split_identity``, so runs with
``--limit`` pair on their common clips), and the same settings of every compared metric and of the shared
input protocol. Left out: ``dataset.identity`` (the identity of the clips each run scored, compared here clip by
clip), the ``bootstrap`` block (it shapes a run's own intervals, not its clip scores) and the settings of
metrics that are not compared. Anything else that differs is refused with every difference named.

p-values are per metric and not corrected for testing several metrics; see ``docs/statistics.md``.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import UsageError
from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.metrics.catalog import METRICS
from benchmark.results import dataset_config, load_results, per_clip_disagreements, read_per_clip

ID_COLUMNS = ("clip_id", "category")
N_BOOT = 10_000
N_PERM = 10_000
_PERM_BLOCK = 2_000_000  # sign draws held in memory at once
_GLOB_CHARS = set("*?[")


# ---- the statistics -------------------------------------------------------------------------------------------


def sign_flip_pvalue(d, *, n_perm: int = N_PERM, seed: int = 0) -> tuple[float, bool]:
    """Two-sided sign-flip permutation p-value of ``mean(d) = 0`` for paired differences ``d`` (1-D).

    Returns ``(p, exact)``: exact enumeration of all ``2**n`` sign vectors when that is at most ``n_perm``,
    else ``n_perm`` random sign vectors with the ``(1 + count) / (1 + n_perm)`` estimate. Ties with the observed
    statistic count as at least as extreme (a relative tolerance of 1e-9 absorbs rounding of the sums).
    """
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    n = d.size
    if n == 0:
        raise ValueError("no paired differences")
    if n_perm < 1:
        raise ValueError(f"n_perm must be >= 1, got {n_perm}")
    observed = abs(d.mean())
    tol = 1e-9 * float(np.abs(d).mean())
    if n < 63 and 2 ** n <= n_perm:
        bits = (np.arange(2 ** n, dtype=np.int64)[:, None] >> np.arange(n)) & 1
        stats = np.abs((1 - 2 * bits) @ d) / n
        return float(np.mean(stats >= observed - tol)), True
    rng = np.random.default_rng(seed)
    rows = max(1, _PERM_BLOCK // n)
    count = 0
    for start in range(0, n_perm, rows):
        k = min(rows, n_perm - start)
        signs = 1 - 2 * rng.integers(0, 2, size=(k, n), dtype=np.int8)
        count += int(np.sum(np.abs(signs @ d) / n >= observed - tol))
    return (1 + count) / (1 + n_perm), False


def wilcoxon_pvalue(d) -> float:
    """Two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon(d)``); 1.0 when every difference is 0."""
    from scipy.stats import wilcoxon

    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d).pvalue)


@dataclass(frozen=True)
class MetricComparison:
    """The paired statistics of one metric (see the module docstring); ``diff`` is B minus A."""

    metric: str
    label: str
    higher_is_better: bool
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci95: tuple
    p_permutation: float
    permutation_exact: bool
    p_wilcoxon: float
    effect_size: float | None  # Cohen's d_z
    improved: float  # fraction of clips on which B is better than A
    worse: float

    @property
    def b_better(self) -> bool:
        return self.diff > 0 if self.higher_is_better else self.diff < 0


def paired_statistics(a, b, *, metric: str, n_boot: int = N_BOOT, n_perm: int = N_PERM,
                      seed: int = 0) -> MetricComparison:
    """Paired statistics of clip scores ``b`` against ``a`` (1-D, same clips in the same order) for ``metric``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"{metric}: expected two non-empty score arrays of one length, got {a.size} and {b.size}")
    entry = METRICS.get(metric)
    higher = entry.higher_is_better if entry is not None else True
    d = b - a
    low, high = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    p_perm, exact = sign_flip_pvalue(d, n_perm=n_perm, seed=seed)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if sd > 0:
        effect = mean / sd
    else:
        effect = 0.0 if mean == 0 else None  # all differences equal and not 0: no spread to scale by
    better, worse = (d > 0, d < 0) if higher else (d < 0, d > 0)
    return MetricComparison(
        metric=metric, label=entry.label if entry is not None else metric, higher_is_better=higher, n=int(d.size),
        mean_a=float(a.mean()), mean_b=float(b.mean()), diff=mean, ci95=(low, high), p_permutation=p_perm,
        permutation_exact=exact, p_wilcoxon=wilcoxon_pvalue(d), effect_size=effect,
        improved=float(better.mean()), worse=float(worse.mean()))


# ---- runs and sides ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run folder: its validated results and its per-clip table (indexed by clip id)."""

    path: Path
    results: dict
    per_clip: pd.DataFrame

    @property
    def name(self) -> str:
        return str(self.results["method"]["name"])

    @property
    def seed(self) -> int:
        return int(self.results["seed"])

    def metrics(self) -> list:
        return [c for c in self.per_clip.columns if c not in ID_COLUMNS]


def expand_run_paths(args) -> list[Path]:
    """Run folders from command-line arguments: folders, ``results.json`` files, or glob patterns of either.

    A pattern that matches nothing, or a folder without ``results.json``, is a
    :class:`~benchmark.errors.UsageError` naming it.
    """
    paths = []
    for arg in args:
        arg = str(arg)
        if _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(arg))
            if not matches:
                raise UsageError(f"{arg!r} matches no run folder")
            found = [Path(m) for m in matches if Path(m).is_file() or (Path(m) / "results.json").is_file()]
            if not found:
                raise UsageError(f"{arg!r} matches {len(matches)} path(s), none a run folder with results.json")
            paths += found
        else:
            paths.append(Path(arg))
    out = []
    for path in paths:
        folder = path.parent if path.is_file() and path.name == "results.json" else path
        if not folder.is_dir():
            raise UsageError(f"run folder {path} does not exist")
        if not (folder / "results.json").is_file():
            raise UsageError(f"{folder} holds no results.json: not a scored run folder (score it with "
                             f"`python -m benchmark score {folder}`)")
        out.append(folder)
    return out


def load_run(folder) -> Run:
    """Read and check one run folder: results.json validated, per_clip.csv present and agreeing with it."""
    folder = Path(folder)
    results = load_results(folder / "results.json")
    table_path = folder / "per_clip.csv"
    if not table_path.is_file():
        raise UsageError(f"{folder} has results.json but no per_clip.csv: the paired comparison needs clip scores")
    table = read_per_clip(table_path)
    problems = per_clip_disagreements(results, table)
    if problems:
        raise UsageError(f"{folder}: results.json and per_clip.csv disagree ({problems[0]}); rescore the run")
    return Run(path=folder, results=results, per_clip=table.set_index("clip_id"))


def side_scores(runs: list, metric: str) -> pd.Series:
    """Clip scores of one side for ``metric``: the mean over the side's runs, on the clips every run scored."""
    columns = [run.per_clip[metric].dropna().astype(float) for run in runs]
    return pd.concat(columns, axis=1, join="inner").mean(axis=1)


def protocol_problems(runs: list, metrics) -> list[str]:
    """Why these runs cannot be paired (empty when they can): see "Same protocol" in the module docstring.

    The one definition of leaderboard.protocol, at the scope of the split (two runs over different clips of the
    same split can be paired on the clips they share), without the bootstrap settings (this command resamples
    itself) and without the settings of metrics not compared.
    """
    from leaderboard.protocol import protocol_differences

    first = runs[0]
    others = {m for run in runs for m in run.results.get("metric_settings", {}) if m in METRICS} - set(metrics)
    ignore = ("bootstrap", *(f"metric_settings.{m}" for m in sorted(others)))
    problems = []
    for run in runs[1:]:
        lines = protocol_differences(first.results, run.results, ignore=ignore, scope="split")
        lines = [line.replace("dataset.split_identity", "dataset content: split identity", 1) for line in lines]
        if lines:
            problems.append(f"{first.path} vs {run.path}: {'; '.join(lines)}")
    return problems


# ---- the comparison -----------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The outcome of :func:`compare`: both sides, the per-metric statistics and notes; :meth:`render` prints it."""

    a: list  # [Run]
    b: list
    stats: list  # [MetricComparison]
    n_boot: int
    n_perm: int
    seed: int
    only_a: dict = field(default_factory=dict)  # metric -> clips only side A scored
    only_b: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @staticmethod
    def _side(runs) -> str:
        names = sorted({r.name for r in runs})
        seeds = ", ".join(str(r.seed) for r in runs)
        what = f"{len(runs)} runs, seeds {seeds}, clip scores averaged over them" if len(runs) > 1 else \
            f"seed {seeds}"
        return f"{' + '.join(names)} ({what})"

    def render(self, markdown: bool = False) -> str:
        """The comparison as a terminal table, or as Markdown (``markdown=True``)."""
        ds = self.a[0].results["dataset"]
        config = "" if dataset_config(self.a[0].results) == "default" else f"@{dataset_config(self.a[0].results)}"
        head = [f"A: {self._side(self.a)}", f"B: {self._side(self.b)}",
                f"on {ds['name']}{config}/{ds['split']} ({ds['track']}); paired per clip, difference = B - A"]
        rows = [("metric", "n", "A mean", "B mean", "B - A [95% CI]", "p sign-flip", "p Wilcoxon", "d_z",
                 "B better on", "B worse on")]
        for s in self.stats:
            arrow = "↑" if s.higher_is_better else "↓"
            rows.append((f"{s.label} {arrow}", str(s.n), f"{s.mean_a:.4g}", f"{s.mean_b:.4g}",
                         f"{s.diff:+.4g} [{s.ci95[0]:+.4g}, {s.ci95[1]:+.4g}]", _p(s.p_permutation), _p(s.p_wilcoxon),
                         "n/a" if s.effect_size is None else f"{s.effect_size:+.2f}", f"{100 * s.improved:.0f}%",
                         f"{100 * s.worse:.0f}%"))
        exact = all(s.permutation_exact for s in self.stats)
        foot = [f"95% CI: paired bootstrap over clips ({self.n_boot} resamples, seed {self.seed}). Sign-flip test: "
                + ("exact (every sign vector)" if exact else f"{self.n_perm} random sign vectors, seed {self.seed} "
                   f"(smallest possible p {1 / (self.n_perm + 1):.1e})")
                + "; Wilcoxon: scipy.stats.wilcoxon, two-sided. d_z: mean difference / sd of differences. "
                "'B better on': clips where B beats A in the metric's direction (↑ higher, ↓ lower is better). "
                "p-values are per metric, not corrected for testing several."]
        for metric in sorted(set(self.only_a) | set(self.only_b)):
            foot.append(f"{metric}: clips scored by one side only, left out: A {len(self.only_a.get(metric, []))}, "
                        f"B {len(self.only_b.get(metric, []))}")
        foot += self.notes
        if markdown:
            lines = ["## " + head[2].replace("on ", "Paired comparison on ", 1), "", f"- {head[0]}", f"- {head[1]}", ""]
            lines += ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
            lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
            lines += [""] + [f"{line}" if i == 0 else f"- {line}" for i, line in enumerate(foot)]
            return "\n".join(lines) + "\n"
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = head + [""]
        for i, r in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        lines += [""] + foot
        return "\n".join(lines) + "\n"


def _p(p: float) -> str:
    return "1" if p >= 0.9995 else f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def compare(a_paths, b_paths, *, metrics=None, n_boot: int = N_BOOT, n_perm: int = N_PERM,
            seed: int = 0) -> Comparison:
    """Compare the runs of side B with those of side A, per metric, on the clips both scored.

    ``a_paths`` / ``b_paths``: run folders (several per side: seeds of one method, averaged per clip first).
    ``metrics``: names to compare (None: every metric all runs scored). Raises
    :class:`~benchmark.errors.UsageError` for runs under different protocols, a metric a run did not score,
    no common clip, or a run folder given twice.
    """
    for flag, value in (("--n-boot", n_boot), ("--n-perm", n_perm)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{flag} must be an integer >= 1, got {value!r}")
    a_paths, b_paths = [Path(p) for p in a_paths], [Path(p) for p in b_paths]
    if not a_paths or not b_paths:
        raise UsageError("compare needs at least one run folder on each side (RUN_A RUN_B, or --a ... --b ...)")
    resolved = [p.resolve() for p in a_paths + b_paths]
    repeated = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if repeated:
        raise UsageError(f"run folder {repeated[0]} is given more than once; each run counts once, on one side")
    a = [load_run(p) for p in a_paths]
    b = [load_run(p) for p in b_paths]
    runs = a + b
    scored_by_all = [m for m in METRICS if all(m in run.metrics() for run in runs)]
    if metrics is None:
        metrics = scored_by_all
        if not metrics:
            per_run = "; ".join(f"{run.path}: {', '.join(run.metrics()) or 'none'}" for run in runs)
            raise UsageError(f"no metric was scored by every run ({per_run})")
    else:
        metrics = list(metrics)
        for m in metrics:
            lacking = [str(run.path) for run in runs if m not in run.metrics()]
            if lacking:
                raise UsageError(f"--metrics {m}: not scored by {', '.join(lacking)} (add it with "
                                 f"`python -m benchmark score RUN_DIR --metrics {m}`)")
    problems = protocol_problems(runs, metrics)
    if problems:
        raise UsageError("the runs are not under the same protocol, so their clip scores cannot be paired: "
                         + " | ".join(problems))
    comparison = Comparison(a=a, b=b, stats=[], n_boot=n_boot, n_perm=n_perm, seed=seed)
    for side, label in ((a, "A"), (b, "B")):
        seeds = [run.seed for run in side]
        if len(side) > 1 and len(set(seeds)) < len(seeds):
            comparison.notes.append(f"side {label} has several runs with the same seed ({seeds}): are they really "
                                    "different seeds?")
        if len({run.name for run in side}) > 1:
            comparison.notes.append(f"side {label} mixes methods {sorted({run.name for run in side})}")
    for m in metrics:
        sa, sb = side_scores(a, m), side_scores(b, m)
        common = [c for c in sa.index if c in set(sb.index)]
        if not common:
            raise UsageError(f"{m}: no clip was scored by both sides (A: {len(sa)} clips, B: {len(sb)} clips)")
        only_a, only_b = sorted(set(sa.index) - set(common)), sorted(set(sb.index) - set(common))
        if only_a:
            comparison.only_a[m] = only_a
        if only_b:
            comparison.only_b[m] = only_b
        comparison.stats.append(paired_statistics(sa.loc[common].to_numpy(), sb.loc[common].to_numpy(), metric=m,
                                                  n_boot=n_boot, n_perm=n_perm, seed=seed))
    same = [s.label for s in comparison.stats if s.improved == 0 and s.worse == 0]
    if same:
        comparison.notes.append(f"{', '.join(same)}: the same score on every clip; do both sides hold the same "
                                "videos?")
    return comparison
