"""The leaderboard as LaTeX (``python -m benchmark leaderboard --format tex``), printed from the table model.

One ``table`` float per table with booktabs rules, ``\\caption`` and ``\\label``; cells ``mean`` followed by a small
``±h`` (``\\scriptsize``); best ``\\textbf``, second ``\\underline``; notes under each table.
"""

from __future__ import annotations

from leaderboard.model import BEST, SECOND, Cell, Leaderboard, Section, Table, inline, sentence

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_TEX_SYMBOLS = {"±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "…": r"\ldots{}", "—": "---", "–": "--",
                "×": r"$\times$", "↳": r"$\hookrightarrow$"}
TEX_PREAMBLE = (r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}", r"\usepackage{booktabs}")


def tex_escape(text: str) -> str:
    """``text`` safe in LaTeX text mode: specials escaped, a few symbols (± ↑ ↓ …) as LaTeX commands."""
    return "".join(_TEX_SPECIAL.get(ch) or _TEX_SYMBOLS.get(ch) or ch for ch in str(text))


def _tex_text(text: str) -> str:
    return inline(text, lambda c: r"\texttt{" + tex_escape(c) + "}", tex_escape)


def to_latex(board: Leaderboard, *, standalone: bool = False) -> str:
    """The leaderboard as LaTeX: one ``table`` float per table, booktabs rules, ``\\caption`` and ``\\label``;
    cells ``mean{\\scriptsize$\\pm$h}``; notes under each table. Runs listed apart without a table and skipped
    files become comments. ``standalone``: wrapped in a compilable ``article`` document."""
    lines = ["% Leaderboard tables from results files (python -m benchmark leaderboard --format tex).",
             "% Needs " + " ".join(p for p in TEX_PREAMBLE if "booktabs" in p) + " in the preamble.", ""]
    if board.empty:
        lines += [f"% {board.empty}", ""]
    for section in board.sections:
        lines += [f"% ---- {section.title}", ""]
        lines += [f"% {text}" for text in section.intro]
        for i, table in enumerate(section.tables, 1):
            lines += _tex_table(table, section)
            if standalone and i % 6 == 0:  # with no text between them, floats pile up: LaTeX holds 18 at most
                lines += [r"\clearpage", ""]
        for group in section.unranked:
            lines.append(f"% {group.title}:")
            lines += [f"%   {name} ({path}): {'; '.join(problems)}".replace("\n", " ")
                      for name, path, problems in group.runs]
        if standalone:
            lines.append(r"\clearpage")
        lines.append("")
    if board.skipped:
        lines.append("% Skipped files (not valid results files; fix or rescore them):")
        lines += [f"%   {path}: {err}".replace("\n", " ") for path, err in board.skipped]
    text = "\n".join(lines).rstrip() + "\n"
    if standalone:
        text = "\n".join([r"\documentclass{article}", *TEX_PREAMBLE, r"\begin{document}", "", text,
                          r"\end{document}", ""])
    return text


def _tex_table(table: Table, section: Section) -> list:
    extra = list(table.extra_columns)
    spec = "l" * (len(table.lead_columns) + 1) + "c" * len(table.columns) + "r" * len(extra)
    caption = []
    if table.title:
        caption.append(sentence(table.title))
    if table.reason:
        caption.append(table.reason)
    caption += table.caption + table.legend
    if section.key is not None:
        caption.insert(0, f"{section.title}.")
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
             r"\caption{" + " ".join(_tex_text(s) for s in caption) + "}",
             r"\label{tab:" + table.label + "}",
             r"\begin{tabular}{" + spec + "}", r"\toprule",
             " & ".join([*(tex_escape(c.capitalize()) for c in table.lead_columns), "Method",
                         *(tex_escape(c.heading) for c in table.columns), *(tex_escape(e) for e in extra)])
             + r" \\", r"\midrule"]
    for row in table.rows:
        name = (r"\quad " if row.ablation_of else "") + tex_escape(row.label)
        name += "".join(r"\textsuperscript{" + str(n) + "}" for n in row.notes)
        cells = [*map(tex_escape, row.lead), name, *(_tex_cell(row.cells[c.metric]) for c in table.columns)]
        if extra:
            cells += [tex_escape(row.n_clips or ""), tex_escape(row.seed or "")]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    used = sorted({n for row in table.rows for n in row.notes + [m for c in row.cells.values() for m in c.notes]})
    if used:
        lines.append(r"\par\smallskip\footnotesize")
        lines += [r"\textsuperscript{" + str(n) + "}" + _tex_text(section.notes[n - 1]) + r"\par" for n in used]
    lines += [r"\end{table}", ""]
    return lines


def _tex_cell(cell: Cell) -> str:
    mean = tex_escape(cell.text)
    mean = {BEST: r"\textbf{" + mean + "}", SECOND: r"\underline{" + mean + "}"}.get(cell.mark, mean)
    if cell.half_text is not None:
        mean += r"{\scriptsize$\pm$" + tex_escape(cell.half_text) + "}"
    return mean + "".join(r"\textsuperscript{" + str(n) + "}" for n in cell.notes)
