"""Markdown leaderboard from the ``results.json`` files of scored runs (and nothing else).

One table per (dataset, split, track). Rows are runs, best PSNR first; each metric cell is
``mean ± h`` where ``h = (high - low) / 2`` is the half-width of the run's 95 % percentile-bootstrap interval
over clips. A metric that a run could not compute is shown as ``n/a`` with a numbered note giving the reason;
runs marked ``oracle`` in their method dict (they see ground truth) are labelled as such. Numbers reported by
other papers are shown only with ``include_reported=True``, in their own table, never ranked with these rows.

Example::

    from leaderboard.table import render_markdown
    print(render_markdown(Path("runs"), split="test"))
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterable, Optional

from benchmark.results import ResultsSchemaError, find_results, load_results
from leaderboard import reported as reported_data

LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "fvd": "FVD", "clip_i": "CLIP-I"}
DECIMALS = {"psnr": 2, "ssim": 3, "lpips": 3, "fvd": 1, "clip_i": 3}
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "fvd": False, "clip_i": True}
_VOLATILE_SETTINGS = ("device", "versions", "unavailable", "metrics_requested", "verify_weights")


def render_markdown(root: Path, *, dataset: Optional[str] = None, split: Optional[str] = None,
                    metrics: Iterable[str] = ("psnr", "ssim", "lpips"), include_reported: bool = False) -> str:
    """The leaderboard of every ``results.json`` under ``root`` as Markdown (see the module docstring).

    ``dataset`` and ``split`` filter the runs by ``dataset.name`` and ``dataset.split``. Files that are not
    schema-v1 results are listed at the end as skipped, not silently dropped.
    """
    root = Path(root)
    metrics = tuple(metrics)
    runs, skipped = [], []
    for path in find_results(root):
        try:
            results = load_results(path)
        except ResultsSchemaError as err:
            skipped.append((path, str(err)))
            continue
        ds = results["dataset"]
        if dataset is not None and ds.get("name") != dataset:
            continue
        if split is not None and ds.get("split") != split:
            continue
        runs.append((path, results))

    groups: dict[tuple[str, str, str], list] = {}
    for path, results in runs:
        ds = results["dataset"]
        key = (str(ds.get("name")), str(ds.get("split")), str(ds.get("track", "exo-only")))
        groups.setdefault(key, []).append((path, results))

    lines = ["# Leaderboard", ""]
    if not groups:
        filters = ", ".join(f"{k}={v}" for k, v in (("dataset", dataset), ("split", split)) if v is not None)
        lines += [f"No results.json found under `{root}`" + (f" for {filters}" if filters else "") + ".", ""]
    for key in sorted(groups):
        lines += _render_group(key, groups[key], metrics, root)
    if include_reported:
        lines += _render_reported(split)
    if skipped:
        lines += ["Skipped files (not schema-v1 results):", ""]
        lines += [f"- `{_rel(path, root)}`: {err}" for path, err in skipped]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _render_group(key, runs, metrics, root) -> list[str]:
    dataset, split, track = key
    sort_metric = "psnr" if "psnr" in metrics else (metrics[0] if metrics else None)
    runs = sorted(runs, key=lambda pr: _sort_key(pr[1], sort_metric))
    notes: list[str] = []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    header = ["method", *(f"{_label(m)} {'↑' if _higher(m) else '↓'}" for m in metrics), "n clips", "seed"]
    lines = [f"## {dataset} / {split} / {track}", "", _row(header), _row(["---"] * len(header))]
    has_oracle = False
    for _path, results in runs:
        method = results["method"]
        name = _escape(str(method.get("name", "?")))
        if method.get("oracle"):
            name += " (oracle)"
            has_oracle = True
        cells = [name]
        for metric in metrics:
            cells.append(_metric_cell(metric, results, note))
        cells += [_count_cell(results), str(results.get("seed", ""))]
        lines.append(_row(cells))
    lines.append("")
    sort_text = f"sorted by {_label(sort_metric)}, best first" if sort_metric else "unsorted"
    lines.append(f"Cells: mean ± half-width of the 95% percentile-bootstrap interval over clips; {sort_text}; "
                 "↑ higher is better, ↓ lower is better.")
    if has_oracle:
        lines.append("(oracle): sees ground truth that the task does not give; a reference point, not a method.")
    differing = _differing_settings([results for _, results in runs])
    if differing:
        lines.append(f"Warning: metric settings differ between rows of this table ({', '.join(differing)}); "
                     "their numbers are not directly comparable.")
    lines.append("")
    if notes:
        lines += [f"[{i}] {text}  " for i, text in enumerate(notes, 1)]
        lines.append("")
    return lines


def _metric_cell(metric: str, results: dict, note) -> str:
    entry = results.get("metrics", {}).get(metric)
    name = results["method"].get("name", "?")
    if entry is None:
        return "n/a " + note(f"{metric} was not scored in this run.")
    if "unavailable" in entry:
        return "n/a " + note(f"{metric} unavailable: {entry['unavailable']}")
    d = DECIMALS.get(metric, 3)
    low, high = entry["ci95"]
    cell = f"{entry['mean']:.{d}f} ± {(high - low) / 2:.{d}f}"
    files = (results.get("metric_settings") or {}).get(metric, {})
    files = files.get("weight_files", []) if isinstance(files, dict) else []
    if any(f.get("matches_published") is False for f in files):
        cell += " " + note(f"{name}: {metric} was computed with weights that do not match the published "
                           "checksums; not comparable with other rows.")
    return cell


def _count_cell(results: dict) -> str:
    scored = [m["n"] for m in results.get("metrics", {}).values() if isinstance(m, dict) and "n" in m]
    n = max(scored) if scored else 0
    total = results["dataset"].get("n_clips")
    failed = (results.get("counts") or {}).get("failed", 0)
    text = str(n) if total in (None, n) else f"{n} of {total}"
    return text + (f" ({failed} failed)" if failed else "")


def _sort_key(results: dict, metric: Optional[str]):
    name = str(results["method"].get("name", ""))
    entry = results.get("metrics", {}).get(metric) if metric else None
    if not entry or "mean" not in entry:
        return (1, 0.0, name)
    higher = entry.get("higher_is_better", _higher(metric))
    return (0, -entry["mean"] if higher else entry["mean"], name)


def _protocol(settings: dict) -> dict:
    """The parts of ``metric_settings`` that define the protocol (paths, devices and versions left out)."""
    settings = copy.deepcopy(settings or {})
    for key in _VOLATILE_SETTINGS:
        settings.pop(key, None)
    for value in settings.values():
        if isinstance(value, dict) and "weight_files" in value:
            value["weight_files"] = [f.get("file_sha256") for f in value["weight_files"]]
    return settings


def _differing_settings(all_results: list[dict]) -> list[str]:
    protocols = [_protocol(r.get("metric_settings", {})) for r in all_results]
    keys = sorted({k for p in protocols for k in p})
    return [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in protocols}) > 1]


def _render_reported(split: Optional[str]) -> list[str]:
    rows = list(reported_data.REPORTED)
    if split is not None and any(r.split == split for r in rows):
        rows = [r for r in rows if r.split == split]
    metrics = reported_data.METRICS
    lines = [
        "## Reported by their authors, not reproduced here",
        "",
        f"Source: {reported_data.SOURCE}. Setting: {reported_data.SETTING}. These numbers come from the paper, "
        "under its own clip selection and metric code; they were not produced by this benchmark and are not "
        "ranked with any run scored here. Rows are in the order printed in the source.",
        "",
    ]
    header = ["split", "method",
              *(f"{reported_data.LABELS[m]} {'↑' if reported_data.HIGHER_IS_BETTER[m] else '↓'}" for m in metrics),
              "source"]
    lines += [_row(header), _row(["---"] * len(header))]
    for r in rows:
        values = [("—" if r.value(m) is None else f"{r.value(m):.{reported_data.DECIMALS[m]}f}") for m in metrics]
        lines.append(_row([r.split, _escape(r.method), *values, r.source]))
    lines.append("")
    return lines


def _higher(metric: Optional[str]) -> bool:
    return HIGHER_IS_BETTER.get(metric, True)


def _label(metric: Optional[str]) -> str:
    return LABELS.get(metric, str(metric).upper())


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
