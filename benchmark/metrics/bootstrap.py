r"""Percentile bootstrap confidence interval of a mean over clips.

Given clip scores :math:`s_1, \dots, s_n`, draw ``n_boot`` resamples of :math:`n` clip indices with
replacement from ``numpy.random.default_rng(seed)``, take the mean of each resample,
:math:`\bar{s}^{*}_b = \frac{1}{n} \sum_i s_{I_{b,i}}`, and report the :math:`\alpha/2` and
:math:`1 - \alpha/2` percentiles (numpy's default linear interpolation) of :math:`\{\bar{s}^{*}_b\}` as the
interval (95 % for :math:`\alpha = 0.05`).

The resampled indices depend only on ``(n, n_boot, seed)``, so metrics scored on the same clips with the same
seed are resampled *jointly* (the same clips in every resample), and the result is deterministic.

Example:
    >>> import numpy as np
    >>> low, high = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]), n_boot=1000, seed=0)
    >>> bool(low < 2.5 < high)
    True
"""

from __future__ import annotations

import numpy as np

_MAX_DRAWS_PER_BLOCK = 4_000_000  # bounds memory: at most this many indices are held at once


def bootstrap_means(values, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """The ``n_boot`` resample means of ``values`` (1-D, finite) drawn with ``default_rng(seed)``."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = values.size
    if n == 0:
        raise ValueError("cannot bootstrap an empty set of values")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    rows_per_block = max(1, _MAX_DRAWS_PER_BLOCK // n)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows_per_block):
        stop = min(start + rows_per_block, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def bootstrap_ci(values, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """``(low, high)`` percentile bootstrap interval of the mean of ``values`` (see the module docstring).

    One value gives the degenerate interval ``(v, v)``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    means = bootstrap_means(values, n_boot=n_boot, seed=seed)
    low, high = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)
