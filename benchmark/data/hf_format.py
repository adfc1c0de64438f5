"""The on-disk dataset format: a Hugging Face "parquet + files" dataset that any split loader can read.

Layout of a dataset directory ``DIR`` (every dataset of the benchmark, synthetic or converted)::

    DIR/
      README.md                      dataset card; YAML front matter ``configs:`` maps splits to parquet files
      manifest.json                  name, version, generator_version, seed, build parameters, per-split
                                     n_clips + sha256, and {relative path: sha256} of every data file
      data/<split>.parquet           one row per clip (columns below): the ``default`` config, every clip
      data/<config>/<split>.parquet  optional named configs (``write_configs``): a subset of the rows of
                                     data/<split>.parquet, value for value, same schema; the videos are shared
      videos/<split>/<clip_id>/ego.mp4, exo_cam01.mp4, ...   lossless RGB (libx264rgb, qp=0)
      depth/<split>/<clip_id>.npz    ``exo_depth`` float32 (V, T, He, We), ``ego_depth`` float32 (T, H, W)

Parquet columns (one row per clip; lists are flat, row-major):

=================  ===============  ==============================================================
column             type             meaning
=================  ===============  ==============================================================
clip_id            str              stable and unique, e.g. ``synth-test-0007``
split              str              train / val / test
category           str              activity type (pick-place, stack, push, inspect, wave)
text               str              one-sentence description of the activity
fps                float64          frames per second of the videos
scene_id           str              scene the clip was filmed in (val/test scenes never occur in train)
num_frames         int64            T
ego_height/width   int64            H, W of the ego video
exo_height/width   int64            He, We of every exo video
exo_cam_ids        list<str>        V camera names
exo_K              list<float64>    V * 9, intrinsics (V, 3, 3) in pixels of the stored resolution
exo_T_world_cam    list<float64>    V * 16 (static, (V, 4, 4)) or V * T * 16 ((V, T, 4, 4))
ego_K              list<float64>    9
ego_T_world_cam    list<float64>    T * 16, per-frame camera-to-world (T, 4, 4)
ego_video          str              path of the ego video, relative to DIR
exo_videos         list<str>        V paths, in the order of exo_cam_ids
depth              str or null      path of the depth .npz (null if the dataset has no depth)
seed, clip_index   int64            generator seed and the clip's index in its split (synthetic data)
scene_index        int64            index of the scene in its split's scene stream
generator_version  str              version of the code that rendered the clip
=================  ===============  ==============================================================

Cameras follow ``benchmark.cameras``: camera-to-world, OpenCV axes, metres, world z up. Paths are plain
strings (not ``datasets.Video`` features) so that ``datasets.load_dataset(DIR)`` works offline without
any video decoder; the benchmark's loader decodes them with ``benchmark.video_io``.

Configs: ``README.md``'s YAML lists ``default`` (data/<split>.parquet) and every named config, so
``datasets.load_dataset(DIR)`` loads all clips and ``datasets.load_dataset(DIR, "<config>")`` one config;
``manifest.json`` ``configs`` records, per config, how it selects its rows and, per split, ``n_clips``, the
content ``identity`` of its clips (``identity.set_identity`` over their ``clip_sha256``) and a file ``sha256``
over its parquet and its clips' files. The benchmark's loader takes the config by name (``--config``).

Integrity: a split's sha256 is the sha256 of the text ``"<relpath>\\t<sha256 of file>\\n"`` over its parquet
file and all files under ``videos/<split>/`` and ``depth/<split>/``, sorted by path. The manifest is the
last file written, atomically: a split that the manifest does not list does not exist, so a crashed
build never looks complete. All writers produce byte-identical files for identical inputs (no
timestamps): the same seed gives the same hashes on every rebuild with the same library versions.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from benchmark.atomic import write_bytes_atomic
from benchmark.data import identity
from benchmark.data.identity import round_cameras
from benchmark.hashing import sha256_file

MANIFEST = "manifest.json"
CARD = "README.md"
DEFAULT_CONFIG = "default"  # every clip of a split; the name ``datasets`` loads when no config is given
# the card's tags unless the manifest names its own (``manifest["tags"]``: real data such as ExoEgo4D is not synthetic)
DEFAULT_TAGS = ("synthetic", "egocentric", "exocentric", "video", "novel-view-synthesis")
FORMAT_VERSION = 2  # 2: cameras stored at 9 decimals; per-split and per-clip content identity in the manifest
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps keep .npz files byte-identical


IDENTITY_CARD_TEXT = f"""## Identity

