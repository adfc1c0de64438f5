"""Markdown leaderboard from the ``results.json`` and ``per_clip.csv`` files of scored runs (and nothing else).

One section per (dataset, config, split, track): runs on different configs of a dataset (``dataset.config``,
``"default"`` when a file has none) are never ranked together. Only runs whose numbers can be compared are ranked together:

* **valid**: each ``results.json`` is validated field by field (:func:`benchmark.results.load_results`); a
  broken one is listed at the end under "Skipped files" with the file and the field, and the rest is
  rendered;
* **consistent**: each run's means and counts are recomputed from its own ``per_clip.csv``
  (:func:`benchmark.results.per_clip_disagreements`); a run that contradicts it (a hand-edited mean) or has
  none is shown apart, labelled, with the reason, and is never ranked;
* **comparable**: runs are grouped by the clips they scored (the set of clip ids in ``per_clip.csv``) and
  their protocol (:func:`leaderboard.protocol.protocol_key`: dataset identity, split, track, metric settings,
  bootstrap). The group with the most clips (then a verified dataset identity, then the most runs) is the
  ranked table; every other group (a run where some clips failed, a ``--limit`` run, another metric setting)
  follows it in its own table headed "Not ranked with the table above", which says how it differs; its rows
  are sorted among themselves only.

Rows are sorted best PSNR first; each metric cell is ``mean ± h`` where ``h = (high - low) / 2`` is the
half-width of the run's 95 % percentile-bootstrap interval over clips. A metric that a run could not compute,
and any value that is missing or not a number, is shown as ``n/a`` (with a numbered note giving the reason
once per section; an unavailable metric's note points to ``python -m benchmark weights``). Runs marked
``oracle`` in their method dict (they see ground truth) are labelled as such. Numbers reported by other
papers are shown only with ``include_reported=True``, in their own table, never ranked with these rows.

Example::

    from leaderboard.table import render_markdown
    print(render_markdown(Path("runs"), split="test"))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from benchmark.metrics import catalog
from benchmark.metrics.catalog import DEFAULT_METRICS, NA
from benchmark.results import (DEFAULT_CONFIG, PER_CLIP_FILENAME, ResultsSchemaError, dataset_config, find_results,
                               load_results, per_clip_disagreements, read_per_clip)
from leaderboard import reported as reported_data
from leaderboard.protocol import protocol_differences, protocol_id

INCONSISTENT = "inconsistent with per_clip.csv"
WEIGHTS_HINT = "`python -m benchmark weights` says what is missing and where to put it."
_MAX_LISTED = 3  # clip ids / protocol differences spelled out in a label before "..."


@dataclass
class Run:
    """One scored run: its results (validated), the clip ids of its per_clip.csv, and what contradicts it."""

    path: Path
    results: dict
    clip_ids: Optional[frozenset]  # None when per_clip.csv is missing or unreadable
    problems: list

    @property
    def name(self) -> str:
        return str(self.results["method"]["name"])


def render_markdown(root: Path, *, dataset: Optional[str] = None, split: Optional[str] = None,
                    metrics: Optional[Iterable[str]] = None, include_reported: bool = False,
                    config: Optional[str] = None) -> str:
    """The leaderboard of every ``results.json`` under ``root`` as Markdown (see the module docstring).

    ``dataset``, ``split`` and ``config`` filter the runs by ``dataset.name``, ``dataset.split`` and
    ``dataset.config`` (``"default"`` for files without one); ``metrics`` are the columns (default, per table: the
    catalogue's default metrics that some run of the table recorded, scored or unavailable, so that runs made
    before a metric joined the defaults do not grow empty columns), labelled, directed and rounded as :mod:`benchmark.metrics.catalog` says (a
    metric it does not know: its name, 3 decimals, the direction its files record). Files that are not
    valid results files are listed at the end as skipped, with the field that is wrong, not silently dropped.
    """
    root = Path(root)
    metrics = None if metrics is None else tuple(metrics)
    runs, skipped = [], []
    for path in find_results(root):
        try:
            results = load_results(path)
        except ResultsSchemaError as err:
            message = str(err)
            skipped.append((path, message[len(f"{path}: "):] if message.startswith(f"{path}: ") else message))
            continue
        ds = results["dataset"]
        if dataset is not None and ds["name"] != dataset:
            continue
        if split is not None and ds["split"] != split:
            continue
        if config is not None and dataset_config(results) != config:
            continue
        runs.append(_check_run(path, results))

    sections: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        ds = run.results["dataset"]
        sections.setdefault((ds["name"], dataset_config(run.results), ds["split"], ds["track"]), []).append(run)

    lines = ["# Leaderboard", ""]
    if not sections:
        filters = ", ".join(f"{k}={v}" for k, v in (("dataset", dataset), ("config", config), ("split", split))
                            if v is not None)
        lines += [f"No results.json found under `{root}`" + (f" for {filters}" if filters else "") + ".", ""]
    for key in sorted(sections):
        lines += _render_section(key, sections[key], metrics, root)
    if include_reported:
        lines += _render_reported(split)
    if skipped:
        lines += ["Skipped files (not valid results files; fix or rescore them):", ""]
        lines += [f"- `{_rel(path, root)}`: {err}" for path, err in skipped]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _check_run(path: Path, results: dict) -> Run:
    """Read the run's per_clip.csv and compare it with its results (see the module docstring)."""
    per_clip_path = path.parent / PER_CLIP_FILENAME
    if not per_clip_path.is_file():
        return Run(path, results, None, [f"no {PER_CLIP_FILENAME} next to results.json, so its numbers cannot be "
                                         "checked and its clips are unknown"])
    try:
        per_clip = read_per_clip(per_clip_path)
    except (OSError, ValueError) as err:  # pandas' parser errors are ValueErrors
        return Run(path, results, None, [f"{PER_CLIP_FILENAME} cannot be read ({type(err).__name__}: {err})"])
    problems = per_clip_disagreements(results, per_clip)
    ids = frozenset(per_clip["clip_id"].astype(str)) if "clip_id" in per_clip.columns else None
    return Run(path, results, ids, problems)


