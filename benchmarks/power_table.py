r"""How many clips a difference needs: a power table from our own per-clip results.

    python benchmarks/power_table.py                          # print the table (Markdown)
    python benchmarks/power_table.py --write docs/statistics.md   # also replace the table in that file

``compare`` tests a difference between two methods on paired clip scores; whether it can see a difference
:math:`\delta` depends on :math:`\sigma_d`, the standard deviation over clips of the per-clip differences
:math:`d_i = b_i - a_i`. This script estimates :math:`\sigma_d` from the committed runs
(``leaderboard/results/reference`` and ``leaderboard/results/ablation/seed*``: every ``per_clip.csv``) in two
situations:

* **two seeds of one method** (only methods whose output depends on the seed): what separates two runs that
  differ in nothing but the seed, the floor below which no change can be told from noise;
* **two methods, same seed, same clips**: every pair of methods in one folder; the median pair is "a typical
  comparison", the 90th percentile a pessimistic one.

For each metric, difference :math:`\delta` and :math:`\sigma_d` it prints the smallest number of clips
:math:`n` with power at least 80 % for a two-sided test at :math:`\alpha = 0.05`, using the **paired t-test
approximation**: under normally distributed differences the statistic
:math:`T = \bar d / (s_d / \sqrt n)` follows a noncentral t distribution with :math:`n - 1` degrees of freedom
and noncentrality :math:`\delta \sqrt n / \sigma_d`, so

.. math::  \mathrm{power}(n) = P(T > t_{1-\alpha/2,\,n-1}) + P(T < -t_{1-\alpha/2,\,n-1}).

``compare`` reports a sign-flip permutation test and a Wilcoxon signed-rank test rather than the t-test; for
roughly normal differences the permutation test has about the t-test's power, and the Wilcoxon test needs
about 5 % more clips (asymptotic relative efficiency :math:`3/\pi \approx 0.955`). The estimates of
:math:`\sigma_d` come from 32 clips of synthetic data at 64x64 and transfer to other data only roughly.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import integrate, stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.metrics.catalog import METRICS  # noqa: E402
from benchmark.results import find_results, read_per_clip  # noqa: E402

RESULTS = REPO / "leaderboard" / "results"
ALPHA, POWER = 0.05, 0.80
DELTAS = {"psnr": (0.1, 0.25, 0.5, 1.0), "ssim": (0.005, 0.01, 0.02, 0.05), "lpips": (0.005, 0.01, 0.02, 0.05)}
MAX_CLIPS = 1_000_000
# compare's sign-flip and exact Wilcoxon tests cannot give a two-sided p below 2 / 2^n: under 0.05 only from n = 6
MIN_CLIPS_FOR_SIGN_TESTS = next(n for n in range(1, 64) if 2 / 2 ** n < ALPHA)
START, END = "<!-- power-table:start (benchmarks/power_table.py writes this part) -->", "<!-- power-table:end -->"


def collect(root: Path = RESULTS) -> dict:
    """``{(group, method): per-clip table indexed by clip_id}``; a group is a folder of runs on one seed."""
    tables = {}
    for path in find_results(root):
        run = path.parent
        group = str(run.relative_to(root).parents[2])  # reference/synth/test/<method> -> "reference"
        tables[group, run.name] = read_per_clip(run / "per_clip.csv").set_index("clip_id")
    return tables


def _sd_of_differences(a: pd.DataFrame, b: pd.DataFrame, metric: str):
    if metric not in a.columns or metric not in b.columns:
        return None
    pair = pd.concat([a[metric], b[metric]], axis=1, join="inner").dropna()
    if len(pair) < 3:
        return None
    return float((pair.iloc[:, 1] - pair.iloc[:, 0]).std(ddof=1)), len(pair)


def paired_sds(tables: dict, metric: str) -> dict:
    """``{"seeds": [sd, ...], "methods": [sd, ...], "n_clips": n}`` over the pairs described in the docstring."""
    out = {"seeds": [], "methods": [], "n_clips": 0}
    groups = sorted({g for g, _ in tables})
    for group in groups:
        names = sorted(n for g, n in tables if g == group)
        for x, y in itertools.combinations(names, 2):
            found = _sd_of_differences(tables[group, x], tables[group, y], metric)
            if found:
                out["methods"].append(found[0])
                out["n_clips"] = max(out["n_clips"], found[1])
    seed_groups = [g for g in groups if re.fullmatch(r"seed\d+", Path(g).name)]
    for name in sorted({n for g, n in tables if g in seed_groups}):
        runs = [tables[g, name] for g in seed_groups if (g, name) in tables]
        for x, y in itertools.combinations(runs, 2):
            found = _sd_of_differences(x, y, metric)
            if found and found[0] > 0:  # a method that ignores its seed gives 0: not seed noise
                out["seeds"].append(found[0])
    return out


def power(n: int, delta: float, sd: float, alpha: float = ALPHA) -> float:
    r"""Power of the two-sided paired t-test with ``n`` clips for a true mean difference ``delta``.

    scipy's noncentral t; where it returns NaN (few degrees of freedom with a large noncentrality) the same
    probability is integrated directly: with :math:`T = (Z + \lambda) / \sqrt{V / \nu}`,
    :math:`V \sim \chi^2_\nu`, :math:`P(|T| > c) = E_V[\Phi(\lambda - c\sqrt{V/\nu}) + \Phi(-\lambda -
    c\sqrt{V/\nu})]`.
    """
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = delta * np.sqrt(n) / sd
    value = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    if not np.isfinite(value):
        def integrand(v):
            scale = crit * np.sqrt(v / df)
            return stats.chi2.pdf(v, df) * (stats.norm.cdf(nc - scale) + stats.norm.cdf(-nc - scale))

        value = integrate.quad(integrand, 0, np.inf, limit=200)[0]
    return min(max(value, 0.0), 1.0)


def clips_needed(delta: float, sd: float, alpha: float = ALPHA, target: float = POWER):
    """Smallest ``n >= 2`` with ``power(n) >= target`` (power grows with n); None beyond :data:`MAX_CLIPS`."""
    if power(MAX_CLIPS, delta, sd, alpha) < target:
        return None
    low, high = 2, 2
    while power(high, delta, sd, alpha) < target:
        low, high = high, high * 2
    while low < high:  # smallest n in [low, high] reaching the target
        mid = (low + high) // 2
        if power(mid, delta, sd, alpha) >= target:
            high = mid
        else:
            low = mid + 1
    return low


def detectable(n: int, sd: float, alpha: float = ALPHA, target: float = POWER) -> float:
    """Smallest difference with power ``target`` at ``n`` clips (bisection on ``delta``)."""
    low, high = 0.0, 10.0 * sd
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if power(n, mid, sd, alpha) < target else (low, mid)
    return high


def table(tables: dict) -> str:
    """The Markdown power table and the sd estimates it uses."""
    lines = []
    rows = [("metric", "situation", "sd of differences", "pairs"), ]
    plan = []
    for metric in METRICS:
        sds = paired_sds(tables, metric)
        if not sds["methods"]:
            continue
        levels = []
        if sds["seeds"]:
            levels.append(("two seeds of one method (median)", float(np.median(sds["seeds"])), len(sds["seeds"])))
        levels.append(("two methods, typical (median pair)", float(np.median(sds["methods"])), len(sds["methods"])))
        levels.append(("two methods, pessimistic (90th pct)", float(np.percentile(sds["methods"], 90)),
                       len(sds["methods"])))
        plan.append((metric, levels, sds["n_clips"]))
        for label, sd, count in levels:
            rows.append((METRICS[metric].label, label, f"{sd:.4g}", str(count)))
    if not plan:
        return "No committed per_clip.csv holds a metric with paired runs.\n"
    lines += ["Standard deviation over clips of the per-clip difference, from the committed runs:", ""]
    lines += _markdown(rows) + [""]
    header = ["metric", "difference"] + [label for label, _, _ in plan[0][1]]
    out_rows = [tuple(header)]
    for metric, levels, _ in plan:
        for delta in DELTAS.get(metric, ()):
            cells = []
            for _, sd, _ in levels:
                n = clips_needed(delta, sd)
                floor = n is not None and n < MIN_CLIPS_FOR_SIGN_TESTS
                cells.append(f"> {MAX_CLIPS}" if n is None else f"{MIN_CLIPS_FOR_SIGN_TESTS}*" if floor else str(n))
            unit = f" {METRICS[metric].unit}" if METRICS[metric].unit else ""
            out_rows.append((METRICS[metric].label, f"{delta:g}{unit}", *cells))
    lines += [f"Clips needed for {POWER:.0%} power at alpha {ALPHA} (two-sided, paired t approximation):", ""]
    lines += _markdown(out_rows) + [""]
    lines += [f"\\* The t approximation asks for fewer, but compare's sign-flip and Wilcoxon tests cannot give a "
              f"two-sided p below {ALPHA} with fewer than {MIN_CLIPS_FOR_SIGN_TESTS} clips (their smallest p is "
              "2 / 2^n).", ""]
    n_split = max(n for _, _, n in plan)
    det_rows = [("metric", *[label for label, _, _ in plan[0][1]])]
    for metric, levels, _ in plan:
        det_rows.append((METRICS[metric].label, *[f"{detectable(n_split, sd):.3g}" for _, sd, _ in levels]))
    lines += [f"Smallest difference detectable with {POWER:.0%} power on the {n_split} clips of the synth test "
              "split:", ""]
    lines += _markdown(det_rows)
    return "\n".join(lines) + "\n"


def _markdown(rows) -> list:
    return ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])] + \
        ["| " + " | ".join(r) + " |" for r in rows[1:]]


def write_into(path: Path, text: str) -> None:
    """Replace the part of ``path`` between :data:`START` and :data:`END` with ``text``."""
    doc = path.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise SystemExit(f"{path} has no {START} ... {END} block to replace")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}{END}{tail}", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=RESULTS, help="folder of committed runs (default: %(default)s)")
    parser.add_argument("--write", type=Path, default=None, metavar="MD",
                        help="replace the power-table block of this Markdown file (docs/statistics.md)")
    args = parser.parse_args(argv)
    text = table(collect(args.root))
    print(text, end="")
    if args.write:
        write_into(args.write, text)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
