"""Array operations on uint8 videos shared by generators: resizing with an explicit crop rule."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def center_crop(video, height: int, width: int):
    """The largest centred crop of ``video`` (..., h, w, C) with the aspect ratio ``width / height``.

    Works on numpy arrays and torch tensors alike (it only slices); returns the input when the aspect matches.
    """
    h, w = video.shape[-3], video.shape[-2]
    if h * width == w * height:
        return video
    if w * height > h * width:  # too wide: crop columns
        cw = int(round(h * width / height))
        x0 = (w - cw) // 2
        return video[..., x0:x0 + cw, :]
    ch = int(round(w * height / width))  # too tall: crop rows
    y0 = (h - ch) // 2
    return video[..., y0:y0 + ch, :, :]


def resize_video(video: np.ndarray, height: int, width: int, *, crop: bool = False) -> np.ndarray:
    """uint8 (..., h, w, 3) -> uint8 (..., height, width, 3), bilinear with antialiasing, rounded.

    With ``crop=True`` the largest centred crop with the target aspect ratio is taken first, so objects are
    not stretched; otherwise the whole frame is resized (for inputs that already have the target aspect).
    """
    video = np.asarray(video)
    if crop:
        video = center_crop(video, height, width)
    if video.shape[-3:-1] == (height, width):
        return np.ascontiguousarray(video)
    lead = video.shape[:-3]
    x = torch.from_numpy(np.ascontiguousarray(video)).reshape(-1, *video.shape[-3:]).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    y = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return y.reshape(*lead, height, width, 3)
