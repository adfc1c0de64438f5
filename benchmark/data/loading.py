"""Load a split of a dataset directory (``hf_format``) as ``ExoEgoClip`` objects.

``load_split("synth", "test")`` with no root uses ``default_cache_dir() / "synth-v<major>"`` and builds the
requested split there on first use. Any other dataset, or an explicit ``root``, must be an existing
dataset directory; otherwise ``DatasetNotFoundError`` says where it looked and how to build one.
Clips are decoded lazily, one per ``clipset[i]``; metadata (ids, categories, cameras) needs no decoding.

``config`` picks one of the dataset's configs (``hf_format.write_configs``; e.g. ExoEgo4D's
``bike-repair-unseen-takes``): its clips only, with the content identity recorded for that subset. The
default, ``"default"``, is every clip of the split.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import numpy as np

from benchmark.errors import UsageError
from benchmark.hashing import sha256_file
from benchmark.schema import ClipValidationError, ExoEgoClip
from benchmark.video_io import VideoReadError, read_video

from . import hf_format as fmt
from . import identity

SYNTH_SPLITS = ("train", "val", "test")


class DatasetNotFoundError(FileNotFoundError):
    """No dataset directory (with a manifest.json) where one was expected; the message says how to build it."""


class DatasetIntegrityError(ValueError):
    """Files on disk do not match the hashes recorded in the manifest."""


class UnknownSplitError(UsageError):
    """The dataset has no split of that name (``--split``); the message lists the splits there are."""


class UnknownConfigError(UsageError):
    """The dataset has no config of that name (``--config``); the message lists the configs there are."""


class ClipNotFoundError(UsageError, KeyError):
    """No clip of that id in the split. Still a ``KeyError`` for code that catches one."""

    def __str__(self):  # KeyError quotes its message; we want a readable sentence
        return self.args[0]


def default_cache_dir() -> Path:
    """``$EXOEGO_CACHE`` if set, else ``~/.cache/exoego-bench``."""
    env = os.environ.get("EXOEGO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "exoego-bench"


def synth_default_root() -> Path:
    from .synth.render import GENERATOR_VERSION

    return default_cache_dir() / f"synth-v{GENERATOR_VERSION.split('.')[0]}"


def _not_found(dataset: str, root: Path, why: str) -> DatasetNotFoundError:
    # Name only commands that exist: `data build` builds the synthetic set and nothing else.
    if dataset == "synth":
        fix = (f"build it with `python -m benchmark data build synth --out {root}` and pass `--root {root}` "
               "(root= in Python), or leave --root out to use the cache, where it is built on first use")
    elif dataset == "exoego4d":
        fix = (f"convert it from your Ego-Exo4D download with `python -m benchmark data build exoego4d --root "
               f"EGOEXO_DIR --out {root}` and pass `--root {root}`")
    else:
        fix = (f"there is no builder for {dataset!r}: pass `--root DIR` (root= in Python) pointing to a dataset "
               f"directory that holds {fmt.MANIFEST}, data/<split>.parquet and the clips' files "
               "(the format of benchmark.data.hf_format)")
    return DatasetNotFoundError(f"dataset {dataset!r} not found at {root} ({why}); {fix}.")


def load_split(dataset: str = "synth", split: str = "test", root: str | Path | None = None, *,
               build_if_missing: bool = True, config: str | None = None) -> "ClipSet":
    """The clips of ``split`` of ``dataset`` (see the module docstring for where they are looked up).

    ``config``: a config of the dataset (None or ``"default"``: every clip); an unknown one raises
    :class:`UnknownConfigError` listing the configs of the folder.
    """
    config = fmt.DEFAULT_CONFIG if config is None else str(config)
    auto = dataset == "synth" and root is None
    if auto and config != fmt.DEFAULT_CONFIG:  # refused before anything is built into the cache
        raise UnknownConfigError(f"config {config!r} (--config) is not in dataset 'synth'; SynthEgoExo has the "
                                 f"config {fmt.DEFAULT_CONFIG!r} only")
    root = synth_default_root() if auto else Path(root).expanduser() if root is not None else default_cache_dir() / dataset
    root = root.absolute()
    manifest = fmt.read_manifest(root)
    if auto:
        if split not in SYNTH_SPLITS:
            raise UnknownSplitError(f"unknown split {split!r} (--split) of dataset 'synth'; SynthEgoExo has the "
                                    f"splits {', '.join(SYNTH_SPLITS)}{_did_you_mean(split, SYNTH_SPLITS)}")
        if manifest is None or split not in manifest.get("splits", {}):
            if not build_if_missing:
                raise _not_found(dataset, root, f"split {split!r} has not been built")
            from .synth.build import build_synth

            print(f"[exoego-bench] building SynthEgoExo split {split!r} into {root} (first use; seed 0)",
                  file=sys.stderr)
            build_synth(root, splits=(split,), seed=0)
            manifest = fmt.read_manifest(root)
    if manifest is None:
        why = "no such directory" if not root.exists() else f"no {fmt.MANIFEST} in it"
        raise _not_found(dataset, root, why)
    if split not in manifest.get("splits", {}):
        present = sorted(manifest.get("splits", {}))
        hint = _did_you_mean(split, present)
        if dataset == "synth" and split in SYNTH_SPLITS:
            hint += f"; build it with `python -m benchmark data build synth --out {root} --splits {split}`"
        raise UnknownSplitError(f"split {split!r} (--split) is not in dataset {dataset!r} at {root}; the splits "
                                f"there are: {', '.join(present) or 'none'}{hint}")
    if config != fmt.DEFAULT_CONFIG:
        configs = manifest.get("configs") or {}
        if config not in configs:
            names = [fmt.DEFAULT_CONFIG, *configs]
            raise UnknownConfigError(f"config {config!r} (--config) is not in dataset {dataset!r} at {root}; the "
                                     f"configs there are: {', '.join(names)}{_did_you_mean(config, names)}")
        if split not in configs[config]["splits"]:
            present = [s for s in manifest["splits"] if s in configs[config]["splits"]]
            raise UnknownSplitError(f"config {config!r} of dataset {dataset!r} at {root} has no clips in split "
                                    f"{split!r} (--split); its splits are: {', '.join(present)}")
    return ClipSet(dataset, split, root, manifest, config=config)


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class ClipSet:
    """The clips of one split (of one config). ``len``, ``clipset[i]`` / ``get(clip_id)`` -> validated ``ExoEgoClip``.

    Attributes: ``name``, ``split``, ``config`` (``"default"``: every clip), ``root`` (Path), ``manifest_sha256``
    (the file sha256 of the split, or of the config's split, recorded in the manifest), ``identity`` (their
    content identity), ``clip_ids`` (list[str]), ``info`` (fps, num_frames, ego/exo resolution, n_views, version).
    """

    def __init__(self, name: str, split: str, root: Path, manifest: dict, config: str = fmt.DEFAULT_CONFIG):
        self.name = name
        self.split = split
        self.config = config
        self.root = Path(root)
        self.manifest = manifest
        entry = (manifest["splits"][split] if config == fmt.DEFAULT_CONFIG
                 else manifest["configs"][config]["splits"][split])
        self.manifest_sha256 = entry["sha256"]
        # content identity (benchmark.data.identity); None for datasets built before it was recorded
        self.identity = entry.get("identity")
        parquet = self.root / fmt.config_parquet(config, split)
        if not parquet.is_file():
            raise _not_found(name, self.root, f"{parquet} is missing although the manifest lists split {split!r}"
                             + ("" if config == fmt.DEFAULT_CONFIG else f" of config {config!r}"))
        self._rows = fmt.read_rows(parquet)
        self.clip_ids = [r["clip_id"] for r in self._rows]
        if len(set(self.clip_ids)) != len(self.clip_ids):
            raise ClipValidationError(f"{parquet}: clip ids are not unique")
        recorded = manifest["splits"][split].get("clip_sha256") or {}  # a config's clips are clips of the split
        self._clip_sha256 = {cid: recorded[cid] for cid in self.clip_ids if cid in recorded}
        self._index = {cid: i for i, cid in enumerate(self.clip_ids)}
        self.info = self._summarise()

    def _summarise(self) -> dict:
        def one(key):
            values = sorted({r[key] for r in self._rows})
            return values[0] if len(values) == 1 else values

        rows = self._rows
        return {
            "fps": one("fps") if rows else None, "num_frames": one("num_frames") if rows else None,
            "ego_size": [one("ego_height"), one("ego_width")] if rows else None,
            "exo_size": [one("exo_height"), one("exo_width")] if rows else None,
            "n_views": sorted({len(r["exo_cam_ids"]) for r in rows})[0] if rows else None,
            "version": self.manifest.get("version"), "n_clips": len(rows),
        }

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def has_exo_depth(self) -> bool:
        """True when every clip ships exo depth maps (SynthEgoExo does; ExoEgo4D, converted from video, does not)."""
        return bool(self._rows) and all(r.get("depth") for r in self._rows)

    def __repr__(self) -> str:
        config = "" if self.config == fmt.DEFAULT_CONFIG else f", config={self.config!r}"
        return f"ClipSet({self.name!r}, {self.split!r}, {len(self)} clips{config}, root={str(self.root)!r})"

    @property
    def label(self) -> str:
        """``name/split``, or ``name[config]/split`` for a named config: how messages name these clips."""
        config = "" if self.config == fmt.DEFAULT_CONFIG else f"[{self.config}]"
        return f"{self.name}{config}/{self.split}"

    def cli_args(self) -> str:
        """The options that select these clips on the command line (``--dataset ... --root ...``)."""
        config = "" if self.config == fmt.DEFAULT_CONFIG else f" --config {self.config}"
        return f"--dataset {self.name}{config} --split {self.split} --root {self.root}"

    def __getitem__(self, i: int) -> ExoEgoClip:
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip index {i} out of range for {len(self)} clips of {self.label}")
        return self._load(self._rows[i])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def get(self, clip_id: str) -> ExoEgoClip:
        return self._load(self._row(clip_id))

    def _row(self, clip_id: str) -> dict:
        if clip_id not in self._index:
            close = difflib.get_close_matches(str(clip_id), self.clip_ids, n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ClipNotFoundError(
                f"clip {clip_id!r} is not in {self.label} ({len(self)} clips at {self.root}){hint}; "
                f"list the clip ids with `python -m benchmark data list {self.cli_args()}`")
        return self._rows[self._index[clip_id]]

    def ego_shape(self, clip_id: str) -> tuple:
        """(T, H, W) of the clip's ego video, from the parquet only (no decoding)."""
        row = self._row(clip_id)
        return int(row["num_frames"]), int(row["ego_height"]), int(row["ego_width"])

    def ego_video(self, clip_id: str) -> np.ndarray:
        """Only the ground-truth ego video, uint8 (T, H, W, 3): what scoring needs, without the exo views."""
        row = self._row(clip_id)
        T, H, W = self.ego_shape(clip_id)
        return self._read_video(row, row["ego_video"], T, (H, W))

    def _path(self, row: dict, rel: str) -> Path:
        """The file ``rel`` of a row, refused if it is absolute or resolves (symlinks included) outside the root."""
        path = self.root / rel
        if Path(rel).is_absolute() or not path.resolve().is_relative_to(self.root.resolve()):
            raise ClipValidationError(
                f"clip {row['clip_id']!r} ({self.label}): path {rel!r} in {fmt.config_parquet(self.config, self.split)} "
                f"leads outside the dataset folder {self.root} ({path.resolve()}); dataset files must lie inside it")
        return path

    def _read_depth(self, row: dict) -> dict:
        path = self._path(row, row["depth"])
        try:
            depth = fmt.read_npz(path)
            return {"exo_depth": depth["exo_depth"], "ego_depth": depth["ego_depth"]}
        except (OSError, KeyError, ValueError) as exc:
            raise ClipValidationError(f"clip {row['clip_id']!r}: cannot read depth file {path} "
                                      f"(expected exo_depth and ego_depth arrays): {exc}") from exc

    def _read_video(self, row: dict, rel: str, num_frames: int, size: tuple) -> np.ndarray:
        try:
            return read_video(self._path(row, rel), expected_frames=num_frames, expected_size=size)
        except VideoReadError as exc:
            raise VideoReadError(f"clip {row['clip_id']!r} ({self.label}): {exc}") from exc

    def categories(self) -> dict:
        """clip_id -> category, from the parquet only."""
        return {r["clip_id"]: r["category"] for r in self._rows}

    def iter_inputs_metadata(self):
        """Per-clip metadata dicts (the parquet row; cameras as arrays), without decoding any video."""
        for r in self._rows:
            yield {**r, **_cameras(r)}

    def clip_sha256(self, clip_id: str, *, ego_video: np.ndarray | None = None) -> str:
        """The content sha256 of one clip (``benchmark.data.identity``), decoded from the files on disk.

        ``ego_video`` may pass the already decoded ground truth (scoring has it) to save one decode.
        """
        row = self._row(clip_id)
        T, H, W = self.ego_shape(clip_id)
        if ego_video is None:
            ego_video = self._read_video(row, row["ego_video"], T, (H, W))
        exo_size = (int(row["exo_height"]), int(row["exo_width"]))
        exo_hashes = [identity.frames_sha256(self._read_video(row, rel, T, exo_size)) for rel in row["exo_videos"]]
        depth = None
        if row.get("depth"):
            depth = {k: identity.array_sha256(k, v) for k, v in self._read_depth(row).items()}
        return identity.clip_sha256(row, ego=identity.frames_sha256(ego_video), exo=exo_hashes, depth=depth)

    def verify_clip(self, clip_id: str, *, ego_video: np.ndarray | None = None) -> str:
        """Check one clip's content against the identity recorded at build time; return its sha256.

        Raises ``DatasetIntegrityError`` naming the clip and the files whose bytes changed since the build
        (for example a ground-truth video swapped for another). A dataset whose manifest records no
        per-clip identity (built by an older version) cannot be verified: the sha256 is returned as is.
        """
        actual = self.clip_sha256(clip_id, ego_video=ego_video)
        expected = self._clip_sha256.get(clip_id)
        if expected is not None and actual != expected:
            row = self._row(clip_id)
            recorded = self.manifest.get("files", {})
            rels = [row["ego_video"], *row["exo_videos"], *([row["depth"]] if row.get("depth") else [])]
            changed = [rel for rel in rels
                       if not (self.root / rel).is_file() or recorded.get(rel) != sha256_file(self.root / rel)]
            where = f"changed files: {', '.join(changed)}" if changed else "the parquet row (cameras or metadata)"
            raise DatasetIntegrityError(
                f"clip {clip_id!r} of {self.label} at {self.root} does not match the content identity "
                f"recorded when the dataset was built ({actual[:12]} vs {expected[:12]}; {where}). The dataset "
                f"was modified: rebuild it, or restore the original files.")
        return actual

    @property
    def verifiable(self) -> bool:
        """True when the manifest records a content sha256 for every clip of the split."""
        return all(cid in self._clip_sha256 for cid in self.clip_ids)

    def verify(self) -> str:
        """Re-hash the split's files; raise ``DatasetIntegrityError`` naming what differs. Returns the sha256.

        For a named config: its parquet and the files its rows point to (``hf_format.config_files``).
        """
        recorded = self.manifest.get("files", {})
        if self.config == fmt.DEFAULT_CONFIG:
            on_disk = fmt.hash_files(self.root, fmt.split_files(self.root, self.split))
            expected = {k: v for k, v in recorded.items() if _in_split(k, self.split)}
        else:
            rels = fmt.config_files(self.root, self.config, self.split)
            on_disk = fmt.hash_files(self.root, [r for r in rels if (self.root / r).is_file()])
            expected = {r: recorded.get(r) for r in rels}
        changed = sorted(k for k in set(expected) | set(on_disk) if expected.get(k) != on_disk.get(k))
        actual = fmt.combined_sha256(on_disk)
        if changed or actual != self.manifest_sha256:
            where = f"split {self.split!r}" + ("" if self.config == fmt.DEFAULT_CONFIG else f" of config {self.config!r}")
            raise DatasetIntegrityError(
                f"{self.root}: {where} does not match {fmt.MANIFEST} (sha256 {actual} vs recorded "
                f"{self.manifest_sha256}); changed, missing or extra files: {changed[:10]}")
        return actual

    def _load(self, row: dict) -> ExoEgoClip:
        cid = row["clip_id"]
        T = int(row["num_frames"])
        ego_size = (int(row["ego_height"]), int(row["ego_width"]))
        exo_size = (int(row["exo_height"]), int(row["exo_width"]))

        ego_video = self._read_video(row, row["ego_video"], T, ego_size)
        exo_video = np.stack([self._read_video(row, rel, T, exo_size) for rel in row["exo_videos"]])
        exo_depth = ego_depth = None
        if row.get("depth"):
            depth = self._read_depth(row)
            exo_depth, ego_depth = depth["exo_depth"], depth["ego_depth"]
        cams = _cameras(row)
        extra = {"scene_id": row.get("scene_id"), "split": self.split, "dataset": self.name, "config": self.config,
                 "paths": {"ego_video": str(self.root / row["ego_video"]),
                           "exo_videos": [str(self.root / p) for p in row["exo_videos"]],
                           "depth": str(self.root / row["depth"]) if row.get("depth") else None}}
        for key in ("seed", "clip_index", "scene_index", "generator_version"):
            if key in row:
                extra[key] = row[key]
        return ExoEgoClip(
            clip_id=cid, category=row["category"], fps=float(row["fps"]), text=row["text"], exo_video=exo_video,
            exo_cam_ids=list(row["exo_cam_ids"]), ego_video=ego_video, exo_depth=exo_depth, ego_depth=ego_depth,
            extra=extra, **cams,
        ).validate()


def _in_split(relpath: str, split: str) -> bool:
    return relpath == f"data/{split}.parquet" or relpath.startswith((f"videos/{split}/", f"depth/{split}/"))


def _cameras(row: dict) -> dict:
    """Camera arrays from a parquet row: exo_K (V,3,3), exo_T_world_cam (V,4,4) or (V,T,4,4), ego_K, ego_T."""
    V, T = len(row["exo_cam_ids"]), int(row["num_frames"])
    exo_T = np.asarray(row["exo_T_world_cam"], dtype=np.float64)
    exo_T = exo_T.reshape(V, 4, 4) if exo_T.size == V * 16 else exo_T.reshape(V, T, 4, 4)
    return {"exo_K": np.asarray(row["exo_K"], dtype=np.float64).reshape(V, 3, 3), "exo_T_world_cam": exo_T,
            "ego_K": np.asarray(row["ego_K"], dtype=np.float64).reshape(3, 3),
            "ego_T_world_cam": np.asarray(row["ego_T_world_cam"], dtype=np.float64).reshape(T, 4, 4)}
