"""The runner: generate every clip of a split with one method, score it, write the run folder.

Layout (ARCHITECTURE.md)::

    OUT/<dataset>/<split>/<method>/          (a named config of the dataset: OUT/<dataset>@<config>/<split>/<method>/)
        videos/<clip_id>.mp4     lossless RGB (benchmark.video_io), the exact frames that were scored
        per_clip.csv             clip_id, category, one column per metric
        results.json             schema 2 (benchmark.results): scores, settings, verified dataset identity
        errors.jsonl             one line per failed clip (only when some failed)
        run.json                 the settings the videos were made with (method, arguments, seed, data)
        .failures/<clip_id>.json the record behind each line of errors.jsonl (one writer per clip)
        .sources/<clip_id>.json  fingerprint of the outside source a video was made from (from-folder)
        .shards/<k>-of-<n>.json  per-shard counts of a sharded run

Behaviour that makes numbers trustworthy:

* **Atomic files.** Every file of the folder is written to a temporary file and renamed into place
  (:mod:`benchmark.atomic`), so a ``SIGKILL`` at any moment leaves each file either complete or absent; the
  temporary files a killed process leaves (``.<name>.<random>.<ext>``) are never read and are deleted by the
  next run. ``errors.jsonl`` is rewritten whole from the per-clip records, never appended to.
* **Resume.** A clip whose video already exists and decodes to the expected shape is reused, not
  generated again; ``results.json`` counts generated / reused / failed clips. A generator that reads outside
  sources (``from-folder``) reports a fingerprint of them (``source_fingerprint(clip_id)``, e.g. the source
  file's sha256); the fingerprint is stored beside the video and a video whose source has changed since is
  made again, never reused.
* **Checks before generating.** Each clip's inputs must pass :func:`benchmark.input_checks.check_inputs`
  (views, frame counts, rigid finite poses, intrinsics, exo views that carry signal); a clip that breaks a
  rule fails with the rule's name.
* **Error isolation.** A clip that cannot be loaded, breaks an input rule, whose generator raises, runs past
  ``timeout_per_clip`` or returns a wrong shape, dtype or NaNs is recorded as failed with the reason; with
  ``on_error="skip"`` (default) the other clips go on and finished videos are kept, with ``"fail"`` the run
  stops at the first failure and nothing is scored.
* **Seeds.** Each clip gets ``clip_seed(seed, clip_id)``, a stable hash, so a clip's output does not
  depend on which other clips were run, in which order, or on how many processes shared the work.
* **Sharding.** With ``num_shards > 1`` each shard generates the clips ``i`` with
  ``i % num_shards == shard``. Launched with ``torchrun`` or ``accelerate launch`` the rank and world size are
  read from the environment (see :func:`shard_from_env`); no process group is created, the shards coordinate
  through the run folder only, so one shard dying never blocks another and a rerun resumes. The shard that
  finds every clip accounted for (a video or a recorded failure) then scores all videos read back from disk,
  so the scores equal a one-process run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import registry
from .atomic import atomic_path, remove_stale_temps, write_text_atomic
from .errors import UsageError
from .input_checks import InputCheckError, check_inputs
from .metrics.catalog import DEFAULT_METRICS
from .schema import ClipValidationError, check_generated_video
from .video_io import VideoReadError, read_video, write_video

ON_ERROR = ("skip", "fail")
_FAILURES, _SOURCES, _SHARDS = ".failures", ".sources", ".shards"
_SCORING_STAGES = ("score", "verify")  # failures found while scoring: the clip has a video, but no score


def clip_seed(seed: int, clip_id: str) -> int:
    """Per-clip seed in [0, 2^31): ``sha256(f"{seed}:{clip_id}")`` truncated. Stable across runs and machines."""
    digest = hashlib.sha256(f"{int(seed)}:{clip_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def run_dir(out: Path, dataset: str, split: str, run_name: str, config: str | None = None) -> Path:
    """``OUT/<dataset>/<split>/<run>``; runs on a named config get ``<dataset>@<config>`` so configs never share one."""
    folder = dataset if config in (None, "default") else f"{dataset}@{config}"
    return Path(out) / folder / split / run_name


@dataclass
class RunReport:
    """What happened in a run: where it wrote, counts, failures, the results dict."""

    out_dir: Path
    generated: int = 0
    reused: int = 0
    failed: list = field(default_factory=list)  # [{"clip_id", "stage", "error"[, "rule"]}]
    results: dict | None = None
    num_shards: int = 1
    stopped: bool = False  # on_error="fail" stopped the run at a failure

    @property
    def ok(self) -> bool:
        return not self.failed


class ClipTimeout(BaseException):
    """A clip's generator ran past ``timeout_per_clip``.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that a generator's own ``except Exception`` cannot
    swallow it.
    """


@contextlib.contextmanager
def clip_deadline(seconds: float | None):
    """Raise :class:`ClipTimeout` in the main thread if the block runs longer than ``seconds`` (None: no limit).

    A POSIX ``SIGALRM`` timer (``setitimer``): Python runs the handler between bytecodes, so a generator stuck
    in Python code or in an interruptible wait (``time.sleep``, I/O) is stopped on time, while one stuck inside
    a single long native call (a CUDA kernel, a C loop) is stopped only when that call returns to Python. The
    alarm repeats every ``min(seconds, 1)`` s until the block ends, so a generator that catches the first one
    is still stopped. Any other ``SIGALRM`` handler is restored afterwards.
    """
    if seconds is None:
        yield
        return
    armed = [True]
    message = f"timeout after {seconds:g} s"

    def on_alarm(signum, frame):
        if armed[0]:
            raise ClipTimeout(message)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, min(seconds, 1.0))
    try:
        yield
    finally:
        armed[0] = False  # first: a last alarm arriving now must not raise outside the block
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_timeout(timeout_per_clip):
    if timeout_per_clip is None:
        return None
    try:
        seconds = float(timeout_per_clip)
    except (TypeError, ValueError):
        raise UsageError(f"--timeout-per-clip must be a number of seconds, got {timeout_per_clip!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"--timeout-per-clip must be a positive number of seconds, got {timeout_per_clip!r}")
    if not hasattr(signal, "setitimer"):
        raise UsageError("--timeout-per-clip needs POSIX signals (SIGALRM); it is not available on this platform")
    if threading.current_thread() is not threading.main_thread():
        raise UsageError("--timeout-per-clip works only when the run is started from the main thread "
                         "(SIGALRM is delivered there)")
    return seconds


# ---- failure records ------------------------------------------------------------------------------------------


def _failure_path(out_dir: Path, clip_id: str) -> Path:
    return out_dir / _FAILURES / f"{clip_id}.json"


def _record_failure(report: RunReport, out_dir: Path, clip_id: str, stage: str, exc: BaseException):
    """Record a failed clip: ``.failures/<clip_id>.json`` (atomic), ``report.failed`` and one line on stderr.

    Each clip has one writer at a time (its shard, or the scoring shard), so records of several processes
    never overwrite each other; ``errors.jsonl`` is assembled from them by :func:`_write_errors_jsonl`.
    """
    message = f"{type(exc).__name__}: {exc}"
    entry = {"clip_id": clip_id, "stage": stage, "error": message}
    if isinstance(exc, InputCheckError):
        entry["rule"] = exc.rule
    report.failed.append(entry)
    tb = "" if isinstance(exc, ClipTimeout) else traceback.format_exc(limit=8)
    write_text_atomic(_failure_path(out_dir, clip_id), json.dumps({**entry, "traceback": tb}, sort_keys=True) + "\n")
    print(f"[benchmark] clip {clip_id}: {stage} failed: {message}", file=sys.stderr)


def _clear_failure(out_dir: Path, clip_id: str):
    _failure_path(out_dir, clip_id).unlink(missing_ok=True)


def _read_failure_records(out_dir: Path) -> list:
    """Every per-clip failure record (full, with traceback), sorted by clip id; unreadable records are skipped."""
    folder = out_dir / _FAILURES
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or "clip_id" not in record:
                raise ValueError("not a failure record")
        except (OSError, ValueError) as exc:  # cannot happen with atomic writes, but never crash on it
            warnings.warn(f"{path}: unreadable failure record ({exc}); the clip counts as not done")
            continue
        records.append(record)
    return sorted(records, key=lambda r: r["clip_id"])


def _write_errors_jsonl(out_dir: Path):
    """Rewrite ``errors.jsonl`` (atomically, whole) from the failure records; remove it when there are none."""
    path = out_dir / "errors.jsonl"
    records = [r for r in _read_failure_records(out_dir) if _is_current(out_dir, r)]
    if records:
        write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    else:
        path.unlink(missing_ok=True)


def _is_current(out_dir: Path, record: dict) -> bool:
    """A generation-stage failure is outdated once the clip has a video; a scoring-stage failure is not."""
    return record.get("stage") in _SCORING_STAGES or not (out_dir / "videos" / f"{record['clip_id']}.mp4").exists()


def read_errors(path) -> list:
    """The entries of an ``errors.jsonl`` file (or of a run folder's), skipping lines that are not JSON objects.

    Files written by this version are always whole; an ``errors.jsonl`` from older versions, which appended to
    it, can end in a line torn by a kill: such lines are skipped with a warning instead of failing the reader.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "errors.jsonl"
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or "clip_id" not in entry:
                raise ValueError("not an object with 'clip_id'")
        except ValueError as exc:
            warnings.warn(f"{path}:{number}: skipping a line that is not a whole error record ({exc})")
            continue
        entries.append(entry)
    return entries


# ---- sharding ---------------------------------------------------------------------------------------------------

# (rank, world size) variables, in the order accelerate's own ``get_int_from_env`` reads them: torchrun (also what
# ``accelerate launch --multi_gpu`` runs), then the MPI launchers (Intel MPI / MPICH, Open MPI, MVAPICH) that
# ``accelerate launch --cpu --mpirun_hostfile`` uses.
_RANK_VARIABLES = (("RANK", "WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                   ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"))
_LOCAL_RANK_VARIABLES = ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK")


def shard_from_env(environ=None) -> tuple:
    """(rank, world size) set by the launcher, (0, 1) when not launched by one.

    Reads ``RANK`` / ``WORLD_SIZE`` (torchrun; ``accelerate launch --multi_gpu``, which runs torchrun, also on a
    machine without GPUs) and the MPI variables (``accelerate launch --cpu --mpirun_hostfile``). Note that
    ``accelerate launch --cpu --num_processes N`` without an MPI host file starts **one** process and sets no
    rank: that process runs every clip (correct numbers, no speed-up) and a warning says so.
    """
    env = os.environ if environ is None else environ
    for rank_var, size_var in _RANK_VARIABLES:
        if rank_var not in env and size_var not in env:
            continue
        try:
            world = int(env.get(size_var, "1"))
            rank = int(env.get(rank_var, "0"))
        except ValueError:
            raise UsageError(f"launcher variables {rank_var}={env.get(rank_var)!r} / {size_var}={env.get(size_var)!r} "
                             "are not integers") from None
        if world > 1 and rank_var not in env:
            raise UsageError(f"{size_var}={world} is set but {rank_var} is not: cannot tell which shard this process is")
        return rank, world
    if env.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") and "MASTER_ADDR" in env:
        warnings.warn("`accelerate launch --cpu` started this single process (accelerate starts several CPU "
                      "processes only through mpirun, --mpirun_hostfile); it runs every clip. For N processes use "
                      "`accelerate launch --multi_gpu --num_processes N` (it needs no GPU) or `torchrun "
                      "--nproc_per_node N`.", stacklevel=2)
    return 0, 1


def _local_rank_from_env(environ=None):
    env = os.environ if environ is None else environ
    for var in _LOCAL_RANK_VARIABLES:
        if var in env:
            try:
                return int(env[var])
            except ValueError:
                return None
    return None


def _use_own_gpu(local_rank):
    """With several GPUs visible, put this shard on GPU ``local_rank`` so that the shards of one node do not all
    share GPU 0 (generators that ask for ``"cuda"`` get the current device)."""
    if local_rank is None:
        return
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())


