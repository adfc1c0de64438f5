"""What every video metric shares: the input protocol and the per-clip score state.

Protocol (the same for every metric, recorded by ``MetricSuite.settings()``):

* input: ``uint8`` videos of shape ``(T, H, W, 3)`` in RGB (numpy or torch), prediction and target of the
  same shape; a batch of clips ``(B, T, H, W, 3)`` is accepted by the ``Metric`` classes;
* values: ``x / 255`` as ``float32`` in ``[0, 1]``;
* frames: all ``T`` frames, full frame at the stored resolution: no crop, no resize, no colour conversion;
* clip score: the mean over frames of the per-frame score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

COMPUTE_DTYPE = torch.float32


def _shape_and_dtype(x) -> tuple[tuple, str]:
    if isinstance(x, np.ndarray):
        return tuple(x.shape), str(x.dtype)
    if isinstance(x, Tensor):
        return tuple(x.shape), str(x.dtype).replace("torch.", "")
    raise TypeError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


def check_video_pair(pred, target, *, batched: bool = False) -> None:
    """Raise ``ValueError`` unless ``pred`` and ``target`` are uint8 RGB videos of one shape.

    ``batched=False`` expects ``(T, H, W, 3)``; ``batched=True`` also accepts ``(B, T, H, W, 3)``.
    """
    p_shape, p_dtype = _shape_and_dtype(pred)
    t_shape, t_dtype = _shape_and_dtype(target)
    if p_dtype != "uint8" or t_dtype != "uint8":
        raise ValueError(f"expected uint8 videos, got pred {p_dtype} and target {t_dtype}")
    if p_shape != t_shape:
        raise ValueError(f"pred and target shapes differ: pred {p_shape}, target {t_shape}")
    ndims = (4, 5) if batched else (4,)
    if len(p_shape) not in ndims or p_shape[-1] != 3:
        expected = "(T, H, W, 3) or (B, T, H, W, 3)" if batched else "(T, H, W, 3)"
        raise ValueError(f"expected videos of shape {expected} (RGB, channels last), got {p_shape}")
    if 0 in p_shape:
        raise ValueError(f"empty video of shape {p_shape}")


def to_unit_frames(video, device: torch.device | str | None = None) -> Tensor:
    """uint8 ``(T, H, W, 3)`` video -> float32 ``(T, 3, H, W)`` frames with values ``x / 255`` in [0, 1]."""
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(np.ascontiguousarray(video))
    video = video.to(device=device) if device is not None else video
    return video.permute(0, 3, 1, 2).to(COMPUTE_DTYPE).div_(255.0)


BATCH_PIXELS = 2**22
"""Frames per metric call are chosen so that a batch holds at most this many pixels (4.2 M: 48 MiB per float32 RGB
video): a whole 17 x 64 x 64 synth clip in one call (one call per clip is what makes the harness cheap), 10 frames
of 480 x 832, 4 of 704 x 1280 (memory bounded for long or large clips)."""


def frames_per_batch(height: int, width: int, frame_batch_size: int | None = None) -> int:
    """How many ``height x width`` frames one metric call takes: ``frame_batch_size`` when given, else as many as
    fit in :data:`BATCH_PIXELS` (at least 1)."""
    if frame_batch_size is not None:
        return int(frame_batch_size)
    return max(1, BATCH_PIXELS // max(1, height * width))


class VideoMetric(Metric):
    """Base of the video metrics: one score per clip, kept in a ``cat``-reduced state.

    Subclasses implement :meth:`frame_scores` (``(T, 3, H, W)`` float frames -> ``(T,)`` scores). ``update``
    accepts one clip ``(T, H, W, 3)`` or a batch ``(B, T, H, W, 3)`` of uint8 videos, stores the mean over
    frames of each clip in ``clip_scores`` (float64, synchronised across processes by concatenation, so
    per-clip tables and bootstrap intervals stay possible), and ``compute`` returns the mean over clips.

    ``frame_batch_size`` caps the frames per :meth:`frame_scores` call; None (default) chooses it from the frame
    size (:func:`frames_per_batch`). A metric whose :meth:`frame_scores` reads float frames (``takes_unit_frames``)
    can also be given a clip already converted: :meth:`update_unit_frames`, which
    :class:`~benchmark.metrics.suite.MetricSuite` uses so that a clip is converted once for all such metrics, not
    once per metric. Both paths give the same scores.
    """

    is_differentiable = False
    full_state_update = False
    takes_unit_frames = True  # frame_scores reads float (T, 3, H, W) frames in [0, 1]; False: override clip_score
    clip_scores: list

    def __init__(self, frame_batch_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if frame_batch_size is not None and frame_batch_size < 1:
            raise ValueError(f"frame_batch_size must be >= 1, got {frame_batch_size}")
        self.frame_batch_size = None if frame_batch_size is None else int(frame_batch_size)
        self.add_state("clip_scores", default=[], dist_reduce_fx="cat")

    def frame_scores(self, pred_frames: Tensor, target_frames: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def unit_frames_score(self, pred_frames: Tensor, target_frames: Tensor) -> Tensor:
        """Score of one clip given as float ``(T, 3, H, W)`` frames in [0, 1] on this metric's device: the float64
        mean over frames of :meth:`frame_scores`, computed in batches of :func:`frames_per_batch` frames."""
        T, _, H, W = pred_frames.shape
        step = frames_per_batch(H, W, self.frame_batch_size)
        if step >= T:
            return self.frame_scores(pred_frames, target_frames).reshape(-1).to(torch.float64).mean()
        per_frame = [self.frame_scores(pred_frames[s:s + step], target_frames[s:s + step]).reshape(-1)
                     for s in range(0, T, step)]
        return torch.cat(per_frame).to(torch.float64).mean()

    def clip_score(self, pred, target) -> Tensor:
        """Score of one uint8 clip ``(T, H, W, 3)``: the float64 mean of the per-frame scores.

        Frames are converted batch by batch, so a long clip never exists as float all at once.
        """
        check_video_pair(pred, target)
        T, H, W = pred.shape[:3]
        step = frames_per_batch(H, W, self.frame_batch_size)
        per_frame = []
        for start in range(0, T, step):  # bounded memory for long or large clips
            stop = min(start + step, T)
            p = to_unit_frames(pred[start:stop], self.device)
            t = to_unit_frames(target[start:stop], self.device)
            per_frame.append(self.frame_scores(p, t).reshape(-1))
        return torch.cat(per_frame).to(torch.float64).mean()

    def _store(self, scores: Tensor) -> None:
        if not bool(torch.isfinite(scores).all()):  # never store a NaN or inf as if it were a score
            raise ValueError(f"{type(self).__name__} produced a non-finite clip score: {scores.tolist()}")
        self.clip_scores.append(scores.to(self.device))

    def update(self, pred, target) -> None:
        check_video_pair(pred, target, batched=True)
        clips = [(pred, target)] if len(pred.shape) == 4 else list(zip(pred, target))
        self._store(torch.stack([self.clip_score(p, t) for p, t in clips]))

    def update_unit_frames(self, pred_frames: Tensor, target_frames: Tensor) -> None:
        """``update`` for one clip already converted by :func:`to_unit_frames` (float ``(T, 3, H, W)`` in [0, 1],
        on this metric's device; shapes are the caller's responsibility). Same bookkeeping as ``update``."""
        if not self.takes_unit_frames:
            raise TypeError(f"{type(self).__name__} scores uint8 videos; call update(pred, target)")
        self._computed = None
        self._update_count += 1
        with torch.no_grad():
            self._store(self.unit_frames_score(pred_frames, target_frames).reshape(1))

    def compute(self) -> Tensor:
        """Mean over clips of the clip scores (NaN when no clip was seen)."""
        if not self.clip_scores:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return dim_zero_cat(self.clip_scores).mean()

    def per_clip_scores(self) -> Tensor:
        """The clip scores seen by this process, in update order, as a float64 ``(N,)`` tensor."""
        if not self.clip_scores:
            return torch.zeros(0, dtype=torch.float64)
        return dim_zero_cat(self.clip_scores).detach().cpu()

    def drop_last_update(self) -> None:
        """Forget the scores of the most recent ``update`` (used to keep metrics aligned when another fails)."""
        if self.clip_scores:
            self.clip_scores.pop()
            self._update_count = max(0, self._update_count - 1)
            self._computed = None
