"""Registry of methods: name -> lazy ``"module:Class"`` plus keyword arguments.

Nothing heavy is imported until a method is asked for, so ``python -m benchmark list`` stays fast and a
broken optional method cannot break the others. Outside packages add methods through the entry-point
group ``exoego_benchmark.methods``; each entry point must resolve to a ``MethodSpec`` (or a list of them)::

    # pyproject.toml of a third-party package
    [project.entry-points."exoego_benchmark.methods"]
    mymethod = "my_package.bench:SPEC"

A plugin method whose name is already taken (by a built-in or another plugin) is ignored with a warning, so
a name in a results table always means the same code. A user's constructor arguments (``--method-arg``) are
checked against the generator's signature before it is built (:func:`parse_method_args`,
:func:`check_method_kwargs`): an unknown name or a value of the wrong type is a :class:`MethodArgumentError`
(a :class:`~benchmark.errors.UsageError`) listing the accepted arguments, never a ``TypeError`` from inside.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import os
import types
import typing
import warnings
from dataclasses import dataclass, field
from importlib import metadata

from .errors import UsageError

ENTRY_POINT_GROUP = "exoego_benchmark.methods"


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: ``target`` is ``"module:Class"``; ``kwargs`` are passed to the constructor."""

    name: str
    target: str
    description: str
    kwargs: dict = field(default_factory=dict)
    source: str = "builtin"


class UnknownMethodError(UsageError, KeyError):
    """No method of that name is registered. Still a ``KeyError`` for code that catches one."""

    def __str__(self):  # KeyError quotes its message; we want a readable sentence
        return self.args[0]


class MethodArgumentError(UsageError):
    """A ``--method-arg`` (or a keyword of :func:`build`) the method's constructor does not accept or cannot parse."""


_REGISTRY: dict = {}
_ENTRY_POINTS_LOADED = False


def register(spec: MethodSpec, *, overwrite: bool = False) -> MethodSpec:
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"method {spec.name!r} is already registered (from {_REGISTRY[spec.name].source})")
    if ":" not in spec.target:
        raise ValueError(f"method {spec.name!r}: target must be 'module:Class', got {spec.target!r}")
    _REGISTRY[spec.name] = spec
    return spec


def _load_entry_points():
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"entry point {ep.name!r} ({ep.value}" + (f", package {dist.name}" if dist is not None else "") + ")"
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not hide the others
            warnings.warn(f"could not load method {origin}: {type(exc).__name__}: {exc}")
            continue
        specs = obj if isinstance(obj, (list, tuple)) else [obj]
        for spec in specs:
            if not isinstance(spec, MethodSpec):
                warnings.warn(f"{origin} gave {type(spec).__name__}, expected MethodSpec; ignored")
                continue
            source = f"entry point {ep.value}"
            if spec.name in _REGISTRY:
                # Never replace an existing method: a name in a results table must always mean the same code.
                existing = _REGISTRY[spec.name]
                if existing.source == source and existing.target == spec.target:
                    continue  # the same entry point, loaded again
                kind = "a built-in method" if existing.source == "builtin" else f"a method from {existing.source}"
                warnings.warn(
                    f"{origin} defines method {spec.name!r}, which clashes with {kind} of that name "
                    f"({existing.target}); the plugin's method is ignored: give it another name")
                continue
            try:
                register(MethodSpec(spec.name, spec.target, spec.description, dict(spec.kwargs), source=source))
            except ValueError as exc:
                warnings.warn(f"{origin}: {exc}; ignored")


