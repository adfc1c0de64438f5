"""``MetricSuite``: every metric of a run over (prediction, ground truth) clip pairs, with every setting recorded.

Typical use (what the runner does)::

    suite = MetricSuite(("psnr", "ssim", "lpips"))
    for clip in clips:
        suite.update(clip.clip_id, clip.category, generated_video, clip.ego_video)
    per_clip = suite.per_clip()                  # -> per_clip.csv
    summary = suite.summary(n_boot=1000, seed=0)  # -> results.json "metrics" and "per_category"
    settings = suite.settings()                  # -> results.json "metric_settings"

A metric whose weights are missing is not computed: it appears in ``summary()["metrics"]`` as
``{"unavailable": reason}`` and is absent from ``per_clip()``. A *set* metric (kind ``"set"`` in the catalogue: FVD)
has one number for the whole set: no ``per_clip()`` column, no per-category entry, and a summary entry
``{"value", "n", "kind": "set", "ci95": None, "ci95_note", "warning" (when too few clips), ...}``. Summaries can be recomputed from a saved
``per_clip.csv`` with :func:`summarize` (same numbers; the runner uses it when it reuses cached clips, and in
multi-process runs rank 0 calls it on the concatenated per-rank tables). ``summary()`` uses only the clips this
process has seen and never synchronises, so calling it on one rank cannot hang.

Example:
    >>> import numpy as np
    >>> suite = MetricSuite(("psnr", "ssim"))
    >>> rng = np.random.default_rng(0)
    >>> for i in range(3):
    ...     target = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    ...     suite.update(f"clip{i}", "demo", target, target)
    >>> suite.summary()["metrics"]["psnr"]["mean"]
    100.0
"""

from __future__ import annotations

import importlib
import platform
from typing import Iterable, Optional

import numpy as np
import pandas as pd
import torch

from benchmark.metrics import weights
from benchmark.metrics._video import COMPUTE_DTYPE, check_video_pair, to_unit_frames
from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.metrics.catalog import METRICS, MetricEntry, UnknownMetricError, check_metric_names, is_set_metric
from benchmark.metrics.video_lpips import LPIPS_NET, lpips_settings
from benchmark.metrics.video_psnr import PSNR_CAP_DB, PSNR_DATA_RANGE
from benchmark.metrics.video_ssim import SSIM_DESCRIPTION, SSIM_NOTES, SSIM_SETTINGS

ID_COLUMNS = ("clip_id", "category")
CI_ALPHA = 0.05


# The catalogue lives in benchmark.metrics.catalog (no torch); re-exported here for existing imports.
__all__ = ["METRICS", "MetricComputationError", "MetricEntry", "MetricSuite", "UnknownMetricError", "summarize"]


class MetricComputationError(ValueError):
    """A metric failed on a clip; the message names the clip and the metric.

    A ``ValueError`` so that a runner isolating per-clip errors records it as that clip's failure.
    """


def _build(entry: MetricEntry, *, verify_weights: bool, options: Optional[dict] = None):
    module_name, class_name = entry.target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(options or {})
    if weights.MANIFEST.get(entry.name):  # only metrics with weight files take the checksum switch
        kwargs.setdefault("verify_checksum", verify_weights)
    return cls(**kwargs)


