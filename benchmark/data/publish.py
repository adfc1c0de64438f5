"""Publish a dataset folder on the Hugging Face Hub (for maintainers): ``python -m benchmark data push DIR``.

What a push uploads to the dataset repository ``--repo-id ORG/NAME``:

* by default, the dataset's description only: the card (``README.md``), ``manifest.json`` and, where the
  folder has them, the ExoEgo4D protocol manifest (``exoego4d_manifest.json``: the clip list, take uids,
  frames and cameras used, with its identity) and ``build_report.json``. No video and no parquet: the parquet
  rows hold cameras and paths derived from the source data, and the videos are frames of it. Whoever has the
  source data rebuilds the same folder locally (``data build``) and checks it against these identities;
* with ``include_videos=True`` (``--include-videos``), every file the manifest lists as well (the parquet
  of every split and config, ``videos/``, ``depth/``), so that ``datasets.load_dataset("ORG/NAME")`` works
  from the Hub. Refused for ExoEgo4D: Ego-Exo4D's license (https://ego4ddataset.com/egoexo-license/) does
  not allow redistributing its videos or data derived from them; allowed for SynthEgoExo, which the
  benchmark renders itself.

Files are checked against the manifest's sha256 before anything is sent, so a push never publishes a
modified folder under the manifest's identities. ``dry_run=True`` lists the files and sends nothing (no
network, no ``huggingface_hub`` import). The upload itself is ``HfApi.create_repo`` (a dataset repository,
``exist_ok``; ``private`` applies when it is created) then ``HfApi.upload_folder`` restricted to the listed
files, with the credentials ``huggingface_hub`` finds itself (``huggingface-cli login`` or ``HF_TOKEN``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from benchmark.errors import UsageError
from benchmark.hashing import sha256_file

from . import hf_format as fmt

PROTOCOL_MANIFEST = "exoego4d_manifest.json"
BUILD_REPORT = "build_report.json"
DESCRIPTION_FILES = (fmt.CARD, fmt.MANIFEST, PROTOCOL_MANIFEST, BUILD_REPORT)
# datasets whose data files may not be redistributed, and why (cited in the refusal)
NOT_REDISTRIBUTABLE = {
    "exoego4d": ("ExoEgo4D is derived from Ego-Exo4D, whose license agreement "
                 "(https://ego4ddataset.com/egoexo-license/) does not allow redistributing its videos or data made "
                 "from them; push the description only (leave --include-videos out): users convert their own "
                 "licensed download with `python -m benchmark data build exoego4d` and get the same identities"),
}
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def files_to_push(root, *, include_videos: bool = False) -> list:
    """Relative paths (sorted, '/'-separated) of the files a push of the dataset folder ``root`` uploads.

    Raises :class:`UsageError` when ``root`` is not a finished dataset folder (no ``manifest.json``), when
    ``include_videos`` is asked for a dataset that may not be redistributed (:data:`NOT_REDISTRIBUTABLE`),
    or when a file differs from the sha256 the manifest records (or is missing).
    """
    root = Path(root)
    manifest = fmt.read_manifest(root)
    if manifest is None:
        raise UsageError(f"{root}: no {fmt.MANIFEST}, so it is not a finished dataset folder; build one with "
                         "`python -m benchmark data build ...` and push that folder")
    name = manifest.get("name")
    if include_videos and name in NOT_REDISTRIBUTABLE:
        raise UsageError(f"--include-videos refused for {root}: {NOT_REDISTRIBUTABLE[name]}")
    files = [f for f in DESCRIPTION_FILES if (root / f).is_file()]
    if include_videos:
        recorded = manifest.get("files") or {}
        changed = [rel for rel, sha in sorted(recorded.items())
                   if not (root / rel).is_file() or sha256_file(root / rel) != sha]
        if changed:
            raise UsageError(f"{root}: {len(changed)} file(s) missing or changed since the build (not pushed): "
                             f"{', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}; rebuild the folder")
        files += list(recorded)
    return sorted(set(files))


def _literal(path: str) -> str:
    """An ``fnmatch`` pattern that matches exactly ``path`` (``upload_folder``'s ``allow_patterns``)."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def push_to_hub(root, repo_id: str, *, include_videos: bool = False, private: bool = False, dry_run: bool = False,
                token: str | None = None, out=None) -> list:
    """Upload the dataset folder ``root`` to the Hub dataset repository ``repo_id`` (see the module docstring).

    Prints the files (and, unless ``dry_run``, the repository address) to ``out`` (default stdout) and returns
    their relative paths. ``token``: passed to ``HfApi`` (None: huggingface_hub's own login).
    """
    out = out or sys.stdout
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id):
        raise UsageError(f"--repo-id {repo_id!r}: expected ORG/NAME (letters, digits, '.', '_', '-')")
    root = Path(root)
    files = files_to_push(root, include_videos=include_videos)
    size = sum((root / f).stat().st_size for f in files)
    verb = "would upload" if dry_run else "uploading"
    print(f"{verb} {len(files)} files ({size / 1e6:.2f} MB) from {root} to the dataset repository {repo_id}"
          f"{' (private)' if private else ''}:", file=out)
    for f in files:
        print(f"  {f}", file=out)
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(root),
                      allow_patterns=[_literal(f) for f in files],
                      commit_message=f"Upload {'the dataset' if include_videos else 'the dataset description'}")
    print(f"pushed to {url}", file=out)
    return files
