"""Leaderboard tables from the ``results.json`` and ``per_clip.csv`` files of scored runs (and nothing else), as
Markdown, LaTeX or HTML.

One model, three renderers: :func:`build_leaderboard` (this module) reads the files once into a
:class:`~leaderboard.model.Leaderboard` (:mod:`leaderboard.model`: sections of tables made of rows and cells:
mean, interval, best / second flags, notes); :func:`~leaderboard.render_md.to_markdown`,
:func:`~leaderboard.render_tex.to_latex` and :func:`~leaderboard.render_html.to_html` print it (each
re-exported here, like :func:`render` and :func:`render_markdown`, the entry points). Other views start from the
same model: :mod:`leaderboard.page` (the static leaderboard site) uses
:func:`~leaderboard.render_html.html_table` for each table.

**Sections and tables.** One section per (dataset, config, split, track): runs on different configs of a
dataset (``dataset.config``, ``"default"`` when a file has none), splits or tracks are never ranked together.
Only runs whose numbers can be compared are ranked together:

* **valid**: each ``results.json`` is validated field by field (:func:`benchmark.results.load_results`); a
  broken one is listed at the end under "Skipped files" with the file and the field, and the rest is rendered;
* **consistent**: each run's means and counts are recomputed from its own ``per_clip.csv``
  (:func:`benchmark.results.per_clip_disagreements`); a run that contradicts it (a hand-edited mean) or has
  none is listed apart with the reason and is never ranked;
* **comparable**: runs are grouped by the clips they scored (the set of clip ids in ``per_clip.csv``) and
  their protocol (:func:`leaderboard.protocol.protocol_key`, the one definition of "same protocol"). The group
  with the most clips (then a verified dataset identity, then the most runs) is the ranked table; every other
  group (a run where some clips failed, a ``--limit`` run, another metric setting) follows in its own table
  headed "Not ranked with the table above", which says how it differs; its rows are sorted among themselves
  only and get no best / second marks. This holds in every format.

``by="category"`` adds, after them, one table per category of the ranked runs (``per_category`` of their
results files: the same runs on that category's clips; set metrics such as FVD have no per-category value and
no column there).

**Rows.** One per run, sorted best first by PSNR (or the first column); the Exo2EgoSyn ablations (registered
names ``exo2egosyn-no-*``, ``method.registered_as`` or the name) are grouped under ``exo2egosyn``: they follow
its row (or, without it, sit where their best one sorts), sorted among themselves, their names indented.
Runs marked ``oracle`` (they see ground truth) are labelled. Numbers reported by other papers
(:mod:`leaderboard.reported`) come only with ``include_reported=True``, in their own section, one table per
source (a split column first, rows in the source's order), labelled "reported" with the source's setting and
metric protocol in the caption, and never ranked, neither with runs scored here nor among themselves.

**Cells.** Each metric column has the catalogue's label and arrow (``PSNR ↑``, ``LPIPS ↓``;
:mod:`benchmark.metrics.catalog`); a cell is the mean with the half-width ``h = (high - low) / 2`` of the run's
95 % percentile-bootstrap interval over clips, both printed with the metric's decimals: Markdown and HTML
``mean ± h``, LaTeX ``mean`` followed by a small ``±h`` (``\\scriptsize``). A set metric (FVD) has no interval.
A metric that a run could not compute is ``n/a`` with a numbered note (the reason, once per section; an
unavailable metric's note points to ``python -m benchmark weights``).

**Best and second.** In each column of a ranked table (the ranked runs or a category table of them),
the best value is bold and the second underlined (Markdown: ``**12.34**`` and ``<ins>12.34</ins>``; LaTeX
``\\textbf`` and ``\\underline``; HTML ``<strong>`` and ``<u>``, plus ``class="best"`` / ``"second"``), read
with the column's direction. Values are compared as printed, so values that print alike are tied and all get
the mark; "second" is the next value printed after the best (ties for best do not use it up), marked only when
the column has a third value (else it would only say "the rest"). Oracle rows and cells computed with weights
that do not match the published checksums take no part, and a column is marked only when at least two rows
take part. Tables of runs not ranked with the ranked table, and reported numbers, are not marked.

**Captions.** Each table's caption names the dataset, its config, split and track, the dataset identity (first
12 hex digits of the content identity of the clips scored) and the protocol
(:func:`leaderboard.protocol.protocol_digest`: 8 hex digits; equal digits, same protocol).

Example::

    from leaderboard.table import build_leaderboard, to_latex
    board = build_leaderboard(Path("runs"), split="test", by="category")
    print(to_latex(board))
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from benchmark.errors import UsageError
from benchmark.metrics import catalog
from benchmark.metrics.catalog import DEFAULT_METRICS, NA
from benchmark.results import (DEFAULT_CONFIG, PER_CLIP_FILENAME, ResultsSchemaError, dataset_config, find_results,
                               load_results, per_clip_disagreements, read_per_clip)
from leaderboard import reported as reported_data
from leaderboard.model import (BEST, SECOND, Cell, Column, Leaderboard, Row, Section, Table, Unranked, inline,
                               sentence)
from leaderboard.protocol import protocol_differences, protocol_digest, protocol_id
from leaderboard.render_html import html_table, to_html
from leaderboard.render_md import to_markdown
from leaderboard.render_tex import TEX_PREAMBLE, tex_escape, to_latex

# the model and the renderers are re-exported: `from leaderboard.table import Table, to_latex, ...` keeps working
__all__ = ["BEST", "SECOND", "Cell", "Column", "Leaderboard", "Row", "Section", "Table", "Unranked", "TEX_PREAMBLE",
           "build_leaderboard", "html_table", "inline", "mark_best", "render", "render_markdown", "sentence",
           "tex_escape", "to_html", "to_latex", "to_markdown"]

FORMATS = ("md", "tex", "html")
BY = ("category",)
INCONSISTENT = "inconsistent with per_clip.csv"
WEIGHTS_HINT = "`python -m benchmark weights` says what is missing and where to put it."
REPORTED_TITLE = "Reported by their authors, not reproduced here"
ABLATION_HEAD = "exo2egosyn"
ABLATION_PREFIX = "exo2egosyn-no-"
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


# ---- building the model from results files -----------------------------------------------------------------------


def build_leaderboard(root: Path, *, dataset: Optional[str] = None, split: Optional[str] = None,
                      metrics: Optional[Iterable[str]] = None, include_reported: bool = False,
                      config: Optional[str] = None, by: Optional[str] = None) -> Leaderboard:
    """The leaderboard of every ``results.json`` under ``root`` (see the module docstring).

    ``dataset``, ``split`` and ``config`` filter the runs by ``dataset.name``, ``dataset.split`` and
    ``dataset.config`` (``"default"`` for files without one); ``metrics`` are the columns (default, per section:
    the catalogue's default metrics that some run of it recorded, scored or unavailable, so that runs made
    before a metric joined the defaults do not grow empty columns); a metric the catalogue does not know is
    labelled with its name, 3 decimals, the direction its files record. ``by="category"`` adds a table per
    category. Files that are not valid results files are listed as skipped, with the field that is wrong.
    """
    if by is not None and by not in BY:
        raise UsageError(f"--by must be one of {', '.join(BY)}, got {by!r}")
    root = Path(root)
    metrics = None if metrics is None else tuple(metrics)
    runs, skipped = [], []
    for path in find_results(root):
        try:
            results = load_results(path)
        except ResultsSchemaError as err:
            message = str(err)
            skipped.append((_rel(path, root), message[len(f"{path}: "):] if message.startswith(f"{path}: ")
                            else message))
            continue
        ds = results["dataset"]
        if dataset is not None and ds["name"] != dataset:
            continue
        if split is not None and ds["split"] != split:
            continue
        if config is not None and dataset_config(results) != config:
            continue
        runs.append(_check_run(path, results))

    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        ds = run.results["dataset"]
        groups.setdefault((ds["name"], dataset_config(run.results), ds["split"], ds["track"]), []).append(run)
    sections = [_section(key, groups[key], metrics, root, by) for key in sorted(groups)]
    empty = None
    if not groups:
        filters = ", ".join(f"{k}={v}" for k, v in (("dataset", dataset), ("config", config), ("split", split))
                            if v is not None)
        empty = f"No results.json found under `{root}`" + (f" for {filters}" if filters else "") + "."
    if include_reported:
        sections.append(_reported_section(split))
    return Leaderboard(sections=sections, skipped=skipped, empty=empty)


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

    def __init__(self, texts: list) -> None:
        self.texts = texts

    def ref(self, text: str) -> int:
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text) + 1


def _default_columns(runs: list[Run]) -> tuple:
    """The default metrics some run recorded (a mean, a value or an unavailable reason), in catalogue order."""
    recorded = {m for r in runs for m in r.results.get("metrics", {})}
    return tuple(m for m in DEFAULT_METRICS if m in recorded) or DEFAULT_METRICS


def _section(key, runs: list[Run], metrics, root: Path, by: Optional[str]) -> Section:
    dataset, config, split, track = key
    names = _default_columns(runs) if metrics is None else metrics
    columns = [Column(m, catalog.entry(m).label, catalog.entry(m, _recorded_direction(m, runs)).higher_is_better)
               for m in names]
    name = dataset if config == DEFAULT_CONFIG else f"{dataset} [{config}]"
    section = Section(title=f"{name} / {split} / {track}", key=key)
    notes = _Notes(section.notes)
    unavailable = _unavailable_notes(runs, names)
    checked = [r for r in runs if not r.problems]
    groups: dict[tuple, list[Run]] = {}
    for run in checked:
        groups.setdefault((protocol_id(run.results), run.clip_ids), []).append(run)
    # the ranked group: most clips, then a verified dataset identity (schema 2), then most runs
    order = sorted(groups, key=lambda g: (-len(g[1]), not groups[g][0].results["dataset"].get("identity"),
                                          -len(groups[g]), sorted(g[1]), g[0]))
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(key).lower()).strip("-")
    if order:
        ranked = groups[order[0]]
        table = _run_table("ranked", ranked, columns, notes, unavailable, root)
        table.caption = [_ranked_sentence(ranked), _data_sentence(key, ranked)]
        table.legend = _legend(columns, table.rows, marked=True)
        table.label = f"{slug}-ranked"
        section.tables.append(table)
        for i, group in enumerate(order[1:], 1):
            kinds, reason = _apart_reason(groups[group], ranked)
            table = _run_table("apart", groups[group], columns, notes, unavailable, root)
            table.title = f"Not ranked with the table above: {', '.join(kinds)}"
            table.reason = f"{sentence(reason)} Rows sorted among themselves only."
            table.caption = [_data_sentence(key, groups[group])]
            table.label = f"{slug}-apart-{i}"
            section.tables.append(table)
        if by == "category":
            section.tables += _category_tables(key, ranked, columns, notes, unavailable, root, slug)
    else:
        section.intro.append("No run of this section can be ranked: every one is listed below with the reason.")
    inconsistent = [r for r in runs if r.problems and r.clip_ids is not None]
    unchecked = [r for r in runs if r.problems and r.clip_ids is None]
    for title, group in ((f"Not ranked: {INCONSISTENT}", inconsistent),
                         (f"Not ranked: no usable {PER_CLIP_FILENAME}", unchecked)):
        if group:
            section.unranked.append(Unranked(title, [(r.name, _rel(r.path, root), list(r.problems))
                                                     for r in sorted(group, key=lambda r: (r.name, str(r.path)))]))
    return section


def _run_table(kind: str, runs: list[Run], columns: list, notes: _Notes, unavailable: dict, root: Path,
               category: Optional[str] = None) -> Table:
    """A table of ``runs``: rows sorted (ablations grouped), cells filled, and marked unless ``kind`` is apart."""
    rows = []
    for run in runs:
        method = run.results["method"]
        registered = str(method.get("registered_as") or method["name"])
        cells = {c.metric: _metric_cell(c.metric, run.results, notes, unavailable, category) for c in columns}
        if category is None:
            count = _count_cell(run)
        else:
            ns = [e.get("n") for e in run.results.get("per_category", {}).get(category, {}).values()]
            count = str(max(ns)) if ns else "0"
        rows.append(Row(name=run.name, cells=cells, oracle=bool(method["oracle"]),
                        ablation_of=ABLATION_HEAD if registered.startswith(ABLATION_PREFIX) else None,
                        n_clips=count, seed=_fmt_seed(run.results["seed"]), path=_rel(run.path, root)))
    heads = {id(row) for row, run in zip(rows, runs)
             if str(run.results["method"].get("registered_as") or run.name) == ABLATION_HEAD}
    table = Table(kind=kind, columns=list(columns), rows=_order_rows(rows, columns, heads), caption=[],
                  protocol=protocol_digest(runs[0].results), category=category)
    if table.marked:
        mark_best(table)
    return table


def _order_rows(rows: list, columns: list, head_ids: set) -> list:
    """Best first by the sort column; the ablations follow their head row (or, without one, sit at their best)."""
    sort_column = _sort_column(columns)

    def key(row):
        cell = row.cells.get(sort_column.metric) if sort_column else None
        if cell is None or cell.mean is None:
            return (1, 0.0, row.name)
        return (0, cell.mean if sort_column.higher_is_better is False else -cell.mean, row.name)

    ordered = sorted(rows, key=key)
    family = [r for r in ordered if id(r) in head_ids or r.ablation_of]
    if not any(r.ablation_of for r in family):
        return ordered
    heads = [r for r in family if id(r) in head_ids]
    block = heads + [r for r in family if r.ablation_of]
    anchor = heads[0] if heads else block[0]
    out = []
    for row in ordered:
        if row is anchor:
            out += block
        elif row not in block:
            out.append(row)
    return out


def mark_best(table: Table) -> None:
    """Set each cell's ``mark``: :data:`BEST` / :data:`SECOND` per column, values compared as printed (see the
    module docstring: ties all marked, oracle rows and non-comparable cells left out, two rows at least)."""
    for column in table.columns:
        if column.higher_is_better is None:
            continue
        taking_part = [(float(c.text), c) for r in table.rows if not r.oracle
                       for c in [r.cells.get(column.metric)] if c is not None and c.comparable and _is_number(c.text)]
        if len(taking_part) < 2:
            continue
        values = sorted({v for v, _ in taking_part}, reverse=column.higher_is_better)
        for value, cell in taking_part:  # a second of two values would only be "the rest": not marked
            cell.mark = BEST if value == values[0] else SECOND if len(values) > 2 and value == values[1] else 0


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _category_tables(key, ranked: list[Run], columns: list, notes: _Notes, unavailable: dict, root: Path,
                     slug: str) -> list:
    """One table per category of the ranked runs, over the per-clip columns (set metrics have no category value)."""
    categories = sorted({c for run in ranked for c in run.results.get("per_category", {})})
    per_clip_columns = [c for c in columns if not catalog.is_set_metric(c.metric)]
    tables = []
    for category in categories:
        table = _run_table("category", ranked, per_clip_columns, notes, unavailable, root, category=category)
        table.title = f"Category: {category}"
        table.caption = [f"The ranked runs above on their clips of category {category} (`per_category` of their "
                         "results; n clips: the clips of that category).", _data_sentence(key, ranked)]
        table.label = f"{slug}-category-{re.sub(r'[^a-z0-9]+', '-', category.lower()).strip('-')}"
        tables.append(table)
    return tables


def _ranked_sentence(ranked: list[Run]) -> str:
    n = len(ranked[0].clip_ids)
    return (f"Ranked: {len(ranked)} run{'s' if len(ranked) != 1 else ''} over the same {n} "
            f"clip{'s' if n != 1 else ''} under one metric protocol.")


def _data_sentence(key, runs: list[Run]) -> str:
    """Dataset, config, split, track, dataset identity (short) and protocol digest of a group of runs."""
    dataset, config, split, track = key
    ds = runs[0].results["dataset"]
    if ds.get("identity"):
        data = f"dataset identity `{ds['identity'][:12]}`"
    else:
        data = (f"no verified dataset identity (schema-1 results; manifest `{str(ds.get('manifest_sha256'))[:12]}`)")
    return (f"Dataset {dataset}, config {config}, split {split}, track {track}; {data}; "
            f"protocol `{protocol_digest(runs[0].results)}`.")


def _legend(columns: list, rows: list, marked: bool) -> list:
    sort_column = _sort_column(columns)
    sort_text = f"sorted by {sort_column.label}, best first" if sort_column else "unsorted"
    lines = [f"Cells: mean ± half-width of the 95% percentile-bootstrap interval over clips; {sort_text}"
             + ("; Exo2EgoSyn ablations follow exo2egosyn" if any(r.ablation_of for r in rows) else "")
             + "; ↑ higher is better, ↓ lower is better."]
    if marked:
        lines.append("Bold: best, underlined: second in each column (values as printed; ties all marked; oracle "
                     "rows not marked).")
    if any(r.oracle for r in rows):
        lines.append("(oracle): sees ground truth that the task does not give; a reference point, not a method.")
    return lines


def _apart_reason(group: list[Run], ranked: list[Run]) -> tuple:
    """``(kinds, reason)``: how a group comparable among itself differs from the ranked group."""
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
        details.append("differs from the ranked runs in (theirs vs these) " + "; ".join(shown))
    return kinds, "; ".join(details)


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


def _metric_cell(metric: str, results: dict, notes: _Notes, unavailable: dict, category: Optional[str]) -> Cell:
    entry = results["metrics"].get(metric)
    if entry is None:
        return Cell(notes=[notes.ref(f"{metric} was not scored in this run.")])
    if "unavailable" in entry:
        return Cell(notes=[notes.ref(unavailable[metric])])
    if category is not None:
        entry = results.get("per_category", {}).get(category, {}).get(metric)
        if entry is None:
            return Cell(notes=[notes.ref(f"{metric}: no score in category {category}.")])
    cell = Cell(text=catalog.format_value(metric, entry["mean"]), mean=float(entry["mean"]))
    if entry.get("ci95") is None:  # a set metric (FVD): one number over the clips, no interval
        if entry.get("warning"):
            cell.notes.append(notes.ref(f"{results['method']['name']}: {metric}: {entry['warning']}"))
    else:
        cell.low, cell.high = (float(v) for v in entry["ci95"])
        half = catalog.format_value(metric, cell.half)
        cell.half_text = None if half == NA or cell.text == NA else half
    files = results["metric_settings"].get(metric, {})
    files = files.get("weight_files", []) if isinstance(files, dict) else []
    if any(f.get("matches_published") is False for f in files):
        cell.comparable = False
        cell.notes.append(notes.ref(f"{results['method']['name']}: {metric} was computed with weights that do not "
                                    "match the published checksums; not comparable with other rows."))
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


def _sort_column(columns: list) -> Optional[Column]:
    for column in columns:
        if column.metric == "psnr":
            return column
    return columns[0] if columns else None


def _recorded_direction(metric: str, runs: list[Run]) -> Optional[bool]:
    """The direction the runs' files record for ``metric`` when they agree (None otherwise); only used for a
    metric the catalogue does not know, whose direction is then the files' word."""
    recorded = {(r.results["metrics"].get(metric) or {}).get("higher_is_better") for r in runs} - {None}
    return recorded.pop() if len(recorded) == 1 else None


