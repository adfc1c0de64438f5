"""Ablation tables with paired tests, from result files only.

Reads every run under a root laid out as ``ROOT/seed<K>/<dataset>/<split>/<run>/`` (what
``python -m benchmark ablation`` writes) and renders:

1. one row per method: the mean clip score of each seed and the mean over seeds with the 95% bootstrap
   interval over clips of the seed-averaged clip scores;
2. a paired comparison of a reference method (``exo2egosyn``) against every other method: for clip ``i``,
   ``d_i = mean_seeds(ref_i) - mean_seeds(other_i)`` on the clips both scored, its mean with a 95%
   percentile bootstrap interval over clips, the fraction of clips where the reference is better, and the
   two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``; "n/a" when all differences are 0).

Pairing by clip removes the between-clip variance that dominates each method's own interval, which is
what makes small module effects visible (or shows that they are not there).

Labels, directions and decimals come from the metric catalogue (:mod:`benchmark.metrics.catalog`); seeds of
one method differ in the third decimal (PSNR 13.544 vs 13.577 dB), so means are printed with at least
:data:`MIN_DECIMALS` and paired differences with one more. Metrics that are one number over the set of clips
(FVD) have no per-clip scores to pair and are not in these tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import UsageError
from benchmark.metrics import catalog
from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.metrics.catalog import DEFAULT_METRICS
from benchmark.results import find_results, load_results, read_per_clip

MIN_DECIMALS = 3  # the table's 2 decimals of PSNR would hide the spread between seeds


def decimals(metric: str) -> int:
    """Decimal places of a mean in the ablation tables: the catalogue's, but at least :data:`MIN_DECIMALS`."""
    return max(catalog.entry(metric).decimals, MIN_DECIMALS)


def collect(root) -> dict:
    """``{method: {seed: DataFrame indexed by clip_id, one column per metric}}`` from the runs under root.

    Raises :class:`~benchmark.errors.UsageError` when two runs of one method and seed are found (e.g. on two
    dataset configs or splits): an ablation compares runs on one set of clips, so they are not merged silently.
    """
    tables: dict = {}
    seen: dict = {}
    for path in find_results(Path(root)):
        results = load_results(path)
        name = results["method"]["name"]
        seed = int(results["seed"])
        if (name, seed) in seen:
            raise UsageError(f"two runs of {name} with seed {seed} under {root}: {seen[name, seed]} and {path}; an "
                             "ablation folder holds one run per method and seed, on one dataset config and split")
        seen[name, seed] = path
        df = read_per_clip(path.parent / "per_clip.csv").set_index("clip_id")
        tables.setdefault(name, {})[seed] = df
    return tables


def recorded_directions(root) -> dict:
    """``{metric: higher_is_better}`` as the results files under ``root`` record it, where they all agree.

    Only read for metrics the catalogue does not know (a known metric's direction is the catalogue's).
    """
    seen: dict = {}
    for path in find_results(Path(root)):
        for name, entry in load_results(path)["metrics"].items():
            if "higher_is_better" in entry:
                seen.setdefault(name, set()).add(entry["higher_is_better"])
    return {name: values.pop() for name, values in seen.items() if len(values) == 1}


def seed_averaged(per_seed: dict, metric: str) -> pd.Series:
    """Clip scores averaged over the seeds that scored the metric (clips missing in a seed are dropped)."""
    cols = [df[metric] for df in per_seed.values() if metric in df.columns]
    if not cols:
        return pd.Series(dtype=float)
    return pd.concat(cols, axis=1, join="inner").mean(axis=1)


def paired_difference(ref: pd.Series, other: pd.Series, *, n_boot: int = 1000, seed: int = 0,
                      higher_is_better: bool = True) -> dict:
    """Mean, 95% bootstrap interval, win rate and Wilcoxon p-value of ``ref - other`` over common clips.

    ``wins`` is the fraction of clips where the reference is better: ``d > 0``, or ``d < 0`` for a metric
    where lower is better (``higher_is_better=False``, e.g. LPIPS).
    """
    from scipy.stats import wilcoxon

    common = ref.index.intersection(other.index)
    d = (ref.loc[common] - other.loc[common]).to_numpy(dtype=float)
    if d.size == 0:
        return {"n": 0}
    p = float(wilcoxon(d).pvalue) if np.any(d != 0) else None
    low, high = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    better = d > 0 if higher_is_better else d < 0
    return {"n": int(d.size), "mean": float(d.mean()), "ci95": [low, high], "wins": float(better.mean()),
            "p_wilcoxon": p}


