"""Metric options a user can choose: ``--metric-arg METRIC.KEY=VALUE`` on ``run``, ``score`` and ``ablation``.

A metric that has variants declares them as :class:`MetricOption` entries next to its arithmetic (the module that
knows what a value means): LPIPS's backbone (``lpips.net=alex|vgg``, ``video_lpips.OPTIONS``), FVD's feature
network, clip sample and frame window (``fvd.backbone=i3d|videomae``, ``fvd.max_clips=N``, ``fvd.seed=N``, ...,
``video_fvd.OPTIONS``) and every option of the ego-motion error (``ego_motion.model=essential``, read from
``ego_motion.DEFAULTS``). This module turns the command line's text into the ``metric_options`` dict of
:class:`~benchmark.metrics.suite.MetricSuite` (``{"lpips": {"net": "vgg"}}``), checks it, and reads the options a
results file was scored with back from its ``metric_settings`` so that ``score`` of a run folder scores the way the
run did.

Every option changes a number, so each one is recorded in ``results.json`` ``metric_settings`` through the
metric's own settings (``metric_settings.lpips.net``, ``metric_settings.fvd.protocol.backbone``,
``metric_settings.ego_motion.model``); :attr:`MetricOption.recorded_at` says where. Two runs scored with different
options therefore have different :func:`leaderboard.protocol.protocol_key` values and never share a table row.

Example::

    >>> parse_metric_args(["lpips.net=vgg", "fvd.max_clips=512"], metrics=("psnr", "lpips", "fvd"))
    {'lpips': {'net': 'vgg'}, 'fvd': {'max_clips': 512}}
"""

from __future__ import annotations

import difflib
import importlib
import math
from dataclasses import dataclass
from typing import Iterable, Optional

from benchmark.errors import UsageError

FLAG = "--metric-arg"
_KIND_WORDS = {int: "an integer", float: "a number", str: "text"}
_NULL_WORDS = ("null", "none")

# metric -> "module:attribute" of its options (a dict {key: MetricOption}, or a function returning one)
_SOURCES = {
    "lpips": "benchmark.metrics.video_lpips:OPTIONS",
    "fvd": "benchmark.metrics.video_fvd:OPTIONS",
    "ego_motion": "benchmark.metrics.options:_ego_motion_options",
}
# metric -> "module:function" that checks a full option dict together (ValueError naming the option)
_CHECKS = {
    "fvd": "benchmark.metrics.video_fvd:check_options",
    "ego_motion": "benchmark.metrics.ego_motion:check_options",
}


@dataclass(frozen=True)
class MetricOption:
    """One option of a metric's constructor that a user may set.

    Attributes:
        key: the constructor's keyword (``KEY`` of ``--metric-arg METRIC.KEY=VALUE``).
        kind: ``int``, ``float`` or ``str``; the command line's text is parsed as this type.
        default: the value when the option is not given.
        choices: the accepted values (empty: any value of ``kind``).
        minimum: the smallest accepted number (``int`` / ``float`` only; None: no bound here).
        optional: ``null`` / ``none`` is accepted and means None.
        recorded_at: the path of the value inside ``metric_settings[metric]`` of ``results.json``
            (``("protocol", "backbone")``); how ``score`` finds the value a run used.
        help: one phrase on what the option does.
    """

    key: str
    kind: type
    default: object
    choices: tuple = ()
    minimum: Optional[float] = None
    optional: bool = False
    recorded_at: tuple = ()
    help: str = ""

    def expected(self) -> str:
        """What a value must be, in words (``"one of alex, vgg"``, ``"an integer >= 2 (or null)"``)."""
        if self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        else:
            text = _KIND_WORDS[self.kind] + ("" if self.minimum is None else f" >= {self.minimum:g}")
        return text + (" (or null)" if self.optional else "")

    def describe(self) -> str:
        """``"net (one of alex, vgg; default 'alex')"``: how the option is listed in messages."""
        default = "null" if self.default is None else repr(self.default)
        return f"{self.key} ({self.expected()}; default {default})"

    def parse(self, metric: str, text: str):
        """The command line's ``text`` as a value of this option; :class:`UsageError` naming it when it is not."""
        if self.optional and text.strip().lower() in _NULL_WORDS:
            return None
        value = text
        if self.kind in (int, float):
            try:
                value = self.kind(text.strip())
            except ValueError:
                raise self._error(metric, text) from None
        return self.check(metric, value, text)

    def check(self, metric: str, value, text: Optional[str] = None):
        """``value`` if it is acceptable (ints are accepted as floats), else :class:`UsageError`."""
        if value is None:
            if self.optional:
                return None
            raise self._error(metric, text if text is not None else "null")
        ok = True
        if self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            value = float(value) if ok else value
        elif self.kind is str:
            ok = isinstance(value, str)
        if ok and self.choices:
            ok = value in self.choices
        if ok and self.minimum is not None:
            ok = value >= self.minimum
        if not ok:
            raise self._error(metric, text if text is not None else repr(value))
        return value

    def _error(self, metric: str, text: str) -> UsageError:
        return UsageError(f"{FLAG} {metric}.{self.key}={text}: {metric} expects {self.expected()} for "
                          f"{self.key!r} (default {'null' if self.default is None else repr(self.default)})")


