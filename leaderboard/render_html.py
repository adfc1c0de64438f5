"""The leaderboard as HTML (``python -m benchmark leaderboard --format html``), printed from the table model.

:func:`to_html` gives a standalone document; :func:`html_table` one ``<table>`` whose cells carry their numbers
as ``data-*`` attributes, which is what :mod:`leaderboard.page` (the sortable static site) builds on.
Best ``<strong>``, second ``<u>`` plus ``class="best"`` / ``"second"``; cells ``mean ± h``.
"""

from __future__ import annotations

import html
import re
from typing import Callable, Optional

from benchmark.metrics import catalog
from leaderboard.model import BEST, SECOND, Cell, Leaderboard, Row, Section, Table, inline, sentence

HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.leaderboard { border-collapse: collapse; margin: 0.5em 0 1.5em; }
table.leaderboard caption { caption-side: top; text-align: left; max-width: 60em; padding-bottom: 0.4em; }
table.leaderboard th, table.leaderboard td { padding: 0.2em 0.7em; text-align: right; white-space: nowrap; }
table.leaderboard th[scope=row], table.leaderboard thead th:first-child { text-align: left; }
table.leaderboard thead th { border-top: 2px solid #222; border-bottom: 1px solid #222; }
table.leaderboard tbody tr:last-child > * { border-bottom: 2px solid #222; }
table.leaderboard tr.ablation th[scope=row] { padding-left: 1.8em; }
table.leaderboard .interval { color: #555; font-size: 0.85em; }
p.notes, ul.unranked { font-size: 0.9em; }
""".strip()


def to_html(board: Leaderboard) -> str:
    """The leaderboard as a standalone HTML document (one ``<section>`` per section, :func:`html_table` each)."""
    return html_document("Leaderboard", html_body(board), style=HTML_STYLE)


def html_document(title: str, body: list, *, style: str = "", script: str = "", head: tuple = ()) -> str:
    """A whole HTML document: ``title``, inline ``style`` and ``script`` (none when empty), ``head`` lines added to
    ``<head>``, the ``body`` lines in ``<body>`` (the script last, so that it runs on the finished document)."""
    return "\n".join(['<!DOCTYPE html>', '<html lang="en">', "<head>", '<meta charset="utf-8">', *head,
                      f"<title>{html.escape(title)}</title>", *([f"<style>\n{style}\n</style>"] if style else []),
                      "</head>", "<body>", *body, *([f"<script>\n{script}\n</script>"] if script else []),
                      "</body>", "</html>", ""])


def html_body(board: Leaderboard, row_link: Optional[Callable[[Row], Optional[str]]] = None) -> list:
    """The leaderboard's ``<body>`` content as lines: a heading, one ``<section>`` per section (its tables by
    :func:`html_table`, runs listed apart, numbered notes), then the skipped files. ``row_link`` is passed on
    to :func:`html_table`."""
    body = ["<h1>Leaderboard</h1>"]
    if board.empty:
        body.append(f"<p>{_html_text(board.empty)}</p>")
    for section in board.sections:
        kind = "reported" if section.reported else "reproduced"
        body.append(f'<section class="{kind}">')
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [f"<p>{_html_text(t)}</p>" for t in section.intro]
        for table in section.tables:
            body.append(html_table(table, section_prefix(section), row_link))
            body += [f'<p class="legend">{_html_text(t)}</p>' for t in table.legend]
        for group in section.unranked:
            body.append(f"<h3>{html.escape(group.title)}</h3>")
            body.append('<ul class="unranked">' + "".join(
                f"<li>{html.escape(name)} (<code>{html.escape(path)}</code>): {html.escape('; '.join(problems))}</li>"
                for name, path, problems in group.runs) + "</ul>")
        if section.notes:
            body.append('<p class="notes">' + "<br>\n".join(
                f'<span id="{section_prefix(section)}note-{i}">[{i}] {_html_text(t)}</span>'
                for i, t in enumerate(section.notes, 1)) + "</p>")
        body.append("</section>")
    if board.skipped:
        body.append("<h2>Skipped files</h2><p>Not valid results files; fix or rescore them.</p>")
        body.append('<ul class="skipped">' + "".join(
            f"<li><code>{html.escape(path)}</code>: {html.escape(err)}</li>" for path, err in board.skipped) + "</ul>")
    return body


def html_table(table: Table, notes_prefix: str = "", row_link: Optional[Callable[[Row], Optional[str]]] = None) -> str:
    """One table as an HTML ``<table>`` fragment: ``<caption>`` (title, reason, caption); a ``<th>`` per column
    with ``data-metric`` and ``data-higher-is-better`` (a lead column: ``data-column``); a ``<td>``
    per cell with ``data-value`` (the mean; empty for n/a), ``data-low`` / ``data-high`` and a ``title`` (the
    interval) and ``class="best"`` / ``"second"``; rows with ``data-method``, ``data-path`` and
    ``class="ablation"`` / ``"oracle"`` / ``"reported"``; notes as ``<sup>[n]</sup>`` linking to
    ``#{notes_prefix}note-n``. Enough for a page to sort and annotate without re-reading results files.

    ``row_link(row)``: a URL for the row's name to link to (None: no link), e.g. the run's own page."""
    kind = {"ranked": "ranked", "apart": "not-ranked", "category": "ranked category", "reported": "reported"}
    attrs = f' id="{html.escape(table.label)}"' if table.label else ""
    if table.protocol:
        attrs += f' data-protocol="{table.protocol}"'
    caption = ([sentence(table.title)] if table.title else []) + ([table.reason] if table.reason else [])
    caption += table.caption
    out = [f'<table class="leaderboard {kind[table.kind]}"{attrs}>',
           f"<caption>{' '.join(_html_text(s) for s in caption)}</caption>", "<thead><tr>",
           *(f'<th scope="col" data-column="{html.escape(c)}">{html.escape(c)}</th>' for c in table.lead_columns),
           '<th scope="col">method</th>']
    for c in table.columns:
        direction = {True: "true", False: "false"}.get(c.higher_is_better, "")
        out.append(f'<th scope="col" data-metric="{html.escape(c.metric)}" data-higher-is-better="{direction}">'
                   f"{html.escape(c.heading)}</th>")
    out += [f'<th scope="col">{html.escape(e)}</th>' for e in table.extra_columns]
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row in table.rows:
        classes = " ".join(k for k, on in (("ablation", row.ablation_of), ("oracle", row.oracle),
                                           ("reported", row.reported)) if on)
        row_attrs = f' data-method="{html.escape(row.name)}"'
        row_attrs += f' class="{classes}"' if classes else ""
        row_attrs += f' data-path="{html.escape(row.path)}"' if row.path else ""
        href = row_link(row) if row_link is not None else None
        label = html.escape(row.label) if href is None else f'<a href="{html.escape(href)}">{html.escape(row.label)}</a>'
        name = ("↳ " if row.ablation_of else "") + label + _html_notes(row.notes, notes_prefix)
        cells = [f"<tr{row_attrs}>", *(f"<td>{html.escape(v)}</td>" for v in row.lead), f'<th scope="row">{name}</th>']
        cells += [_html_cell(row.cells[c.metric], c.metric, notes_prefix) for c in table.columns]
        if table.extra_columns:
            cells += [f"<td>{html.escape(row.n_clips or '')}</td>", f"<td>{html.escape(row.seed or '')}</td>"]
        cells.append("</tr>")
        out.append("".join(cells))
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _html_cell(cell: Cell, metric: str, notes_prefix: str) -> str:
    attrs = f' data-value="{cell.mean!r}"' if cell.mean is not None else ' data-value=""'
    if cell.low is not None and cell.high is not None:
        attrs += f' data-low="{cell.low!r}" data-high="{cell.high!r}"'
        low, high = (html.escape(catalog.format_value(metric, v)) for v in (cell.low, cell.high))
        attrs += f' title="95% interval [{low}, {high}]"'
    if cell.mark:
        attrs += f' class="{"best" if cell.best else "second"}"'
    mean = html.escape(cell.text)
    mean = {BEST: f"<strong>{mean}</strong>", SECOND: f"<u>{mean}</u>"}.get(cell.mark, mean)
    if cell.half_text is not None:
        mean += f' <span class="interval">± {html.escape(cell.half_text)}</span>'
    return f"<td{attrs}>{mean}{_html_notes(cell.notes, notes_prefix)}</td>"


def _html_notes(numbers: list, prefix: str) -> str:
    return "".join(f'<sup><a href="#{prefix}note-{n}">[{n}]</a></sup>' for n in numbers)


def section_prefix(section: Section) -> str:
    """The prefix of a section's note ids (``synth-test-exo-only-``), unique per section title."""
    return re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-") + "-"


def _html_text(text: str) -> str:
    return inline(text, lambda c: f"<code>{html.escape(c)}</code>", html.escape)
