"""One definition of "the same protocol": when two runs' numbers can be compared at all.

Two runs are under the same protocol when their :func:`protocol_key` dicts are equal. The key holds

* ``dataset``: ``name``, ``config`` (``"default"`` when a file has none), ``split``, ``track`` and ``identity``
  (the verified content sha256 of the clips
  scored, ``results.json`` schema 2). A schema-1 file has no identity; its key carries its
  ``manifest_sha256`` instead (file bytes, which differ between machines for the same content), so
  schema-1 runs compare only with schema-1 runs of the same files; and, for a sweep point, ``inputs`` (the
  ``method.inputs`` a run records for ``--views N`` / ``--pose-noise``: the method saw other inputs);
* ``metric_settings``: every metric setting (``MetricSuite.settings()``) except what does not change a
  number: :data:`NOT_PROTOCOL` at the top level (device, package versions, which metrics were requested or
  unavailable, sizes and frame counts observed, which are properties of the data the identity already pins)
  and, inside a metric, its prose ``notes``, its ``weight_files`` / ``weight_file`` / ``model_path`` (paths and
  checksums of the files on one machine; whether they match the published checksums is shown by the leaderboard
  per cell), FVD's ``reference_cache`` (a folder on one machine) and per-metric package ``versions``;
* ``bootstrap``: ``n_boot``, ``alpha``, ``method``, ``unit`` (how ``ci95`` was resampled; the seed is left
  out: it is the run's generation seed, and a different seed is a different run, not another protocol).
  ``None`` for schema-1 files.

**Which data: the clips scored or their split** (``scope``). A leaderboard row's numbers are means over the
clips it scored, so the table compares ``dataset.identity``, the content identity of exactly those clips
(``scope="clips"``, the default). A check that pairs runs clip by clip (the regression check,
:mod:`leaderboard.regression`) must accept a ``--limit`` candidate over the first clips of the reference's split:
with ``scope="split"`` the key holds ``dataset.split_identity`` instead (the content identity of the whole split
the clips were drawn from; files written before it existed carry their ``manifest_sha256``), and the caller then
matches the clips themselves. Everything else in the key is the same in both scopes: one rule, two questions.

:func:`protocol_differences` lists what differs as readable lines (``metric_settings.ssim.sigma: 1.5 vs 2.0``);
``ignore`` leaves out fields by dotted prefix (``"bootstrap"``, ``"metric_settings.fvd"``).
:func:`protocol_digest` is a short fingerprint of the key for captions (``"3f9c0a1b"``): equal digests, same
protocol (up to a collision of its first 32 bits, which only matters to a reader comparing captions by eye).

Example::

    from leaderboard.protocol import protocol_differences, protocol_digest
    problems = protocol_differences(reference_results, candidate_results, scope="split")
    protocol_digest(results)  # '3f9c0a1b'
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Iterable

from benchmark.results import dataset_config

NOT_PROTOCOL = ("device", "versions", "unavailable", "metrics_requested", "verify_weights", "num_frames_observed",
                "resolution_scored", "notes")
# where a metric's files are on one machine, and package versions (the weights' checksum, e.g. FVD's
# weights_sha256, stays in: other weights are another protocol)
NOT_PROTOCOL_PER_METRIC = ("notes", "weight_files", "weight_file", "model_path", "reference_cache", "versions")
BOOTSTRAP_PROTOCOL = ("n_boot", "alpha", "method", "unit")
DATASET_PROTOCOL = ("name", "split", "track")
MISSING = "<missing>"
SCOPES = ("clips", "split")


def protocol_key(results: dict, *, scope: str = "clips") -> dict:
    """The settings that define what a run's numbers mean (see the module docstring); a JSON-able dict.

    ``results`` is a validated results dict (:func:`benchmark.results.load_results`); ``scope`` is ``"clips"``
    (the data is the clips scored: ``dataset.identity``) or ``"split"`` (the split they come from:
    ``dataset.split_identity``).
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    ds = results.get("dataset", {})
    dataset = {key: ds.get(key) for key in DATASET_PROTOCOL}
    dataset["config"] = dataset_config(results)  # files written before configs ran on "default"
    if scope == "split":
        if ds.get("split_identity") is not None:
            dataset["split_identity"] = ds["split_identity"]
        else:  # written before split identities: the manifest's bytes stand in (as the regression check did)
            dataset["manifest_sha256"] = ds.get("manifest_sha256")
    elif results.get("schema_version") == 1 and ds.get("identity") is None:
        dataset["identity"] = None
        dataset["manifest_sha256"] = ds.get("manifest_sha256")  # schema 1: bytes stand in for content
    else:
        dataset["identity"] = ds.get("identity")
    # what the method was shown of the clips (a sweep point: --views N, --pose-noise ...): other inputs, other task;
    # recorded only when set, so ordinary runs keep their key. The pose-noise "model" is prose, not a setting.
    inputs = copy.deepcopy((results.get("method") or {}).get("inputs") or {})
    if isinstance(inputs.get("pose_noise"), dict):
        inputs["pose_noise"].pop("model", None)
    if inputs:
        dataset["inputs"] = inputs
    settings = copy.deepcopy(results.get("metric_settings") or {})
    for key in NOT_PROTOCOL:
        settings.pop(key, None)
    for value in settings.values():
        if isinstance(value, dict):
            for key in NOT_PROTOCOL_PER_METRIC:
                value.pop(key, None)
    boot = results.get("bootstrap")
    bootstrap = {key: boot.get(key) for key in BOOTSTRAP_PROTOCOL} if isinstance(boot, dict) else None
    return {"dataset": dataset, "metric_settings": settings, "bootstrap": bootstrap}