Results name this data by its **content identity** (definition `{identity.DEFINITION}`, implemented once in
`benchmark/data/identity.py`), not by file bytes, so the same data has the same identity on every machine:

- cameras are stored rounded to {identity.CAMERA_DECIMALS} decimals (1 nm, 1e-9 px) and hashed as the integers
  `rint(x * 1e{identity.CAMERA_DECIMALS})`;
- videos are hashed as their decoded uint8 RGB frames (T, H, W, 3), not as .mp4 bytes;
- depth arrays as little-endian float32 with name and shape;
- metadata as the parquet row minus cameras and file paths, in canonical JSON;
- a clip's sha256 is that of the canonical JSON of those parts; a split's identity is the sha256 of
  `"{identity.DEFINITION}\\n"` and one line `"<clip_id>\\t<clip sha256>\\n"` per clip, sorted by id.

`manifest.json` records each split's `identity` and every clip's `clip_sha256`; scoring re-derives them from
the files it reads and refuses clips that no longer match. The file sha256 values in `manifest.json` are a
fast check of this copy's bytes only; they may differ between machines and library versions.
"""


# --------------------------------------------------------------------------------------------- files
# Dataset files go through the suite's one atomic writer (temp file in the same folder, umask mode, fsync, rename).
atomic_write_bytes = write_bytes_atomic


def write_npz(path, **arrays) -> Path:
    """A deterministic, compressed ``.npz`` (readable by ``np.load``); ``np.savez`` stamps the wall clock."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return atomic_write_bytes(path, buf.getvalue())


