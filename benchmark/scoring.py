"""Scoring as its own step: videos on disk + the dataset -> ``per_clip.csv`` and ``results.json``.

One function scores, :func:`score_videos`; both ways of getting numbers call it:

* ``python -m benchmark run`` generates the videos, then :func:`benchmark.runner.score_run` calls it;
* ``python -m benchmark score RUN_DIR`` (:func:`score_run_dir`) calls it on a run folder's ``videos/``, and
  ``python -m benchmark score --videos DIR --dataset NAME --split S --out OUT`` (:func:`score_folder`) on a folder
  of ``<clip_id>.mp4`` (or ``.mkv``) made anywhere else.

So ``score`` gives exactly ``run``'s numbers on the same videos (same clips in the same order, same metrics, same
bootstrap seed and resamples). It needs nothing but the videos and the dataset: no generator is built and no
model is loaded. Each clip's ground truth is verified against the dataset's recorded content identity as the run
does (a clip that does not match fails with stage ``verify``), and the results record the identity of exactly the
clips scored. Scoring a run folder also checks, before any work, that the dataset given (``--root``) is the one
the run's videos were made from (``run.json``'s ``dataset_identity``).

**Adding a metric to an old run.** ``score RUN_DIR --metrics ssim`` on a run scored with ``psnr`` scores
``psnr`` and ``ssim``: the metrics asked for are added to the ones the previous ``results.json`` requested, and
all of them are computed in one pass over the videos (decoding and verifying the clips costs more than PSNR and
SSIM themselves, and one pass keeps ``per_clip.csv`` and ``results.json`` one consistent set). Without
``--metrics`` the previous metrics are scored again. The results say what happened in their ``scoring`` block::

    scoring  {"step": "run"}  or  {"step": "score", "videos": DIR, "metrics_before": [...] | null,
              "metrics_added": [...], "previous_created": ISO time | null, "metric_options": {...}}

**Metric options** (``--metric-arg METRIC.KEY=VALUE``, :mod:`benchmark.metrics.options`). Scoring a folder again
uses the options its previous results were scored with, read back from their ``metric_settings`` (a run made with
``lpips.net=vgg`` is re-scored with VGG), and ``--metric-arg`` overrides them; an option of a metric that is not
scored is refused. The options given are recorded in the ``scoring`` block (``"metric_options"``), and every
option in force in each metric's settings, as in a run.

**Which clips.** A run folder: the first ``dataset.n_clips`` clips of the split, as the previous results (the
run's ``--limit``) say, or ``--limit N``, else every clip of the split. A clip whose generation failed (recorded
in the run folder) stays failed and is not looked for. A clip that should have a video but has none is
*missing*: with ``on_error="skip"`` the missing clips are named on stderr, recorded as failed (stage ``score``)
and the others are scored; with ``on_error="fail"`` nothing is scored and a :class:`~benchmark.errors.UsageError`
names them. Videos that are there but cannot be scored (damaged, wrong size) fail their clip like in a run; with
``on_error="fail"`` the first one stops the scoring (:class:`ScoringStopped`) and nothing is written.

``--out`` writes ``per_clip.csv``, ``results.json`` and ``errors.jsonl`` to another folder and leaves the run
folder as it is (how ``tests/test_scoring.py`` checks ``score`` against ``run``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import process_start_time, remove_stale_temps
from .errors import UsageError
from .runner import (
    _FAILURES,
    _SCORING_STAGES,
    _SHARDS,
    _SOURCES,
    ON_ERROR,
    RunReport,
    _failure_path,
    _read_failure_records,
    _read_failures,
    _record_failure,
    _write_errors_jsonl,
)
from .metrics.catalog import DEFAULT_METRICS  # what `run` scores when --metrics is not given
from .schema import ClipValidationError
from .video_io import VideoReadError, read_video

VIDEO_EXTENSIONS = (".mp4", ".mkv")
_SHOWN = 10  # clip ids named in one line before "... and N more"


class ScoringStopped(Exception):
    """``on_error="fail"``: a clip could not be scored, so nothing was written. Names the clip and the reason."""

    def __init__(self, clip_id: str, stage: str, error: BaseException):
        self.clip_id, self.stage, self.error = clip_id, stage, error
        super().__init__(f"clip {clip_id}: {stage} failed: {type(error).__name__}: {error}; stopped there "
                         "(--on-error fail), nothing was written")


class MissingVideoError(FileNotFoundError):
    """A clip that should have a video has none (recorded as the clip's failure, stage ``score``)."""


@dataclass
class ScoreReport:
    """What a ``score`` did: where it wrote, the results, failed and missing clips, the metrics it added."""

    out_dir: Path
    results: dict | None = None
    failed: list = field(default_factory=list)  # [{"clip_id", "stage", "error"}], this scoring's failures
    missing: list = field(default_factory=list)  # clip ids without a video
    metrics_added: list = field(default_factory=list)


def _clip_list(ids, shown: int = _SHOWN) -> str:
    ids = list(ids)
    more = f" ... and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


# ---- the one scoring function ------------------------------------------------------------------------------------


def score_videos(out_dir: Path, clips, clip_ids, *, locate, method: dict, track: str, seed: int, metrics,
                 n_boot: int, report, counts: dict, extra_failures=(), on_error: str = "skip",
                 device: str = "cpu", progress: bool = True, scoring: dict | None = None,
                 metric_options: dict | None = None) -> dict:
    """Score the video of every clip in ``clip_ids`` against its verified ground truth; write the results.

    Args:
        out_dir: where ``per_clip.csv``, ``results.json``, ``errors.jsonl`` and the ``.failures/`` records go.
        clips: the :class:`~benchmark.data.loading.ClipSet` (ground truth, categories, identity).
        clip_ids: the clips of the run, in order (the per-clip table follows it).
        locate: ``clip_id -> Path | None``, the clip's video (uint8 ``(T, H, W, 3)`` at the ego resolution once
            decoded); ``None``: the clip has no video and is left out (its failure is recorded elsewhere).
        method: the results' ``method`` block.
        track, seed: recorded; ``seed`` is also the bootstrap seed.
        metrics, n_boot: the metric names and the bootstrap resamples (``MetricSuite`` / ``summarize``).
        report: has a ``failed`` list (a :class:`~benchmark.runner.RunReport`); clips in it are not scored,
            and the failures found here are appended to it.
        counts: the results' ``counts`` block without ``failed`` / ``failed_clips`` (added here).
        extra_failures: failure entries ``{clip_id, stage, error}`` recorded in another folder (the run folder,
            when the results go to another ``out_dir``); counted with the failures found in ``out_dir``.
        on_error: ``"skip"`` records a clip that cannot be scored and goes on; ``"fail"`` raises
            :class:`ScoringStopped` at the first one, before anything is written.
        device: where the metrics compute.
        scoring: the results' ``scoring`` block (how this scoring came about; see the module docstring).
        metric_options: ``{metric: {option: value}}`` for :class:`~benchmark.metrics.MetricSuite` (checked by the
            callers; recorded through each metric's settings).

    Returns the results dict written to ``out_dir / "results.json"``.
    """
    from tqdm.auto import tqdm

    from .data import DatasetIntegrityError
    from .data.identity import set_identity
    from .metrics import MetricSuite
    from .results import build_results, write_csv_atomic, write_json_atomic

    # the first-frame track gives the method the true frame 0: it is a condition, not a prediction, and is not scored
    suite = MetricSuite(names=tuple(metrics), device=device, metric_options=metric_options,
                        given_frames=1 if track == "first-frame" else 0)
    failed_ids = {f["clip_id"] for f in report.failed}
    scored = 0
    clip_hashes = {}
    categories = clips.categories()
    # the true ego cameras, for metrics that need them (ego-motion error); parquet rows only, no decoding
    cameras = {m["clip_id"]: {"ego_K": m["ego_K"], "ego_T_world_cam": m["ego_T_world_cam"]}
               for m in clips.iter_inputs_metadata()}

    def fail(clip_id, stage, exc):
        if on_error == "fail":
            raise ScoringStopped(clip_id, stage, exc) from exc
        _record_failure(report, out_dir, clip_id, stage, exc)

    for clip_id in tqdm(clip_ids, desc="scoring", unit="clip", disable=not progress, file=sys.stderr):
        if clip_id in failed_ids:
            continue
        path = locate(clip_id)
        if path is None:
            continue  # e.g. another shard's clip that failed there: its error is in errors.jsonl
        try:
            target = clips.ego_video(clip_id)
            # Only clips whose content still matches the dataset's recorded identity are scored (a swapped
            # ground-truth video fails here, by name); their hashes make the identity the results record.
            clip_hashes[clip_id] = clips.verify_clip(clip_id, ego_video=target)
        except DatasetIntegrityError as exc:
            fail(clip_id, "verify", exc)
            continue
        except (VideoReadError, ClipValidationError, ValueError, OSError) as exc:
            fail(clip_id, "score", exc)
            continue
        try:
            pred = read_video(path, expected_frames=target.shape[0], expected_size=target.shape[1:3])
            suite.update(clip_id, categories[clip_id], pred, target, **cameras[clip_id])
            scored += 1
        except (VideoReadError, ClipValidationError, ValueError, OSError) as exc:
            clip_hashes.pop(clip_id, None)
            fail(clip_id, "score", exc)
    _forget_stale_scoring_failures(out_dir, clip_ids, report)
    per_clip = suite.per_clip()
    write_csv_atomic(out_dir / "per_clip.csv", per_clip)
    summary = suite.summary(n_boot=n_boot, seed=seed)
    _write_errors_jsonl(out_dir)  # scoring may have added failures
    wanted = set(clip_ids)
    all_failed = {f["clip_id"]: f for f in extra_failures if f["clip_id"] in wanted}
    all_failed.update({f["clip_id"]: f for f in _read_failures(out_dir) if f["clip_id"] in wanted})
    all_failed = [all_failed[cid] for cid in sorted(all_failed)]
    results = build_results(
        method=method,
        dataset={"name": clips.name, "split": clips.split, "config": clips.config, "track": track,
                 "manifest_sha256": clips.manifest_sha256,
                 "n_clips": len(clip_ids), "n_scored": scored, "root": str(clips.root), "info": clips.info,
                 # content identity (benchmark.data.identity) of exactly the clips scored, re-derived from disk
                 "identity": set_identity(clip_hashes) if clip_hashes else None,
                 "identity_verified": clips.verifiable, "split_identity": clips.identity,
                 "n_clips_in_split": len(clips.clip_ids)},  # n_clips is smaller with --limit
        metrics_summary=summary["metrics"],
        per_category=summary["per_category"],
        settings=suite.settings(),
        bootstrap=summary["bootstrap"],  # n_boot, seed, alpha, method: how ci95 was resampled
        seed=seed,
        counts={**counts, "failed": len(all_failed), "failed_clips": all_failed},
    )
    results["scoring"] = dict(scoring or {"step": "run"})
    write_json_atomic(out_dir / "results.json", results)
    # Temporary files of killed processes; only those older than this process: a second shard that scores at
    # the same moment keeps the file it is writing.
    for folder in (out_dir, out_dir / "videos", out_dir / _FAILURES, out_dir / _SOURCES, out_dir / _SHARDS):
        remove_stale_temps(folder, older_than=process_start_time())
    return results


# ---- score: a run folder, or a folder of videos made elsewhere ------------------------------------------------------


def _previous_results(out_dir: Path):
    """The results.json already in ``out_dir`` (validated), or None when there is none or it cannot be read."""
    from .results import ResultsSchemaError, load_results

    path = out_dir / "results.json"
    if not path.is_file():
        return None
    try:
        return load_results(path)
    except ResultsSchemaError as exc:
        print(f"[benchmark] ignoring the previous {path}: {exc}", file=sys.stderr)
        return None


def _metrics_to_score(previous, requested):
    """(metrics to compute, metrics added): the previous results' metrics, then those asked for that are new."""
    from .metrics.catalog import METRICS, check_metric_names

    before = None
    if previous is not None:
        names = previous.get("metric_settings", {}).get("metrics_requested") or list(previous.get("metrics", {}))
        before = [n for n in names if n in METRICS]  # a metric this version no longer knows cannot be rescored
    if requested is None:
        return tuple(before or DEFAULT_METRICS), []
    requested = check_metric_names(requested)
    added = [m for m in requested if m not in (before or [])]
    return tuple((before or []) + added), added


def _check_limit(limit, clip_ids) -> list:
    if limit is None:
        return list(clip_ids)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UsageError(f"--limit must be an integer >= 1, got {limit!r}")
    return list(clip_ids)[:limit]


def _check_out(out_dir: Path, run_dir: Path | None):
    """``--out`` is a folder of results: never another run's folder (its results would describe other videos)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file; expected a folder for per_clip.csv and results.json")
    if run_dir is not None and out_dir.resolve() == run_dir.resolve():
        return
    if (out_dir / "run.json").exists() or (out_dir / "videos").is_dir():
        raise UsageError(f"--out {out_dir} is a run folder (it holds run.json or videos/); its results describe its "
                         "own videos. Give an empty or new folder, or score that run folder itself")


def _find_missing(clip_ids, locate, known_failed) -> list:
    return [cid for cid in clip_ids if cid not in known_failed and locate(cid) is None]


def _refuse_missing(missing, clip_ids, where: str, on_error: str):
    """Missing videos that stop the scoring before anything is written: all of them, or any under --on-error fail."""
    if not missing:
        return
    if len(missing) == len(clip_ids):
        raise UsageError(f"no clip has a video in {where}: expected <clip_id>.mp4 files such as {missing[0]}.mp4 "
                         f"({len(clip_ids)} clips asked for)")
    if on_error == "fail":
        raise UsageError(f"{len(missing)} of {len(clip_ids)} clips have no video in {where}: {_clip_list(missing)}; "
                         "nothing was scored (--on-error fail). Add the videos, or pass --on-error skip to score "
                         "the others and record these as failed")


def _record_missing(missing, clip_ids, where: str, report, out_dir: Path):
    if not missing:
        return
    print(f"[benchmark] {len(missing)} of {len(clip_ids)} clips have no video in {where}: {_clip_list(missing)}; "
          "scoring the others, these are recorded as failed", file=sys.stderr)
    for cid in missing:
        try:
            raise MissingVideoError(f"no video of clip {cid} in {where}")
        except MissingVideoError as exc:  # raised and caught so the record carries a traceback like the others
            _record_failure(report, out_dir, cid, "score", exc)


def _forget_stale_scoring_failures(out_dir: Path, clip_ids, report):
    """Drop the scoring-stage failure records of earlier scorings for clips that did not fail now.

    A clip that failed again has a new record (same file); generation failures are not this step's to forget.
    Called after the scoring loop, so a scoring stopped by ``on_error="fail"`` changes no file.
    """
    wanted = set(clip_ids)
    failed_now = {f["clip_id"] for f in report.failed}
    for record in _read_failure_records(out_dir):
        cid = record["clip_id"]
        if cid in wanted and cid not in failed_now and record.get("stage") in _SCORING_STAGES:
            _failure_path(out_dir, cid).unlink(missing_ok=True)


def _check_on_error(on_error: str):
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")


def _method_from_run_json(run_info: dict, run_dir: Path) -> dict:
    """The results' ``method`` block rebuilt from ``run.json`` (when the run was never scored): what the runner
    records, without building the generator. The class and the oracle flag come from the registry when the
    method is installed here."""
    from . import registry

    name = run_info.get("method")
    method = {"name": run_dir.name, "config": run_info.get("generator_config") or {},
              "checkpoint_sha256": run_info.get("checkpoint_sha256"), "oracle": False,
              "registered_as": name, "target": run_info.get("target")}
    if run_info.get("inputs"):  # a sweep point's input setting (--views / --pose-noise), as the runner records it
        method["inputs"] = run_info["inputs"]
    try:
        spec = registry.get_spec(name)
        cls = registry.method_class(name)
    except (UsageError, ImportError, AttributeError):
        method["registry_source"] = None  # not installed here: the oracle flag cannot be read
        return method
    method.update({"oracle": bool(getattr(cls, "oracle", False)), "class": f"{cls.__module__}:{cls.__qualname__}",
                   "registry_source": spec.source})
    return method


def _counts_from(previous, n_videos: int) -> dict:
    """Generation counts: the previous results' (score makes no video), else 0 generated and every video reused."""
    if previous is not None:
        kept = {k: v for k, v in previous["counts"].items() if k not in ("failed", "failed_clips")}
        return {"generated": kept.pop("generated"), "reused": kept.pop("reused"), **kept}
    return {"generated": 0, "reused": n_videos, "generation_seconds": None}


def _scoring_block(videos: Path, previous, metrics_added, metric_options=None) -> dict:
    before = None
    if previous is not None:
        before = previous.get("metric_settings", {}).get("metrics_requested") or list(previous.get("metrics", {}))
    return {"step": "score", "videos": str(videos), "metrics_before": before, "metrics_added": list(metrics_added),
            "previous_created": previous.get("created") if previous else None,
            "metric_options": dict(metric_options or {})}  # as given (--metric-arg); the rest came from before


def _options_to_score(previous, names, given) -> dict:
    """The metric options of this scoring: those the previous results were scored with, overridden by ``given``."""
    from .metrics.options import options_to_score

    return options_to_score((previous or {}).get("metric_settings"), names, given)


def score_run_dir(run_dir, *, metrics=None, root=None, out=None, limit=None, n_boot=None, on_error: str = "skip",
                  device: str = "cpu", progress: bool = True, metric_options=None) -> ScoreReport:
    """Score (again) the videos of a run folder; see the module docstring.

    Args:
        run_dir: a folder written by ``run`` (``run.json``, ``videos/``).
        metrics: metric names to add to the previous results' metrics (None: score those again; without
            previous results: psnr, ssim, lpips).
        root: the dataset folder (None: the previous results' ``dataset.root`` when it exists, else the default
            place of the run's dataset).
        out: folder for per_clip.csv / results.json / errors.jsonl (None: the run folder itself).
        limit: the first N clips of the split (None: as many as the previous results had, else all).
        n_boot: bootstrap resamples (None: as before, else 1000).
        metric_options: ``{metric: {option: value}}`` overriding the options the previous results were scored with
            (``--metric-arg``); only metrics being scored may be named.

    Raises :class:`~benchmark.errors.UsageError` for a folder that is not a run folder, a dataset that is not the
    one the videos were made from, missing videos under ``on_error="fail"``; :class:`ScoringStopped` when
    ``on_error="fail"`` and a video cannot be scored.
    """
    from .data import load_split

    _check_on_error(on_error)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run folder {run_dir} does not exist")
    run_json = run_dir / "run.json"
    if not run_json.is_file():
        raise UsageError(f"{run_dir} is not a run folder (no run.json); to score a folder of videos made elsewhere, "
                         "use `score --videos DIR --dataset NAME --split S --out DIR`")
    try:
        run_info = json.loads(run_json.read_text(encoding="utf-8"))
        if not isinstance(run_info, dict) or not {"dataset", "split", "seed", "track"} <= set(run_info):
            raise ValueError("expected an object with dataset, split, seed and track")
    except ValueError as exc:
        raise UsageError(f"{run_json} is not a run settings file ({exc})") from None
    videos = run_dir / "videos"
    if not videos.is_dir():
        raise UsageError(f"run folder {run_dir} has no videos/ folder: nothing to score")
    previous = _previous_results(run_dir)
    if root is None and previous is not None and Path(previous["dataset"].get("root") or "").is_dir():
        root = previous["dataset"]["root"]
    clips = load_split(run_info["dataset"], run_info["split"], root=root, config=run_info.get("config"))
    made_on, given = run_info.get("dataset_identity"), clips.identity or clips.manifest_sha256
    if made_on is not None and made_on != given:
        raise UsageError(f"the videos of {run_dir} were made from {run_info['dataset']}/{run_info['split']} with "
                         f"dataset identity {made_on}, but the dataset at {clips.root} has identity {given}; pass "
                         "--root of the dataset the run was made on")
    out_dir = run_dir if out is None else Path(out)
    _check_out(out_dir, run_dir)
    if limit is None and previous is not None:
        limit = int(previous["dataset"]["n_clips"])
    clip_ids = _check_limit(limit, clips.clip_ids)
    names, added = _metrics_to_score(previous, metrics)
    options = _options_to_score(previous, names, metric_options)
    n_boot = n_boot if n_boot is not None else (previous or {}).get("bootstrap", {}).get("n_boot", 1000)

    def locate(clip_id):
        path = videos / f"{clip_id}.mp4"
        return path if path.is_file() else None

    # generation failures recorded in the run folder: those clips have no video and are not "missing"
    generation_failures = [f for f in _read_failures(run_dir) if f.get("stage") not in _SCORING_STAGES]
    known_failed = {f["clip_id"] for f in generation_failures}
    missing = _find_missing(clip_ids, locate, known_failed)
    report = RunReport(out_dir=out_dir)
    _refuse_missing(missing, clip_ids, str(videos), on_error)  # before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    _record_missing(missing, clip_ids, str(videos), report, out_dir)
    method = dict(previous["method"]) if previous is not None else _method_from_run_json(run_info, run_dir)
    n_videos = sum(1 for cid in clip_ids if locate(cid) is not None)
    results = score_videos(
        out_dir, clips, clip_ids, locate=locate, method=method, track=run_info["track"], seed=int(run_info["seed"]),
        metrics=names, n_boot=int(n_boot), report=report, counts=_counts_from(previous, n_videos),
        extra_failures=generation_failures if out_dir.resolve() != run_dir.resolve() else (), on_error=on_error,
        device=device, progress=progress, scoring=_scoring_block(videos, previous, added, metric_options),
        metric_options=options)
    return ScoreReport(out_dir=out_dir, results=results, failed=list(report.failed), missing=missing,
                       metrics_added=added)


def score_folder(videos, *, dataset: str, split: str, out, config=None, root=None, name=None,
                 track: str = "exo-only", seed: int = 0, metrics=None, limit=None, n_boot=None,
                 on_error: str = "skip", device: str = "cpu", progress: bool = True,
                 metric_options=None) -> ScoreReport:
    """Score a folder of ``<clip_id>.mp4`` (or ``.mkv``) made elsewhere against a split; write to ``out``.

    ``name`` is the method's name in tables (default: the folder's name); ``track`` the track the videos were
    made for (recorded: it is part of the protocol); ``seed`` the bootstrap seed. A file that resolves outside
    ``videos`` (a link to the dataset's ground truth, say) is refused, as ``from-folder`` does. ``metrics`` are
    added to those of earlier results in ``out``, like :func:`score_run_dir`; ``limit`` is the first N clips of
    the split (default: every clip). ``metric_options`` override those of earlier results in ``out`` (see
    :func:`score_run_dir`).
    """
    from baselines.from_folder import FromFolder
    from .data import load_split
    from .schema import TRACKS

    _check_on_error(on_error)
    if track not in TRACKS:
        raise UsageError(f"unknown track {track!r} (--track); expected one of {', '.join(TRACKS)}")
    videos = Path(videos)
    if not videos.is_dir():
        raise UsageError(f"--videos {videos}: no such folder")
    folder = FromFolder(root=str(videos), extensions=VIDEO_EXTENSIONS)  # refuses links leading out of the folder
    clips = load_split(dataset, split, root=root, config=config)
    out_dir = Path(out)
    _check_out(out_dir, None)
    clip_ids = _check_limit(limit, clips.clip_ids)
    known = set(clips.clip_ids)
    strangers = sorted(p.name for p in videos.iterdir() if p.suffix in VIDEO_EXTENSIONS and p.stem not in known)
    if strangers:
        print(f"[benchmark] {len(strangers)} video(s) in {videos} are not clips of {clips.label}: "
              f"{_clip_list(strangers)}; they are not scored", file=sys.stderr)
    previous = _previous_results(out_dir)
    names, added = _metrics_to_score(previous, metrics)
    options = _options_to_score(previous, names, metric_options)
    n_boot = n_boot if n_boot is not None else (previous or {}).get("bootstrap", {}).get("n_boot", 1000)
    missing = _find_missing(clip_ids, folder.source_path, set())
    report = RunReport(out_dir=out_dir)
    _refuse_missing(missing, clip_ids, str(videos), on_error)  # before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    _record_missing(missing, clip_ids, str(videos), report, out_dir)
    method = {"name": name or videos.resolve().name, "config": {"videos": str(videos.resolve())},
              "checkpoint_sha256": None, "oracle": False, "source": "videos made elsewhere (score --videos)"}
    n_videos = len(clip_ids) - len(missing)
    results = score_videos(
        out_dir, clips, clip_ids, locate=folder.source_path, method=method, track=track, seed=int(seed),
        metrics=names, n_boot=int(n_boot), report=report, counts={"generated": 0, "reused": n_videos},
        on_error=on_error, device=device, progress=progress,
        scoring=_scoring_block(videos, previous, added, metric_options), metric_options=options)
    return ScoreReport(out_dir=out_dir, results=results, failed=list(report.failed), missing=missing,
                       metrics_added=added)
