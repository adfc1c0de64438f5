"""How far a per-clip score may move between machines before it counts as a regression, and why.

The tolerances are not chosen: they are derived from the spread measured by
``benchmarks/cross_machine_spread.py`` (the same data, seed and code run under simulated other machines:
other CPU kernels via ``ATEN_CPU_CAPABILITY``, ``NPY_DISABLE_CPU_FEATURES`` and ``OPENBLAS_CORETYPE``,
1 vs 2 threads, and a GPU where one was at hand), stored with its figures in ``tolerances.json`` next to
this file::

    tolerance(method, metric) = max(floor(metric), SAFETY_FACTOR * measured_max_abs_diff(kind(method), metric))

where the measured spread covers the simulated CPUs and, when either run compared generated on a GPU,
the CPU-GPU difference too (``benchmarks/gpu_spread.py``; GPU runs were bit-identical run to run).

The ego-motion error is the exception to "by kind": its own kernels (OpenCV's SIFT, numpy's LAPACK) move it on
videos that are byte-identical across the settings (reproject: 7.5e-3 deg with OpenCV limited to SSE3), so its
spread belongs to the metric and every kind is given the largest one measured (``tolerances.json``).

``SAFETY_FACTOR`` (10) covers hardware we could not simulate (other CPU vendors, other BLAS builds, GPUs of
another generation) on top of what was measured; :func:`floor` is a few ulp of float64 at the metric's scale
(for methods whose outputs were bit-identical in every setting, only the metric's own arithmetic can move a
score), the metric's ``regression_floor`` in :mod:`benchmark.metrics.catalog`. Methods are grouped by kind (``analytic`` baselines, ``neural`` generators); a method that was not
measured gets its kind's tolerance (``neural`` for unknown methods: the larger one).

On the same machine with the same seed there is no tolerance at all: videos and per-clip scores are
byte-identical (tested in ``tests/test_cli.py`` and ``tests/leaderboard``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from benchmark.metrics import catalog

TOLERANCES_FILE = Path(__file__).with_name("tolerances.json")
SAFETY_FACTOR = 10.0
KIND = {"exo-copy": "analytic", "reproject": "analytic", "from-folder": "analytic", "mean-colour": "analytic",
        "mean-exo-frame": "analytic", "first-frame-still": "analytic",
        "first-frame-rotate": "analytic"}


def floor(metric: str) -> float:
    """The smallest tolerance of one ``metric`` score: its catalogue ``regression_floor`` (1e-9 when unknown)."""
    return catalog.entry(metric).regression_floor


def kind_of(method: str) -> str:
    """``analytic`` for the classical baselines, ``neural`` for everything else (the WAN-based methods)."""
    return KIND.get(method.split("@")[0], "neural")


@lru_cache(maxsize=None)
def _measured(path: str) -> dict:
    return json.loads(Path(path).read_text())


def measured_spread(kind: str, metric: str, path: Path = TOLERANCES_FILE, *, gpu: bool = False) -> float | None:
    """The largest per-clip |difference| measured for ``kind`` and ``metric`` over the simulated CPUs, and,
    with ``gpu=True``, also between CPU and GPU."""
    data = _measured(str(path))
    values = [data.get("max_abs_diff_by_kind", {}).get(kind, {}).get(metric)]
    if gpu:
        values.append(data.get("gpu", {}).get("max_abs_diff_by_kind", {}).get(kind, {}).get(metric))
    values = [float(v) for v in values if v is not None]
    return max(values) if values else None


def tolerance(method: str, metric: str, path: Path = TOLERANCES_FILE, *, gpu: bool = False) -> float | None:
    """The absolute tolerance for one per-clip score of ``method`` (see the module docstring).

    ``gpu=True`` when either of the two runs compared generated on a GPU: the CPU-GPU spread counts too.
    None when the metric's spread was never measured (e.g. LPIPS, whose weights the measuring machine did not
    have): such a metric has no tolerance, rather than an invented one.
    """
    spread = measured_spread(kind_of(method), metric, path, gpu=gpu)
    if spread is None:  # measured for the other kind only: the larger spread of any kind for it
        spreads = [measured_spread(k, metric, path, gpu=gpu) for k in ("analytic", "neural")]
        spreads = [s for s in spreads if s is not None]
        if not spreads:
            return None
        spread = max(spreads)
    return max(floor(metric), SAFETY_FACTOR * spread)


def ran_on_gpu(results: dict) -> bool:
    """Whether a run's method generated on a GPU (its recorded ``config.device``)."""
    device = str((results.get("method") or {}).get("config", {}).get("device") or "cpu")
    return not device.startswith("cpu")
