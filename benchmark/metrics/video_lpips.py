r"""Video LPIPS: per-frame learned perceptual distance (AlexNet by default, VGG16 selectable; LPIPS v0.1), averaged
over frames.

Frames in :math:`[0, 1]` (``uint8 / 255``) are mapped to :math:`[-1, 1]` (torchmetrics ``normalize=True``),
shifted and scaled per channel, and passed through the backbone's five stages :math:`l` (AlexNet's conv
layers, or VGG16's ``relu1_2`` ... ``relu5_3``). With
:math:`\hat{y}^l, y^l \in \mathbb{R}^{C_l \times H_l \times W_l}` the channel-normalised activations and
:math:`w_l` the learned non-negative LPIPS v0.1 weights:

.. math::

    \mathrm{LPIPS}_t = \sum_l \frac{1}{H_l W_l} \sum_{h,w} \big\| w_l \odot (\hat{y}^l_{hw} - y^l_{hw}) \big\|_2^2,
    \qquad \mathrm{LPIPS}_\text{clip} = \frac{1}{T} \sum_t \mathrm{LPIPS}_t

(lower is better). The per-frame value is exactly that of torchmetrics'
``LearnedPerceptualImagePatchSimilarity(net_type=net, normalize=True)`` on that frame, at the full stored
resolution (no resize).

**Backbone** (option ``net``, :data:`OPTIONS`; ``--metric-arg lpips.net=vgg`` on the command line): ``"alex"``
(default: what EgoX, Ego-Forge and most peers report) or ``"vgg"`` (Exo2Ego-V reports both). The two give different
numbers, so the choice is recorded (``metric_settings.lpips.net``) and is part of the leaderboard protocol. Each
backbone has its own weight files (``lpips.alexnet`` + ``lpips.linear``, or ``lpips.vgg16`` + ``lpips.linear_vgg``,
see :mod:`benchmark.metrics.weights`). The network comes from local files only (:func:`benchmark.metrics.weights.
load_lpips_network`); when the backbone file is missing, constructing :class:`VideoLPIPS` raises
:class:`~benchmark.metrics.weights.WeightsUnavailableError` with the file name, the URL and the target path, and
``MetricSuite`` reports the metric as unavailable with that reason.

Example (needs ``alexnet-owt-7be5be79.pth``, see ``python -m benchmark weights download lpips``):
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
from benchmark.metrics.options import MetricOption
from benchmark.metrics.weights import LPIPS_BACKBONES, load_lpips_network

LPIPS_NET = "alex"  # the default backbone, as peers report LPIPS
LPIPS_NETS = tuple(LPIPS_BACKBONES)  # ("alex", "vgg"): torchmetrics' net_type names
LPIPS_VERSION = "0.1"

OPTIONS = {
    "net": MetricOption("net", str, LPIPS_NET, choices=LPIPS_NETS, recorded_at=("net",),
                        help="backbone: alex (as peers report) or vgg (torchvision VGG16)"),
}


def lpips_settings(net: str = LPIPS_NET) -> dict:
    """The LPIPS block of ``metric_settings`` (what changes its numbers; the weight files are added by the suite)."""
    return {
        "implementation": "torchmetrics LearnedPerceptualImagePatchSimilarity network (_LPIPS)",
        "net": net,
        "lpips_version": LPIPS_VERSION,
        "normalize": True,
        "network_input": "[0, 1] mapped to [-1, 1], full frame, no resize",
        "spatial_reduction": "mean",
    }


def frame_lpips(pred_frames: Tensor, target_frames: Tensor, net: nn.Module) -> Tensor:
    """Per-frame LPIPS of float ``(T, 3, H, W)`` frames in [0, 1] -> ``(T,)``, with torchmetrics' network."""
    with torch.no_grad():
        return net(pred_frames, target_frames, normalize=True).reshape(-1)


def video_lpips(pred, target, *, net: Optional[nn.Module] = None, per_frame: bool = False,
                frame_batch_size: int = 16, net_type: str = LPIPS_NET) -> Tensor:
    """Functional twin of :class:`VideoLPIPS` for one uint8 clip ``(T, H, W, 3)``.

    ``net`` is a network from :func:`~benchmark.metrics.weights.load_lpips_network` (built, from local files, with
    the ``net_type`` backbone when omitted). Returns the clip score (float64 scalar) or, with ``per_frame=True``,
    the ``(T,)`` values.
    """
    check_video_pair(pred, target)
    net = load_lpips_network(net=net_type) if net is None else net
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
    ``net``: the backbone, ``"alex"`` (default) or ``"vgg"``. ``verify_checksum=False`` accepts a backbone file
    that differs from the published one (tests only).
    """

    higher_is_better = False
    __jit_ignored_attributes__ = ["net"]

    def __init__(self, frame_batch_size: int = 8, *, net: str = LPIPS_NET, verify_checksum: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(frame_batch_size=frame_batch_size, **kwargs)
        OPTIONS["net"].check("lpips", net)
        self.net_type = net
        self.net = load_lpips_network("cpu", verify_checksum=verify_checksum, net=net)

    def settings(self) -> dict:
        """The results' ``metric_settings.lpips`` block of this metric (without its weight files)."""
        return lpips_settings(self.net_type)

    def frame_scores(self, pred_frames: Tensor, target_frames: Tensor) -> Tensor:
        return frame_lpips(pred_frames, target_frames, self.net)
