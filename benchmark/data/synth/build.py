"""Build SynthEgoExo into a dataset directory (format: ``benchmark.data.hf_format``).

A build renders every clip of the requested splits into a staging folder next to the target, verifies
that each video decodes to exactly the rendered frames (lossless, max error 0), and only then moves the
files into place; the manifest is written last. A fresh directory appears by a single rename. Adding
splits to an existing directory (e.g. ``test`` first, ``train`` later) first drops the rebuilt splits from
the manifest, swaps their files, then writes the manifest with every split: at no time does the manifest
list a split whose files are incomplete. Builds of one directory are serialised by a lock file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from benchmark.errors import UsageError
from benchmark.atomic import default_mode
from benchmark.video_io import read_video, write_video

from .. import hf_format as fmt
from .. import identity
from .render import DEFAULT_N_CLIPS, GENERATOR_VERSION, SynthConfig, render_clip
from .scene import CATEGORIES, SPLIT_KEYS

DATASET_NAME = "synth"
PRETTY_NAME = "SynthEgoExo"


class IncompatibleBuildError(UsageError):
    """``out_dir`` already holds SynthEgoExo built with another generator version, seed or settings."""


class NotADatasetFolderError(UsageError):
    """``out_dir`` exists, is not empty and holds no manifest: not a dataset folder, so nothing is built there."""


@contextlib.contextmanager
def _dir_lock(out_dir: Path):
    """Exclusive advisory lock on ``<parent>/.<name>.lock`` (no-op where fcntl is unavailable)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    with open(lock_path, "a") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_compatible(out_dir: Path, manifest: dict, seed: int, config: SynthConfig):
    """Raise :class:`IncompatibleBuildError` unless ``out_dir`` was built by this generator, ``seed`` and ``config``."""
    theirs = {"generator": manifest.get("generator_version"), "seed": manifest.get("seed"),
              **(manifest.get("build") or {})}
    ours = {"generator": GENERATOR_VERSION, "seed": seed, **config.geometry()}
    differ = [k for k in dict.fromkeys([*ours, *theirs]) if theirs.get(k) != ours.get(k)]
    if differ:
        # name only the settings that differ: the full parameter dicts bury the one a user got wrong
        what = "; ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} asked for" for k in differ)
        raise IncompatibleBuildError(
            f"--out {out_dir} holds SynthEgoExo built with other settings ({what}); the splits of one folder must "
            f"come from the same generator, seed and settings: build into another --out folder, pass the settings "
            f"it was built with, or delete {out_dir}")


def _decode_exact(path) -> np.ndarray:
    """All frames of a video we just wrote, as uint8 (T, H, W, 3) RGB. Planar RGB (what libx264rgb
    stores) is read without a colour conversion, which is ~100x faster than ``read_video``'s rgb24
    path; any other layout falls back to ``read_video``."""
    import av

    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    if frames and frames[0].format.name == "gbrp":
        return np.stack([f.to_ndarray() for f in frames])  # PyAV returns gbrp as (H, W, 3) in R, G, B order
    return read_video(path)