def protocol_id(results: dict, *, scope: str = "clips") -> str:
    """A canonical string of :func:`protocol_key` (equal strings = same protocol); usable as a dict key."""
    return json.dumps(protocol_key(results, scope=scope), sort_keys=True, separators=(",", ":"))


def protocol_digest(results: dict, *, scope: str = "clips", length: int = 8) -> str:
    """The first ``length`` hex digits of the sha256 of :func:`protocol_id`: a short name for a caption."""
    return hashlib.sha256(protocol_id(results, scope=scope).encode()).hexdigest()[:length]


def protocol_differences(a: dict, b: dict, *, ignore: Iterable[str] = (), scope: str = "clips") -> list[str]:
    """Readable lines ``"<field>: <a's value> vs <b's value>"`` for every protocol field that differs.

    ``a`` and ``b`` are results dicts; fields equal to or under a dotted prefix in ``ignore`` are skipped
    (``"bootstrap"``, ``"dataset.identity"``, ``"metric_settings.lpips"``). An absent field shows as
    ``<missing>``. Empty when the two runs are under the same protocol. ``scope``: see :func:`protocol_key`.
    """
    lines: list[str] = []
    _diff(protocol_key(a, scope=scope), protocol_key(b, scope=scope), "", tuple(ignore), lines)
    return lines


def same_protocol(a: dict, b: dict, *, ignore: Iterable[str] = (), scope: str = "clips") -> bool:
    """True when :func:`protocol_differences` finds nothing."""
    return not protocol_differences(a, b, ignore=ignore, scope=scope)


def _diff(a, b, field: str, ignore: tuple, out: list) -> None:
    """Append ``"<field>: a vs b"`` for each differing leaf; dicts on both sides are compared key by key."""
    if field and any(field == p or field.startswith(p + ".") for p in ignore):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            _diff(a.get(key, MISSING), b.get(key, MISSING), f"{field}.{key}" if field else str(key), ignore, out)
    elif _canonical(a) != _canonical(b):
        out.append(f"{field}: {_short(a)} vs {_short(b)}")


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def _short(value) -> str:
    if value == MISSING:
        return MISSING
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."  # a whole sha256 fits
