"""The results file (``results.json``, schema v2), its field-by-field validation, and the atomic writers.

``results.json`` carries everything needed to trust its numbers::

    schema_version   2 (files of schema 1 are still read; they have no dataset identity and no bootstrap block)
    method           {name, config, checkpoint_sha256, oracle, ...}                 what was evaluated
    dataset          {name, split, config, track, identity, manifest_sha256, n_clips, ...}  on which clips
                     exactly; config: the dataset config run (``--config``; absent in older files, read as
                     "default" by :func:`dataset_config`); identity: sha256 of the content of the clips scored
                     (benchmark.data.identity), verified while scoring; null only when no clip was scored
    metrics          {metric: {mean, ci95: [low, high], higher_is_better, n} | {unavailable: reason}}; a
                     metric's direction is the catalogue's (benchmark.metrics.catalog); a metric that is one
                     number over the set of clips (FVD, kind "set") has no per_clip.csv column
    per_category     {category: {metric: {mean, ci95, n}}}
    metric_settings  every setting that changes a number (``MetricSuite.settings()``), e.g. SSIM's window and
                     border rule; a metric's "notes" are prose
    bootstrap        {n_boot, seed, alpha, method, unit}: how the ci95 intervals were resampled
    seed             generation seed (also the bootstrap seed)
    counts           {generated, reused, failed, failed_clips: [{clip_id, error, ...}], ...}
    versions         {python, torch, torchvision, diffusers, torchmetrics, numpy, av, datasets, lpips, ...}
    git_commit       HEAD of the repository this package was imported from, or null
    git_dirty        whether tracked files differ from that commit, or null
    created          ISO 8601 UTC timestamp
    scoring          how the scores came about, added by ``benchmark.scoring`` after :func:`build_results`:
                     {"step": "run"} or {"step": "score", "videos", "metrics_before", "metrics_added", ...};
                     not validated (absent in older files)

Extra keys given in ``method``, ``dataset`` and ``counts`` are kept. Readers (the leaderboard, figures, the
regression check) go through :func:`load_results`, which validates every field they read
(:func:`validate_results`) and raises :class:`ResultsSchemaError` naming the file and the field, e.g.
``runs/synth/test/x/results.json: metrics.psnr.ci95: expected [low, high], got null``.
:func:`per_clip_disagreements` checks a results dict against the run's own ``per_clip.csv``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from benchmark.atomic import atomic_path
from benchmark.errors import UsageError
from benchmark.metrics import catalog

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)  # load_results reads these; build_results writes SCHEMA_VERSION
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
_REQUIRED_DATASET_KEYS = ("name", "split", "track", "identity", "manifest_sha256", "n_clips")
_BOOTSTRAP_KEYS = ("n_boot", "seed", "alpha", "method", "unit")
MIN_N_BOOT_FOR_CONTAINMENT = 100  # below this many resamples the mean may fall outside the interval
MEAN_RECOMPUTE_RTOL = 1e-9  # results mean vs the mean recomputed from per_clip.csv
_REQUIRED_COUNT_KEYS = ("generated", "reused", "failed")


DEFAULT_CONFIG = "default"  # the dataset config of every clip; results without dataset.config ran on it


def dataset_config(results: dict) -> str:
    """The dataset config a run scored (``dataset.config``); files written before configs existed: ``"default"``."""
    return results.get("dataset", {}).get("config") or DEFAULT_CONFIG


class ResultsSchemaError(UsageError):
    """A results file does not follow the schema; the message names the file and the field."""


class ResultsBuildError(ValueError):
    """The pieces given to :func:`build_results` do not make a valid results dict (a bug of the caller)."""


def build_results(*, method: dict, dataset: dict, metrics_summary: dict, per_category: dict, settings: dict,
                  bootstrap: dict, seed: int, counts: dict) -> dict:
    """Assemble a schema-v2 results dict (see the module docstring) and validate it like :func:`load_results`.

    ``metrics_summary``, ``per_category`` and ``bootstrap`` are ``MetricSuite.summary()["metrics"]``,
    ``["per_category"]`` and ``["bootstrap"]``; ``settings`` is ``MetricSuite.settings()``; ``dataset`` needs
    ``name, split, track, identity, manifest_sha256, n_clips``. Raises :class:`ResultsBuildError` naming the
    field that is wrong.
    """
    if not isinstance(method, dict):
        raise ResultsBuildError(f"method: expected a dict, got {type(method).__name__}")
    for what, given, required in (("dataset", dataset, _REQUIRED_DATASET_KEYS), ("counts", counts, _REQUIRED_COUNT_KEYS),
                                  ("bootstrap", bootstrap, _BOOTSTRAP_KEYS)):
        if not isinstance(given, dict):
            raise ResultsBuildError(f"{what}: expected a dict, got {type(given).__name__}")
        missing = [k for k in required if k not in given]
        if missing:
            raise ResultsBuildError(f"{what} is missing {missing} (required: {list(required)})")

    method_out = {"name": method.get("name"), "config": method.get("config", {}),
                  "checkpoint_sha256": method.get("checkpoint_sha256"), "oracle": method.get("oracle", False)}
    method_out.update({k: v for k, v in method.items() if k not in method_out})
    failed_clips = counts.get("failed_clips", [])
    counts_out = {"generated": counts["generated"], "reused": counts["reused"], "failed": counts["failed"],
                  "failed_clips": [dict(f) if isinstance(f, dict) else f for f in failed_clips]}
    counts_out.update({k: v for k, v in counts.items() if k not in counts_out})
    commit, dirty = git_state()
    results = {
        "schema_version": SCHEMA_VERSION,
        "method": method_out,
        "dataset": dict(dataset),
        "metrics": metrics_summary,
        "per_category": per_category,
        "metric_settings": settings,
        "bootstrap": {k: bootstrap[k] for k in _BOOTSTRAP_KEYS},
        "seed": seed,
        "counts": counts_out,
        "versions": versions(),
        "git_commit": commit,
        "git_dirty": dirty,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:  # plain JSON types only (numpy scalars become numbers); NaN and inf are refused here, not later
        results = json.loads(_dumps(results, error=ResultsBuildError))
        return validate_results(results, "results being built")
    except ResultsSchemaError as err:
        raise ResultsBuildError(str(err)) from None


# ---------------------------------------------------------------------------------------------- validation


def validate_results(results, path) -> dict:
    """Check every field that readers use; return ``results`` unchanged or raise :class:`ResultsSchemaError`.

    The message names ``path`` and the field path (``metrics.psnr.ci95``), what was expected and what was
    found. Checked (schema 1 and 2 alike unless said): ``schema_version`` in :data:`READABLE_SCHEMA_VERSIONS`;
    ``method.name`` a non-empty string, ``method.oracle`` a bool; ``dataset.name/split/track`` non-empty
    strings, ``dataset.config`` (if present) a non-empty string, ``dataset.n_clips`` a positive int, ``n_scored`` (if present) an int in ``[0, n_clips]``,
    ``dataset.identity`` a 64-hex sha256 (v2: required, null only when no clip was scored; v1: optional),
    ``manifest_sha256`` a 64-hex sha256 (v1) or that or null (v2); each metric either ``{"unavailable":
    non-empty reason}`` or ``mean`` a finite number, ``ci95`` two finite numbers ``low <= high`` around the
    mean (within a relative slack of 1e-9; not checked when fewer than :data:`MIN_N_BOOT_FOR_CONTAINMENT`
    resamples were drawn), ``n`` a positive int, ``higher_is_better`` a bool (for a metric in the catalogue,
    :mod:`benchmark.metrics.catalog`, its direction there); ``per_category`` entries alike
    (without ``higher_is_better``); ``metric_settings`` a dict (a metric's ``weight_files`` a list of dicts);
    ``bootstrap`` (v2) ``n_boot`` positive int, ``seed`` int, ``alpha`` in (0, 1), ``method`` and ``unit``
    strings; ``seed`` an int; ``counts.generated/reused/failed`` non-negative ints, ``failed_clips`` a list
    of ``{clip_id, error}`` whose length is ``failed``; ``git_commit`` string or null, ``git_dirty`` bool or
    null, ``created`` a string. Booleans are never accepted as numbers.
    """
    v = _Validator(path)
    v.dict_(results, "")
    version = results.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_SCHEMA_VERSIONS:
        v.fail("schema_version", f"one of {list(READABLE_SCHEMA_VERSIONS)}", version)

    method = v.dict_(v.key(results, "", "method"), "method")
    v.text(v.key(method, "method", "name"), "method.name")
    v.boolean(v.key(method, "method", "oracle"), "method.oracle")
    if "config" in method:
        v.dict_(method["config"], "method.config")
    if method.get("checkpoint_sha256") is not None:
        v.text(method["checkpoint_sha256"], "method.checkpoint_sha256")

    dataset = v.dict_(v.key(results, "", "dataset"), "dataset")
    for key in ("name", "split", "track"):
        v.text(v.key(dataset, "dataset", key), f"dataset.{key}")
    if "config" in dataset:
        v.text(dataset["config"], "dataset.config", expected="a config name (\"default\": every clip)")
    n_clips = v.integer(v.key(dataset, "dataset", "n_clips"), "dataset.n_clips", minimum=1)
    if "n_scored" in dataset:
        v.integer(dataset["n_scored"], "dataset.n_scored", minimum=0, maximum=n_clips)
    if "n_clips_in_split" in dataset:
        v.integer(dataset["n_clips_in_split"], "dataset.n_clips_in_split", minimum=n_clips)
    metrics = v.dict_(v.key(results, "", "metrics"), "metrics")
    if version == 1:
        v.sha256(v.key(dataset, "dataset", "manifest_sha256"), "dataset.manifest_sha256")
        if dataset.get("identity") is not None:
            v.sha256(dataset["identity"], "dataset.identity")
    else:
        if dataset.get("manifest_sha256") is not None:
            v.sha256(dataset["manifest_sha256"], "dataset.manifest_sha256")
        identity = v.key(dataset, "dataset", "identity")
        scored_any = dataset.get("n_scored", 1) != 0 and any(
            isinstance(m, dict) and "unavailable" not in m for m in metrics.values())
        if identity is not None or scored_any:
            v.sha256(identity, "dataset.identity", why=" (clips were scored)" if identity is None else "")
    for key in ("identity_verified",):
        if key in dataset:
            v.boolean(dataset[key], f"dataset.{key}")
    if dataset.get("split_identity") is not None:
        v.sha256(dataset["split_identity"], "dataset.split_identity")

    n_boot = None
    if version != 1:
        boot = v.dict_(v.key(results, "", "bootstrap"), "bootstrap")
        n_boot = v.integer(v.key(boot, "bootstrap", "n_boot"), "bootstrap.n_boot", minimum=1)
        v.integer(v.key(boot, "bootstrap", "seed"), "bootstrap.seed")
        alpha = v.number(v.key(boot, "bootstrap", "alpha"), "bootstrap.alpha")
        if not 0.0 < alpha < 1.0:
            v.fail("bootstrap.alpha", "a number in (0, 1)", alpha)
        v.text(v.key(boot, "bootstrap", "method"), "bootstrap.method")
        v.text(v.key(boot, "bootstrap", "unit"), "bootstrap.unit")
    check_containment = n_boot is None or n_boot >= MIN_N_BOOT_FOR_CONTAINMENT

    for name, entry in metrics.items():
        field = f"metrics.{name}"
        v.dict_(entry, field)
        if "unavailable" in entry:
            v.text(entry["unavailable"], f"{field}.unavailable", expected="a non-empty reason")
            continue
        if catalog.is_set_metric(name):
            # one number over the whole set (FVD): no per-clip scores, so no bootstrap interval (ci95 null)
            v.number(v.key(entry, field, "mean", hint="or 'unavailable' with a reason"), f"{field}.mean")
            v.integer(v.key(entry, field, "n"), f"{field}.n", minimum=1)
            ci = entry.get("ci95")
            if ci is not None:
                v.fail(f"{field}.ci95", "null (a set metric has no bootstrap interval)", ci)
            if "warning" in entry:
                v.text(entry["warning"], f"{field}.warning", expected="a non-empty warning")
        else:
            v.summary_stats(entry, field, check_containment)
        higher = v.boolean(v.key(entry, field, "higher_is_better", hint="or 'unavailable' with a reason"),
                           f"{field}.higher_is_better")
        if name in catalog.METRICS and higher != catalog.METRICS[name].higher_is_better:
            known = catalog.METRICS[name]
            v.fail(f"{field}.higher_is_better", f"{str(known.higher_is_better).lower()} ({known.better} is better "
                   f"for {name}, benchmark.metrics.catalog)", higher)
    if "per_category" in results:
        for category, per_metric in v.dict_(results["per_category"], "per_category").items():
            for name, entry in v.dict_(per_metric, f"per_category.{category}").items():
                if catalog.is_set_metric(name):
                    continue
                v.summary_stats(v.dict_(entry, f"per_category.{category}.{name}"), f"per_category.{category}.{name}",
                                check_containment)

    settings = v.dict_(v.key(results, "", "metric_settings"), "metric_settings")
    for name, value in settings.items():
        if isinstance(value, dict) and "weight_files" in value:
            files = value["weight_files"]
            if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
                v.fail(f"metric_settings.{name}.weight_files", "a list of {filename, file_sha256, ...} dicts", files)

    v.integer(v.key(results, "", "seed"), "seed")
    counts = v.dict_(v.key(results, "", "counts"), "counts")
    for key in _REQUIRED_COUNT_KEYS:
        v.integer(v.key(counts, "counts", key), f"counts.{key}", minimum=0)
    failed_clips = counts.get("failed_clips", [])
    if not isinstance(failed_clips, list):
        v.fail("counts.failed_clips", "a list of {clip_id, error}", failed_clips)
    for i, entry in enumerate(failed_clips):
        v.dict_(entry, f"counts.failed_clips[{i}]")
        v.text(v.key(entry, f"counts.failed_clips[{i}]", "clip_id"), f"counts.failed_clips[{i}].clip_id")
        v.text(v.key(entry, f"counts.failed_clips[{i}]", "error"), f"counts.failed_clips[{i}].error",
               expected="a string", allow_empty=True)
    if "failed_clips" in counts and counts["failed"] != len(failed_clips):
        v.fail("counts.failed", f"the number of entries in counts.failed_clips ({len(failed_clips)})",
               counts["failed"])
    if "versions" in results:
        v.dict_(results["versions"], "versions")
    if results.get("git_commit") is not None:
        v.text(results["git_commit"], "git_commit")
    if results.get("git_dirty") is not None:
        v.boolean(results["git_dirty"], "git_dirty")
    if "created" in results:
        v.text(results["created"], "created")
    return results


class _Validator:
    """Type and range checks that raise :class:`ResultsSchemaError` as ``<path>: <field>: expected X, got Y``."""

    def __init__(self, path) -> None:
        self.path = path

    def fail(self, field: str, expected: str, got) -> None:
        where = f"{self.path}: {field}" if field else f"{self.path}"
        raise ResultsSchemaError(f"{where}: expected {expected}, got {_show(got)}")

    def key(self, container: dict, field: str, key: str, hint: str = ""):
        if key not in container:
            where = f"{field}.{key}" if field else key
            raise ResultsSchemaError(f"{self.path}: {where}: missing{f' ({hint})' if hint else ''}")
        return container[key]

    def dict_(self, value, field: str) -> dict:
        if not isinstance(value, dict):
            self.fail(field, "a JSON object" if field else "a JSON object (a results file)", value)
        return value

    def text(self, value, field: str, *, expected: str = "a non-empty string", allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not value and not allow_empty):
            self.fail(field, expected, value)
        return value

    def boolean(self, value, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, "true or false", value)
        return value

    def integer(self, value, field: str, *, minimum=None, maximum=None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "an integer", value)
        if minimum is not None and value < minimum:
            self.fail(field, f"an integer >= {minimum}", value)
        if maximum is not None and value > maximum:
            self.fail(field, f"an integer <= {maximum}", value)
        return value

    def number(self, value, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(field, "a finite number", value)
        return float(value)

    def sha256(self, value, field: str, why: str = "") -> str:
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            self.fail(field, f"a sha256 (64 lowercase hex digits){why}", value)
        return value

    def summary_stats(self, entry: dict, field: str, check_containment: bool) -> None:
        """``mean`` finite, ``ci95`` [low, high] finite around it, ``n`` a positive int."""
        mean = self.number(self.key(entry, field, "mean", hint="or 'unavailable' with a reason"), f"{field}.mean")
        ci = self.key(entry, field, "ci95")
        if not isinstance(ci, list) or len(ci) != 2:
            self.fail(f"{field}.ci95", "[low, high]", ci)
        low = self.number(ci[0], f"{field}.ci95[0]")
        high = self.number(ci[1], f"{field}.ci95[1]")
        if low > high:
            self.fail(f"{field}.ci95", "[low, high] with low <= high", ci)
        slack = 1e-9 * max(1.0, abs(low), abs(high), abs(mean))
        if check_containment and not low - slack <= mean <= high + slack:
            self.fail(f"{field}.mean", f"a mean inside its ci95 [{low!r}, {high!r}]", mean)
        self.integer(self.key(entry, field, "n"), f"{field}.n", minimum=1)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _show(value) -> str:
    """A short JSON-like rendering of a found value for error messages (``null``, ``"text"``, ``NaN``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    try:
        text = json.dumps(value, allow_nan=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    kind = "" if value is None or isinstance(value, (dict, list)) else f" ({type(value).__name__})"
    return (text if len(text) <= 80 else text[:77] + "...") + kind


def per_clip_disagreements(results: dict, per_clip: pd.DataFrame) -> list[str]:
    """Where a (validated) results dict contradicts the run's own ``per_clip.csv``; empty when they agree.

    For every metric with a mean, the finite scores of its per_clip column must number ``n`` and average to
    ``mean`` within a relative :data:`MEAN_RECOMPUTE_RTOL` (the runner writes both from the same scores, so a
    difference means one of the files was changed by hand or belongs to another run). A metric reported
    unavailable must have no scores; clip ids must be unique; ``dataset.n_scored`` (when present) must be the
    number of rows. A metric that is one number over the set of clips (FVD: ``kind == "set"`` in the
    catalogue) has no per-clip scores and is not checked here. Each message names the field, e.g. ``metrics.psnr.mean is 30.0 in results.json, but
    per_clip.csv gives 11.5612654546 (mean of 32 clip scores)``.
    """
    problems = []
    if "clip_id" not in per_clip.columns:
        return ["per_clip.csv has no clip_id column"]
    ids = per_clip["clip_id"].astype(str)
    if ids.duplicated().any():
        problems.append(f"per_clip.csv repeats clip ids {sorted(set(ids[ids.duplicated()]))[:5]}")
    n_scored = results.get("dataset", {}).get("n_scored")
    if n_scored is not None and n_scored != len(per_clip):
        problems.append(f"dataset.n_scored is {n_scored} in results.json, but per_clip.csv has {len(per_clip)} rows")
    for name, entry in results.get("metrics", {}).items():
        if catalog.is_set_metric(name):
            continue
        column = per_clip[name] if name in per_clip.columns else None
        if column is not None:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            if np.isnan(values).sum() != column.isna().sum():
                problems.append(f"per_clip.csv column {name!r} holds values that are not numbers")
                continue
            values = values[np.isfinite(values)]
        if "unavailable" in entry:
            if column is not None and values.size:
                problems.append(f"metrics.{name} is unavailable in results.json, but per_clip.csv has "
                                f"{values.size} {name} scores")
            continue
        if column is None:
            problems.append(f"metrics.{name} has a mean in results.json, but per_clip.csv has no {name} column")
            continue
        if values.size != entry["n"]:
            problems.append(f"metrics.{name}.n is {entry['n']} in results.json, but per_clip.csv has "
                            f"{values.size} {name} scores")
        if values.size == 0:
            continue
        recomputed = float(values.mean())
        if not math.isclose(entry["mean"], recomputed, rel_tol=MEAN_RECOMPUTE_RTOL, abs_tol=1e-12):
            problems.append(f"metrics.{name}.mean is {entry['mean']!r} in results.json, but per_clip.csv gives "
                            f"{recomputed:.12g} (mean of {values.size} clip scores)")
    return problems


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


def _dumps(obj, error=ValueError) -> str:
    try:
        return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
    except ValueError as err:  # allow_nan=False
        raise error(f"results hold a NaN or infinite number, which JSON cannot carry: {err}") from err


def _atomic_write(path: Path, write) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".tmp") as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)  # atomic_path fsyncs the file before the rename
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
    """Read and validate a results.json (schema 1 or 2); raise :class:`ResultsSchemaError` naming the file.

    A file of another schema version, not JSON, or with a field that does not follow the schema (see
    :func:`validate_results`) is refused with a message naming the file and the field path.
    """
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsSchemaError(f"{path}: not valid JSON ({err})") from err
    except UnicodeDecodeError as err:
        raise ResultsSchemaError(f"{path}: not UTF-8 text ({err})") from err
    if not isinstance(results, dict) or "schema_version" not in results:
        raise ResultsSchemaError(f"{path}: no 'schema_version'; not a results file of this benchmark")
    version = results["schema_version"]
    if isinstance(version, bool) or version not in READABLE_SCHEMA_VERSIONS:
        raise ResultsSchemaError(
            f"{path}: schema_version {version!r}, but this code reads schema_version "
            f"{' and '.join(map(str, READABLE_SCHEMA_VERSIONS))}; rescore the run with this version of the "
            "benchmark, or use the version that wrote it"
        )
    return validate_results(results, path)


def find_results(root) -> list[Path]:
    """Every ``results.json`` under ``root`` (recursively), sorted."""
    root = Path(root)
    if root.is_file():
        return [root] if root.name == RESULTS_FILENAME else []
    return sorted(p for p in root.rglob(RESULTS_FILENAME) if p.is_file())
