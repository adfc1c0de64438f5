"""The metrics harness: streaming video metrics (torchmetrics ``Metric`` subclasses), their weight files,
bootstrap confidence intervals and :class:`MetricSuite`, which scores a run and records every setting.

Protocol shared by all metrics: RGB uint8 videos ``(T, H, W, 3)`` -> float ``x / 255`` in [0, 1]; all frames;
full frame at the stored ego resolution, no crop and no resize; per-frame scores averaged over frames give the
clip score; clip scores averaged over clips give the run score, with a percentile-bootstrap 95 % interval.
Networks with a fixed input size resize as their reference does and say so in their settings: CLIP-I (CLIP's
image processor, 224 px) and FVD, which is one number for the whole set (I3D, 16 frames at 224x224; see
``video_fvd``). Weight files: ``weights`` (``python -m benchmark weights list | download | verify | register``).

The names below are imported on first use (module ``__getattr__``): importing the package, or its torch-free
catalogue ``benchmark.metrics.catalog``, does not import torch, so the command line's ``--help`` and its
``--metrics`` check stay fast. ``from benchmark.metrics import MetricSuite`` works as before.
"""

from __future__ import annotations

import importlib
import sys
import types

# public name -> submodule that defines it
_LAZY = {
    "METRICS": "catalog",
    "MetricEntry": "catalog",
    "UnknownMetricError": "catalog",
    "check_metric_names": "catalog",
    "MetricComputationError": "suite",
    "MetricSuite": "suite",
    "summarize": "suite",
    "bootstrap_ci": "bootstrap",
    "EgoMotionError": "ego_motion",
    "ego_motion_error": "ego_motion",
    "VideoCLIPI": "video_clip",
    "video_clip_i": "video_clip",
    "FVDProtocol": "video_fvd",
    "VideoFVD": "video_fvd",
    "frechet_distance": "video_fvd",
    "VideoLPIPS": "video_lpips",
    "video_lpips": "video_lpips",
    "PSNR_CAP_DB": "video_psnr",
    "VideoPSNR": "video_psnr",
    "video_psnr": "video_psnr",
    "VideoSSIM": "video_ssim",
    "video_ssim": "video_ssim",
    "WeightsFetchError": "weights",
    "WeightsUnavailableError": "weights",
    "check": "weights",
    "fetch_weights": "weights",
}

__all__ = sorted(_LAZY)




class _MetricsPackage(types.ModuleType):
    """This package's module type: the functions ``video_psnr``, ``video_ssim`` and ``video_lpips`` share their
    names with the submodules that define them. Importing such a submodule makes Python set the package's
    attribute of that name to the submodule; this keeps it pointing to the function (as it did when the package
    imported everything eagerly), so ``from benchmark.metrics import video_psnr`` is the function whatever was
    imported before. The submodule itself stays in ``sys.modules``."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _MetricsPackage


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
