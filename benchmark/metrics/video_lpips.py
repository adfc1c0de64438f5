r"""Video LPIPS: per-frame learned perceptual distance (AlexNet, LPIPS v0.1), averaged over frames.

Frames in :math:`[0, 1]` (``uint8 / 255``) are mapped to :math:`[-1, 1]` (torchmetrics ``normalize=True``),
shifted and scaled per channel, and passed through AlexNet's five conv stages :math:`l`. With
:math:`\hat{y}^l, y^l \in \mathbb{R}^{C_l \times H_l \times W_l}` the channel-normalised activations and
:math:`w_l` the learned non-negative LPIPS v0.1 weights:

.. math::

    \mathrm{LPIPS}_t = \sum_l \frac{1}{H_l W_l} \sum_{h,w} \big\| w_l \odot (\hat{y}^l_{hw} - y^l_{hw}) \big\|_2^2,
    \qquad \mathrm{LPIPS}_\text{clip} = \frac{1}{T} \sum_t \mathrm{LPIPS}_t

(lower is better). The per-frame value is exactly that of torchmetrics'
``LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)`` on that frame, at the full stored
resolution (no resize). The network comes from local files only (:func:`benchmark.metrics.weights.
load_lpips_network`); when the AlexNet file is missing, constructing :class:`VideoLPIPS` raises
:class:`~benchmark.metrics.weights.WeightsUnavailableError` with the file name, the URL and the target path, and
``MetricSuite`` reports the metric as unavailable with that reason.

Example (needs ``alexnet-owt-7be5be79.pth``, see ``python -m benchmark weights fetch``):
    >>> import numpy as np
    >>> from benchmark.metrics import VideoLPIPS, weights
    >>> if weights.check("lpips")[0]:
    ...     target = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    ...     metric = VideoLPIPS()
    ...     metric.update(target, target)
    ...     assert float(metric.compute()) == 0.0
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from benchmark.metrics._video import VideoMetric, check_video_pair, to_unit_frames
from benchmark.metrics.weights import load_lpips_network

LPIPS_NET = "alex"
LPIPS_VERSION = "0.1"


def frame_lpips(pred_frames: Tensor, target_frames: Tensor, net: nn.Module) -> Tensor:
    """Per-frame LPIPS of float ``(T, 3, H, W)`` frames in [0, 1] -> ``(T,)``, with torchmetrics' network."""
    with torch.no_grad():
        return net(pred_frames, target_frames, normalize=True).reshape(-1)


def video_lpips(pred, target, *, net: Optional[nn.Module] = None, per_frame: bool = False,
                frame_batch_size: int = 16) -> Tensor:
    """Functional twin of :class:`VideoLPIPS` for one uint8 clip ``(T, H, W, 3)``.

    ``net`` is a network from :func:`~benchmark.metrics.weights.load_lpips_network` (built, from local files,
    when omitted). Returns the clip score (float64 scalar) or, with ``per_frame=True``, the ``(T,)`` values.
    """
    check_video_pair(pred, target)
    net = load_lpips_network() if net is None else net
    device = next(net.parameters()).device
    scores = []
    for start in range(0, pred.shape[0], frame_batch_size):
        stop = start + frame_batch_size
        p, t = to_unit_frames(pred[start:stop], device), to_unit_frames(target[start:stop], device)
        scores.append(frame_lpips(p, t, net))
    scores = torch.cat(scores)
    return scores if per_frame else scores.to(torch.float64).mean()


class VideoLPIPS(VideoMetric):
    """Streaming video LPIPS (see the module docstring for the formula and the weight files).

    ``update(pred, target)`` takes uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)``; ``compute()`` is the mean
    over clips of the per-clip mean over frames; ``per_clip_scores()`` gives the clip scores.
    ``verify_checksum=False`` accepts a backbone file that differs from the published one (tests only).
    """

    higher_is_better = False
    __jit_ignored_attributes__ = ["net"]

    def __init__(self, frame_batch_size: int = 8, *, verify_checksum: bool = True, **kwargs: Any) -> None:
        super().__init__(frame_batch_size=frame_batch_size, **kwargs)
        self.net = load_lpips_network("cpu", verify_checksum=verify_checksum)

    def frame_scores(self, pred_frames: Tensor, target_frames: Tensor) -> Tensor:
        return frame_lpips(pred_frames, target_frames, self.net)
