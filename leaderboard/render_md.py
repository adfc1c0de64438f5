"""The leaderboard as Markdown (``python -m benchmark leaderboard --format md``), printed from the table model.

Cells ``mean ± h``; best ``**12.34**``, second ``<ins>12.34</ins>``; notes ``[n]`` after each section.
"""

from __future__ import annotations

from leaderboard.model import BEST, SECOND, Cell, Leaderboard, Table


def to_markdown(board: Leaderboard) -> str:
    """The leaderboard as Markdown: ``##`` per section, ``###`` per further table, ``[n]`` notes per section."""
    lines = ["# Leaderboard", ""]
    if board.empty:
        lines += [board.empty, ""]
    for section in board.sections:
        lines += [f"## {section.title}", ""]
        for text in section.intro:
            lines += [text, ""]
        for table in section.tables:
            if table.title:
                lines += [f"### {table.title}", ""]
            if table.reason:
                lines += [_md_text(table.reason), ""]
            lines += [" ".join(_md_text(s) for s in table.caption), ""]
            lines += _md_table(table)
            if table.legend:
                lines += [_md_text(s) for s in table.legend] + [""]
        for group in section.unranked:
            lines += [f"### {group.title}", ""]
            lines += [f"- {_md_escape(name)} (`{path}`): {'; '.join(problems)}" for name, path, problems in group.runs]
            lines.append("")
        if section.notes:
            lines += [f"[{i}] {text}  " for i, text in enumerate(section.notes, 1)]
            lines.append("")
    if board.skipped:
        lines += ["Skipped files (not valid results files; fix or rescore them):", ""]
        lines += [f"- `{path}`: {err}" for path, err in board.skipped]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md_table(table: Table) -> list:
    header = [*table.lead_columns, "method", *(c.heading for c in table.columns), *table.extra_columns]
    lines = [_md_row(header), _md_row(["---"] * len(header))]
    for row in table.rows:
        name = ("↳ " if row.ablation_of else "") + _md_escape(row.label) + "".join(f" [{n}]" for n in row.notes)
        cells = [*map(_md_escape, row.lead), name, *(_md_cell(row.cells[c.metric]) for c in table.columns)]
        if table.extra_columns:
            cells += [row.n_clips or "", row.seed or ""]
        lines.append(_md_row(cells))
    lines.append("")
    return lines


def _md_cell(cell: Cell) -> str:
    mean = {BEST: f"**{cell.text}**", SECOND: f"<ins>{cell.text}</ins>"}.get(cell.mark, cell.text)
    text = mean if cell.half_text is None else f"{mean} ± {cell.half_text}"
    return text + "".join(f" [{n}]" for n in cell.notes)


def _md_text(text: str) -> str:
    return text.replace("\n", " ")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"
