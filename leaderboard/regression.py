"""Regression check: does a new run reproduce a reference run's numbers?

Compares two run folders (each with ``results.json`` and ``per_clip.csv``), reading files only:

* the protocol must be the same, by the one definition of :mod:`leaderboard.protocol` (dataset name, config,
  split, track, content identity, every metric setting that defines a number, the bootstrap), asked with
  ``scope="split"``: the data must be the same split by content (``dataset.split_identity``, defined in
  ``benchmark.data.identity``), not the same clips, because the candidate may be a ``--limit`` run over the
  reference's first clips; the clips are matched below. Two departures from the leaderboard's use, both
  deliberate: the settings of a metric the candidate scored and the reference did not (a newer default set)
  are left out, since that metric is not compared; and the ``bootstrap`` block stays in even when only
  clip scores are compared, because a candidate over all the reference's clips has its ``ci95`` compared too;
* on every clip both runs scored, every metric must agree within its tolerance
  (``leaderboard.tolerances``: derived from the measured spread between machines, per kind of method);
  the candidate may have scored fewer clips (a ``--limit`` run), but not clips the reference lacks;
* the aggregates too: the mean over the common clips, and, when the candidate scored every clip of the
  reference, the mean and the 95% interval of its ``results.json``;
* a metric that is one number over the set of clips (``kind == "set"`` in :mod:`benchmark.metrics.catalog`,
  e.g. FVD) has no per-clip scores: its ``results.json`` mean and interval are compared when the candidate
  scored every clip of the reference, and it is listed as not compared otherwise (over other clips it is
  another number).

:func:`compare_runs` returns a :class:`Comparison`; ``comparison.ok`` says whether the candidate reproduces
the reference and :meth:`Comparison.render` prints the readable diff (clip, metric, reference, got,
difference, tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.metrics import catalog
from benchmark.results import load_results, read_per_clip
from leaderboard import tolerances
from leaderboard.protocol import protocol_differences

_NON_METRIC_COLUMNS = ("clip_id", "category")
_SPLIT_DATA_FIELDS = ("dataset.split_identity", "dataset.manifest_sha256")  # the data, in protocol_key(scope="split")


@dataclass(frozen=True)
class Difference:
    """One number that moved by more than its tolerance."""

    clip: str  # a clip id, or "mean" / "ci95 low" / "ci95 high" for aggregates
    metric: str
    reference: float
    got: float
    tolerance: float

    @property
    def difference(self) -> float:
        return self.got - self.reference


@dataclass
class Comparison:
    """The outcome of comparing a candidate run folder with a reference run folder."""

    reference: Path
    candidate: Path
    method: str
    protocol: list = field(default_factory=list)  # readable protocol mismatches (no number is compared then)
    differences: list = field(default_factory=list)  # [Difference]
    n_clips: int = 0
    metrics: tuple = ()
    tolerances: dict = field(default_factory=dict)  # metric -> atol used
    not_compared: dict = field(default_factory=dict)  # metric -> why its numbers were not compared

    @property
    def ok(self) -> bool:
        return not self.protocol and not self.differences

    @property
    def problems(self) -> list:
        """Every problem as one line of text."""
        return list(self.protocol) + [
            f"{d.metric} on {d.clip}: reference {d.reference:.9g}, got {d.got:.9g}, "
            f"difference {d.difference:+.3g} (tolerance {d.tolerance:.3g})" for d in self.differences]

    def render(self, max_rows: int = 40) -> str:
        """The readable diff: a header line, protocol problems, then a table of the numbers that moved."""
        head = (f"{self.method}: {self.n_clips} clip(s) x {len(self.metrics)} metric(s) "
                f"({', '.join(self.metrics)}) against {self.reference}")
        skipped = "".join(f"; {m} not compared: {why}" for m, why in self.not_compared.items())
        if self.ok:
            tol = ", ".join(f"{m} {t:.1g}" for m, t in self.tolerances.items())
            return f"OK   {head}; all within tolerance ({tol}){skipped}"
        lines = [f"FAIL {head}{skipped}"]
        lines += [f"  protocol: {p}" for p in self.protocol]
        if self.differences:
            rows = [("clip", "metric", "reference", "got", "difference", "tolerance")]
            rows += [(d.clip, d.metric, f"{d.reference:.9g}", f"{d.got:.9g}", f"{d.difference:+.3g}",
                      f"{d.tolerance:.3g}") for d in self.differences[:max_rows]]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            for i, r in enumerate(rows):
                lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
                if i == 0:
                    lines.append("  " + "  ".join("-" * w for w in widths))
            if len(self.differences) > max_rows:
                lines.append(f"  ... and {len(self.differences) - max_rows} more")
        return "\n".join(lines)


def compare_runs(reference: Path, candidate: Path, *, atol: float | None = None) -> Comparison:
    """Compare ``candidate`` with ``reference`` (see the module docstring).

    ``atol`` overrides every metric's tolerance (None: ``leaderboard.tolerances.tolerance(method, metric)``).
    """
    reference, candidate = Path(reference), Path(candidate)
    ref, new = load_results(reference / "results.json"), load_results(candidate / "results.json")
    method = str(ref["method"].get("registered_as") or ref["method"]["name"])
    comparison = Comparison(reference=reference, candidate=candidate, method=method)
    # metrics the candidate scored and the reference did not (a newer default set) are not part of the comparison
    extra = tuple(f"metric_settings.{m}" for m in new.get("metrics", {})
                  if m in catalog.METRICS and m not in ref.get("metrics", {}))
    differences = protocol_differences(ref, new, scope="split", ignore=extra)  # reference's value vs candidate's
    data = [d for d in differences if d.startswith(_SPLIT_DATA_FIELDS)]
    if data:
        comparison.protocol.append(f"not the same data: {'; '.join(data)} (reference vs candidate; "
                                   "benchmark/data/identity.py defines the identity over content)")
    comparison.protocol += [d for d in differences if d not in data]

    ref_clips = read_per_clip(reference / "per_clip.csv").set_index("clip_id")
    new_clips = read_per_clip(candidate / "per_clip.csv").set_index("clip_id")
    extra = sorted(set(new_clips.index) - set(ref_clips.index))
    if extra:
        comparison.protocol.append(f"clips not in the reference: {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    common = [c for c in ref_clips.index if c in set(new_clips.index)]
    if not common:
        comparison.protocol.append("no clip scored by both runs")
    metrics = tuple(c for c in ref_clips.columns if c not in _NON_METRIC_COLUMNS and c in new_clips.columns)
    missing = [c for c in ref_clips.columns if c not in _NON_METRIC_COLUMNS and c not in new_clips.columns]
    whole_set = [m for m, e in ref["metrics"].items()
                 if catalog.is_set_metric(m) and "mean" in e and m not in ref_clips.columns]
    missing += [m for m in whole_set if "mean" not in new["metrics"].get(m, {})]
    if missing:
        comparison.protocol.append(f"metrics scored in the reference but not in the candidate: {missing}")
    all_clips = len(common) == len(ref_clips)
    for m in whole_set:
        if not all_clips:
            comparison.not_compared[m] = (f"one number over the set of clips, and the candidate scored {len(common)} "
                                          f"of the reference's {len(ref_clips)}")
    comparison.n_clips = len(common)
    comparison.metrics = metrics + (tuple(m for m in whole_set if m not in missing) if all_clips else ())
    if comparison.protocol:
        return comparison  # numbers of two protocols are not compared

    gpu = tolerances.ran_on_gpu(ref) or tolerances.ran_on_gpu(new)
    for m in comparison.metrics:
        tol = float(atol) if atol is not None else tolerances.tolerance(method, m, gpu=gpu)
        if tol is None:
            comparison.protocol.append(f"{m}: no cross-machine spread was measured for this metric, so it has no "
                                       "tolerance (leaderboard/tolerances.json; benchmarks/cross_machine_spread.py)")
            continue
        comparison.tolerances[m] = tol
        if m not in metrics:  # one number over the set: only the results.json aggregates exist
            _compare_aggregates(comparison, m, ref["metrics"][m], new["metrics"][m], tol)
            continue
        a = ref_clips.loc[common, m].to_numpy(dtype=float)
        b = new_clips.loc[common, m].to_numpy(dtype=float)
        bad = ~np.isclose(a, b, rtol=0.0, atol=tol, equal_nan=True)
        comparison.differences += [Difference(cid, m, float(x), float(y), tol)
                                   for cid, x, y in zip(np.asarray(common)[bad], a[bad], b[bad])]
        if abs(np.nanmean(b) - np.nanmean(a)) > tol:
            comparison.differences.append(Difference(f"mean of {len(common)} clips", m, float(np.nanmean(a)),
                                                     float(np.nanmean(b)), tol))
        if all_clips and "mean" in ref["metrics"].get(m, {}) and "mean" in new["metrics"].get(m, {}):
            _compare_aggregates(comparison, m, ref["metrics"][m], new["metrics"][m], tol)
    return comparison


def _compare_aggregates(comparison: Comparison, metric: str, r: dict, c: dict, tol: float) -> None:
    """The results.json mean and 95% interval of ``metric``: reference ``r`` vs candidate ``c``."""
    pairs = [("results mean", r["mean"], c["mean"])]
    if r.get("ci95") is not None and c.get("ci95") is not None:  # set metrics (FVD) have no interval
        pairs += [("ci95 low", r["ci95"][0], c["ci95"][0]), ("ci95 high", r["ci95"][1], c["ci95"][1])]
    for label, x, y in pairs:
        if abs(float(y) - float(x)) > tol:
            comparison.differences.append(Difference(label, metric, float(x), float(y), tol))