def _ego_motion_options() -> dict:
    """The ego-motion error's options: every key of ``ego_motion.DEFAULTS``, typed by its default."""
    from benchmark.metrics.ego_motion import DEFAULTS, MODELS

    return {key: MetricOption(key, type(default), default, choices=MODELS if key == "model" else (),
                              recorded_at=(key,))
            for key, default in DEFAULTS.items()}


def _load(target: str):
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


def metrics_with_options() -> tuple:
    """The metrics that have options, in catalogue order."""
    from benchmark.metrics.catalog import METRICS

    return tuple(name for name in METRICS if name in _SOURCES)


def option_specs(metric: str) -> dict:
    """``{key: MetricOption}`` of ``metric`` ({} for a metric without options)."""
    source = _SOURCES.get(metric)
    if source is None:
        return {}
    specs = _load(source)
    return dict(specs() if callable(specs) else specs)


def accepted(metric: str) -> str:
    """``"lpips accepts: net (one of alex, vgg; default 'alex')"``: the keys of ``metric``, for messages."""
    specs = option_specs(metric)
    if not specs:
        return f"{metric} takes no options; metrics with options: {', '.join(metrics_with_options())}"
    return f"{metric} accepts: " + ", ".join(spec.describe() for spec in specs.values())


def _specs_of_known_metric(metric: str, what: str) -> dict:
    from benchmark.metrics.catalog import METRICS

    if metric not in METRICS:
        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"{what}: unknown metric {metric!r}{hint}; metrics with options: "
                         f"{', '.join(metrics_with_options())}")
    specs = option_specs(metric)
    if not specs:
        raise UsageError(f"{what}: {accepted(metric)}")
    return specs


