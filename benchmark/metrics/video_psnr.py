r"""Video PSNR: per-frame peak signal-to-noise ratio, averaged over the frames of a clip.

For a clip of ``T`` frames with values in :math:`[0, 1]` (``uint8 / 255``) and ``data_range`` :math:`R = 1`:

.. math::

    \mathrm{MSE}_t = \frac{1}{3HW} \sum_{c,y,x} (\hat{x}_{t,c,y,x} - x_{t,c,y,x})^2, \qquad
    \mathrm{PSNR}_t = \min\Big(10 \log_{10} \frac{R^2}{\mathrm{MSE}_t},\; 100\Big), \qquad
    \mathrm{PSNR}_\text{clip} = \frac{1}{T} \sum_t \mathrm{PSNR}_t

The per-frame value is exactly torchmetrics' ``peak_signal_noise_ratio(data_range=1.0, dim=(1, 2, 3))``
(the ``PeakSignalNoiseRatio`` formula applied to each frame on its own).

**Identical frames.** ``MSE_t = 0`` gives :math:`+\infty` in torchmetrics. One such frame would make the clip
score and every mean over clips infinite, so a frame's PSNR is capped at ``PSNR_CAP_DB = 100`` dB, which is the
same as flooring the MSE at :math:`10^{-10}` (with :math:`R = 1`). Every finite torchmetrics value below
100 dB is returned unchanged; 100 dB is far above any generated video (a one-level difference at one pixel of a
448x448 frame is about 106 dB, the only case the cap can touch besides exact copies).

Example:
    >>> import numpy as np
    >>> from benchmark.metrics import VideoPSNR
    >>> rng = np.random.default_rng(0)
    >>> target = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    >>> pred = np.clip(target.astype(int) + 8, 0, 255).astype(np.uint8)
    >>> metric = VideoPSNR()
    >>> metric.update(pred, target)
    >>> round(float(metric.compute()), 2)
    30.18
    >>> video_psnr(target, target).item()  # identical clip: capped, not infinite
    100.0
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio

from benchmark.metrics._video import VideoMetric, check_video_pair, to_unit_frames

PSNR_DATA_RANGE = 1.0
PSNR_CAP_DB = 100.0


def frame_psnr(pred_frames: Tensor, target_frames: Tensor) -> Tensor:
    """Per-frame PSNR of float ``(T, 3, H, W)`` frames in [0, 1] -> ``(T,)`` dB, capped at ``PSNR_CAP_DB``."""
    psnr = peak_signal_noise_ratio(
        pred_frames, target_frames, data_range=PSNR_DATA_RANGE, reduction="none", dim=(1, 2, 3)
    )
    return torch.clamp(psnr, max=PSNR_CAP_DB)


def video_psnr(pred, target, *, per_frame: bool = False) -> Tensor:
    """Functional twin of :class:`VideoPSNR` for one uint8 clip ``(T, H, W, 3)``.

    Returns the clip score (float64 scalar, mean over frames) or, with ``per_frame=True``, the ``(T,)``
    per-frame values.
    """
    check_video_pair(pred, target)
    scores = frame_psnr(to_unit_frames(pred), to_unit_frames(target))
    return scores if per_frame else scores.to(torch.float64).mean()


class VideoPSNR(VideoMetric):
    """Streaming video PSNR (see the module docstring for the formula and the 100 dB cap).

    ``update(pred, target)`` takes uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)``; ``compute()`` is the mean
    over clips of the per-clip mean over frames; ``per_clip_scores()`` gives the clip scores.
    """

    higher_is_better = True

    def frame_scores(self, pred_frames: Tensor, target_frames: Tensor) -> Tensor:
        return frame_psnr(pred_frames, target_frames)