class _Notes:
    """Numbered footnotes of one section; the same text gets the same number."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def _columns(runs: list[Run]) -> tuple:
    """The default metrics some run recorded (a mean, a value or an unavailable reason), in catalogue order."""
    recorded = {m for r in runs for m in r.results.get("metrics", {})}
    return tuple(m for m in DEFAULT_METRICS if m in recorded) or DEFAULT_METRICS


def _render_section(key, runs: list[Run], metrics, root) -> list[str]:
    dataset, config, split, track = key
    metrics = _columns(runs) if metrics is None else metrics
    name = dataset if config == DEFAULT_CONFIG else f"{dataset} [{config}]"
    lines = [f"## {name} / {split} / {track}", ""]
    notes = _Notes()
    unavailable = _unavailable_notes(runs, metrics)
    checked = [r for r in runs if not r.problems]
    groups: dict[tuple, list[Run]] = {}
    for run in checked:
        groups.setdefault((protocol_id(run.results), run.clip_ids), []).append(run)
    # the ranked group: most clips, then a verified dataset identity (schema 2), then most runs
    order = sorted(groups, key=lambda g: (-len(g[1]), not groups[g][0].results["dataset"].get("identity"),
                                          -len(groups[g]), sorted(g[1]), g[0]))
    has_oracle = any(r.results["method"]["oracle"] for r in checked)
    if order:
        ranked = groups[order[0]]
        lines.append(_ranked_caption(ranked))
        lines.append("")
        lines += _table(ranked, metrics, notes, unavailable)
        sort_metric = _sort_metric(metrics)
        sort_text = f"sorted by {catalog.entry(sort_metric).label}, best first" if sort_metric else "unsorted"
        lines.append(f"Cells: mean ± half-width of the 95% percentile-bootstrap interval over clips; {sort_text}; "
                     "↑ higher is better, ↓ lower is better.")
        if has_oracle:
            lines.append("(oracle): sees ground truth that the task does not give; a reference point, not a method.")
        lines.append("")
        for group in order[1:]:
            lines += _apart_group(groups[group], ranked, metrics, notes, unavailable)
    else:
        lines += ["No run of this section can be ranked: every one is listed below with the reason.", ""]
    inconsistent = [r for r in runs if r.problems and r.clip_ids is not None]
    unchecked = [r for r in runs if r.problems and r.clip_ids is None]
    for title, group in ((f"Not ranked: {INCONSISTENT}", inconsistent),
                         (f"Not ranked: no usable {PER_CLIP_FILENAME}", unchecked)):
        if group:
            lines += [f"### {title}", ""]
            lines += [f"- {_escape(r.name)} (`{_rel(r.path, root)}`): {'; '.join(r.problems)}"
                      for r in sorted(group, key=lambda r: (r.name, str(r.path)))]
            lines.append("")
    if notes.texts:
        lines += [f"[{i}] {text}  " for i, text in enumerate(notes.texts, 1)]
        lines.append("")
    return lines


def _ranked_caption(ranked: list[Run]) -> str:
    ds = ranked[0].results["dataset"]
    n = len(ranked[0].clip_ids)
    if ds.get("identity"):
        data = f"dataset identity `{ds['identity'][:12]}…`"
    else:
        data = f"schema-1 results without a verified dataset identity; manifest `{str(ds.get('manifest_sha256'))[:12]}…`"
    return (f"Ranked: {len(ranked)} run{'s' if len(ranked) != 1 else ''} over the same {n} clip{'s' if n != 1 else ''} "
            f"({data}) under one metric protocol.")


def _apart_group(group: list[Run], ranked: list[Run], metrics, notes: _Notes, unavailable: dict) -> list[str]:
    """A group of runs comparable among themselves but not with the ranked table: heading, reason, table."""
    ref, rep = ranked[0], group[0]
    kinds, details = [], []
    if rep.clip_ids != ref.clip_ids:
        kinds.append("other clips")
        missing = sorted(ref.clip_ids - rep.clip_ids)
        extra = sorted(rep.clip_ids - ref.clip_ids)
        text = f"scored {len(rep.clip_ids)} clips"
        if missing:
            text += f"; {len(missing)} of the {len(ref.clip_ids)} clips ranked above are missing ({_listed(missing)})"
        if extra:
            text += f"; {len(extra)} clips are not among them ({_listed(extra)})"
        ds = rep.results["dataset"]
        if ds.get("n_clips_in_split") and ds["n_clips"] < ds["n_clips_in_split"]:
            text += f"; run on {ds['n_clips']} of the split's {ds['n_clips_in_split']} clips (--limit)"
        details.append(text)
        differences = protocol_differences(ref.results, rep.results, ignore=("dataset.identity",))
    else:
        differences = protocol_differences(ref.results, rep.results)
        if any(d.startswith("dataset.identity") for d in differences):
            if ref.results["dataset"].get("identity") and rep.results["dataset"].get("identity"):
                kinds.append("other data")
                details.append("the same clip ids with other content (dataset identity differs)")
            else:
                kinds.append("unverified data")
                details.append("schema-1 results without a verified dataset identity, so the content of their clips "
                               "is not known to be the same")
            differences = [d for d in differences if not d.startswith(("dataset.identity", "dataset.manifest_sha256"))]
    if differences:
        kinds.append("other protocol")
        shown = differences[:_MAX_LISTED] + ([f"and {len(differences) - _MAX_LISTED} more"]
                                             if len(differences) > _MAX_LISTED else [])
        details.append("differs from the ranked runs in (theirs vs these) " + "; ".join(_escape(d) for d in shown))
    lines = [f"### Not ranked with the table above: {', '.join(kinds)}", "",
             f"{_sentence('; '.join(details))} Rows sorted among themselves only.", ""]
    return lines + _table(group, metrics, notes, unavailable)


def _table(runs: list[Run], metrics, notes: _Notes, unavailable: dict) -> list[str]:
    sort_metric = _sort_metric(metrics)
    header = ["method", *(catalog.heading(m, _recorded_direction(m, runs)) for m in metrics), "n clips", "seed"]
    lines = [_row(header), _row(["---"] * len(header))]
    for run in sorted(runs, key=lambda r: _sort_key(r.results, sort_metric)):
        method = run.results["method"]
        name = _escape(run.name) + (" (oracle)" if method["oracle"] else "")
        cells = [name, *(_metric_cell(m, run.results, notes, unavailable) for m in metrics)]
        cells += [_count_cell(run), _fmt_seed(run.results["seed"])]
        lines.append(_row(cells))
    lines.append("")
    return lines


def _unavailable_notes(runs: list[Run], metrics) -> dict:
    """``{metric: note text}``: one note per unavailable metric per section, whatever the number of runs."""
    reasons: dict[str, list[str]] = {}
    for run in runs:
        for metric in metrics:
            entry = run.results["metrics"].get(metric)
            if entry is not None and "unavailable" in entry:
                short = entry["unavailable"].split("; ", 1)[0].rstrip(".")
                if short not in reasons.setdefault(metric, []):
                    reasons[metric].append(short)
    out = {}
    for metric, texts in reasons.items():
        text = f"{metric} unavailable: {' / '.join(texts)}."
        if any("weights" in t.lower() for t in texts):
            text += " " + WEIGHTS_HINT
        out[metric] = text
    return out


def _metric_cell(metric: str, results: dict, notes: _Notes, unavailable: dict) -> str:
    entry = results["metrics"].get(metric)
    if entry is None:
        return f"{NA} " + notes.ref(f"{metric} was not scored in this run.")
    if "unavailable" in entry:
        return f"{NA} " + notes.ref(unavailable[metric])
    mean = catalog.format_value(metric, entry["mean"])
    if entry.get("ci95") is None:  # a set metric (FVD): one number over the clips, no interval
        cell = mean
        if entry.get("warning"):
            cell += " " + notes.ref(f"{results['method']['name']}: {metric}: {entry['warning']}")
    else:
        low, high = entry["ci95"]
        half = catalog.format_value(metric, (high - low) / 2)
        cell = mean if half == NA or mean == NA else f"{mean} ± {half}"
    files = results["metric_settings"].get(metric, {})
    files = files.get("weight_files", []) if isinstance(files, dict) else []
    if any(f.get("matches_published") is False for f in files):
        cell += " " + notes.ref(f"{results['method']['name']}: {metric} was computed with weights that do not match "
                                "the published checksums; not comparable with other rows.")
    return cell


def _count_cell(run: Run) -> str:
    n = len(run.clip_ids)
    ds = run.results["dataset"]
    total = ds.get("n_clips_in_split") or ds["n_clips"]
    failed = run.results["counts"]["failed"]
    text = str(n) if total == n else f"{n} of {total}"
    return text + (f" ({failed} failed)" if failed else "")


def _fmt_seed(value) -> str:
    """A seed as text; ``n/a`` for anything missing or not a finite number (never ``nan``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return NA
    return str(value)


def _sort_metric(metrics) -> Optional[str]:
    return "psnr" if "psnr" in metrics else (metrics[0] if metrics else None)


def _sort_key(results: dict, metric: Optional[str]):
    name = str(results["method"]["name"])
    entry = results["metrics"].get(metric) if metric else None
    if not entry or "mean" not in entry:
        return (1, 0.0, name)
    higher = catalog.entry(metric, entry.get("higher_is_better")).higher_is_better
    return (0, entry["mean"] if higher is False else -entry["mean"], name)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _listed(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
    return shown + (", ..." if len(items) > _MAX_LISTED else "")


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
    header = ["split", "method", *(catalog.heading(m) for m in metrics), "source"]
    lines += [_row(header), _row(["---"] * len(header))]
    for r in rows:
        values = [("—" if r.value(m) is None else catalog.format_value(m, r.value(m))) for m in metrics]
        lines.append(_row([r.split, _escape(r.method), *values, r.source]))
    lines.append("")
    return lines


def _recorded_direction(metric: str, runs: list[Run]) -> Optional[bool]:
    """The direction the runs' files record for ``metric`` when they agree (None otherwise); only used for a
    metric the catalogue does not know, whose direction is then the files' word."""
    recorded = {(r.results["metrics"].get(metric) or {}).get("higher_is_better") for r in runs} - {None}
    return recorded.pop() if len(recorded) == 1 else None


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
