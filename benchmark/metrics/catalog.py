"""The catalogue of metrics: names, directions and where each is implemented, importable without torch.

:data:`METRICS` is what the command line lists in ``--help`` and checks ``--metrics`` against, and what
:class:`~benchmark.metrics.suite.MetricSuite` builds its metrics from. It holds only text (each metric's
``"module:Class"`` target is imported by the suite when the metric is computed), so reading it costs
milliseconds where importing the metrics themselves (torch, torchmetrics) takes seconds.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional

from benchmark.errors import UsageError


@dataclass(frozen=True)
class MetricEntry:
    """A registered metric: a lazy ``"module:Class"`` target (None: not computable yet) and its direction."""

    name: str
    target: Optional[str]
    higher_is_better: bool
    label: str
    unit: str = ""


METRICS: dict[str, MetricEntry] = {
    "psnr": MetricEntry("psnr", "benchmark.metrics.video_psnr:VideoPSNR", True, "PSNR", "dB"),
    "ssim": MetricEntry("ssim", "benchmark.metrics.video_ssim:VideoSSIM", True, "SSIM"),
    "lpips": MetricEntry("lpips", "benchmark.metrics.video_lpips:VideoLPIPS", False, "LPIPS"),
    "fvd": MetricEntry("fvd", None, False, "FVD"),
}


class UnknownMetricError(UsageError):
    """A metric name that is not in :data:`METRICS`, or one named twice (``--metrics``, ``MetricSuite(names)``)."""


def check_metric_names(names: Iterable[str]) -> tuple:
    """``names`` as a tuple; an unknown name (with a did-you-mean) or a repeated one is :class:`UnknownMetricError`.

    A single string is one name (``"psnr"``), not a sequence of letters.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    known = ", ".join(METRICS)
    for name in names:
        if name not in METRICS:
            close = difflib.get_close_matches(str(name), list(METRICS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownMetricError(f"unknown metric {name!r} (--metrics){hint}; known metrics: {known}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UnknownMetricError(f"metric(s) {', '.join(map(repr, repeated))} named more than once in "
                                 f"{list(names)} (--metrics); name each metric once")
    return names
