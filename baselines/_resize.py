"""Resizing helpers shared by the baselines (aspect-preserving centre crop, then antialiased resize)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def center_crop_resize(video: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (T, h, w, 3) -> uint8 (T, height, width, 3).

    The largest centred crop with the target aspect ratio is taken first so that objects are not
    stretched, then resized bilinearly with antialiasing; values are rounded back to uint8.
    """
    T, h, w, _ = video.shape
    target = width / height
    if w / h > target:  # too wide: crop columns
        cw = int(round(h * target))
        x0 = (w - cw) // 2
        video = video[:, :, x0:x0 + cw]
    elif w / h < target:  # too tall: crop rows
        ch = int(round(w / target))
        y0 = (h - ch) // 2
        video = video[:, y0:y0 + ch]
    if video.shape[1:3] == (height, width):
        return np.ascontiguousarray(video)
    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