def _shard_path(out_dir: Path, shard: int, num_shards: int) -> Path:
    return out_dir / _SHARDS / f"{shard}-of-{num_shards}.json"


# ---- what the method is shown: fewer exo views, wrong exo poses (sweeps) ------------------------------------------

VIEW_SELECTION = "closest-to-ego"  # which views --views N keeps (ExoEgoInputs.exo_views_closest_first)
POSE_NOISE_MODEL = ("per clip and exo view, one rigid error for every frame: a rotation by exactly rotation_deg "
                    "about a uniformly random axis through the camera centre, and a shift of the centre by exactly "
                    "translation_m in a uniformly random direction; drawn from the run seed and the clip id (the "
                    "same directions at every noise level); ground truth and ego cameras untouched")
_POSE_NOISE_STREAM = 0x9053  # separates the noise draws from the generator's seed of the same clip
MAX_ROTATION_DEG = 180.0


@dataclass(frozen=True)
class InputSetting:
    """What a method is shown of each clip when it is not everything (``run --views N --pose-noise R[:T]``).

    ``views``: only the N exo views whose viewing directions are closest to the ego camera's (the cosine of
    :meth:`~benchmark.schema.ExoEgoInputs.exo_views_closest_first`, directions averaged over the clip), kept in
    the clip's own view order. Closest first, not the first N by camera name: N = 1 is then the single most
    informative view, and each added view is a less aligned one, so the curve measures what extra views add
    (a method that uses the closest view only, like exo-copy, is flat). None: every view.

    ``rotation_deg`` / ``translation_m``: pose noise (:data:`POSE_NOISE_MODEL`): each exo camera pose given to
    the method is wrong by exactly this angle and distance, in seeded random directions. 0: the true poses.

    Recorded where a run is identified: ``run.json`` (so a folder is never resumed with another setting),
    ``results.json`` ``method.inputs`` (:meth:`record`), and the run folder name (:meth:`suffix`), e.g.
    ``exo-copy@views2`` or ``exo-copy@pose-noise2deg``. The default setting records nothing, so such runs are
    the ordinary runs of ``python -m benchmark run``.
    """

    views: int | None = None
    rotation_deg: float = 0.0
    translation_m: float = 0.0

    @classmethod
    def make(cls, views=None, pose_noise=None) -> "InputSetting":
        """From ``--views`` (an int >= 1, or its text) and ``--pose-noise`` (``"R"`` or ``"R:T"``: R degrees, T
        metres, or a number of degrees, or a pair); a bad value is a :class:`UsageError` naming the option."""
        if views is not None:
            text = str(views).strip()
            if isinstance(views, bool) or not text.isdigit() or int(text) < 1:
                raise UsageError(f"--views expects a number of exo views >= 1 (1 to 4 on synth), got {views!r}")
            views = int(text)
        rotation, translation = parse_pose_noise(pose_noise)
        return cls(views, rotation, translation)

    @property
    def pose_noise(self) -> bool:
        return bool(self.rotation_deg or self.translation_m)

    @property
    def is_default(self) -> bool:
        return self.views is None and not self.pose_noise

    def record(self) -> dict | None:
        """``{"views": N, "view_selection": ..., "pose_noise": {rotation_deg, translation_m, model}}`` (the parts
        that are set), or None for the default setting."""
        out = {}
        if self.views is not None:
            out.update(views=self.views, view_selection=VIEW_SELECTION)
        if self.pose_noise:
            out["pose_noise"] = {"rotation_deg": self.rotation_deg, "translation_m": self.translation_m,
                                 "model": POSE_NOISE_MODEL}
        return out or None

    @classmethod
    def from_results(cls, results: dict) -> "InputSetting":
        """The setting a results dict records in ``method.inputs`` (none recorded: the default setting)."""
        record = (results.get("method") or {}).get("inputs") or {}
        noise = record.get("pose_noise") or {}
        return cls(record.get("views"), float(noise.get("rotation_deg", 0.0)), float(noise.get("translation_m", 0.0)))

    def suffix(self) -> str:
        """What the run folder's default name gets: ``""``, ``"@views2"``, ``"@pose-noise2deg"``,
        ``"@pose-noise0deg+0.05m"``, or both (``"@views2@pose-noise1deg"``)."""
        out = "" if self.views is None else f"@views{self.views}"
        if self.pose_noise:
            out += f"@pose-noise{self.rotation_deg:g}deg" + (f"+{self.translation_m:g}m" if self.translation_m else "")
        return out

    def apply(self, inputs, seed: int):
        """``inputs`` (an :class:`~benchmark.schema.ExoEgoInputs`) as this setting shows them; ``seed`` is the
        clip's seed (:func:`clip_seed`). Views are chosen on the true poses, then the noise is added. A clip with
        fewer than ``views`` exo views raises :class:`InputCheckError` (rule ``views``)."""
        if self.is_default:
            return inputs
        if self.pose_noise:
            # drawn for every view of the clip before any is dropped: a view's error does not depend on --views
            rotations, shifts = pose_errors(inputs.num_views, self.rotation_deg, self.translation_m, seed)
        if self.views is not None:
            if inputs.num_views < self.views:
                raise InputCheckError("views", f"clip {inputs.clip_id!r} has {inputs.num_views} exo view(s), but "
                                               f"--views {self.views} asks for {self.views}")
            keep = sorted(inputs.exo_views_closest_first()[:self.views])
            inputs = inputs.select_views(keep)
            if self.pose_noise:
                rotations, shifts = rotations[keep], shifts[keep]
        if self.pose_noise:
            inputs = inputs.with_exo_pose_errors(rotations, shifts)
        return inputs


