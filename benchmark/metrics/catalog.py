"""The catalogue of metrics: every fact about a metric that is not its arithmetic, in one place, without torch.

Each :class:`MetricEntry` says what a metric is called (``label``, ``unit``), which way is better, how its
mean is printed (``decimals``), whether it is a score per clip or one number over the set of clips
(``kind``), which inputs beyond the two videos it needs (``needs``), which weight files
(``weights``, names from :mod:`benchmark.metrics.weights`), which reference implementation it matches
(``description``), and whether ``run`` scores it by default (``default``). The command line, the runner, the
results validation, the leaderboard, the ablation table and the regression check read these facts from here;
none of them keeps a copy. Printing goes through :func:`format_value` / :func:`format_interval` /
:func:`heading` so that a number is shown the same way everywhere.

:data:`METRICS` is also what the command line lists in ``--help`` and checks ``--metrics`` against, and what
:class:`~benchmark.metrics.suite.MetricSuite` builds its metrics from. It holds only text (each metric's
``"module:Class"`` target is imported by the suite when the metric is computed), so reading it costs
milliseconds where importing the metrics themselves (torch, torchmetrics) takes seconds.

A results file may name a metric this catalogue does not know (written by a newer or a patched version):
:func:`entry` then returns a generic description (label = the name, 3 decimals, direction as the file
says or unknown) so that old and foreign files still render.

Example::

    >>> from benchmark.metrics.catalog import format_interval, heading
    >>> heading("psnr"), format_interval("psnr", 21.456, [20.1, 22.9])
    ('PSNR ↑', '21.46 [20.10, 22.90] dB')
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Iterable, Optional

from benchmark.errors import UsageError

PER_CLIP = "per_clip"  # a score per clip; the run's number is their mean with a bootstrap interval over clips
SET = "set"  # one number over the whole set of clips (FVD): no per-clip column in per_clip.csv
KINDS = (PER_CLIP, SET)
NA = "n/a"  # how a missing, unavailable or non-finite number is printed (never "nan")


@dataclass(frozen=True)
class MetricEntry:
    """A registered metric and everything a reader needs to know about it.

    Attributes:
        name: the key in ``--metrics``, ``per_clip.csv`` columns and ``results.json`` ``metrics``.
        target: lazy ``"module:Class"`` of its torchmetrics ``Metric`` (None: not computable).
        higher_is_better: its direction (None only for the generic entry of an unknown metric whose file
            does not say).
        label: how tables name it (``"PSNR"``).
        unit: unit of its values, ``""`` for dimensionless ones.
        decimals: decimal places of a printed mean or interval (as peers print it, so that our tables and
            the published numbers read alike).
        kind: :data:`PER_CLIP` or :data:`SET`.
        needs: inputs beyond the generated and the true ego video (fields of a clip, e.g. ``"ego_K"``).
        weights: keys of the weight files it needs (``benchmark.metrics.weights.FILES``); empty for none.
        description: one line: what it computes and the reference implementation it matches.
        default: scored by ``python -m benchmark run`` when ``--metrics`` is not given.
        regression_floor: the smallest tolerance of one score in a regression check, a few float64 ulp at
            the metric's scale (``leaderboard.tolerances``).
    """

    name: str
    target: Optional[str]
    higher_is_better: Optional[bool]
    label: str
    unit: str = ""
    decimals: int = 3
    kind: str = PER_CLIP
    needs: tuple = ()
    weights: tuple = ()
    description: str = ""
    default: bool = False
    regression_floor: float = 1e-9

    @property
    def arrow(self) -> str:
        """``↑`` (higher is better), ``↓`` (lower is better) or ``""`` (direction unknown)."""
        return {True: "↑", False: "↓"}.get(self.higher_is_better, "")

    @property
    def better(self) -> str:
        """``"higher"``, ``"lower"`` or ``"?"``: which way is better, in a word."""
        return {True: "higher", False: "lower"}.get(self.higher_is_better, "?")


METRICS: dict[str, MetricEntry] = {e.name: e for e in (
    MetricEntry(
        "psnr", "benchmark.metrics.video_psnr:VideoPSNR", True, "PSNR", "dB", decimals=2, default=True,
        description="peak signal-to-noise ratio per frame on RGB in [0, 1], capped at 100 dB, mean over frames "
                    "(torchmetrics peak_signal_noise_ratio)",
    ),
    MetricEntry(
        "ssim", "benchmark.metrics.video_ssim:VideoSSIM", True, "SSIM", decimals=3, default=True,
        regression_floor=1e-12,
        description="structural similarity per frame, 11x11 Gaussian window (sigma 1.5), reflect-padded border "
                    "averaged in, mean over frames (torchmetrics structural_similarity_index_measure)",
    ),
    MetricEntry(
        "lpips", "benchmark.metrics.video_lpips:VideoLPIPS", False, "LPIPS", decimals=3, default=True,
        weights=("lpips.alexnet", "lpips.linear"), regression_floor=1e-12,
        description="LPIPS v0.1 with the AlexNet backbone per frame (VGG16 with --metric-arg lpips.net=vgg), inputs "
                    "in [-1, 1], mean over frames (torchmetrics LearnedPerceptualImagePatchSimilarity, the lpips "
                    "0.1.4 network)",
    ),
    MetricEntry(
        "fvd", "benchmark.metrics.video_fvd:VideoFVD", False, "FVD", decimals=2, kind=SET, weights=("fvd.i3d",),
        default=True,
        description="Frechet distance between I3D (Kinetics-400) features of the generated and the true ego "
                    "clips, one number over the set (cd-fvd 0.1.1 statistics API); VideoMAE-v2 features with "
                    "--metric-arg fvd.backbone=videomae, a seeded sample with fvd.max_clips=N fvd.seed=N",
    ),
    MetricEntry(
        "clip_i", "benchmark.metrics.video_clip:VideoCLIPI", True, "CLIP-I", decimals=3,
        weights=("clip_i.vit_b_32",), regression_floor=1e-12, default=True,
        description="cosine similarity of CLIP ViT-B/32 image embeddings of generated and true ego frames, mean "
                    "over frames (CLIP-I as EgoX and Ego-Forge report it)",
    ),
    MetricEntry(
        "ego_motion", "benchmark.metrics.ego_motion:EgoMotionError", False, "Ego-motion error", "deg",
        decimals=2, needs=("ego_K", "ego_T_world_cam"), default=True,
        description="angle between the frame-to-frame camera rotation estimated from the generated ego video "
                    "(OpenCV SIFT matches, rotation-only RANSAC with the true ego intrinsics; essential matrix "
                    "selectable) and the true ego trajectory's, mean over consecutive frame pairs (no peer reports "
                    "it)",
    ),
)}

DEFAULT_METRICS: tuple = tuple(name for name, e in METRICS.items() if e.default)
"""What ``run`` scores and the tables show when no metrics are named: all six (psnr, ssim, lpips, fvd, clip_i,
ego_motion). Those whose weights are not installed are recorded as unavailable, with the command that fixes it."""


class UnknownMetricError(UsageError):
    """A metric name that is not in :data:`METRICS`, or one named twice (``--metrics``, ``MetricSuite(names)``)."""


def check_metric_names(names: Iterable[str]) -> tuple:
    """``names`` as a tuple; an unknown name (with a did-you-mean) or a repeated one is :class:`UnknownMetricError`.

    A single string is one name (``"psnr"``), not a sequence of letters.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    known = ", ".join(METRICS)
    for name in names:
        if name not in METRICS:
            close = difflib.get_close_matches(str(name), list(METRICS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownMetricError(f"unknown metric {name!r} (--metrics){hint}; known metrics: {known}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UnknownMetricError(f"metric(s) {', '.join(map(repr, repeated))} named more than once in "
                                 f"{list(names)} (--metrics); name each metric once")
    return names


def entry(name: str, higher_is_better: Optional[bool] = None) -> MetricEntry:
    """The catalogue's entry for ``name``; for a name it does not know, a generic one.

    The generic entry (a metric written into a results file by another version) is labelled with the name
    itself, printed with 3 decimals, per clip, and takes its direction from ``higher_is_better`` (what the
    file says; None: unknown). A known metric's direction is always the catalogue's.
    """
    if name in METRICS:
        return METRICS[name]
    return MetricEntry(str(name), None, higher_is_better, str(name), description="not in this catalogue")


def is_set_metric(name: str) -> bool:
    """Whether ``name`` is one number over the set of clips (no per-clip scores); False for unknown names."""
    return name in METRICS and METRICS[name].kind == SET


def arrow(name: str, higher_is_better: Optional[bool] = None) -> str:
    """``↑`` / ``↓`` for the metric's direction (``""`` when unknown; see :func:`entry`)."""
    return entry(name, higher_is_better).arrow


def heading(name: str, higher_is_better: Optional[bool] = None) -> str:
    """A table column heading: the label and the direction arrow (``"PSNR ↑"``; an unknown metric: its name)."""
    e = entry(name, higher_is_better)
    return f"{e.label} {e.arrow}".rstrip()


def format_value(name: str, value, *, decimals: Optional[int] = None, sign: bool = False) -> str:
    """``value`` printed with the metric's decimals (``decimals`` overrides them), or :data:`NA`.

    :data:`NA` for anything that is not a finite number (None, a string, NaN, inf, a bool); ``sign`` puts
    ``+`` before positive numbers (differences).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return NA
    d = entry(name).decimals if decimals is None else decimals
    return f"{value:{'+' if sign else ''}.{d}f}"


def format_interval(name: str, mean, ci95, *, unit: bool = True) -> str:
    """``"mean [low, high] unit"`` with the metric's decimals (``21.46 [20.10, 22.90] dB``); :data:`NA` parts.

    ``ci95`` is ``[low, high]`` or None (then only the mean is shown).
    """
    text = format_value(name, mean)
    if ci95 is not None:
        low, high = ci95
        text += f" [{format_value(name, low)}, {format_value(name, high)}]"
    u = entry(name).unit
    return f"{text} {u}" if unit and u and text != NA else text
