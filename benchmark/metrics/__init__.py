"""The metrics harness: streaming video metrics (torchmetrics ``Metric`` subclasses), their weight files,
bootstrap confidence intervals and :class:`MetricSuite`, which scores a run and records every setting.

Protocol shared by all metrics: RGB uint8 videos ``(T, H, W, 3)`` -> float ``x / 255`` in [0, 1]; all frames;
full frame at the stored ego resolution, no crop and no resize; per-frame scores averaged over frames give the
clip score; clip scores averaged over clips give the run score, with a percentile-bootstrap 95 % interval.
"""

from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.metrics.suite import METRICS, MetricComputationError, MetricEntry, MetricSuite, summarize
from benchmark.metrics.video_lpips import VideoLPIPS, video_lpips
from benchmark.metrics.video_psnr import PSNR_CAP_DB, VideoPSNR, video_psnr
from benchmark.metrics.video_ssim import VideoSSIM, video_ssim
from benchmark.metrics.weights import WeightsFetchError, WeightsUnavailableError, check, fetch_weights

__all__ = [
    "METRICS",
    "MetricComputationError",
    "MetricEntry",
    "MetricSuite",
    "PSNR_CAP_DB",
    "VideoLPIPS",
    "VideoPSNR",
    "VideoSSIM",
    "WeightsFetchError",
    "WeightsUnavailableError",
    "bootstrap_ci",
    "check",
    "fetch_weights",
    "summarize",
    "video_lpips",
    "video_psnr",
    "video_ssim",
]