def available() -> dict:
    """All registered methods, builtin and from entry points, by name."""
    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get_spec(name: str) -> MethodSpec:
    methods = available()
    if name not in methods:
        close = difflib.get_close_matches(name, methods, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownMethodError(
            f"unknown method {name!r}.{hint} Registered methods: {', '.join(methods)} "
            f"(see `python -m benchmark list`)."
        )
    return methods[name]


def method_class(name: str) -> type:
    """The generator class of method ``name`` (imports its module, nothing else)."""
    module_name, _, class_name = get_spec(name).target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


_SCALAR_TYPES = (bool, int, float, str)
_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
_TRUE_WORDS, _FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


@dataclass(frozen=True)
class MethodArgument:
    """One keyword argument of a generator's constructor.

    ``kind`` is the expected type (bool, int, float or str) taken from the annotation, else from the type of
    the default; ``None`` when neither says (any value is passed on as is). ``optional``: ``None`` is accepted.
    """

    name: str
    default: object = inspect.Parameter.empty
    kind: type | None = None
    optional: bool = True

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        """``"name (an integer, default 3)"``: how the argument is listed in error messages."""
        return f"{self.name} ({_TYPE_WORDS.get(self.kind, 'any value')}, {self.default_text()})"

    def default_text(self) -> str:
        return "required" if self.required else f"default {self.default!r}"


def _expected_type(param: inspect.Parameter, hints: dict) -> tuple:
    """(kind, optional) of a constructor parameter; see :class:`MethodArgument`."""
    hint = hints.get(param.name, inspect.Parameter.empty)
    if hint is not inspect.Parameter.empty:
        is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = typing.get_args(hint) if is_union else (hint,)
        optional = type(None) in args
        others = {a for a in args if a is not type(None)}
        if others == {int, float}:
            return float, optional
        if len(others) == 1 and next(iter(others)) in _SCALAR_TYPES:
            return next(iter(others)), optional or param.default is None
        return None, True  # an annotation we do not interpret: do not second-guess it
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return None, True
    return (type(default), False) if type(default) in _SCALAR_TYPES else (None, True)


def method_arguments(name: str) -> tuple:
    """``({argument name: MethodArgument}, takes_any)`` for the constructor of method ``name``.

    ``takes_any`` is True when the constructor has ``**kwargs`` (then any other name is accepted too).
    """
    cls = method_class(name)
    signature = inspect.signature(cls)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: fall back to the defaults' types
        hints = {}
    arguments, takes_any = {}, False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any = True
        elif param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            kind, optional = _expected_type(param, hints)
            arguments[param.name] = MethodArgument(param.name, param.default, kind, optional)
    return arguments, takes_any


def _accepted(name: str, arguments: dict) -> str:
    if not arguments:
        return f"method {name!r} takes no arguments"
    return f"method {name!r} accepts: " + ", ".join(a.describe() for a in arguments.values())


def _check_names(name: str, keys, arguments: dict, takes_any: bool):
    if takes_any:
        return
    for key in keys:
        if key not in arguments:
            close = difflib.get_close_matches(key, list(arguments), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MethodArgumentError(f"unknown --method-arg {key!r}{hint} ({_accepted(name, arguments)})")


def _value_fits(arg: MethodArgument, value) -> bool:
    import numbers

    if value is None:
        return arg.optional
    if arg.kind is None:
        return True
    if arg.kind is bool:
        return isinstance(value, bool)
    if arg.kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if arg.kind is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    return isinstance(value, (str, os.PathLike))


def _parse_value(name: str, arg: MethodArgument | None, text: str):
    """The text of ``--method-arg key=text`` as the type the constructor expects (JSON or text when unknown)."""
    if arg is None or arg.kind is None:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if arg.optional and text.lower() in ("null", "none"):
        return None
    if arg.kind is str:
        return text
    if arg.kind is bool and text.lower() in _TRUE_WORDS + _FALSE_WORDS:
        return text.lower() in _TRUE_WORDS
    if arg.kind in (int, float):
        try:
            return arg.kind(text)
        except ValueError:
            pass
    expected = _TYPE_WORDS[arg.kind] + (" (or null)" if arg.optional else "")
    raise MethodArgumentError(f"--method-arg {arg.name}={text}: method {name!r} expects {expected} for "
                              f"{arg.name!r} ({arg.default_text()}), got {text!r}")


def parse_method_args(name: str, pairs) -> dict:
    """``["key=value", ...]`` (the CLI's ``--method-arg``) -> keyword arguments for :func:`build`.

    Each value is parsed as the type the constructor of ``name`` expects (its annotation, else its default's
    type): ``true``/``false`` for a flag, an integer, a number, or text taken verbatim; a value of an argument
    whose type is not known is parsed as JSON when it parses, else kept as text. Raises
    :class:`MethodArgumentError` naming the argument for an unknown name (with a did-you-mean and the list of
    accepted arguments) or a value that does not parse, and :class:`UnknownMethodError` for an unknown method.
    """
    arguments, takes_any = method_arguments(name)
    kwargs = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MethodArgumentError(f"--method-arg expects KEY=VALUE, got {pair!r}")
        _check_names(name, [key], arguments, takes_any)
        kwargs[key] = _parse_value(name, arguments.get(key), text)
    return kwargs


def check_method_kwargs(name: str, kwargs: dict) -> None:
    """Raise :class:`MethodArgumentError` if the constructor of ``name`` would reject ``kwargs`` (the user's
    overrides): an unknown name, a value of the wrong type, or a required argument that nobody gives."""
    arguments, takes_any = method_arguments(name)
    _check_names(name, kwargs, arguments, takes_any)
    for key, value in kwargs.items():
        arg = arguments.get(key)
        if arg is not None and not _value_fits(arg, value):
            expected = _TYPE_WORDS[arg.kind] + (" (or None)" if arg.optional else "")
            raise MethodArgumentError(f"method {name!r} expects {expected} for argument {key!r} "
                                      f"({arg.default_text()}), got {value!r}")
    given = set(get_spec(name).kwargs) | set(kwargs)
    missing = [a for a in arguments.values() if a.required and a.name not in given]
    if missing:
        needed = " ".join(f"--method-arg {a.name}=VALUE" for a in missing)
        raise MethodArgumentError(f"method {name!r} needs {needed} ({_accepted(name, arguments)})")


def build(name: str, **overrides):
    """Instantiate the method ``name``; ``overrides`` update the registered keyword arguments.

    The overrides are the user's: they are checked against the constructor's signature first
    (:func:`check_method_kwargs`), so a misspelt or mistyped argument is a :class:`MethodArgumentError`
    listing the accepted ones rather than a ``TypeError`` from deep inside the constructor.
    """
    spec = get_spec(name)
    check_method_kwargs(name, overrides)
    cls = method_class(name)
    gen = cls(**{**spec.kwargs, **overrides})
    gen.name = name
    return gen


# Builtin methods. Ablations are entries of one class with different flags.
_BUILTIN = [
    MethodSpec("exo-copy", "baselines.exo_copy:ExoCopy",
               "Copies the exo camera whose viewing direction is closest to the ego camera's, resized."),
    MethodSpec("mean-colour", "baselines.mean_colour:MeanColour",
               "Trivial floor: every frame one flat colour, the mean colour of the clip's exo videos."),
    MethodSpec("mean-exo-frame", "baselines.mean_exo_frame:MeanExoFrame",
               "Trivial floor: the closest exo view's time-averaged frame, resized like exo-copy, as a still."),
    MethodSpec("first-frame-still", "baselines.first_frame_still:FirstFrameStill",
               "Trivial floor of the first-frame track: the given true first ego frame, held still."),
    MethodSpec("first-frame-rotate", "baselines.first_frame_rotate:FirstFrameRotate",
               "First-frame track: the given first ego frame warped by the ego camera's rotation since frame 0."),
    MethodSpec("reproject", "baselines.reproject:Reproject",
               "Forward-warps exo pixels into the ego camera with (oracle) depth, z-buffered, holes filled."),
    MethodSpec("from-folder", "baselines.from_folder:FromFolder",
               "Scores videos produced elsewhere: reads <root>/<clip_id>.mp4 (pass --method-arg root=DIR)."),
    MethodSpec("exo2egosyn", "exo2egosyn.generator:Exo2EgoSynGenerator",
               "Exo2EgoSyn on WAN 2.2 TI2V: EgoExo-Align + MultiExoCon + PoseInj (Plücker relative poses).",
               {"use_align": True, "use_multiexocon": True, "use_poseinj": True}),
    MethodSpec("exo2egosyn-no-align", "exo2egosyn.generator:Exo2EgoSynGenerator",
               "Exo2EgoSyn ablation without EgoExo-Align (first frame = closest exo view, resized).",
               {"use_align": False, "use_multiexocon": True, "use_poseinj": True}),
    MethodSpec("exo2egosyn-no-multiexocon", "exo2egosyn.generator:Exo2EgoSynGenerator",
               "Exo2EgoSyn ablation without MultiExoCon (no multi-view exo video conditioning).",
               {"use_align": True, "use_multiexocon": False, "use_poseinj": True}),
    MethodSpec("exo2egosyn-no-poseinj", "exo2egosyn.generator:Exo2EgoSynGenerator",
               "Exo2EgoSyn ablation without PoseInj (no relative-pose Plücker injection).",
               {"use_align": True, "use_multiexocon": True, "use_poseinj": False}),
    MethodSpec("wan2.2-ti2v", "exo2egosyn.generator:WanTI2VGenerator",
               "Vanilla WAN 2.2 TI2V conditioned on the text and the closest exo view's first frame, resized."),
]
for _spec in _BUILTIN:
    register(_spec)
