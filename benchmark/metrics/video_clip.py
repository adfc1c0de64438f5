r"""CLIP-I: cosine similarity of CLIP image embeddings of generated and true ego frames, averaged over frames.

With :math:`e(x) = \mathrm{CLIP}_\text{image}(x) / \lVert \mathrm{CLIP}_\text{image}(x) \rVert_2` the projected
image embedding (``CLIPVisionModelWithProjection(...).image_embeds``, the same vector as ``CLIPModel.
get_image_features``) of a frame after the model's own image processor:

.. math::

    \mathrm{CLIP\text{-}I}_\text{clip} = \frac{1}{T} \sum_{t=1}^{T} \big\langle e(\hat{x}_t),\, e(x_t) \big\rangle

(higher is better; 1 for identical frames), and the run score is the mean over clips. This is CLIP-I as EgoX and
Ego-Forge report it, in the form that reproduces EgoX's Table 1 (DAVIAN-Robotics/EgoX issue #29): CLIP ViT-B/32
(``openai/clip-vit-base-patch32``) with its official image processor, per-frame embeddings, L2-normalised,
cosine between the generated and the true frame of the same index, frames -> clip mean -> mean over clips.

**Preprocessing** is the ``CLIPImageProcessor`` saved with the model (``preprocessor_config.json``; defaults when
the folder has none), called on the uint8 frames: resize the shortest side to 224 (bicubic, with antialiasing),
centre-crop 224x224, scale by 1/255, normalise with CLIP's mean (0.48145466, 0.4578275, 0.40821073) and std
(0.26862954, 0.26130258, 0.27577711). transformers >= 5 runs it with torchvision on tensors (on the metric's
device); transformers 4 with PIL on the CPU; the two round the resized pixels differently (about one grey level),
so the transformers version is recorded with the numbers.

**Weights**: a local transformers folder (a full ``CLIPModel`` or a ``CLIPVisionModelWithProjection`` saved with
``save_pretrained``), found by :mod:`benchmark.metrics.weights` (``python -m benchmark weights register
clip_i.vit_b_32 FOLDER``, ``$EXOEGO_CLIP``, the weights directory, or the Hugging Face hub cache). When missing,
constructing :class:`VideoCLIPI` raises :class:`~benchmark.metrics.weights.WeightsUnavailableError` saying so.

Example (needs the CLIP folder):
    >>> import numpy as np
    >>> from benchmark.metrics import weights
    >>> if weights.check("clip_i")[0]:
    ...     target = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    ...     metric = VideoCLIPI()
    ...     metric.update(target, target)
    ...     assert abs(float(metric.compute()) - 1.0) < 1e-5
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from benchmark.metrics._video import VideoMetric, check_video_pair
from benchmark.metrics.weights import WeightsUnavailableError, require

CLIP_KEY = "clip_i.vit_b_32"


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' load report (the unused text tower of a full CLIPModel) and bars are noise here."""
    from transformers.utils import logging as tlog

    level, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()