def _check_key(metric: str, key: str, specs: dict, what: str) -> MetricOption:
    if key not in specs:
        close = difflib.get_close_matches(key, list(specs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"{what}: unknown option {key!r} of {metric}{hint} ({accepted(metric)})")
    return specs[key]


def _names(metrics) -> Optional[tuple]:
    """``metrics`` as a tuple of names (one string is one name), or None."""
    if metrics is None:
        return None
    return (metrics,) if isinstance(metrics, str) else tuple(metrics)


def _check_scored(metric: str, metrics: Optional[Iterable[str]], what: str) -> None:
    if metrics is not None and metric not in metrics:
        raise UsageError(f"{what}: {metric} is not among the metrics scored ({', '.join(metrics)}); add it to "
                         "--metrics or leave the option out")


def parse_metric_args(pairs: Optional[Iterable[str]], metrics: Optional[Iterable[str]] = None) -> dict:
    """``["lpips.net=vgg", ...]`` (the command line's ``--metric-arg``) -> ``{"lpips": {"net": "vgg"}, ...}``.

    Each value is parsed as its option's type and checked (choices, bounds, and the metric's own check of its
    options together, e.g. VideoMAE takes exactly 16 frames). ``metrics``: the metrics that will be scored; an
    option of another metric is refused (None: not checked here, e.g. ``score`` checks once it knows them). A key
    given twice keeps its last value. Raises :class:`UsageError` naming the argument for text that is not
    ``METRIC.KEY=VALUE``, an unknown metric, a metric without options or not scored, an unknown key (with a
    did-you-mean and the accepted keys) and a bad value.
    """
    metrics = _names(metrics)
    options: dict = {}
    for pair in pairs or ():
        target, sep, text = pair.partition("=")
        metric, dot, key = target.strip().partition(".")
        metric, key = metric.strip(), key.strip()
        if not sep or not dot or not metric or not key:
            raise UsageError(f"{FLAG} expects METRIC.KEY=VALUE (e.g. lpips.net=vgg), got {pair!r}")
        what = f"{FLAG} {target.strip()}={text}"
        specs = _specs_of_known_metric(metric, what)
        _check_scored(metric, metrics, what)
        spec = _check_key(metric, key, specs, what)
        options.setdefault(metric, {})[key] = spec.parse(metric, text)
    return check_metric_options(options, metrics)


def check_metric_options(options: Optional[dict], metrics: Optional[Iterable[str]] = None) -> dict:
    """``options`` (``{metric: {key: value}}``) checked as :func:`parse_metric_args` checks parsed text; a copy.

    Values must already have their types (``512``, not ``"512"``). Raises :class:`UsageError` naming
    ``METRIC.KEY`` and what was expected.
    """
    metrics = _names(metrics)
    checked = {}
    for metric, given in (options or {}).items():
        what = f"{FLAG} {metric}"
        specs = _specs_of_known_metric(metric, what)
        _check_scored(metric, metrics, what)
        if not isinstance(given, dict):
            raise UsageError(f"{what}: expected a dict of options, got {given!r}")
        checked[metric] = {key: _check_key(metric, key, specs, f"{FLAG} {metric}.{key}").check(metric, value)
                           for key, value in given.items()}
        check = _CHECKS.get(metric)
        if check is not None:
            try:
                _load(check)(dict(checked[metric]))
            except UsageError:
                raise
            except ValueError as err:
                given_text = " ".join(f"{metric}.{k}={v}" for k, v in checked[metric].items())
                raise UsageError(f"{FLAG} {given_text}: {err}") from None
    return checked


def recorded_options(metric_settings: Optional[dict], metrics: Iterable[str]) -> dict:
    """The options a results file's ``metric_settings`` says its ``metrics`` were scored with.

    Only what is recorded is returned (``{"lpips": {"net": "vgg"}, "fvd": {"backbone": "i3d", ...}}``); a file
    written before an option existed simply lacks it, and the option's default applies. Values are returned as
    recorded; :func:`check_metric_options` checks them.
    """
    found: dict = {}
    settings = metric_settings or {}
    for metric in metrics:
        block = settings.get(metric)
        if not isinstance(block, dict):
            continue
        for key, spec in option_specs(metric).items():
            value, present = block, bool(spec.recorded_at)
            for part in spec.recorded_at:
                if not isinstance(value, dict) or part not in value:
                    present = False
                    break
                value = value[part]
            if present:
                found.setdefault(metric, {})[key] = value
    return found


def options_to_score(metric_settings: Optional[dict], metrics: Iterable[str], given: Optional[dict]) -> dict:
    """The options a re-scoring uses: those recorded in ``metric_settings`` for ``metrics``, overridden by ``given``.

    ``given`` (the user's ``--metric-arg``) may only name metrics in ``metrics``. A recorded value this version
    cannot use (a variant of a newer version) is a :class:`UsageError` asking for an explicit choice, unless
    ``given`` overrides it.
    """
    metrics = _names(metrics)
    given = check_metric_options(given, metrics)
    recorded = recorded_options(metric_settings, metrics)
    merged = {m: {**recorded.get(m, {}), **given.get(m, {})} for m in metrics if m in recorded or m in given}
    try:
        return check_metric_options(merged, metrics)
    except UsageError as err:
        raise UsageError(f"the previous results record metric options this version cannot use ({err}); choose "
                         f"them explicitly with {FLAG} METRIC.KEY=VALUE") from None