class MetricSuite:
    """The metrics of one run. See the module docstring.

    Args:
        names: metric names from :data:`METRICS`, each once (else :class:`UnknownMetricError`, a
            :class:`~benchmark.errors.UsageError`).
        device: where the metrics compute (``"cpu"``, ``"cuda"``...).
        verify_weights: check weight files against their published checksums; ``False`` accepts any file
            (tests with locally generated weights only; recorded in ``settings()``).
        metric_options: constructor arguments per metric name, e.g. ``{"fvd": {"reference_cache": folder,
            "max_clips": 512}}`` (recorded through each metric's own settings).
        given_frames: how many leading ground-truth frames the method was given (1 on the ``first-frame`` track,
            0 otherwise). They are not scored by any metric: a copied given frame would earn PSNR's 100 dB cap,
            worth about +5 dB on the mean of a 17-frame clip, for no synthesis at all. Recorded as
            ``frames_scored``.
    """

    def __init__(self, names: Iterable[str] = ("psnr", "ssim", "lpips"), device: str | torch.device = "cpu",
                 *, verify_weights: bool = True, metric_options: Optional[dict] = None,
                 given_frames: int = 0) -> None:
        if int(given_frames) != given_frames or given_frames < 0:
            raise ValueError(f"given_frames must be an integer >= 0, got {given_frames!r}")
        self.given_frames = int(given_frames)
        self.names = check_metric_names(names)
        self.device = torch.device(device)
        self.verify_weights = verify_weights
        self.metric_options = dict(metric_options or {})
        self.metrics = {}
        self.unavailable: dict[str, str] = {}
        for name in self.names:
            entry = METRICS[name]
            ok, reason = weights.check(name, verify_checksum=verify_weights, options=self.metric_options.get(name))
            if ok and entry.target is None:
                ok, reason = False, f"{name} is registered but not implemented"
            if not ok:
                self.unavailable[name] = reason
                continue
            try:
                self.metrics[name] = _build(entry, verify_weights=verify_weights,
                                            options=self.metric_options.get(name)).to(self.device)
            except weights.WeightsUnavailableError as err:
                self.unavailable[name] = str(err)
        self.reset()

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
        self._clip_ids: list[str] = []
        self._categories: list[str] = []
        self._seen_ids: set[str] = set()
        self._resolutions: set[tuple[int, int]] = set()
        self._num_frames: set[int] = set()

    def update(self, clip_id: str, category: str, pred, target, *, ego_K=None, ego_T_world_cam=None) -> None:
        """Score one clip: uint8 ``(T, H, W, 3)`` prediction and ground truth of the same shape.

        ``ego_K`` (3, 3) and ``ego_T_world_cam`` (T, 4, 4), the clip's true ego cameras, go to the metrics whose class
        lists them in ``needs`` (the ego-motion error). With ``given_frames = g`` every metric sees frames ``g..T-1``
        of both videos (and of ``ego_T_world_cam``) only. A metric whose needs the caller does not give is not
        computed: from then on it is unavailable for the whole run, with a reason naming what was missing, and
        any clip it had already scored is forgotten (a mean over some of the clips only would mislead).

        Raises ``ValueError`` naming the clip on a shape/dtype mismatch or a repeated ``clip_id``, and
        :class:`MetricComputationError` if a metric fails (the clip is then not recorded by any metric).
        """
        try:
            check_video_pair(pred, target)
        except ValueError as err:
            raise ValueError(f"clip {clip_id!r}: {err}") from None
        if clip_id in self._seen_ids:
            raise ValueError(f"clip {clip_id!r} was already scored")
        if self.given_frames:
            g = self.given_frames
            if pred.shape[0] <= g:
                raise ValueError(f"clip {clip_id!r}: {pred.shape[0]} frame(s), of which the first {g} were given to "
                                 "the method and are not scored: nothing left to score")
            pred, target = pred[g:], target[g:]
            if ego_T_world_cam is not None:
                ego_T_world_cam = ego_T_world_cam[g:]
        given = {"ego_K": ego_K, "ego_T_world_cam": ego_T_world_cam}
        for name, metric in list(self.metrics.items()):
            missing = [key for key in getattr(metric, "needs", ()) if given.get(key) is None]
            if missing:
                del self.metrics[name]
                self.unavailable[name] = (
                    f"{name} needs the clip's {' and '.join(missing)}, which the scoring code did not pass "
                    f"(first missing for clip {clip_id!r}); MetricSuite.update(..., "
                    f"{', '.join(f'{key}=...' for key in missing)}) gives them")
        done = []
        unit_frames = None  # the clip as float frames, converted once for every metric that reads them
        for name, metric in self.metrics.items():
            try:
                if getattr(metric, "takes_unit_frames", False):
                    if unit_frames is None:
                        unit_frames = (to_unit_frames(pred, self.device), to_unit_frames(target, self.device))
                    metric.update_unit_frames(*unit_frames)
                else:
                    needs = getattr(metric, "needs", ())
                    metric.update(pred, target, **{key: given[key] for key in needs})
            except Exception as err:
                for other in done:
                    other.drop_last_update()
                raise MetricComputationError(f"clip {clip_id!r}: metric {name} failed: {err}") from err
            done.append(metric)
        self._clip_ids.append(str(clip_id))
        self._categories.append(str(category))
        self._seen_ids.add(clip_id)
        self._num_frames.add(int(pred.shape[0]))
        self._resolutions.add((int(pred.shape[1]), int(pred.shape[2])))

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(self.metrics)

    def per_clip(self) -> pd.DataFrame:
        """One row per clip (update order): ``clip_id``, ``category``, then one column per available per-clip metric
        (set metrics such as FVD have no per-clip score)."""
        data = {"clip_id": list(self._clip_ids), "category": list(self._categories)}
        per_clip_metrics = [n for n in self.metrics if not is_set_metric(n)]
        for name in per_clip_metrics:
            data[name] = self.metrics[name].per_clip_scores().numpy()
        return pd.DataFrame(data, columns=[*ID_COLUMNS, *per_clip_metrics])

    def summary(self, n_boot: int = 1000, seed: int = 0) -> dict:
        """``{"metrics", "per_category", "bootstrap"}`` over the clips seen; see :func:`summarize`."""
        set_entries = {}
        for name, metric in self.metrics.items():
            if not is_set_metric(name):
                continue
            if metric.num_clips:
                set_entries[name] = {**metric.summary(), "higher_is_better": METRICS[name].higher_is_better}
            else:
                set_entries[name] = {"unavailable": f"no clip has a {name} score"}
        return summarize(self.per_clip(), self.names, n_boot=n_boot, seed=seed, unavailable=self.unavailable,
                         set_metrics=set_entries)

    def settings(self) -> dict:
        """Every setting that changes a number (goes to results.json ``metric_settings``).

        A metric's ``"notes"`` dict is prose for readers (e.g. SSIM's border rule in words and its measured gap
        to scikit-image); :func:`leaderboard.protocol.protocol_key` leaves it out, like ``device`` and
        ``versions``, so rewording a note never splits a leaderboard.
        """
        out = {
            "colour_space": "RGB",
            "input": "uint8 (T, H, W, 3), prediction and ground truth of the same shape",
            "value_range": "[0, 1] = uint8 / 255",
            "compute_dtype": str(COMPUTE_DTYPE).replace("torch.", ""),
            "frames_scored": "all" if not self.given_frames else (
                f"from frame {self.given_frames}: the first {self.given_frames} frame(s) were given to the method "
                "(first-frame track) and no metric scores them"),
            "num_frames_observed": sorted(self._num_frames),
            "resolution_scored": [list(hw) for hw in sorted(self._resolutions)],  # (H, W) as stored, no resize
            "crop": "none",
            "resize": "none",
            "frame_reduction": "mean over frames of per-frame scores (clip score)",
            "clip_reduction": "mean over clips of clip scores",
            "confidence_interval": f"{int(100 * (1 - CI_ALPHA))}% percentile bootstrap over clips "
                                   "(numpy default_rng(seed), same resampled clips for every metric)",
            "metrics_requested": list(self.names),
            "unavailable": dict(self.unavailable),
            "device": str(self.device),
            "verify_weights": self.verify_weights,
            "versions": _versions(),
        }
        if "psnr" in self.names:
            out["psnr"] = {
                "implementation": "torchmetrics.functional.image.peak_signal_noise_ratio per frame",
                "data_range": PSNR_DATA_RANGE,
                "cap_db": PSNR_CAP_DB,
                "base": 10,
                "per": "frame, over all 3 channels and pixels",
                "inf_rule": f"per-frame PSNR capped at {PSNR_CAP_DB:g} dB (= MSE floored at 1e-10); "
                            "identical frames score exactly the cap",
            }
        if "ssim" in self.names:
            out["ssim"] = {
                "implementation": "torchmetrics.functional.image.structural_similarity_index_measure per frame",
                **SSIM_SETTINGS,
                **SSIM_DESCRIPTION,  # window, covariance and border rule, spelled out
                "notes": dict(SSIM_NOTES),  # prose (border rule in words, measured gap to scikit-image)
            }
        if "lpips" in self.names:
            lpips_options = self.metric_options.get("lpips") or {}  # the backbone chosen (lpips.net), else alex
            lpips = lpips_settings(lpips_options.get("net", LPIPS_NET))
            if "lpips" in self.metrics:
                lpips["weight_files"] = [
                    {k: row[k] for k in ("filename", "path", "file_sha256", "sha256", "sha256_prefix",
                                         "matches_published")}
                    for row in weights.describe("lpips", options=lpips_options)
                ]
            out["lpips"] = lpips
        if "fvd" in self.names:
            if "fvd" in self.metrics:
                out["fvd"] = self.metrics["fvd"].settings()
            else:
                from benchmark.metrics.video_fvd import fvd_settings_for_options

                out["fvd"] = fvd_settings_for_options(self.metric_options.get("fvd", {}))  # backbone, protocol too
            if self.given_frames:  # FVD's frame selection applies to the scored frames, not the whole clip
                out["fvd"]["frame_indices"] = f"counted from frame {self.given_frames} of the clip (frames_scored)"
        if "clip_i" in self.names:
            if "clip_i" in self.metrics:
                out["clip_i"] = self.metrics["clip_i"].settings()
            else:
                from benchmark.metrics.video_clip import clip_i_settings

                out["clip_i"] = clip_i_settings()
        if "ego_motion" in self.names:
            if "ego_motion" in self.metrics:
                out["ego_motion"] = self.metrics["ego_motion"].settings()
            else:
                from benchmark.metrics.ego_motion import ego_motion_settings

                out["ego_motion"] = ego_motion_settings(**self.metric_options.get("ego_motion", {}))
        return out