def load_clip(folder) -> tuple[nn.Module, Any]:
    """``(CLIPVisionModelWithProjection in eval mode, CLIPImageProcessor)`` from a local folder (never the hub)."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    folder = Path(folder)
    try:
        with _quiet_transformers():
            model = CLIPVisionModelWithProjection.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as err:
        raise WeightsUnavailableError(f"{folder} is not a CLIP model folder transformers can load: {err}") from err
    if (folder / "preprocessor_config.json").is_file():
        processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
    else:
        processor = CLIPImageProcessor()  # its defaults are openai's CLIP preprocessing
    return model.eval(), processor


def frame_embeddings(frames: Tensor, model: nn.Module, processor) -> Tensor:
    """uint8 ``(T, 3, H, W)`` frames -> L2-normalised CLIP image embeddings ``(T, P)`` (float32)."""
    device = next(model.parameters()).device
    pixels = processor(images=frames, return_tensors="pt")["pixel_values"].to(device=device, dtype=model.dtype)
    with torch.no_grad():
        embeds = model(pixel_values=pixels).image_embeds.to(torch.float32)
    return embeds / embeds.norm(dim=-1, keepdim=True)


def _uint8_frames(video, device) -> Tensor:
    """uint8 ``(T, H, W, 3)`` numpy or torch -> uint8 ``(T, 3, H, W)`` tensor on ``device``."""
    video = torch.as_tensor(video)
    return video.to(device).permute(0, 3, 1, 2).contiguous()


def video_clip_i(pred, target, *, model: Optional[nn.Module] = None, processor=None, per_frame: bool = False,
                 frame_batch_size: int = 16) -> Tensor:
    """Functional twin of :class:`VideoCLIPI` for one uint8 clip ``(T, H, W, 3)``.

    ``model`` and ``processor`` from :func:`load_clip` (loaded from the located folder when omitted). Returns the
    clip score (float64 scalar) or, with ``per_frame=True``, the ``(T,)`` cosine similarities.
    """
    check_video_pair(pred, target)
    if model is None or processor is None:
        model, processor = load_clip(require(CLIP_KEY).path)
    device = next(model.parameters()).device
    scores = []
    for start in range(0, pred.shape[0], frame_batch_size):
        stop = start + frame_batch_size
        p = frame_embeddings(_uint8_frames(pred[start:stop], device), model, processor)
        t = frame_embeddings(_uint8_frames(target[start:stop], device), model, processor)
        scores.append((p * t).sum(-1))
    scores = torch.cat(scores)
    return scores if per_frame else scores.to(torch.float64).mean()


class VideoCLIPI(VideoMetric):
    """Streaming CLIP-I (see the module docstring for the formula, the preprocessing and the weights).

    ``update(pred, target)`` takes uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)``; ``compute()`` is the mean over
    clips of the per-clip mean over frames; ``per_clip_scores()`` gives the clip scores. ``model_path`` overrides
    the located folder; ``verify_checksum=False`` accepts a folder that contradicts a published digest (none is
    published for CLIP, so this changes nothing today).
    """

    higher_is_better = True
    takes_unit_frames = False  # the CLIP processor reads uint8 frames (its own resize and normalisation)
    __jit_ignored_attributes__ = ["model"]

    def __init__(self, frame_batch_size: int = 16, *, model_path=None, verify_checksum: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(frame_batch_size=frame_batch_size, **kwargs)
        self.weight_file: Optional[dict] = None
        if model_path is None:
            status = require(CLIP_KEY, verify_checksum=verify_checksum)
            model_path = status.path
            self.weight_file = status.as_dict()
        self.model_path = Path(model_path)
        self.model, self.processor = load_clip(self.model_path)

    def clip_score(self, pred, target) -> Tensor:
        """Score of one uint8 clip ``(T, H, W, 3)``: the float64 mean over frames of the cosine similarities."""
        return video_clip_i(pred, target, model=self.model, processor=self.processor,
                            frame_batch_size=self.frame_batch_size)

    def settings(self) -> dict:
        """Every setting that changes the number (results ``metric_settings.clip_i``)."""
        return clip_i_settings(self.model, self.processor, self.model_path, self.weight_file)


def clip_i_settings(model=None, processor=None, model_path=None, weight_file=None) -> dict:
    """The CLIP-I block of ``metric_settings`` (the model's facts only when it was loaded)."""
    import transformers

    out = {
        "implementation": "benchmark.metrics.video_clip.VideoCLIPI: transformers CLIPVisionModelWithProjection "
                          "image_embeds, L2-normalised, cosine per frame pair",
        "model": "openai/clip-vit-base-patch32 (CLIP ViT-B/32), as the EgoX Table 1 reproduction uses",
        "frame_pairing": "generated frame t with true frame t, all frames",
        "frame_reduction": "mean over frames of the cosine similarity (clip score)",
        "preprocessing": "the model's CLIPImageProcessor: shortest side 224 bicubic (antialiased), centre crop 224, "
                         "x/255, CLIP mean/std",
        "transformers": transformers.__version__,
    }
    if model is not None:
        cfg = model.config
        out["model_config"] = {"image_size": cfg.image_size, "patch_size": cfg.patch_size,
                               "hidden_size": cfg.hidden_size, "num_hidden_layers": cfg.num_hidden_layers,
                               "projection_dim": cfg.projection_dim}
        out["model_path"] = str(model_path)
    if processor is not None:
        out["processor"] = {"class": type(processor).__name__, **{
            k: v for k, v in processor.to_dict().items()
            if k in ("size", "crop_size", "resample", "image_mean", "image_std", "do_center_crop", "rescale_factor")}}
    if weight_file is not None:
        out["weight_file"] = weight_file
    return out
