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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import UsageError
from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.results import find_results, load_results, read_per_clip

LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS"}
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}


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


def seed_averaged(per_seed: dict, metric: str) -> pd.Series:
    """Clip scores averaged over the seeds that scored the metric (clips missing in a seed are dropped)."""
    cols = [df[metric] for df in per_seed.values() if metric in df.columns]
    if not cols:
        return pd.Series(dtype=float)
    return pd.concat(cols, axis=1, join="inner").mean(axis=1)


def paired_difference(ref: pd.Series, other: pd.Series, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean, 95% bootstrap interval, win rate and Wilcoxon p-value of ``ref - other`` over common clips."""
    from scipy.stats import wilcoxon

    common = ref.index.intersection(other.index)
    d = (ref.loc[common] - other.loc[common]).to_numpy(dtype=float)
    if d.size == 0:
        return {"n": 0}
    p = float(wilcoxon(d).pvalue) if np.any(d != 0) else None
    low, high = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    return {"n": int(d.size), "mean": float(d.mean()), "ci95": [low, high], "wins": float((d > 0).mean()),
            "p_wilcoxon": p}


def render_ablation(root, *, reference: str = "exo2egosyn", metrics=("psnr", "ssim", "lpips"), n_boot: int = 1000,
                    seed: int = 0) -> str:
    """The Markdown ablation table of the runs under ``root`` (see the module docstring).

    Raises :class:`~benchmark.errors.UsageError` when ``root`` holds no run, or no run scored any of ``metrics``.
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
        raise UsageError(f"no run under {root} scored any of the metrics {requested}; the runs there scored: "
                         f"{', '.join(scored) or 'nothing'}")
    seeds = sorted({s for per in tables.values() for s in per})
    lines = [f"# Ablation ({len(tables)} methods, seeds {', '.join(map(str, seeds))})", ""]
    header = ["method"] + [f"{LABELS.get(m, m)} {'↑' if HIGHER_IS_BETTER.get(m, True) else '↓'} seed {s}"
                           for m in metrics for s in seeds] + [f"{LABELS.get(m, m)} mean of seeds" for m in metrics]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    first = metrics[0]
    order = sorted(tables, key=lambda n: -seed_averaged(tables[n], first).mean()
                   * (1 if HIGHER_IS_BETTER.get(first, True) else -1))
    for name in order:
        per = tables[name]
        cells = [name]
        for m in metrics:
            for s in seeds:
                cells.append(f"{per[s][m].mean():.3f}" if s in per and m in per[s].columns else "–")
        for m in metrics:
            avg = seed_averaged(per, m)
            if avg.empty:
                cells.append("–")
                continue
            low, high = bootstrap_ci(avg.to_numpy(dtype=float), n_boot=n_boot, seed=seed)
            cells.append(f"{avg.mean():.3f} [{low:.3f}, {high:.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Seed columns: mean clip score of that seed's run. Last columns: mean over clips of the "
              "seed-averaged clip scores, with the 95% percentile bootstrap interval over clips.", ""]

    if reference in tables:
        lines += [f"## Paired: {reference} minus each other method (per clip, seed-averaged)", "",
                  "| other method | metric | mean difference [95% CI] | reference better on | Wilcoxon p | n |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name in order:
            if name == reference:
                continue
            for m in metrics:
                r = paired_difference(seed_averaged(tables[reference], m), seed_averaged(tables[name], m),
                                      n_boot=n_boot, seed=seed)
                if not r["n"]:
                    continue
                p = "n/a" if r["p_wilcoxon"] is None else f"{r['p_wilcoxon']:.2g}"
                lines.append(f"| {name} | {LABELS.get(m, m)} | {r['mean']:+.4f} [{r['ci95'][0]:+.4f}, "
                             f"{r['ci95'][1]:+.4f}] | {100 * r['wins']:.0f}% | {p} | {r['n']} |")
        lines += ["", f"Positive PSNR / SSIM differences (negative LPIPS) mean {reference} is better.", ""]
    return "\n".join(lines)
