"""Numbers of published methods as printed by their authors. NOT reproduced by this benchmark.

The numbers live in data files, one per source table, under ``leaderboard/reported/`` (``*.json``); this module
reads and checks them. Each file holds::

    source            how the source is cited ("Ego-Forge (Mahdi et al., 2026), Table 1")
    transcribed_from  where in shared/refs/reported-results.md the numbers were copied from
    dataset           the dataset the source evaluated on ("Ego-Exo4D")
    setting           {exo_views, frames, ego_resolution, exo_resolution, splits}: what the methods were given
                      and scored on; null where the source (as we have it) does not say
    metric_protocol   what is known of how the metrics were computed, in words
    metrics           the source's columns, in its order, by catalogue name (benchmark.metrics.catalog)
    rows              [{split, method, values: {metric: "as printed" | null}, note?, setting?}]; a row's
                      ``setting`` overrides fields of the file's (e.g. a method another paper re-evaluated)

Values are kept as the text printed in the source ("0.430", "622"): :meth:`ReportedResult.value` gives the
number and :meth:`ReportedResult.formatted` prints it with the catalogue's decimals for the metric, or fewer
when the source printed fewer (622 stays 622, never 622.00): a table never adds a digit the authors did not
print, and with the catalogue's decimals (those the peers print) it drops none. ``null`` is a value our
transcription of the source does not give. A malformed file raises :class:`ReportedDataError` naming the file
and the field.

The leaderboard shows these rows only on request (``--reported``), apart from the runs scored here and
labelled as reported; they are never ranked with them, nor among themselves: their protocol (clip selection,
resolution, metric code) is the authors', not ours.

:data:`REPORTED` (every row) and :data:`METRICS` (every metric some source reports, in catalogue order) are read
on first use.

Example::

    from leaderboard.reported import reported_sources
    for source in reported_sources():
        print(source.source, source.setting.describe(), [r.method for r in source.rows])
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from benchmark.metrics import catalog

DATA_DIR = Path(__file__).resolve().parent / "reported"
SETTING_FIELDS = ("exo_views", "frames", "ego_resolution", "exo_resolution", "splits")
_PRINTED_NUMBER = re.compile(r"-?\d+(\.\d+)?")


class ReportedDataError(ValueError):
    """A reported-results data file that does not have the documented shape (the message names file and field)."""


@dataclass(frozen=True)
class Setting:
    """What the methods of a source table were given and scored on; None: not stated in our source."""

    exo_views: Optional[int] = None
    frames: Optional[int] = None
    ego_resolution: Optional[str] = None
    exo_resolution: Optional[str] = None
    splits: Optional[str] = None

    def describe(self) -> str:
        """One line, unknowns said as such: ``"exo views: not stated; 25 frames; ego 448x448; exo 448x768"``."""
        parts = [f"exo views: {self.exo_views if self.exo_views is not None else 'not stated'}",
                 f"{self.frames} frames" if self.frames is not None else "frames: not stated",
                 f"ego {self.ego_resolution}" if self.ego_resolution else "ego resolution: not stated",
                 f"exo {self.exo_resolution}" if self.exo_resolution else "exo resolution: not stated"]
        return "; ".join(parts)


@dataclass(frozen=True)
class ReportedResult:
    """One printed row: a method on one split of one source table."""

    method: str
    split: str
    printed: tuple  # ((metric, "text as printed" or None), ...) in the source's column order
    source: str
    dataset: str
    setting: Setting
    metric_protocol: str
    note: Optional[str] = None

    def printed_value(self, metric: str) -> Optional[str]:
        """The value of ``metric`` as printed in the source, or None (not given / not a column)."""
        return dict(self.printed).get(metric)

    def value(self, metric: str) -> Optional[float]:
        """The value of ``metric`` as a number, or None."""
        text = self.printed_value(metric)
        return None if text is None else float(text)

    def formatted(self, metric: str) -> Optional[str]:
        """The value printed with the catalogue's decimals, or the source's when it printed fewer; None if absent."""
        text = self.printed_value(metric)
        if text is None:
            return None
        printed = len(text.partition(".")[2])
        return catalog.format_value(metric, float(text), decimals=min(catalog.entry(metric).decimals, printed))


@dataclass(frozen=True)
class ReportedSource:
    """One source table (one data file)."""

    path: Path
    source: str
    transcribed_from: str
    dataset: str
    setting: Setting
    metric_protocol: str
    metrics: tuple
    rows: tuple  # (ReportedResult, ...) in the source's order

    @property
    def splits(self) -> tuple:
        """The splits of its rows, in the order they first appear."""
        return tuple(dict.fromkeys(r.split for r in self.rows))


def load_source(path: Path) -> ReportedSource:
    """Read and check one data file (see the module docstring); :class:`ReportedDataError` when malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ReportedDataError(f"{path}: cannot be read as JSON ({err})") from err

    def fail(field: str, expected: str, got) -> ReportedDataError:
        return ReportedDataError(f"{path}: {field}: expected {expected}, got {json.dumps(got)[:80]}")

    def text(value, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise fail(field, "a non-empty string", value)
        return value

    if not isinstance(data, dict):
        raise fail("(top level)", "an object", data)
    for key in ("source", "transcribed_from", "dataset", "setting", "metric_protocol", "metrics", "rows"):
        if key not in data:
            raise ReportedDataError(f"{path}: missing field {key!r}")
    setting = _setting(data["setting"], "setting", fail)
    metrics = data["metrics"]
    if not isinstance(metrics, list) or not metrics or any(m not in catalog.METRICS for m in metrics):
        raise fail("metrics", f"a non-empty list of catalogue metric names ({', '.join(catalog.METRICS)})", metrics)
    if not isinstance(data["rows"], list) or not data["rows"]:
        raise fail("rows", "a non-empty list", data["rows"])
    rows = []
    for i, row in enumerate(data["rows"]):
        field = f"rows[{i}]"
        if not isinstance(row, dict):
            raise fail(field, "an object", row)
        values = row.get("values")
        if not isinstance(values, dict) or set(values) != set(metrics):
            raise fail(f"{field}.values", f"an object with exactly the keys {metrics}", values)
        for metric, value in values.items():
            if value is not None and (not isinstance(value, str) or not _PRINTED_NUMBER.fullmatch(value)):
                raise fail(f"{field}.values.{metric}", 'a number as printed, in quotes ("0.430"), or null', value)
        row_setting = setting
        if "setting" in row:
            overrides = _setting(row["setting"], f"{field}.setting", fail, partial=True)
            row_setting = Setting(**{**setting.__dict__, **overrides})
        note = row.get("note")
        rows.append(ReportedResult(
            method=text(row.get("method"), f"{field}.method"), split=text(row.get("split"), f"{field}.split"),
            printed=tuple((m, values[m]) for m in metrics), source=text(data["source"], "source"),
            dataset=text(data["dataset"], "dataset"), setting=row_setting,
            metric_protocol=text(data["metric_protocol"], "metric_protocol"),
            note=None if note is None else text(note, f"{field}.note")))
    return ReportedSource(path=path, source=data["source"], transcribed_from=text(data["transcribed_from"],
                                                                                   "transcribed_from"),
                          dataset=data["dataset"], setting=setting, metric_protocol=data["metric_protocol"],
                          metrics=tuple(metrics), rows=tuple(rows))


def _setting(value, field: str, fail, partial: bool = False):
    """A :class:`Setting` from its JSON object (``partial``: a dict of the fields given, for a row's override)."""
    if not isinstance(value, dict) or set(value) - set(SETTING_FIELDS) or (not partial and set(value) != set(
            SETTING_FIELDS)):
        raise fail(field, f"an object with {'some of ' if partial else ''}the keys {list(SETTING_FIELDS)}", value)
    for key in ("exo_views", "frames"):
        v = value.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise fail(f"{field}.{key}", "a positive integer or null (not stated)", v)
    for key in ("ego_resolution", "exo_resolution", "splits"):
        v = value.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise fail(f"{field}.{key}", "a non-empty string or null (not stated)", v)
    return dict(value) if partial else Setting(**value)


@functools.lru_cache(maxsize=4)
def reported_sources(folder: Optional[Path] = None) -> tuple:
    """Every source table under ``folder`` (default :data:`DATA_DIR`), in file-name order."""
    folder = DATA_DIR if folder is None else Path(folder)
    return tuple(load_source(p) for p in sorted(folder.glob("*.json")))


def reported_rows(folder: Optional[Path] = None) -> tuple:
    """Every :class:`ReportedResult` of every source table, in file and source order."""
    return tuple(row for source in reported_sources(folder) for row in source.rows)


def __getattr__(name: str):
    """``REPORTED`` and ``METRICS``, read from the data files on first use (a broken file fails there, not on import)."""
    if name == "REPORTED":
        return reported_rows()
    if name == "METRICS":
        used = {m for source in reported_sources() for m in source.metrics}
        return tuple(m for m in catalog.METRICS if m in used)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