def read_npz(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# --------------------------------------------------------------------------------------------- rows
def clip_paths(split: str, clip_id: str, cam_ids) -> dict:
    """Relative paths of one clip's files."""
    base = f"videos/{split}/{clip_id}"
    return {"ego_video": f"{base}/ego.mp4", "exo_videos": [f"{base}/exo_{c}.mp4" for c in cam_ids],
            "depth": f"depth/{split}/{clip_id}.npz"}


def clip_row(clip, split: str, paths: dict, **extra) -> dict:
    """The parquet row of an ``ExoEgoClip`` whose files live at ``paths`` (see ``clip_paths``)."""
    V, T, He, We = clip.exo_video.shape[:4]
    row = {
        "clip_id": clip.clip_id, "split": split, "category": clip.category, "text": clip.text,
        "fps": float(clip.fps), "scene_id": str(clip.extra.get("scene_id", "")), "num_frames": int(T),
        "ego_height": int(clip.ego_video.shape[1]), "ego_width": int(clip.ego_video.shape[2]),
        "exo_height": int(He), "exo_width": int(We), "exo_cam_ids": [str(c) for c in clip.exo_cam_ids],
        # stored at the precision the content identity defines, whatever the converter computed
        "exo_K": round_cameras(clip.exo_K).ravel().tolist(),
        "exo_T_world_cam": round_cameras(clip.exo_T_world_cam).ravel().tolist(),
        "ego_K": round_cameras(clip.ego_K).ravel().tolist(),
        "ego_T_world_cam": round_cameras(clip.ego_T_world_cam).ravel().tolist(),
        "ego_video": paths["ego_video"], "exo_videos": list(paths["exo_videos"]), "depth": paths.get("depth"),
    }
    row.update(extra)
    return row


def write_parquet(path, rows: list) -> Path:
    """Write rows (list of dicts with identical keys) as one parquet file, atomically and deterministically."""
    import pyarrow as pa

    return _write_table(path, pa.Table.from_pylist(rows))


def _write_table(path, table) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(table, buf, compression="zstd")
    return atomic_write_bytes(path, buf.getvalue().to_pybytes())


def read_rows(path) -> list:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


# --------------------------------------------------------------------------------------------- configs
_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def config_parquet(config: str, split: str) -> str:
    """Relative path of the parquet of ``split`` in ``config`` (``data/<split>.parquet`` for ``default``)."""
    return f"data/{split}.parquet" if config == DEFAULT_CONFIG else f"data/{config}/{split}.parquet"


def _selector(name: str, select):
    """``(row -> bool, JSON description or None)`` of a config's selector: ``{column: value}`` or a callable."""
    if callable(select):
        return select, None
    if isinstance(select, dict) and select:
        wanted = dict(sorted(select.items()))
        return (lambda row: all(row.get(k) == v for k, v in wanted.items())), wanted
    raise ValueError(f"config {name!r}: expected {{column: value}} or a function of a row, got {select!r}")


def write_configs(root, manifest: dict, configs: dict) -> dict:
    """Write the named configs of a dataset folder and record them in ``manifest["configs"]``.

    Args:
        root: the dataset folder; ``data/<split>.parquet`` of every split of ``manifest["splits"]`` is written.
        manifest: the manifest being built; its split entries' ``clip_sha256`` give the configs' identities.
        configs: ``{name: selector}``; a selector is ``{column: value}`` (rows whose columns all equal the
            values, e.g. ``{"category": "cpr"}``) or a function ``row dict -> bool``.
    Writes ``data/<name>/<split>.parquet`` with exactly the selected rows of ``data/<split>.parquet`` (the same
    schema and values, so the same clips; the videos are not copied), for each split where the config selects
    a row. A config that selects no row in any split is left out. Config parquets of an earlier build that are
    no longer wanted are deleted. Records (sorted by name) ``{name: {"select": {column: value} or null, "splits": {split:
    {"n_clips", "identity"}}}}`` (identity null where a clip has no recorded ``clip_sha256``); the file sha256
    of each config split is added by :func:`record_file_hashes`, called after this. Returns ``manifest``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    for name in configs:
        if name == DEFAULT_CONFIG or not isinstance(name, str) or not _CONFIG_NAME.fullmatch(name):
            raise ValueError(f"config name {name!r}: expected letters, digits, '.', '_' or '-' (and not "
                             f"{DEFAULT_CONFIG!r}, the name of the config of every clip)")
    tables = {split: pq.read_table(root / config_parquet(DEFAULT_CONFIG, split)) for split in manifest["splits"]}
    rows = {split: table.to_pylist() for split, table in tables.items()}
    recorded, written = {}, set()
    for name, select in configs.items():
        keep, described = _selector(name, select)
        entries = {}
        for split, table in tables.items():
            mask = [bool(keep(row)) for row in rows[split]]
            if not any(mask):
                continue
            rel = config_parquet(name, split)
            _write_table(root / rel, table.filter(pa.array(mask)))
            written.add(rel)
            ids = [row["clip_id"] for row, m in zip(rows[split], mask) if m]
            hashes = manifest["splits"][split].get("clip_sha256") or {}
            entries[split] = {"n_clips": len(ids), "identity": identity.set_identity({c: hashes[c] for c in ids})
                              if all(c in hashes for c in ids) else None}
        if entries:
            recorded[name] = {"select": described, "splits": entries}
    data = root / "data"
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):  # leftovers of an earlier build
        for f in folder.glob("*.parquet"):
            if f.relative_to(root).as_posix() not in written:
                f.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()
    if recorded:
        manifest["configs"] = dict(sorted(recorded.items()))  # the order manifest.json (sorted keys) reads back
    else:
        manifest.pop("configs", None)
    return manifest


def config_files(root, config: str, split: str) -> list:
    """Relative paths (sorted) of a named config's parquet and of every file its rows point to (existing or not)."""
    rel = config_parquet(config, split)
    rels = {rel}
    for row in read_rows(Path(root) / rel):
        rels.update([row["ego_video"], *row["exo_videos"], *([row["depth"]] if row.get("depth") else [])])
    return sorted(rels)


# --------------------------------------------------------------------------------------------- hashes
def split_files(root, split: str) -> list:
    """Relative paths (sorted, '/'-separated) of every file that belongs to ``split``."""
    root = Path(root)
    files = [f"data/{split}.parquet"] if (root / "data" / f"{split}.parquet").is_file() else []
    for top in ("videos", "depth"):
        base = root / top / split
        if base.is_dir():
            files += [p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()]
    return sorted(files)


def hash_files(root, relpaths) -> dict:
    root = Path(root)
    return {rel: sha256_file(root / rel) for rel in sorted(relpaths)}


def combined_sha256(file_hashes: dict) -> str:
    """sha256 over ``"<relpath>\\t<sha256>\\n"`` lines sorted by path."""
    h = hashlib.sha256()
    for rel in sorted(file_hashes):
        h.update(f"{rel}\t{file_hashes[rel]}\n".encode())
    return h.hexdigest()


def split_sha256(root, split: str) -> str:
    """Recompute a split's sha256 from the files on disk (compare with ``manifest["splits"][split]``)."""
    return combined_sha256(hash_files(root, split_files(root, split)))


def record_file_hashes(root, manifest: dict) -> dict:
    """Hash every split's files on disk into ``manifest``: ``splits[split]["sha256"]`` and the ``files`` table.

    Named configs (``manifest["configs"]``, see :func:`write_configs`) get ``splits[split]["sha256"]`` over their
    parquet and their clips' files, and their parquets join the ``files`` table. Called by every builder just
    before it writes the card and, last, the manifest. Returns ``manifest``.
    """
    files = {}
    for split in manifest["splits"]:
        hashes = hash_files(root, split_files(root, split))
        manifest["splits"][split]["sha256"] = combined_sha256(hashes)
        files.update(hashes)
    for name, config in (manifest.get("configs") or {}).items():
        for split, entry in config["splits"].items():
            rels = config_files(root, name, split)
            hashes = {rel: files[rel] if rel in files else sha256_file(Path(root) / rel) for rel in rels}
            entry["sha256"] = combined_sha256(hashes)
            files.update(hashes)
    manifest["files"] = dict(sorted(files.items()))
    return manifest


# --------------------------------------------------------------------------------------------- manifest
def read_manifest(root) -> dict | None:
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


def write_manifest(root, manifest: dict) -> Path:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    return atomic_write_bytes(Path(root) / MANIFEST, text.encode())


def write_card(root, manifest: dict, description: str) -> Path:
    """The dataset card: YAML front matter that ``datasets`` reads, then a human description."""
    splits = _ordered_splits(manifest["splits"])
    tags = manifest.get("tags") or DEFAULT_TAGS
    yaml = ["---", f"pretty_name: {manifest.get('pretty_name', manifest['name'])}",
            f"license: {manifest.get('license', 'apache-2.0')}", "tags:", *(f"- {t}" for t in tags), "configs:",
            "- config_name: default", "  data_files:"]
    for s in splits:
        yaml += [f"  - split: {s}", f"    path: data/{s}.parquet"]
    configs = manifest.get("configs") or {}
    for name, config in configs.items():
        yaml += [f"- config_name: {name}", "  data_files:"]
        for s in _ordered_splits(config["splits"]):
            yaml += [f"  - split: {s}", f"    path: {config_parquet(name, s)}"]
    yaml.append("---")
    rows = "\n".join(f"| {s} | {manifest['splits'][s]['n_clips']} | `{manifest['splits'][s].get('identity', 'n/a')}` "
                     f"| `{manifest['splits'][s]['sha256']}` |" for s in splits)
    body = (description.strip() + "\n\n## Splits\n\n| split | clips | content identity | file sha256 (see manifest.json) |"
            "\n|---|---|---|---|\n" + rows + "\n\n" + (_configs_card_text(configs) if configs else "")
            + IDENTITY_CARD_TEXT)
    return atomic_write_bytes(Path(root) / CARD, ("\n".join(yaml) + "\n\n" + body + "\n").encode())


def _ordered_splits(splits) -> list:
    ordered = [s for s in ("train", "val", "test") if s in splits]
    return ordered + sorted(s for s in splits if s not in ordered)


def _configs_card_text(configs: dict) -> str:
    """The card's section on named configs: how to load one, and its clips and identity per split."""
    rows = "\n".join(
        f"| `{name}` | {s} | {entry['n_clips']} | `{entry.get('identity') or 'n/a'}` |"
        for name, config in configs.items() for s, entry in
        ((s, config["splits"][s]) for s in _ordered_splits(config["splits"])))
    return ("## Configs\n\n`default` holds every clip (the splits above). Each named config holds a subset of those\n"
            "rows, unchanged (`data/<config>/<split>.parquet`; the videos are shared). Load one with\n"
            "`datasets.load_dataset(DIR, \"<config>\")`, or run the benchmark on it with `--config <config>`.\n\n"
            "| config | split | clips | content identity |\n|---|---|---|---|\n" + rows + "\n\n")