def summarize(per_clip: pd.DataFrame, metrics: Optional[Iterable[str]] = None, *, n_boot: int = 1000,
              seed: int = 0, unavailable: Optional[dict] = None, set_metrics: Optional[dict] = None) -> dict:
    """Summary of a per-clip table (from :meth:`MetricSuite.per_clip` or a ``per_clip.csv``).

    Returns ``{"metrics": {name: {"mean", "ci95": [low, high], "higher_is_better", "n"} or
    {"unavailable": reason}}, "per_category": {category: {name: {"mean", "ci95", "n"}}},
    "bootstrap": {...}}``. ``metrics`` defaults to every non-id column; a requested metric that is not a
    column is reported unavailable with the reason from ``unavailable`` (or "not in the per-clip table").
    Empty cells (NaN) are skipped and not counted in ``n``. Intervals: :func:`~benchmark.metrics.bootstrap.
    bootstrap_ci` with ``n_boot`` and ``seed`` (per category with the same seed). ``set_metrics`` holds the
    finished entries of set metrics (``VideoFVD.summary()``), placed in the order of ``metrics``; they have no
    per-clip column and so no per-category entry.
    """
    unavailable = dict(unavailable or {})
    set_metrics = dict(set_metrics or {})
    names = list(metrics) if metrics is not None else [c for c in per_clip.columns if c not in ID_COLUMNS]
    out_metrics: dict[str, dict] = {}
    scored = []
    for name in names:
        if name in unavailable:
            out_metrics[name] = {"unavailable": unavailable[name]}
        elif name in set_metrics:
            out_metrics[name] = set_metrics[name]
        elif name not in per_clip.columns:
            out_metrics[name] = {"unavailable": f"{name} is not in the per-clip table"}
        else:
            values = _finite_column(per_clip, name)
            if values.size == 0:
                out_metrics[name] = {"unavailable": f"no clip has a {name} score"}
                continue
            out_metrics[name] = {
                **_stats(values, n_boot=n_boot, seed=seed),
                "higher_is_better": METRICS[name].higher_is_better if name in METRICS else None,
            }
            scored.append(name)
    per_category: dict[str, dict] = {}
    if "category" in per_clip.columns:
        for category in sorted(per_clip["category"].astype(str).unique()):
            rows = per_clip[per_clip["category"].astype(str) == category]
            cat_stats = {}
            for name in scored:
                values = _finite_column(rows, name)
                if values.size:
                    cat_stats[name] = _stats(values, n_boot=n_boot, seed=seed)
            per_category[category] = cat_stats
    return {
        "metrics": out_metrics,
        "per_category": per_category,
        "bootstrap": {"n_boot": int(n_boot), "seed": int(seed), "alpha": CI_ALPHA, "method": "percentile",
                      "unit": "clip"},
    }


def _finite_column(df: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(df[name], errors="raise").to_numpy(dtype=np.float64)
    values = values[~np.isnan(values)]
    if not np.all(np.isfinite(values)):
        raise ValueError(f"column {name!r} holds infinite values; scores must be finite")
    return values


def _stats(values: np.ndarray, *, n_boot: int, seed: int) -> dict:
    low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed, alpha=CI_ALPHA)
    return {"mean": float(values.mean()), "ci95": [low, high], "n": int(values.size)}


def _versions() -> dict:
    import torchmetrics
    import torchvision

    return {
        "torchmetrics": torchmetrics.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
