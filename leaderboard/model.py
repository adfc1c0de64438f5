"""The leaderboard's table model: what every renderer prints, built by :func:`leaderboard.table.build_leaderboard`.

A :class:`Leaderboard` is a list of :class:`Section` objects (one per dataset / config / split / track, then the
reported numbers), each holding :class:`Table` objects made of :class:`Column` headings and :class:`Row`
objects whose :class:`Cell` objects carry the printed mean and half-width, the numbers behind them (the run's
``ci95``), best / second marks and note numbers. Renderers (:mod:`leaderboard.render_md`,
:mod:`leaderboard.render_tex`, :mod:`leaderboard.render_html`, :mod:`leaderboard.page`) only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from benchmark.metrics.catalog import NA

BEST, SECOND = 1, 2  # Cell.mark


@dataclass(frozen=True)
class Column:
    """A metric column: catalogue name, label and direction (None: unknown, then the column is not marked)."""

    metric: str
    label: str
    higher_is_better: Optional[bool]

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓"}.get(self.higher_is_better, "")

    @property
    def heading(self) -> str:
        return f"{self.label} {self.arrow}".rstrip()


@dataclass
class Cell:
    """One metric of one row. ``text`` / ``half_text`` are the mean and half-width as printed (``n/a`` / None
    when absent); ``mean``, ``low``, ``high`` the numbers behind them (the run's ``ci95``); ``notes`` numbers
    into the section's notes; ``mark`` is :data:`BEST`, :data:`SECOND` or 0; ``comparable`` False keeps the
    cell out of the marks (a value computed with unpublished weights)."""

    text: str = NA
    mean: Optional[float] = None
    low: Optional[float] = None
    high: Optional[float] = None
    half_text: Optional[str] = None
    notes: list = field(default_factory=list)
    mark: int = 0
    comparable: bool = True

    @property
    def half(self) -> Optional[float]:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    @property
    def best(self) -> bool:
        return self.mark == BEST

    @property
    def second(self) -> bool:
        return self.mark == SECOND


@dataclass
class Row:
    """A run (or a reported method): name as its file / source gives it, cells by metric, and what it is."""

    name: str
    cells: dict
    oracle: bool = False
    ablation_of: Optional[str] = None  # "exo2egosyn" for its ablations
    n_clips: Optional[str] = None  # "3", "2 of 3 (1 failed)"; None for reported rows
    seed: Optional[str] = None
    path: Optional[str] = None  # results.json, relative to the root searched
    notes: list = field(default_factory=list)  # notes on the row itself (reported rows)
    reported: bool = False
    lead: tuple = ()  # values of the table's lead_columns (a reported row's split)

    @property
    def label(self) -> str:
        """The name as shown: with ``(oracle)`` for oracle runs."""
        return self.name + (" (oracle)" if self.oracle else "")


@dataclass
class Table:
    """One table. ``kind``: ``"ranked"``, ``"apart"`` (not ranked with the ranked table: ``reason`` says why),
    ``"category"`` or ``"reported"``. ``title`` is its heading (None for a section's ranked table); ``caption``
    and ``legend`` are sentences before and after it (plain text, ```code``` in backticks)."""

    kind: str
    columns: list
    rows: list
    caption: list
    title: Optional[str] = None
    reason: Optional[str] = None
    legend: list = field(default_factory=list)
    extra_columns: tuple = ("n clips", "seed")
    protocol: Optional[str] = None  # protocol digest of its runs
    category: Optional[str] = None
    label: str = ""  # a stable identifier (LaTeX \label, HTML id)
    lead_columns: tuple = ()  # columns before "method" (a reported table's "split")

    @property
    def marked(self) -> bool:
        """Whether best / second are marked: in ranked and category tables, not in apart or reported ones."""
        return self.kind in ("ranked", "category")


@dataclass
class Unranked:
    """Runs listed apart without a table: ``(name, path, reasons)`` each, under ``title``."""

    title: str
    runs: list


@dataclass
class Section:
    """A setting (dataset, config, split, track) or the reported numbers: tables, runs listed apart, notes."""

    title: str
    tables: list = field(default_factory=list)
    unranked: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    intro: list = field(default_factory=list)  # sentences before the tables
    key: Optional[tuple] = None  # (dataset, config, split, track); None for the reported section
    reported: bool = False


@dataclass
class Leaderboard:
    """Everything rendered: sections in order, files skipped ``(relative path, field and problem)``, and
    ``empty`` (a sentence) when no results file matched."""

    sections: list
    skipped: list
    empty: Optional[str] = None



def sentence(text: str) -> str:
    """``text`` as a sentence: first letter upper case, a full stop at the end."""
    return text[:1].upper() + text[1:] + "."


def inline(text: str, code, plain) -> str:
    """``text`` with its ```code``` spans passed to ``code`` and the rest to ``plain`` (each returns a string)."""
    parts = text.split("`")
    return "".join(code(p) if i % 2 else plain(p) for i, p in enumerate(parts))
