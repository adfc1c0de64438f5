"""Numbers of published methods as printed by their authors. NOT reproduced by this benchmark.

They are shown only on request (``render_markdown(..., include_reported=True)``), in a separate table labelled
as reported, never ranked together with runs scored here: their protocol (clip selection, resolution, metric
code) is the authors', not ours. Labels, directions and decimal places are the metric catalogue's
(:mod:`benchmark.metrics.catalog`), whose decimals are those the peers print: every number below is shown
exactly as printed (0.430 stays 0.430; a test checks that no printed digit is rounded away).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

SOURCE = "Ego-Forge (Mahdi et al., 2026), Table 1"
SETTING = "Ego-Exo4D, 25 frames, ego 448x448, exo 448x768; metrics follow EgoX"
DATASET = "Ego-Exo4D"
METRICS = ("psnr", "ssim", "lpips", "clip_i", "fvd")  # the source's columns, in its order (catalogue names)


@dataclass(frozen=True)
class ReportedResult:
    method: str
    split: str
    psnr: Optional[float]
    ssim: Optional[float]
    lpips: Optional[float]
    clip_i: Optional[float]
    fvd: Optional[float]
    dataset: str = DATASET
    source: str = SOURCE
    setting: str = SETTING

    def value(self, metric: str) -> Optional[float]:
        return getattr(self, metric, None)


# split, method, PSNR, SSIM, LPIPS, CLIP-I, FVD (copied as printed)
_TABLE_1 = [
    ("seen", "Exo2Ego-V", 14.41, 0.382, 0.564, 0.794, 642.09),
    ("seen", "TrajectoryCrafter", 13.59, 0.397, 0.591, 0.788, 741.72),
    ("seen", "Wan-FCtrl", 13.11, 0.433, 0.622, 0.789, 610.13),
    ("seen", "Wan VACE", 13.48, 0.453, 0.611, 0.771, 583.29),
    ("seen", "Syn2Seq-F", 15.01, 0.461, 0.549, 0.793, 513.73),
    ("seen", "EgoX", 16.03, 0.555, 0.498, 0.901, 189.71),
    ("seen", "Ego-Forge", 16.37, 0.557, 0.492, 0.893, 170.18),
    ("unseen", "Exo2Ego-V", 12.93, 0.430, 0.594, 0.677, 1123.90),
    ("unseen", "EgoX", 14.32, 0.455, 0.555, 0.891, 463.24),
    ("unseen", "Ego-Forge", 14.60, 0.484, 0.533, 0.864, 313.95),
]

REPORTED: tuple[ReportedResult, ...] = tuple(
    ReportedResult(method=m, split=s, psnr=p, ssim=ss, lpips=lp, clip_i=ci, fvd=f)
    for s, m, p, ss, lp, ci, f in _TABLE_1
)