def _reported_section(split: Optional[str]) -> Section:
    section = Section(title=REPORTED_TITLE, reported=True, intro=[
        "These numbers come from the papers named in each caption, under their own clip selection and metric "
        "code; they were not produced by this benchmark and are not ranked, neither with any run scored here nor "
        "among themselves (no best / second marks). Rows are in the order printed in the source."])
    notes = _Notes(section.notes)
    for source in reported_data.reported_sources():
        rows = list(source.rows)
        if split is not None and any(r.split == split for r in rows):
            rows = [r for r in rows if r.split == split]
        columns = [Column(m, catalog.entry(m).label, catalog.entry(m).higher_is_better) for m in source.metrics]
        table_rows = []
        for r in rows:
            cells = {}
            for m in source.metrics:
                text = r.formatted(m)
                cells[m] = (Cell(notes=[notes.ref("n/a: not given in our transcription of the source.")])
                            if text is None else Cell(text=text, mean=r.value(m)))
            row_notes = []
            if r.note or r.setting != source.setting:
                text = f"{r.method}: {r.note}" if r.note else r.method
                if r.setting != source.setting:
                    text += f" (setting: {r.setting.describe()})"
                row_notes.append(notes.ref(text.rstrip(".") + "."))
            table_rows.append(Row(name=r.method, cells=cells, notes=row_notes, reported=True, lead=(r.split,)))
        section.tables.append(Table(
            kind="reported", columns=columns, rows=table_rows, extra_columns=(), lead_columns=("split",),
            title=f"Reported: {source.source}",
            caption=[f"Numbers as printed by the authors, not reproduced here: {source.dataset}, split "
                     f"{' / '.join(dict.fromkeys(r.split for r in rows))}"
                     + (f" ({source.setting.splits})" if source.setting.splits else "")
                     + f"; setting: {source.setting.describe()}; metric protocol: {source.metric_protocol}. "
                     f"Transcribed from {source.transcribed_from}."],
            label=re.sub(r"[^a-z0-9]+", "-", f"reported {source.path.stem}".lower())))
    return section


def _listed(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
    return shown + (", ..." if len(items) > _MAX_LISTED else "")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ---- entry points --------------------------------------------------------------------------------------------------


def render(root: Path, *, format: str = "md", standalone: bool = False, **options) -> str:
    """:func:`build_leaderboard` with ``options``, printed as ``format`` (``md``, ``tex`` or ``html``).

    ``standalone``: LaTeX as a whole compilable document (the default is the tables, to paste into a paper);
    HTML is always a whole document."""
    if format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if standalone and format != "tex":
        raise UsageError(f"--standalone applies to --format tex only (html is always a whole document), not {format}")
    board = build_leaderboard(root, **options)
    if format == "md":
        return to_markdown(board)
    if format == "tex":
        return to_latex(board, standalone=standalone)
    return to_html(board)


def render_markdown(root: Path, **options) -> str:
    """The leaderboard as Markdown (see :func:`build_leaderboard` for the options)."""
    return to_markdown(build_leaderboard(root, **options))