def parse_pose_noise(value) -> tuple:
    """``--pose-noise`` -> ``(rotation_deg, translation_m)``: None -> (0, 0); ``"2"`` or 2 -> (2, 0);
    ``"0:0.05"`` -> (0, 0.05); a pair as it is. Both must be finite and >= 0, the angle at most 180."""
    if value is None:
        return 0.0, 0.0
    if isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = str(value).strip().split(":")
    try:
        if isinstance(value, bool) or not 1 <= len(parts) <= 2:
            raise ValueError
        numbers = [float(p) for p in parts] + [0.0] * (2 - len(parts))
    except (TypeError, ValueError):
        numbers = None
    if numbers is None or not all(math.isfinite(x) and x >= 0 for x in numbers) or numbers[0] > MAX_ROTATION_DEG:
        raise UsageError(f"--pose-noise expects ROT_DEG or ROT_DEG:TRANS_M, an angle in degrees (0 to "
                         f"{MAX_ROTATION_DEG:g}) and optionally a distance in metres, both >= 0 (e.g. 2, or 0:0.05); "
                         f"got {value!r}")
    return float(numbers[0]), float(numbers[1])


def pose_errors(num_views: int, rotation_deg: float, translation_m: float, seed: int) -> tuple:
    """Rigid errors of :data:`POSE_NOISE_MODEL` for ``num_views`` cameras: float64 rotations (V, 3, 3) by exactly
    ``rotation_deg`` and shifts (V, 3) of length exactly ``translation_m``. The random directions depend on
    ``seed`` only, so two noise levels of one clip differ in magnitude, not direction."""
    import numpy as np

    rng = np.random.default_rng([int(seed), _POSE_NOISE_STREAM])
    axes = rng.standard_normal((num_views, 3))
    directions = rng.standard_normal((num_views, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    angle = math.radians(rotation_deg)
    K = np.zeros((num_views, 3, 3))  # cross-product matrices of the axes (Rodrigues' formula)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -axes[:, 2], axes[:, 1], -axes[:, 0]
    K -= K.transpose(0, 2, 1)
    rotations = np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K
    return rotations, translation_m * directions


# ---- from outside sources ----------------------------------------------------------------------------------------


def _source_fingerprint(generator, clip_id: str):
    """The generator's fingerprint of the outside source it makes ``clip_id`` from, or None (see the docstring)."""
    method = getattr(generator, "source_fingerprint", None)
    return None if method is None else method(clip_id)


def _stored_fingerprint(out_dir: Path, clip_id: str):
    try:
        return json.loads((out_dir / _SOURCES / f"{clip_id}.json").read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    metrics=DEFAULT_METRICS,
    n_boot: int = 1000,
    on_error: str = "skip",
    timeout_per_clip: float | None = None,
    fail_fast: bool = False,
    progress: bool = True,
    shard: int | None = None,
    num_shards: int | None = None,
    score: bool | None = None,
    overwrite: bool = False,
    config: str | None = None,
    metric_options: dict | None = None,
    metrics_device: str = "auto",
    views: int | None = None,
    pose_noise=None,
) -> RunReport:
    """Generate, save and score one method on one split. Returns a :class:`RunReport`.

    ``on_error``: ``"skip"`` records a failing clip and goes on; ``"fail"`` stops at the first failing clip and
    scores nothing (``fail_fast=True`` is the old spelling of ``on_error="fail"``). ``timeout_per_clip``: seconds
    a generator may spend on one clip before the clip is recorded as failed (``"timeout after S s"``) and the
    run goes on (see :func:`clip_deadline` for what can be interrupted; POSIX, main thread only).

    ``shard`` / ``num_shards`` default to the launcher's rank / world size. With several shards, each
    generates its clips; scoring (``score=None`` means: when this is the only or the last shard to finish)
    reads every video back from disk so the numbers are identical to a single-process run.

    A run folder remembers the settings its videos were made with (``run.json``); reusing it with other
    settings (method arguments, seed, track, data) is refused unless ``overwrite=True``, which deletes the
    old videos first, so a resumed run never mixes videos of two configurations.

    ``config``: a config of the dataset (``--config``; None: ``"default"``, every clip of the split). Only its
    clips run; the results record it as ``dataset.config``.

    ``metric_options``: ``{metric: {option: value}}`` (``--metric-arg``, :mod:`benchmark.metrics.options`), e.g.
    ``{"lpips": {"net": "vgg"}}``; checked before any work, recorded through each metric's settings.

    ``metrics_device``: where the metrics compute (``--metrics-device``): ``"auto"`` (default) is the first CUDA
    GPU when torch sees one, else the CPU (:func:`resolve_metrics_device`); recorded as
    ``metric_settings.device``.

    ``views`` / ``pose_noise``: show the method only the N exo views closest to the ego view, and/or exo poses
    wrong by ``"R[:T]"`` degrees and metres (``--views``, ``--pose-noise``; see :class:`InputSetting`); the run
    folder's default name gets the setting (``exo-copy@views2``) and the results record it in
    ``method.inputs``. The ground truth and the scoring are the same as without them.
    """
    from tqdm.auto import tqdm

    from .data import load_split
    from .schema import TRACKS

    if track not in TRACKS:
        raise UsageError(f"unknown track {track!r}; expected one of {TRACKS}")
    if fail_fast:
        on_error = "fail"
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    timeout_per_clip = _check_timeout(timeout_per_clip)
    setting = InputSetting.make(views, pose_noise)
    from .metrics.options import check_metric_options

    metric_options = check_metric_options(metric_options, metrics)  # a bad option fails before any generation
    metrics_device = resolve_metrics_device(metrics_device)
    spec = registry.get_spec(method)  # fails fast with the list of methods, before any data work
    clips = load_split(dataset, split, root=root, config=config)
    clip_ids = list(clips.clip_ids)
    if limit is not None:
        if limit < 1:
            raise UsageError(f"--limit must be >= 1, got {limit}")
        clip_ids = clip_ids[:limit]
    env_rank, env_world = shard_from_env()
    shard = env_rank if shard is None else shard
    num_shards = env_world if num_shards is None else num_shards
    if not 0 <= shard < num_shards:
        raise UsageError(f"shard {shard} is outside 0..{num_shards - 1}")
    if env_world > 1:
        _use_own_gpu(_local_rank_from_env())

    name = run_name or (method if track == "exo-only" else f"{method}@{track}") + setting.suffix()
    out_dir = run_dir(Path(out), clips.name, split, name, clips.config)
    generator = registry.build(method, **(method_kwargs or {}))
    if track not in generator.tracks:
        raise UsageError(f"method {method!r} does not support track {track!r} (supports {generator.tracks})")
    if getattr(generator, "needs_exo_depth", False) and not clips.has_exo_depth:
        # refused before the run folder exists: every clip would fail the same way
        raise UsageError(f"method {method!r} needs exo depth maps, which {clips.label} does not provide (its clips "
                         f"have no depth files); run it on a dataset with depth (e.g. synth) or choose another method")
    min_views = int(getattr(generator, "min_views", 1))
    _check_views_setting(setting, min_views, method, clips, clip_ids)
    _claim_run_dir(out_dir, _run_fingerprint(spec, generator, method_kwargs, seed, track, clips, setting), overwrite)
    videos = out_dir / "videos"
    mine = [cid for i, cid in enumerate(clip_ids) if i % num_shards == shard]
    if num_shards == 1:  # failures, shard counts and leftovers of killed runs are re-established by this attempt
        (out_dir / "errors.jsonl").unlink(missing_ok=True)
        for folder in (_SHARDS, _FAILURES):
            shutil.rmtree(out_dir / folder, ignore_errors=True)
        for folder in (out_dir, videos, out_dir / _SOURCES):
            remove_stale_temps(folder)
    else:  # other shards may be writing right now: only this shard's clips are ours to clean
        for folder, ext in ((videos, ".mp4"), (out_dir / _SOURCES, ".json"), (out_dir / _FAILURES, ".json")):
            remove_stale_temps(folder, names={f"{cid}{ext}" for cid in mine})
    report = RunReport(out_dir=out_dir, num_shards=num_shards)

    invalidated = [False]

    def invalidate_results():
        """The videos are about to change: results of earlier attempts no longer describe them."""
        if not invalidated[0]:
            invalidated[0] = True
            for stale in ("per_clip.csv", "results.json"):
                (out_dir / stale).unlink(missing_ok=True)

    def fail(clip_id, stage, exc) -> bool:
        """Record the failure; True (and ``report.stopped``) when the run must stop (on_error="fail")."""
        invalidate_results()
        _record_failure(report, out_dir, clip_id, stage, exc)
        _write_errors_jsonl(out_dir)  # readable while the run goes on
        report.stopped = on_error == "fail"
        return report.stopped

    bar = tqdm(mine, desc=f"{name} on {clips.label}", unit="clip", disable=not progress, file=sys.stderr)
    t0 = time.perf_counter()
    for clip_id in bar:
        _clear_failure(out_dir, clip_id)  # this attempt re-establishes the clip's state
        video_path = videos / f"{clip_id}.mp4"
        source_path = out_dir / _SOURCES / f"{clip_id}.json"
        try:
            fingerprint = _source_fingerprint(generator, clip_id)
        except Exception as exc:  # e.g. a from-folder source that escapes its root
            if video_path.exists():
                invalidate_results()
                video_path.unlink(missing_ok=True)
            if fail(clip_id, "generate", exc):
                break
            continue
        if video_path.exists():
            problem = None
            if fingerprint is not None and _stored_fingerprint(out_dir, clip_id) != fingerprint:
                problem = "its source changed since its video was made"
            else:
                # Checked against the parquet's sizes, so a finished clip costs one decode, not the whole clip's.
                T, H, W = clips.ego_shape(clip_id)
                try:
                    read_video(video_path, expected_frames=T, expected_size=(H, W))
                except VideoReadError as exc:
                    problem = f"its video is damaged ({exc})"
            if problem is None:
                report.reused += 1
                continue
            print(f"[benchmark] clip {clip_id}: {problem}; generating it again", file=sys.stderr)
            invalidate_results()
            video_path.unlink(missing_ok=True)  # never scored again, even if generating it now fails
        try:
            clip = clips.get(clip_id)
        except (VideoReadError, ClipValidationError, OSError, ValueError) as exc:
            if fail(clip_id, "load", exc):
                break
            continue
        try:
            inputs = check_inputs(setting.apply(clip.inputs(track), clip_seed(seed, clip_id)), min_views=min_views)
        except InputCheckError as exc:
            if fail(clip_id, "check", exc):
                break
            continue
        try:
            with clip_deadline(timeout_per_clip):
                video = generator.generate(inputs, seed=clip_seed(seed, clip_id))
            video = check_generated_video(video, inputs, name)
            invalidate_results()
            write_video(video_path, video, fps=clip.fps)
            if fingerprint is not None:  # after the video: a kill in between leaves a video that is not reused
                write_text_atomic(source_path, json.dumps({"clip_id": clip_id, "fingerprint": fingerprint}) + "\n")
            report.generated += 1
        except (Exception, ClipTimeout) as exc:  # isolate: one bad clip must not lose the others
            if fail(clip_id, "generate", exc):
                break
    gen_seconds = time.perf_counter() - t0
    _write_errors_jsonl(out_dir)
    if num_shards > 1:  # the scoring shard sums every shard's counts
        write_text_atomic(_shard_path(out_dir, shard, num_shards), json.dumps(
            {"generated": report.generated, "reused": report.reused, "generation_seconds": gen_seconds}) + "\n")

    if report.stopped:
        score = False  # --on-error fail: a partial set of clips is not a result
    elif score is None:
        score = num_shards == 1 or _all_clips_accounted(out_dir, clip_ids)
    if score:
        report.results = score_run(
            out_dir, clips, clip_ids, generator=generator, spec=spec, name=name, seed=seed, track=track, metrics=metrics,
            n_boot=n_boot, report=report, progress=progress, generation_seconds=gen_seconds,
            metric_options=metric_options, device=metrics_device, inputs=setting.record(),
        )
    return report


SWEEP_KINDS = ("views", "pose-noise")


def sweep_settings(views=None, pose_noise=None) -> list:
    """The points of a sweep: ``views`` (``"1,2,3,4"`` or a list) or ``pose_noise`` (``"0,1,2,5"``, each point
    ``R[:T]`` as in :func:`parse_pose_noise`), exactly one of them; a list of :class:`InputSetting`, in order.
    Pose noise 0 is the ordinary run (the method sees the true poses), so a pose-noise sweep reuses it."""
    if (views is None) == (pose_noise is None):
        raise UsageError("a sweep varies one setting: give --views N,N,... or --pose-noise R,R,... (not both)")
    option, given = ("--views", views) if views is not None else ("--pose-noise", pose_noise)
    points = [p.strip() for p in given.split(",")] if isinstance(given, str) else [str(p) for p in given]
    if not points or "" in points:
        raise UsageError(f"{option} expects comma-separated values, e.g. {'1,2,3,4' if views else '0,1,2,5'}; "
                         f"got {given!r}")
    settings = [InputSetting.make(views=p) if views is not None else InputSetting.make(pose_noise=p) for p in points]
    repeated = sorted({p for p, s in zip(points, settings) if settings.count(s) > 1})
    if repeated:
        raise UsageError(f"{option} names the same point twice: {', '.join(repeated)}")
    return settings


def run_sweep(methods, *, views=None, pose_noise=None, out="runs/sweeps", **run_kwargs) -> list:
    """Run every method at every point of one sweep (:func:`sweep_settings`) through :func:`run`; return the
    :class:`RunReport` of each run, methods outer, points inner.

    Each point is an ordinary run into ``OUT/<dataset>/<split>/<method><suffix>/`` (:meth:`InputSetting.suffix`),
    so a sweep resumes, isolates failing clips and records its setting like any run. ``run_kwargs`` are
    :func:`run`'s (dataset, split, root, config, limit, seed, metrics, n_boot, progress, ...). Every point is
    checked before the first run starts.
    """
    settings = sweep_settings(views, pose_noise)
    methods = [m for m in methods]
    if not methods:
        raise UsageError("--methods names no method")
    for method in methods:  # an unknown name fails now, not after the other methods' runs
        registry.get_spec(method)
    reports = []
    for method in methods:
        for setting in settings:
            noise = (setting.rotation_deg, setting.translation_m) if setting.pose_noise else None
            reports.append(run(method, out=out, views=setting.views, pose_noise=noise, **run_kwargs))
    return reports


def _check_views_setting(setting: InputSetting, min_views: int, method: str, clips, clip_ids) -> None:
    """Refuse, before any work, a ``--views N`` the method cannot run with or no clip of the run has."""
    if setting.views is None:
        return
    if setting.views < min_views:
        raise UsageError(f"--views {setting.views}: method {method!r} needs at least {min_views} exo views")
    wanted = set(clip_ids)
    counts = [len(m["exo_cam_ids"]) for m in clips.iter_inputs_metadata() if m["clip_id"] in wanted]
    if counts and max(counts) < setting.views:
        raise UsageError(f"--views {setting.views}: the clips of {clips.label} have at most {max(counts)} exo views")


def _run_fingerprint(spec, generator, method_kwargs, seed, track, clips, setting=None) -> dict:
    """Everything that changes the videos of a run (JSON-normalized so it compares equal after a reload)."""
    fp = {"method": spec.name, "target": spec.target, "method_kwargs": method_kwargs or {},
          "generator_config": generator.config(), "checkpoint_sha256": generator.checkpoint_sha256(),
          "seed": int(seed), "track": track, "dataset": clips.name, "split": clips.split,
          # the data by content, so a run folder stays valid when the same dataset is rebuilt on another machine
          "dataset_identity": clips.identity or clips.manifest_sha256}
    if clips.config != "default":  # absent for the default config: run folders made before configs stay valid
        fp["config"] = clips.config
    if setting is not None and not setting.is_default:  # likewise absent when the method sees everything
        fp["inputs"] = setting.record()
    return json.loads(json.dumps(fp, sort_keys=True, default=str))


def _claim_run_dir(out_dir: Path, fingerprint: dict, overwrite: bool):
    """Create the run folder, or check that an existing one was made with the same settings."""
    path = out_dir / "run.json"
    previous = None
    if path.exists():
        try:
            previous = json.loads(path.read_text())
            if not isinstance(previous, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:  # never written by us (our writes are atomic): someone else's file
            if not overwrite:
                raise UsageError(f"{path} is not a run settings file ({exc}). Pass --overwrite to replace the run "
                                 "folder, or --name / --out for a separate run.") from None
            previous = {"unreadable": str(path)}
    if previous is not None and previous != fingerprint:
        if not overwrite:
            diffs = [f"{k}: {previous.get(k)!r} -> {fingerprint.get(k)!r}"
                     for k in sorted(set(previous) | set(fingerprint)) if previous.get(k) != fingerprint.get(k)]
            raise UsageError(
                f"run folder {out_dir} holds videos made with other settings ({'; '.join(diffs)}). "
                "Pass --overwrite to replace them, or --name / --out for a separate run.")
        for stale in ("videos", _SHARDS, _FAILURES, _SOURCES):
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


def resolve_metrics_device(device: str | None) -> str:
    """``"auto"`` / None -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; any other value is checked and kept.

    On a GPU the metric networks (LPIPS, I3D, CLIP) run there; PSNR / SSIM on CUDA agree with the CPU's to float32
    rounding (a few 1e-6), which is why ``python -m benchmark check`` scores on the CPU like its references.
    """
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"--metrics-device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--metrics-device {device!r}: torch sees no CUDA GPU on this machine; use cpu or auto")
    if parsed.type not in ("cpu", "cuda"):
        raise UsageError(f"--metrics-device {device!r}: expected auto, cpu, cuda or cuda:N")
    return str(parsed)


def score_run(out_dir: Path, clips, clip_ids, *, generator, spec, name, seed, track, metrics, n_boot, report,
              progress=True, generation_seconds=None, metric_options=None, device="cpu", inputs=None) -> dict:
    """Score every saved video of the run against ground truth; write per_clip.csv and results.json.

    The scoring itself is :func:`benchmark.scoring.score_videos`, which ``python -m benchmark score`` calls too,
    so scoring a run folder again gives exactly these numbers; this adds what only a run knows (the generator's
    description and the generation counts).
    """
    from .scoring import score_videos

    method_info = generator.describe()
    # "name" is the row name (``--name``, e.g. a from-folder method's own name); "registered_as" the registry entry.
    method_info.update({"name": name, "registered_as": spec.name, "target": spec.target,
                        "registry_source": spec.source})
    if inputs:  # InputSetting.record(): in the method block, which `score RUN_DIR` carries over when it re-scores
        method_info["inputs"] = inputs
    counts = {"generated": report.generated, "reused": report.reused, "generation_seconds": generation_seconds}
    n = getattr(report, "num_shards", 1)
    # only this run's shard count: markers of an earlier run with another count are not summed
    shard_files = sorted((out_dir / _SHARDS).glob(f"*-of-{n}.json")) if n > 1 else []
    if shard_files:
        per_shard = [json.loads(p.read_text()) for p in shard_files]
        counts = {k: sum(c[k] for c in per_shard) for k in counts}
        counts["shards"] = len(per_shard)

    def locate(clip_id):
        path = out_dir / "videos" / f"{clip_id}.mp4"
        return path if path.exists() else None

    return score_videos(out_dir, clips, clip_ids, locate=locate, method=method_info, track=track, seed=seed,
                        metrics=metrics, n_boot=n_boot, report=report, counts=counts, progress=progress,
                        scoring={"step": "run"}, metric_options=metric_options, device=device)


def _read_failures(out_dir: Path) -> list:
    """Current failures of the run, one per clip ({clip_id, stage, error[, rule]}), sorted by clip id.

    From the per-clip records; a generation failure of a clip that now has a video is outdated and left out.
    """
    keys = ("clip_id", "stage", "error", "rule")
    return [{k: r[k] for k in keys if k in r} for r in _read_failure_records(out_dir) if _is_current(out_dir, r)]
