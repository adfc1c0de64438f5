r"""Video SSIM: per-frame structural similarity, averaged over the frames of a clip.

For frames with values in :math:`[0, 1]` (``uint8 / 255``), local statistics are taken under an 11x11
Gaussian window (:math:`\sigma = 1.5`) over each colour channel, with :math:`C_1 = (k_1 R)^2`,
:math:`C_2 = (k_2 R)^2`, :math:`k_1 = 0.01`, :math:`k_2 = 0.03`, :math:`R = 1`:

.. math::

    \mathrm{SSIM}(\hat{x}, x) = \frac{(2\mu_{\hat{x}}\mu_x + C_1)(2\sigma_{\hat{x}x} + C_2)}
                                     {(\mu_{\hat{x}}^2 + \mu_x^2 + C_1)(\sigma_{\hat{x}}^2 + \sigma_x^2 + C_2)},
    \qquad \mathrm{SSIM}_t = \operatorname{mean}_{c,y,x} \mathrm{SSIM}, \qquad
    \mathrm{SSIM}_\text{clip} = \frac{1}{T} \sum_t \mathrm{SSIM}_t

The per-frame value is exactly torchmetrics' ``structural_similarity_index_measure`` with
``gaussian_kernel=True, kernel_size=11, sigma=1.5, data_range=1.0, k1=0.01, k2=0.03`` applied to that frame
(torchmetrics' border handling included). The frames are RGB; no conversion to luma (Y) is made.

Example:
    >>> import numpy as np
    >>> from benchmark.metrics import VideoSSIM
    >>> rng = np.random.default_rng(0)
    >>> target = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    >>> metric = VideoSSIM()
    >>> metric.update(target, target)
    >>> round(float(metric.compute()), 4)
    1.0
    >>> pred = np.clip(target.astype(int) + rng.integers(-40, 41, size=target.shape), 0, 255).astype(np.uint8)
    >>> 0.0 < video_ssim(pred, target).item() < 1.0
    True
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from benchmark.metrics._video import VideoMetric, check_video_pair, to_unit_frames

SSIM_SETTINGS = {
    "gaussian_kernel": True,
    "kernel_size": 11,
    "sigma": 1.5,
    "data_range": 1.0,
    "k1": 0.01,
    "k2": 0.03,
}


def frame_ssim(pred_frames: Tensor, target_frames: Tensor) -> Tensor:
    """Per-frame SSIM of float ``(T, 3, H, W)`` frames in [0, 1] -> ``(T,)``."""
    return structural_similarity_index_measure(pred_frames, target_frames, reduction="none", **SSIM_SETTINGS)


def video_ssim(pred, target, *, per_frame: bool = False) -> Tensor:
    """Functional twin of :class:`VideoSSIM` for one uint8 clip ``(T, H, W, 3)``.

    Returns the clip score (float64 scalar, mean over frames) or, with ``per_frame=True``, the ``(T,)``
    per-frame values.
    """
    check_video_pair(pred, target)
    scores = frame_ssim(to_unit_frames(pred), to_unit_frames(target))
    return scores if per_frame else scores.to(torch.float64).mean()


class VideoSSIM(VideoMetric):
    """Streaming video SSIM (see the module docstring for the formula and settings).

    ``update(pred, target)`` takes uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)``; ``compute()`` is the mean
    over clips of the per-clip mean over frames; ``per_clip_scores()`` gives the clip scores.
    """

    higher_is_better = True

    def frame_scores(self, pred_frames: Tensor, target_frames: Tensor) -> Tensor:
        return frame_ssim(pred_frames, target_frames)
