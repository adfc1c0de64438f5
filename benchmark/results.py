"""The results file (``results.json``, schema v1) and the atomic writers of a run folder.

``results.json`` carries everything needed to trust its numbers::

    schema_version   1
    method           {name, config, checkpoint_sha256, oracle, ...}       what was evaluated
    dataset          {name, split, track, manifest_sha256, n_clips, ...}  on which clips exactly
    metrics          {metric: {mean, ci95: [low, high], higher_is_better, n} | {unavailable: reason}}
    per_category     {category: {metric: {mean, ci95, n}}}
    metric_settings  every setting that changes a number (``MetricSuite.settings()``)
    seed             generation seed (also the bootstrap seed)
    counts           {generated, reused, failed, failed_clips: [{clip_id, error}], ...}
    versions         {python, torch, torchvision, diffusers, torchmetrics, numpy, av, datasets, lpips, ...}
    git_commit       HEAD of the repository this package was imported from, or null
    git_dirty        whether tracked files differ from that commit, or null
    created          ISO 8601 UTC timestamp

Extra keys given in ``method``, ``dataset`` and ``counts`` are kept. Readers (the leaderboard, figures, the
regression check) go through :func:`load_results`, which refuses other schema versions with a clear error.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from benchmark.atomic import atomic_path

SCHEMA_VERSION = 1
RESULTS_FILENAME = "results.json"
PER_CLIP_FILENAME = "per_clip.csv"

_VERSIONED_DISTRIBUTIONS = {
    "torch": "torch",
    "torchvision": "torchvision",
    "diffusers": "diffusers",
    "torchmetrics": "torchmetrics",
    "numpy": "numpy",
    "av": "av",
    "datasets": "datasets",
    "lpips": "lpips",
    "cd_fvd": "cd-fvd",
    "pandas": "pandas",
    "exoego_bench": "exoego-bench",
}
_REQUIRED_DATASET_KEYS = ("name", "split", "track", "manifest_sha256", "n_clips")
_REQUIRED_COUNT_KEYS = ("generated", "reused", "failed")


class ResultsSchemaError(ValueError):
    """A results file (or the pieces given to ``build_results``) does not follow the schema."""


def build_results(*, method: dict, dataset: dict, metrics_summary: dict, per_category: dict, settings: dict,
                  seed: int, counts: dict) -> dict:
    """Assemble a schema-v1 results dict (see the module docstring); validates the pieces.

    ``metrics_summary`` and ``per_category`` are ``MetricSuite.summary()["metrics"]`` and
    ``["per_category"]``; ``settings`` is ``MetricSuite.settings()``.
    """
    if not isinstance(method, dict) or not method.get("name"):
        raise ResultsSchemaError("method must be a dict with a non-empty 'name'")
    missing = [k for k in _REQUIRED_DATASET_KEYS if k not in dataset]
    if missing:
        raise ResultsSchemaError(f"dataset is missing {missing} (required: {list(_REQUIRED_DATASET_KEYS)})")
    missing = [k for k in _REQUIRED_COUNT_KEYS if k not in counts]
    if missing:
        raise ResultsSchemaError(f"counts is missing {missing} (required: {list(_REQUIRED_COUNT_KEYS)})")
    for name, entry in metrics_summary.items():
        _check_metric_entry(name, entry)
    failed_clips = [dict(f) for f in counts.get("failed_clips", [])]
    for f in failed_clips:
        if "clip_id" not in f or "error" not in f:
            raise ResultsSchemaError(f"each failed_clips entry needs 'clip_id' and 'error', got {f}")

    method_out = {"name": str(method["name"]), "config": method.get("config", {}),
                  "checkpoint_sha256": method.get("checkpoint_sha256"), "oracle": bool(method.get("oracle", False))}
    method_out.update({k: v for k, v in method.items() if k not in method_out})
    counts_out = {"generated": int(counts["generated"]), "reused": int(counts["reused"]),
                  "failed": int(counts["failed"]), "failed_clips": failed_clips}
    counts_out.update({k: v for k, v in counts.items() if k not in counts_out})
    commit, dirty = git_state()
    results = {
        "schema_version": SCHEMA_VERSION,
        "method": method_out,
        "dataset": dict(dataset),
        "metrics": metrics_summary,
        "per_category": per_category,
        "metric_settings": settings,
        "seed": int(seed),
        "counts": counts_out,
        "versions": versions(),
        "git_commit": commit,
        "git_dirty": dirty,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return json.loads(_dumps(results))  # plain JSON types only, and fails here (not later) on NaN or inf


def _check_metric_entry(name: str, entry: dict) -> None:
    if not isinstance(entry, dict):
        raise ResultsSchemaError(f"metric {name!r}: expected a dict, got {type(entry).__name__}")
    if "unavailable" in entry:
        if not entry["unavailable"]:
            raise ResultsSchemaError(f"metric {name!r}: 'unavailable' needs a reason")
        return
    missing = [k for k in ("mean", "ci95", "higher_is_better", "n") if k not in entry]
    if missing:
        raise ResultsSchemaError(f"metric {name!r}: missing {missing} (or give 'unavailable' with a reason)")
    values = [entry["mean"], *entry["ci95"]]
    if len(entry["ci95"]) != 2 or not all(math.isfinite(float(v)) for v in values):
        raise ResultsSchemaError(f"metric {name!r}: mean and ci95 [low, high] must be finite, got {values}")


def versions() -> dict:
    """Versions of Python, the platform and every package whose version can change a number."""
    out = {"python": platform.python_version()}
    for key, dist in _VERSIONED_DISTRIBUTIONS.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    out["platform"] = platform.platform()
    return out


def git_state() -> tuple[Optional[str], Optional[bool]]:
    """``(commit, dirty)`` of the git repository holding this package, or ``(None, None)`` outside one.

    ``dirty`` is True when tracked files differ from the commit (untracked files are ignored). Read-only:
    ``--no-optional-locks`` keeps ``git status`` from touching the index.
    """
    repo = Path(__file__).resolve().parent.parent

    def git(*args) -> Optional[str]:
        try:
            proc = subprocess.run(["git", "--no-optional-locks", "-C", str(repo), *args], capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    toplevel = git("rev-parse", "--show-toplevel")
    if toplevel is None or Path(toplevel).resolve() != repo:
        return None, None  # not our repository (e.g. an installed copy inside someone else's checkout)
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status))


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _dumps(obj) -> str:
    try:
        return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
    except ValueError as err:  # allow_nan=False
        raise ResultsSchemaError(f"results hold a NaN or infinite number, which JSON cannot carry: {err}") from err


def _atomic_write(path: Path, write) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".tmp") as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return path


def write_json_atomic(path, obj) -> Path:
    """Write ``obj`` as JSON (UTF-8, indented, NaN refused) through a temp file and ``os.replace``."""
    text = _dumps(obj) + "\n"
    return _atomic_write(path, lambda f: f.write(text))


def write_csv_atomic(path, df: pd.DataFrame) -> Path:
    """Write ``df`` as CSV without the index (floats round-trip exactly) through a temp file and ``os.replace``."""
    return _atomic_write(path, lambda f: df.to_csv(f, index=False))


def read_per_clip(path) -> pd.DataFrame:
    """Read a ``per_clip.csv``; ``clip_id`` and ``category`` stay strings (``"0007"`` is not the number 7)."""
    df = pd.read_csv(path, dtype={"clip_id": str, "category": str}, keep_default_na=False, na_values=[""])
    for column in ("clip_id", "category"):
        if column in df.columns:
            df[column] = df[column].fillna("")
    return df


def load_results(path) -> dict:
    """Read a results.json; raise :class:`ResultsSchemaError` unless it is schema version ``SCHEMA_VERSION``."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsSchemaError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(results, dict) or "schema_version" not in results:
        raise ResultsSchemaError(f"{path}: no 'schema_version'; not a results file of this benchmark")
    version = results["schema_version"]
    if version != SCHEMA_VERSION:
        raise ResultsSchemaError(
            f"{path}: schema_version {version!r}, but this code reads schema_version {SCHEMA_VERSION}; "
            "rescore the run with this version of the benchmark, or use the version that wrote it"
        )
    missing = [k for k in ("method", "dataset", "metrics", "seed") if k not in results]
    if missing:
        raise ResultsSchemaError(f"{path}: missing {missing}")
    return results


def find_results(root) -> list[Path]:
    """Every ``results.json`` under ``root`` (recursively), sorted."""
    root = Path(root)
    if root.is_file():
        return [root] if root.name == RESULTS_FILENAME else []
    return sorted(p for p in root.rglob(RESULTS_FILENAME) if p.is_file())