def render_ablation(root, *, reference: str = "exo2egosyn", metrics=DEFAULT_METRICS, n_boot: int = 1000,
                    seed: int = 0) -> str:
    """The Markdown ablation table of the runs under ``root`` (see the module docstring).

    A metric's label, direction and decimals are the catalogue's; for a metric it does not know, its name,
    the direction its results files record, and 3 decimals. Raises :class:`~benchmark.errors.UsageError` when
    ``root`` holds no run, or no run scored any of ``metrics``.
    """
    tables = collect(root)
    if not tables:
        raise UsageError(f"no results.json under {root}: expected run folders ROOT/seed<K>/<dataset>/<split>/<run>/ "
                         f"holding results.json and per_clip.csv, as `python -m benchmark ablation --out {root}` "
                         f"writes them")
    requested = list(metrics)
    metrics = [m for m in requested if any(m in df.columns for per in tables.values() for df in per.values())]
    if not metrics:
        scored = sorted({c for per in tables.values() for df in per.values() for c in df.columns if c != "category"})
        whole_set = [m for m in requested if catalog.is_set_metric(m)]
        why = (f" ({', '.join(whole_set)}: one number over the set of clips, no per-clip scores to pair)"
               if whole_set else "")
        raise UsageError(f"no run under {root} scored any of the metrics {requested}{why}; the runs there scored: "
                         f"{', '.join(scored) or 'nothing'}")
    recorded = recorded_directions(root)
    entries = {m: catalog.entry(m, recorded.get(m)) for m in requested}  # label, direction, decimals
    seeds = sorted({s for per in tables.values() for s in per})
    lines = [f"# Ablation ({len(tables)} methods, seeds {', '.join(map(str, seeds))})", ""]
    header = ["method"] + [f"{catalog.heading(m, recorded.get(m))} seed {s}" for m in metrics for s in seeds] + [
        f"{entries[m].label} mean of seeds" for m in metrics]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    first = metrics[0]
    lower_first = entries[first].higher_is_better is False  # unknown direction: higher first
    order = sorted(tables, key=lambda n: -seed_averaged(tables[n], first).mean() * (-1 if lower_first else 1))
    for name in order:
        per = tables[name]
        cells = [name]
        for m in metrics:
            for s in seeds:
                cells.append(_fmt(m, per[s][m].mean()) if s in per and m in per[s].columns else "–")
        for m in metrics:
            avg = seed_averaged(per, m)
            if avg.empty:
                cells.append("–")
                continue
            low, high = bootstrap_ci(avg.to_numpy(dtype=float), n_boot=n_boot, seed=seed)
            cells.append(f"{_fmt(m, avg.mean())} [{_fmt(m, low)}, {_fmt(m, high)}]")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Seed columns: mean clip score of that seed's run. Last columns: mean over clips of the "
              "seed-averaged clip scores, with the 95% percentile bootstrap interval over clips.", ""]

    if reference in tables:
        lines += [f"## Paired: {reference} minus each other method (per clip, seed-averaged)", "",
                  "| other method | metric | mean difference [95% CI] | reference better on | Wilcoxon p | n |",
                  "| --- | --- | --- | --- | --- | --- |"]
        paired_metrics = set()
        for name in order:
            if name == reference:
                continue
            for m in metrics:
                r = paired_difference(seed_averaged(tables[reference], m), seed_averaged(tables[name], m),
                                      n_boot=n_boot, seed=seed, higher_is_better=entries[m].higher_is_better is not False)
                if not r["n"]:
                    continue
                paired_metrics.add(m)
                p = "n/a" if r["p_wilcoxon"] is None else f"{r['p_wilcoxon']:.2g}"
                diff = [_fmt(m, x, extra=1, sign=True) for x in (r["mean"], *r["ci95"])]
                lines.append(f"| {name} | {entries[m].label} | {diff[0]} [{diff[1]}, {diff[2]}] | "
                             f"{100 * r['wins']:.0f}% | {p} | {r['n']} |")
        # the metrics of the paired rows (a metric no run scored, such as LPIPS without weights, or one the reference
        # was not scored with, has none)
        lines += ["", _direction_sentence([entries[m] for m in metrics if m in paired_metrics
                                           and not catalog.is_set_metric(m)], reference), ""]
    return "\n".join(lines)


def _fmt(metric: str, value, *, extra: int = 0, sign: bool = False) -> str:
    return catalog.format_value(metric, float(value), decimals=decimals(metric) + extra, sign=sign)


def _direction_sentence(entries, reference: str) -> str:
    """Which sign of a paired difference favours the reference, for the metrics asked for (their directions)."""
    up = [e.label for e in entries if e.higher_is_better is not False]
    down = [e.label for e in entries if e.higher_is_better is False]
    if up and down:
        return f"Positive {' / '.join(up)} differences (negative {' / '.join(down)}) mean {reference} is better."
    return f"{'Positive' if up else 'Negative'} {' / '.join(up or down)} differences mean {reference} is better."
