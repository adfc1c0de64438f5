"""The runner: generate every clip of a split with one method, score it, write the run folder.

Layout (ARCHITECTURE.md)::

    OUT/<dataset>/<split>/<method>/
        videos/<clip_id>.mp4     lossless RGB (benchmark.video_io), the exact frames that were scored
        per_clip.csv             clip_id, category, one column per metric
        results.json             schema v1 (benchmark.results)
        errors.jsonl             one line per failed clip (only when some failed)
        run.json                 the settings the videos were made with (method, arguments, seed, data)

Behaviour that makes numbers trustworthy:

* **Resume.** A clip whose video already exists and decodes to the expected shape is reused, not
  generated again; ``results.json`` counts generated / reused / failed clips.
* **Error isolation.** A clip that cannot be loaded or whose generator raises or returns a wrong shape,
  dtype or NaNs is recorded as failed with the reason; the other clips go on and finished videos are kept
  (``fail_fast=True`` stops at the first failure instead).
* **Seeds.** Each clip gets ``clip_seed(seed, clip_id)``, a stable hash, so a clip's output does not
  depend on which other clips were run, in which order, or on how many processes shared the work.
* **Sharding.** With ``num_shards > 1`` each shard generates the clips ``i`` with
  ``i % num_shards == shard`` (launch with ``torchrun``; the rank is read from the
  environment); the shard that finds every clip accounted for (a video or a recorded failure) then scores
  all videos read back from disk, so the scores equal a one-process run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path


from . import registry
from .schema import ClipValidationError, check_generated_video
from .video_io import VideoReadError, read_video, write_video


def clip_seed(seed: int, clip_id: str) -> int:
    """Per-clip seed in [0, 2^31): ``sha256(f"{seed}:{clip_id}")`` truncated. Stable across runs and machines."""
    digest = hashlib.sha256(f"{int(seed)}:{clip_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def run_dir(out: Path, dataset: str, split: str, run_name: str) -> Path:
    return Path(out) / dataset / split / run_name


@dataclass
class RunReport:
    """What happened in a run: where it wrote, counts, failures, the results dict."""

    out_dir: Path
    generated: int = 0
    reused: int = 0
    failed: list = field(default_factory=list)  # [{"clip_id", "stage", "error"}]
    results: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def _record_failure(report: RunReport, out_dir: Path, clip_id: str, stage: str, exc: BaseException):
    message = f"{type(exc).__name__}: {exc}"
    entry = {"clip_id": clip_id, "stage": stage, "error": message}
    report.failed.append(entry)
    with open(out_dir / "errors.jsonl", "a") as f:
        f.write(json.dumps({**entry, "traceback": traceback.format_exc(limit=8)}) + "\n")
    print(f"[benchmark] clip {clip_id}: {stage} failed: {message}", file=sys.stderr)


def _shard_from_env():
    """(rank, world) from accelerate / torchrun environment variables; (0, 1) when not launched."""
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))
    world = int(os.environ.get("WORLD_SIZE", 1))
    return rank, world


def run(
    method: str,
    *,
    dataset: str = "synth",
    split: str = "test",
    out: str | Path = "runs",
    root: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    track: str = "exo-only",
    method_kwargs: dict | None = None,
    run_name: str | None = None,
    metrics=("psnr", "ssim", "lpips"),
    n_boot: int = 1000,
    fail_fast: bool = False,
    progress: bool = True,
    shard: int | None = None,
    num_shards: int | None = None,
    score: bool | None = None,
    overwrite: bool = False,
) -> RunReport:
    """Generate, save and score one method on one split. Returns a :class:`RunReport`.

    ``shard`` / ``num_shards`` default to the launcher's rank / world size. With several shards, each
    generates its clips; scoring (``score=None`` means: when this is the only or the last shard to finish)
    reads every video back from disk so the numbers are identical to a single-process run.

    A run folder remembers the settings its videos were made with (``run.json``); reusing it with other
    settings (method arguments, seed, track, data) is refused unless ``overwrite=True``, which deletes the
    old videos first, so a resumed run never mixes videos of two configurations.
    """
    from tqdm.auto import tqdm

    from .data import load_split
    from .schema import TRACKS

    if track not in TRACKS:
        raise ValueError(f"unknown track {track!r}; expected one of {TRACKS}")
    spec = registry.get_spec(method)  # fails fast with the list of methods, before any data work
    clips = load_split(dataset, split, root=root)
    clip_ids = list(clips.clip_ids)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be >= 1, got {limit}")
        clip_ids = clip_ids[:limit]
    env_rank, env_world = _shard_from_env()
    shard = env_rank if shard is None else shard
    num_shards = env_world if num_shards is None else num_shards
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is outside 0..{num_shards - 1}")

    name = run_name or (method if track == "exo-only" else f"{method}@{track}")
    out_dir = run_dir(Path(out), clips.name, split, name)
    generator = registry.build(method, **(method_kwargs or {}))
    if track not in generator.tracks:
        raise ValueError(f"method {method!r} does not support track {track!r} (supports {generator.tracks})")
    _claim_run_dir(out_dir, _run_fingerprint(spec, generator, method_kwargs, seed, track, clips), overwrite)
    if num_shards == 1:  # failures and shard counts are re-established by this attempt
        (out_dir / "errors.jsonl").unlink(missing_ok=True)
        shutil.rmtree(out_dir / ".shards", ignore_errors=True)
    report = RunReport(out_dir=out_dir)

    mine = [cid for i, cid in enumerate(clip_ids) if i % num_shards == shard]
    bar = tqdm(mine, desc=f"{name} on {clips.name}/{split}", unit="clip", disable=not progress, file=sys.stderr)
    t0 = time.perf_counter()
    for clip_id in bar:
        video_path = out_dir / "videos" / f"{clip_id}.mp4"
        if video_path.exists():
            # Checked against the parquet's sizes, so a finished clip costs one decode, not the whole clip's.
            T, H, W = clips.ego_shape(clip_id)
            try:
                read_video(video_path, expected_frames=T, expected_size=(H, W))
                report.reused += 1
                continue
            except VideoReadError:
                pass  # a damaged or stale file: generate it again
        try:
            clip = clips.get(clip_id)
        except (VideoReadError, ClipValidationError, OSError, ValueError) as exc:
            _record_failure(report, out_dir, clip_id, "load", exc)
            if fail_fast:
                break
            continue
        try:
            inputs = clip.inputs(track)
            video = generator.generate(inputs, seed=clip_seed(seed, clip_id))
            video = check_generated_video(video, inputs, name)
            write_video(video_path, video, fps=clip.fps)
            report.generated += 1
        except Exception as exc:  # isolate: one bad clip must not lose the others
            _record_failure(report, out_dir, clip_id, "generate", exc)
            if fail_fast:
                break
    gen_seconds = time.perf_counter() - t0
    if num_shards > 1:  # the scoring shard sums every shard's counts
        (out_dir / ".shards").mkdir(exist_ok=True)
        (out_dir / ".shards" / f"{shard}-of-{num_shards}.json").write_text(json.dumps(
            {"generated": report.generated, "reused": report.reused, "generation_seconds": gen_seconds}))

    if score is None:
        score = num_shards == 1 or _all_clips_accounted(out_dir, clip_ids)
    if score:
        report.results = score_run(
            out_dir, clips, clip_ids, generator=generator, spec=spec, name=name, seed=seed, track=track, metrics=metrics,
            n_boot=n_boot, report=report, progress=progress, generation_seconds=gen_seconds,
        )
    return report


def _run_fingerprint(spec, generator, method_kwargs, seed, track, clips) -> dict:
    """Everything that changes the videos of a run (JSON-normalized so it compares equal after a reload)."""
    fp = {"method": spec.name, "target": spec.target, "method_kwargs": method_kwargs or {},
          "generator_config": generator.config(), "checkpoint_sha256": generator.checkpoint_sha256(),
          "seed": int(seed), "track": track, "dataset": clips.name, "split": clips.split,
          "manifest_sha256": clips.manifest_sha256}
    return json.loads(json.dumps(fp, sort_keys=True, default=str))


def _claim_run_dir(out_dir: Path, fingerprint: dict, overwrite: bool):
    """Create the run folder, or check that an existing one was made with the same settings."""
    from .atomic import atomic_path

    path = out_dir / "run.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != fingerprint:
            if not overwrite:
                diffs = [f"{k}: {previous.get(k)!r} -> {fingerprint.get(k)!r}"
                         for k in sorted(set(previous) | set(fingerprint)) if previous.get(k) != fingerprint.get(k)]
                raise ValueError(
                    f"run folder {out_dir} holds videos made with other settings ({'; '.join(diffs)}). "
                    "Pass --overwrite to replace them, or --name / --out for a separate run.")
            for stale in ("videos", ".shards"):
                shutil.rmtree(out_dir / stale, ignore_errors=True)
            for stale in ("per_clip.csv", "results.json", "errors.jsonl"):
                (out_dir / stale).unlink(missing_ok=True)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")


def _all_clips_accounted(out_dir: Path, clip_ids) -> bool:
    """True when every clip has a video or a recorded failure: the shard that sees this last scores.

    Decided from the files themselves rather than from per-shard markers, so stale markers of an earlier
    run can never trigger scoring before the other shards are done.
    """
    failed = {f["clip_id"] for f in _read_failures(out_dir)}
    return all(cid in failed or (out_dir / "videos" / f"{cid}.mp4").exists() for cid in clip_ids)


def score_run(out_dir: Path, clips, clip_ids, *, generator, spec, name, seed, track, metrics, n_boot, report,
              progress=True, generation_seconds=None) -> dict:
    """Score every saved video of the run against ground truth; write per_clip.csv and results.json."""
    from tqdm.auto import tqdm

    from .metrics import MetricSuite
    from .results import build_results, write_csv_atomic, write_json_atomic

    suite = MetricSuite(names=tuple(metrics))
    failed_ids = {f["clip_id"] for f in report.failed}
    scored = 0
    categories = clips.categories()
    for clip_id in tqdm(clip_ids, desc="scoring", unit="clip", disable=not progress, file=sys.stderr):
        if clip_id in failed_ids:
            continue
        path = out_dir / "videos" / f"{clip_id}.mp4"
        if not path.exists():
            continue  # another shard's clip that failed there: its error is in errors.jsonl
        try:
            target = clips.ego_video(clip_id)  # scoring needs only the ground truth, not the exo views
            pred = read_video(path, expected_frames=target.shape[0], expected_size=target.shape[1:3])
            suite.update(clip_id, categories[clip_id], pred, target)
            scored += 1
        except (VideoReadError, ClipValidationError, ValueError, OSError) as exc:
            _record_failure(report, out_dir, clip_id, "score", exc)
    per_clip = suite.per_clip()
    write_csv_atomic(out_dir / "per_clip.csv", per_clip)
    summary = suite.summary(n_boot=n_boot, seed=seed)
    method_info = generator.describe()
    # "name" is the row name (``--name``, e.g. a from-folder method's own name); "registered_as" the registry entry.
    method_info.update({"name": name, "registered_as": spec.name, "target": spec.target,
                        "registry_source": spec.source})
    all_failed = _read_failures(out_dir)
    counts = {"generated": report.generated, "reused": report.reused, "generation_seconds": generation_seconds}
    shard_files = sorted((out_dir / ".shards").glob("*.json")) if (out_dir / ".shards").is_dir() else []
    if shard_files:
        per_shard = [json.loads(p.read_text()) for p in shard_files]
        counts = {k: sum(c[k] for c in per_shard) for k in counts}
        counts["shards"] = len(per_shard)
    results = build_results(
        method=method_info,
        dataset={"name": clips.name, "split": clips.split, "track": track, "manifest_sha256": clips.manifest_sha256,
                 "n_clips": len(clip_ids), "n_scored": scored, "root": str(clips.root), "info": clips.info},
        metrics_summary=summary["metrics"],
        per_category=summary["per_category"],
        settings=suite.settings(),
        seed=seed,
        counts={**counts, "failed": len(all_failed), "failed_clips": all_failed},
    )
    write_json_atomic(out_dir / "results.json", results)
    return results


def _read_failures(out_dir: Path) -> list:
    """Failures of this run's latest attempt at each clip (from errors.jsonl, minus clips that now have videos)."""
    path = out_dir / "errors.jsonl"
    if not path.exists():
        return []
    latest = {}
    for line in path.read_text().splitlines():
        if line.strip():
            e = json.loads(line)
            latest[e["clip_id"]] = {"clip_id": e["clip_id"], "stage": e["stage"], "error": e["error"]}
    return [e for cid, e in sorted(latest.items())
            if e["stage"] == "score" or not (out_dir / "videos" / f"{cid}.mp4").exists()]
