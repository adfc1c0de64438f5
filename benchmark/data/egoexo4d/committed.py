"""The committed ExoEgo4D manifests, and the check that a build reproduces them.

Maintainers commit the protocol manifest of a build from the full Ego-Exo4D download as
``manifests/v<protocol version>/<setting>.json`` (the file ``protocol.write_manifest`` writes; its identity is
checked when read). Every later build of the same setting, on any machine, is compared with it:
:func:`compare_with_committed` restricts the committed rows to the categories built and reports whether the
build's rows are exactly those (same clip ids, takes, frames, cameras, splits), and if not which clips are
missing, extra or changed. A difference means another Ego-Exo4D release (``takes.json``, ``splits.json``,
annotations), a partial download, or a bug; the converter reports it and never hides it.

No manifest is committed for protocol 1.0 yet: it needs a build from the real download (issue 8). Until then
the report says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from . import protocol as P

COMMITTED_DIR = Path(__file__).resolve().parent / "manifests"
SHOWN = 20  # clip ids listed per kind of difference (the counts are always complete)


def committed_path(setting: str, protocol: P.Protocol = P.PROTOCOL_V1, directory=None) -> Path:
    """Where the committed manifest of ``setting`` for ``protocol`` lives (whether or not it exists)."""
    return Path(directory or COMMITTED_DIR) / f"v{protocol.version}" / f"{setting}.json"


def compare_with_committed(rows: Sequence[P.ManifestRow], setting: str, categories: Sequence[str],
                           protocol: P.Protocol = P.PROTOCOL_V1, directory=None) -> dict:
    """Compare a build's manifest rows with the committed manifest of its setting.

    Args:
        rows: the build's rows (one setting). categories: the categories the build asked for; committed rows of
            other categories are left out of the comparison. directory: the folder of committed manifests
            (default: the package's ``manifests/``).
    Returns:
        ``{"path", "committed": bool, ...}``; when committed: ``matches``, ``committed_identity`` and
        ``build_identity`` (both over the compared categories), ``n_committed``, ``n_built`` and, per kind of
        difference (``missing``: committed but not built; ``extra``: built but not committed; ``changed``:
        same clip id, another row), ``n_<kind>`` and up to 20 clip ids.
    """
    path = committed_path(setting, protocol, directory)
    if not path.is_file():
        return {"path": str(path), "committed": False,
                "note": f"no manifest committed for protocol {protocol.version} setting {setting!r} yet"}
    wanted = set(categories)
    committed = [r for r in P.read_manifest(path, protocol) if r.category in wanted]
    built = [r for r in rows if r.category in wanted]
    by_id_c = {r.clip_id: r for r in committed}
    by_id_b = {r.clip_id: r for r in built}
    missing = sorted(set(by_id_c) - set(by_id_b))
    extra = sorted(set(by_id_b) - set(by_id_c))
    changed = sorted(c for c in set(by_id_c) & set(by_id_b) if by_id_c[c].to_dict() != by_id_b[c].to_dict())
    out = {"path": str(path), "committed": True, "categories": sorted(wanted),
           "committed_identity": P.manifest_identity(committed), "build_identity": P.manifest_identity(built),
           "n_committed": len(committed), "n_built": len(built)}
    out["matches"] = out["committed_identity"] == out["build_identity"]
    for kind, ids in (("missing", missing), ("extra", extra), ("changed", changed)):
        out[f"n_{kind}"] = len(ids)
        out[kind] = ids[:SHOWN]
    return out


def summary_line(check: dict | None) -> str | None:
    """One line for the command's output, or None when there was nothing to compare (outside clip lists)."""
    if not check:
        return None
    if not check["committed"]:
        return f"manifest: {check['note']}"
    if check["matches"]:
        return (f"manifest: reproduces the committed manifest ({check['n_committed']} clips, identity "
                f"{check['committed_identity'][:12]})")
    return (f"WARNING: manifest differs from the committed one ({check['path']}): {check['n_missing']} clips "
            f"missing, {check['n_extra']} extra, {check['n_changed']} changed; another Ego-Exo4D release, a partial "
            f"download or a bug (clip ids in build_report.json, committed_manifest)")
