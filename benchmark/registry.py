"""Registry of methods: name -> lazy ``"module:Class"`` plus keyword arguments.

Nothing heavy is imported until a method is asked for, so ``python -m benchmark list`` stays fast and a
broken optional method cannot break the others. Outside packages add methods through the entry-point
group ``exoego_benchmark.methods``; each entry point must resolve to a ``MethodSpec`` (or a list of them)::

    # pyproject.toml of a third-party package
    [project.entry-points."exoego_benchmark.methods"]
    mymethod = "my_package.bench:SPEC"
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata

ENTRY_POINT_GROUP = "exoego_benchmark.methods"


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: ``target`` is ``"module:Class"``; ``kwargs`` are passed to the constructor."""

    name: str
    target: str
    description: str
    kwargs: dict = field(default_factory=dict)
    source: str = "builtin"


class UnknownMethodError(KeyError):
    def __str__(self):  # KeyError quotes its message; we want a readable sentence
        return self.args[0]


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
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not hide the others
            import warnings

            warnings.warn(f"could not load method entry point {ep.name!r} ({ep.value}): {exc}")
            continue
        specs = obj if isinstance(obj, (list, tuple)) else [obj]
        for spec in specs:
            if not isinstance(spec, MethodSpec):
                import warnings

                warnings.warn(f"entry point {ep.name!r} gave {type(spec).__name__}, expected MethodSpec")
                continue
            if spec.name not in _REGISTRY:
                register(MethodSpec(spec.name, spec.target, spec.description, dict(spec.kwargs),
                                    source=f"entry point {ep.value}"))


def available() -> dict:
    """All registered methods, builtin and from entry points, by name."""
    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get_spec(name: str) -> MethodSpec:
    methods = available()
    if name not in methods:
        import difflib

        close = difflib.get_close_matches(name, methods, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownMethodError(
            f"unknown method {name!r}.{hint} Registered methods: {', '.join(methods)} "
            f"(see `python -m benchmark list`)."
        )
    return methods[name]


def build(name: str, **overrides):
    """Instantiate the method ``name``; ``overrides`` update the registered keyword arguments."""
    spec = get_spec(name)
    module_name, _, class_name = spec.target.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    kwargs = {**spec.kwargs, **overrides}
    gen = cls(**kwargs)
    gen.name = name
    return gen


# Builtin methods. Ablations are entries of one class with different flags.
_BUILTIN = [
    MethodSpec("exo-copy", "baselines.exo_copy:ExoCopy",
               "Copies the exo camera whose viewing direction is closest to the ego camera's, resized."),
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