def _write_split(staging: Path, split: str, n: int, seed: int, config: SynthConfig, progress: bool,
                 threads: int | None) -> dict:
    """Render and write one split into ``staging``; returns its manifest entry (without sha256)."""
    from tqdm import tqdm

    rows, max_err, clip_hashes = [], 0, {}
    bar = tqdm(range(n), desc=f"SynthEgoExo {split}", unit="clip", disable=not progress, file=sys.stderr)
    for i in bar:
        clip = render_clip(split, i, seed, config, threads=threads)
        paths = fmt.clip_paths(split, clip.clip_id, clip.exo_cam_ids)
        videos = [(paths["ego_video"], clip.ego_video)] + list(zip(paths["exo_videos"], clip.exo_video))
        for rel, frames in videos:
            write_video(staging / rel, frames, fps=config.fps)
            back = _decode_exact(staging / rel)
            max_err = max(max_err, int(np.abs(back.astype(np.int16) - frames.astype(np.int16)).max()))
        depth = {"exo_depth": clip.exo_depth, "ego_depth": clip.ego_depth}
        fmt.write_npz(staging / paths["depth"], **depth)
        row = fmt.clip_row(clip, split, paths, seed=int(seed), clip_index=int(i),
                           scene_index=int(i // config.clips_per_scene), generator_version=GENERATOR_VERSION)
        # the frames were just proven equal to their decoded files, so hashing them here is hashing the content
        clip_hashes[clip.clip_id] = identity.clip_sha256_of_arrays(row, clip.ego_video, clip.exo_video, depth)
        rows.append(row)
    if max_err != 0:  # the benchmark's scores assume the stored frames are the rendered ones
        raise RuntimeError(f"lossless video check failed for split {split!r}: max abs error {max_err}")
    fmt.write_parquet(staging / "data" / f"{split}.parquet", rows)
    return {"n_clips": n, "max_abs_video_error": max_err, "n_scenes": len({r["scene_id"] for r in rows}),
            "categories": dict(sorted(Counter(r["category"] for r in rows).items())),
            "identity": identity.set_identity(clip_hashes), "clip_sha256": dict(sorted(clip_hashes.items()))}


def _remove_split(root: Path, split: str):
    for p in (root / "videos" / split, root / "depth" / split):
        if p.exists():
            shutil.rmtree(p)
    (root / "data" / f"{split}.parquet").unlink(missing_ok=True)


def _move_split(staging: Path, root: Path, split: str):
    for top in ("videos", "depth"):
        if (staging / top / split).exists():
            (root / top).mkdir(parents=True, exist_ok=True)
            os.replace(staging / top / split, root / top / split)
    (root / "data").mkdir(parents=True, exist_ok=True)
    os.replace(staging / "data" / f"{split}.parquet", root / "data" / f"{split}.parquet")


def _finish_manifest(root: Path, manifest: dict):
    """Recompute per-split hashes and the file table from disk, then write card and (last) manifest."""
    fmt.record_file_hashes(root, manifest)
    fmt.write_card(root, manifest, dataset_card_text(manifest))
    fmt.write_manifest(root, manifest)


def build_synth(out_dir, *, splits=("train", "val", "test"), seed: int = 0, n_clips: dict | None = None,
                progress: bool = True, num_frames: int = 17, fps: float = 8.0, ego_size=(64, 64),
                exo_size=(64, 96), clips_per_scene: int = 4, threads: int | None = 1) -> Path:
    """Render SynthEgoExo ``splits`` into ``out_dir`` (created, or extended if it already holds other splits).

    Args:
        n_clips: per-split overrides of the default sizes {train: 240, val: 24, test: 32}.
        num_frames, fps, ego_size (H, W), exo_size (He, We), clips_per_scene: see ``SynthConfig``; an existing
            directory must have been built with the same values and seed.
        threads: torch intra-op threads while rendering (default 1; restored afterwards). The output does not
            depend on it.
    Returns:
        ``out_dir`` as a Path.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if isinstance(splits, str):  # "test" would otherwise be read as the splits "t", "e", "s", "t"
        splits = (splits,)
    splits = tuple(dict.fromkeys(splits))
    bad = [s for s in splits if s not in SPLIT_KEYS]
    if bad or not splits:
        raise UsageError(f"splits {list(splits)} (--splits): {'unknown split(s) ' + repr(bad) if bad else 'none given'}"
                         f"; SynthEgoExo has the splits {', '.join(SPLIT_KEYS)}")
    n_clips = dict(n_clips or {})
    for s, n in n_clips.items():
        if s not in SPLIT_KEYS:
            raise UsageError(f"n_clips (--n-clips) names unknown split {s!r}; SynthEgoExo has the splits "
                             f"{', '.join(SPLIT_KEYS)}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise UsageError(f"n_clips[{s!r}] (--n-clips {s}=N) must be an integer >= 1, got {n!r}")
    sizes = {**DEFAULT_N_CLIPS, **{s: int(n) for s, n in n_clips.items()}}
    config = SynthConfig(num_frames=num_frames, fps=fps, ego_size=tuple(ego_size), exo_size=tuple(exo_size),
                         clips_per_scene=clips_per_scene, n_clips=sizes)

    with _dir_lock(out_dir):
        existing = fmt.read_manifest(out_dir) if out_dir.is_dir() else None
        if existing is not None:
            _check_compatible(out_dir, existing, seed, config)
        elif out_dir.exists():
            # builds never leave a directory without a manifest (fresh ones appear by one rename), so
            # anything here is not ours: refuse rather than delete someone's files
            if not out_dir.is_dir() or any(out_dir.iterdir()):
                kind = "folder is not empty" if out_dir.is_dir() else "path is a file"
                raise NotADatasetFolderError(
                    f"--out {out_dir}: this {kind} and holds no {fmt.MANIFEST}, so it is not a dataset folder; "
                    f"nothing was built: choose a new or empty --out folder")
            out_dir.rmdir()

        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
        os.chmod(staging, default_mode(directory=True))  # mkdtemp makes 0700; the dataset is renamed from it
        try:
            entries = {}
            for s in splits:
                entries[s] = _write_split(staging, s, int(sizes[s]), seed, config, progress, threads)
            if existing is None:
                manifest = {
                    "name": DATASET_NAME, "pretty_name": PRETTY_NAME, "version": GENERATOR_VERSION,
                    "generator_version": GENERATOR_VERSION, "format_version": fmt.FORMAT_VERSION, "seed": int(seed),
                    "identity_definition": identity.DEFINITION,
                    "build": config.geometry(), "license": "apache-2.0", "splits": entries,
                }
                _finish_manifest(staging, manifest)
                os.rename(staging, out_dir)
            else:
                manifest = existing
                kept = {k: v for k, v in manifest["splits"].items() if k not in splits}
                if len(kept) != len(manifest["splits"]):  # replacing splits: unlist them before touching files
                    manifest["splits"] = kept
                    _finish_manifest(out_dir, manifest)
                for s in splits:
                    _remove_split(out_dir, s)
                    _move_split(staging, out_dir, s)
                manifest["splits"] = {**kept, **entries}
                _finish_manifest(out_dir, manifest)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return out_dir


def dataset_card_text(manifest: dict) -> str:
    """Markdown body of the dataset card (the YAML front matter is added by ``hf_format.write_card``)."""
    b = manifest["build"]
    (H, W), (He, We) = b["ego_size"], b["exo_size"]
    errs = {s: e.get("max_abs_video_error") for s, e in manifest["splits"].items()}
    return f"""# SynthEgoExo

A small, fully synthetic exocentric-to-egocentric video dataset, rendered by a deterministic CPU ray
caster (`benchmark/data/synth`). In each clip a person stands at a table in a closed textured room and
performs one activity with the objects on it. Four static, elevated "exo" cameras film the scene from
four sides (like Ego-Exo4D's GoPros); the "ego" camera sits on the person's head and looks down at the
hands and table, with per-clip head motion (yaw turns, pitch, roll, small translations). The task is to
synthesise the ego video from the exo videos, the text and the cameras.

- Activities (`category`): {", ".join(CATEGORIES)}; each split is balanced over them (clip i has category i mod {len(CATEGORIES)}).
- Each clip: {b["num_frames"]} frames at {b["fps"]:g} fps; ego {H}x{W} (HxW), exo {He}x{We} (HxW), 4 exo views
  (`cam01`..`cam04`), z-depth for every view, a one-sentence `text`.
- Scenes: {b["clips_per_scene"]} clips per scene (`scene_id`). Each split draws its scenes (room, textures, colour
  palettes, lights, layout, cameras) from its own random stream, so val/test scenes never occur in train.

## Conventions

- Extrinsics are camera-to-world `T_world_cam` (4x4, metres), OpenCV axes (x right, y down, z forward);
  world z up, floor at z = 0. Exo cameras are static (`exo_T_world_cam` holds V * 16 values), the ego camera
  has one pose per frame (T * 16). Matrices are stored flat, row-major.
- Intrinsics `K` are 3x3 pinhole matrices in pixels of the stored resolution, the centre of the top-left
  pixel at (0, 0); no distortion. Horizontal fields of view: exo 75 degrees, ego 90 degrees.
- Depth (`depth/<split>/<clip_id>.npz`): `exo_depth` float32 (V, T, He, We) and `ego_depth` float32 (T, H, W),
  distance along the camera's +z axis in metres (float32: about 1e-7 relative precision); the room is
  closed, so every pixel has a hit. The ego camera does not see the person's own head.
- Videos are lossless RGB (H.264 `libx264rgb`, qp 0, in .mp4). Measured at build time by decoding every
  video and comparing with the rendered frames: max abs error per split {errs} (0 = lossless).

## Files

`data/<split>.parquet` has one row per clip (columns documented in `benchmark/data/hf_format.py`); video and
depth paths are plain strings relative to this directory, so `datasets.load_dataset("<this dir>")` works
offline. `manifest.json` holds the content identity of every split and clip (what benchmark results record
as `dataset.identity`; see "Identity" below) and the sha256 of every file of this copy.

## How it was built

Generator version {manifest["generator_version"]}, seed {manifest["seed"]}:
`python -m benchmark data build synth --out DIR`, or from Python
`benchmark.data.build_synth(DIR, splits=..., seed={manifest["seed"]})`. The build is deterministic: the same
seed and library versions give byte-identical files.

## License

Apache-2.0 (generated by the project's own code; no third-party assets).
"""
