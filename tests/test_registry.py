"""The method registry: lazy entries, clear errors, entry points, ablations as flags."""

import sys

import pytest

from benchmark import registry
from benchmark.generator import Generator


def test_list_shows_builtin_methods_with_descriptions():
    methods = registry.available()
    for name in ("exo-copy", "reproject", "from-folder"):
        assert name in methods and methods[name].description


def test_listing_methods_does_not_import_them():
    sys.modules.pop("baselines.reproject", None)
    registry.available()
    assert "baselines.reproject" not in sys.modules


def test_unknown_method_error_lists_close_matches():
    with pytest.raises(registry.UnknownMethodError) as info:
        registry.get_spec("exo-cpy")
    assert "exo-copy" in str(info.value) and "unknown method 'exo-cpy'" in str(info.value)


def test_build_returns_a_named_generator_with_overridden_kwargs():
    gen = registry.build("reproject", supersample=1)
    assert isinstance(gen, Generator)
    assert gen.name == "reproject" and gen.supersample == 1


def test_register_rejects_duplicates_and_bad_targets():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.MethodSpec("exo-copy", "baselines.exo_copy:ExoCopy", "dup"))
    with pytest.raises(ValueError, match="module:Class"):
        registry.register(registry.MethodSpec("bad-target", "baselines.exo_copy.ExoCopy", "no colon"))


def test_entry_point_methods_are_registered(tmp_path, monkeypatch):
    """An outside package adds a method through the entry-point group, without touching this project."""
    pkg = tmp_path / "my_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from benchmark.registry import MethodSpec\n"
        "SPEC = MethodSpec('plugin-copy', 'baselines.exo_copy:ExoCopy', 'exo-copy under another name')\n")
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nplugin = my_plugin:SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    methods = registry.available()
    assert "plugin-copy" in methods
    assert methods["plugin-copy"].source.startswith("entry point")
    assert registry.build("plugin-copy").name == "plugin-copy"
