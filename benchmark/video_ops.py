"""Array operations on uint8 videos shared by generators: resizing with an explicit crop rule."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_video(video: np.ndarray, height: int, width: int, *, crop: bool = False) -> np.ndarray:
    """uint8 (..., h, w, 3) -> uint8 (..., height, width, 3), bilinear with antialiasing, rounded.

    With ``crop=True`` the largest centred crop with the target aspect ratio is taken first, so objects are
    not stretched; otherwise the whole frame is resized (for inputs that already have the target aspect).
    """
    video = np.asarray(video)
    h, w = video.shape[-3:-1]
    if crop and h * width != w * height:
        if w * height > h * width:  # too wide: crop columns
            cw = int(round(h * width / height))
            x0 = (w - cw) // 2
            video = video[..., x0:x0 + cw, :]
        else:  # too tall: crop rows
            ch = int(round(w * height / width))
            y0 = (h - ch) // 2
            video = video[..., y0:y0 + ch, :, :]
    if video.shape[-3:-1] == (height, width):
        return np.ascontiguousarray(video)
    lead = video.shape[:-3]
    x = torch.from_numpy(np.ascontiguousarray(video)).reshape(-1, *video.shape[-3:]).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    y = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return y.reshape(*lead, height, width, 3)
