"""The method registry: lazy entries, clear errors, entry points, ablations as flags."""

import json
import re
import shlex
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

from benchmark import registry
from benchmark.errors import UsageError
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
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading the same entry point again is not a clash
        assert registry.available()["plugin-copy"] == methods["plugin-copy"]


def test_unknown_method_error_is_a_usage_error_and_still_a_key_error():
    with pytest.raises(UsageError):
        registry.get_spec("nope")
    with pytest.raises(KeyError):
        registry.get_spec("nope")


# ---- constructor arguments (--method-arg) ------------------------------------------------------------------


def test_misspelt_argument_lists_the_accepted_ones_with_a_did_you_mean():
    with pytest.raises(registry.MethodArgumentError) as info:
        registry.build("reproject", supersampel=2)
    message = str(info.value)
    assert "'supersampel'" in message and "did you mean 'supersample'" in message
    assert "supersample (an integer, default 3)" in message and "near (a number, default 0.2)" in message


def test_method_args_are_parsed_as_the_types_the_constructor_expects():
    assert registry.parse_method_args("reproject", ["supersample=2", "fill_holes=false", "near=0.5"]) == {
        "supersample": 2, "fill_holes": False, "near": 0.5}
    # text arguments are taken verbatim, even when they would parse as JSON
    assert registry.parse_method_args("from-folder", ["root=123", "resize=True"]) == {"root": "123", "resize": True}
    assert registry.parse_method_args("from-folder", ["root=null"]) == {"root": None}
    # the value may itself contain '='
    assert registry.parse_method_args("exo2egosyn", ["negative_prompt=a=b"]) == {"negative_prompt": "a=b"}


@pytest.mark.parametrize("pair, expected", [
    ("supersample=abc", "expects an integer for 'supersample' (default 3), got 'abc'"),
    ("supersample=2.5", "expects an integer for 'supersample'"),
    ("near=far", "expects a number for 'near' (default 0.2), got 'far'"),
    ("fill_holes=maybe", "expects true or false for 'fill_holes'"),
    ("supersample", "expects KEY=VALUE"),
])
def test_a_value_that_does_not_parse_names_the_argument_the_value_and_the_type(pair, expected):
    with pytest.raises(registry.MethodArgumentError) as info:
        registry.parse_method_args("reproject", [pair])
    assert expected in str(info.value)


def test_python_values_of_the_wrong_type_are_rejected_before_the_constructor_runs():
    with pytest.raises(registry.MethodArgumentError, match="expects an integer for argument 'supersample'"):
        registry.build("reproject", supersample="3")
    assert registry.build("reproject", near=1).near == 1.0  # an int is a fine number


def test_a_method_without_arguments_says_so():
    with pytest.raises(registry.MethodArgumentError, match="method 'exo-copy' takes no arguments"):
        registry.parse_method_args("exo-copy", ["strength=1"])


def _module(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


GENERATORS = '''
import numpy as np
from benchmark.generator import Generator

class Anything(Generator):
    def __init__(self, scale=1, **options):
        self.scale, self.options = scale, options

    def generate(self, inputs, *, seed):
        return np.zeros((inputs.num_frames, inputs.ego_height, inputs.ego_width, 3), np.uint8)

class NeedsKind(Anything):
    def __init__(self, kind: str):
        self.kind = kind
'''


def test_a_constructor_taking_kwargs_accepts_any_argument(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "reg_generators", GENERATORS)
    registry.register(registry.MethodSpec("anything", "reg_generators:Anything", "test"))
    assert registry.parse_method_args("anything", ["whatever=[1, 2]", "scale=2"]) == {"whatever": [1, 2], "scale": 2}
    assert registry.build("anything", whatever=3).options == {"whatever": 3}
    with pytest.raises(registry.MethodArgumentError, match="'scale'"):
        registry.parse_method_args("anything", ["scale=big"])  # a known argument is still type-checked


def test_a_required_argument_nobody_gives_is_named(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "reg_generators", GENERATORS)
    registry.register(registry.MethodSpec("needs-kind", "reg_generators:NeedsKind", "test"))
    with pytest.raises(registry.MethodArgumentError, match="needs --method-arg kind=VALUE"):
        registry.build("needs-kind")
    assert registry.build("needs-kind", kind="a").kind == "a"


def test_real_generators_accept_their_registered_arguments():
    for name, spec in registry.available().items():
        registry.check_method_kwargs(name, dict(spec.kwargs))


# ---- entry points ------------------------------------------------------------------------------------------


def _install_plugin(tmp_path, monkeypatch, name, init_source, entry_points):
    """A real (unpacked) distribution on sys.path: a package plus its dist-info with entry_points.txt."""
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(init_source)
    dist = tmp_path / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{entry_points}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_an_entry_point_whose_name_clashes_with_a_builtin_is_ignored_with_a_warning(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "clash_plugin",
                    "from benchmark.registry import MethodSpec\n"
                    "SPEC = MethodSpec('reproject', 'baselines.exo_copy:ExoCopy', 'not the real reproject')\n",
                    "mine = clash_plugin:SPEC")
    with pytest.warns(UserWarning) as caught:
        methods = registry.available()
    messages = [str(w.message) for w in caught]
    assert any("'mine'" in m and "clash_plugin:SPEC" in m and "'reproject'" in m and "built-in" in m
               and "baselines.reproject:Reproject" in m for m in messages), messages
    assert methods["reproject"].target == "baselines.reproject:Reproject"


def test_a_plugin_with_a_bad_target_is_skipped_with_a_warning_and_the_others_load(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "half_plugin",
                    "from benchmark.registry import MethodSpec\n"
                    "BAD = MethodSpec('bad-target', 'no_colon_here', 'x')\n"
                    "GOOD = MethodSpec('good-one', 'baselines.exo_copy:ExoCopy', 'x')\n",
                    "bad = half_plugin:BAD\ngood = half_plugin:GOOD")
    with pytest.warns(UserWarning, match="module:Class"):
        methods = registry.available()
    assert "good-one" in methods and "bad-target" not in methods


# ---- docs/adding-a-baseline.md, followed literally ---------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-baseline.md"


def _doc_blocks(section: str) -> list:
    """[(language, code)] of the fenced blocks in the doc's section whose heading starts with ``section``."""
    parts = re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]
    (part,) = [p for p in parts if p.startswith(section)]
    return re.findall(r"```(\w+)\n(.*?)```", part, flags=re.S)


def _doc_code(section: str, language: str) -> list:
    return [code for lang, code in _doc_blocks(section) if lang == language]


def _doc_commands(section: str) -> list:
    """The ``python -m benchmark ...`` lines of a section's bash blocks, as argument lists (comments dropped)."""
    lines = [ln.split(" #")[0] for code in _doc_code(section, "bash") for ln in code.splitlines()]
    return [shlex.split(ln)[3:] for ln in lines if ln.startswith("python -m benchmark ")]


@pytest.fixture(scope="module")
def doc_dataset(tmp_path_factory):
    """A tiny SynthEgoExo with the splits the doc's commands use (val: 1 clip, test: 2 clips)."""
    from benchmark.data import build_synth

    root = tmp_path_factory.mktemp("doc") / "synth"
    return build_synth(root, splits=("val", "test"), seed=0, n_clips={"val": 1, "test": 2}, progress=False,
                       num_frames=9, ego_size=(32, 32), exo_size=(32, 48))


@pytest.fixture
def newcomer(doc_dataset, tmp_path, monkeypatch):
    """A fresh working folder whose default synth cache holds the tiny dataset (so nothing big is built)."""
    from benchmark.data.loading import synth_default_root

    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path / "cache"))
    shutil.copytree(doc_dataset, synth_default_root())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return work


def test_every_command_named_in_the_doc_exists():
    from benchmark.cli import build_parser

    text = DOC.read_text()
    commands = re.findall(r"`(python -m benchmark [^`]*)`", text)
    commands += [" ".join(["python", "-m", "benchmark", *args]) for s in "0123" for args in _doc_commands(s)]
    assert len(commands) > 8
    for command in commands:
        build_parser().parse_args(shlex.split(command)[3:])  # exits (status 2) on an unknown command or option


def test_doc_reading_the_data_and_scoring_videos_made_elsewhere(newcomer, capsys):
    from benchmark.cli import main
    from benchmark.video_ops import resize_video

    for code in _doc_code("0.", "python"):
        exec(code, {})
    for args in _doc_commands("0."):
        assert main(args) == 0, args
    assert "synth-val-0000" in capsys.readouterr().out

    def my_method(inputs):  # the reader's own method
        view = inputs.exo_video[inputs.closest_exo_view()]
        return resize_video(view, inputs.ego_height, inputs.ego_width, crop=True)

    (write_my_videos,) = _doc_code("1.", "python")
    exec(write_my_videos, {"my_method": my_method})
    assert sorted(p.name for p in (newcomer / "my_videos").iterdir()) == ["synth-test-0000.mp4", "synth-test-0001.mp4"]
    for args in _doc_commands("1."):
        assert main(args) == 0, args
    results = json.loads((newcomer / "runs/synth/test/my-videos/results.json").read_text())
    assert results["counts"]["generated"] == 2 and results["counts"]["failed"] == 0


def test_doc_generator_in_this_repository(newcomer, monkeypatch, capsys):
    from benchmark.cli import main

    module_code, spec_line = _doc_code("2.", "python")
    module = types.ModuleType("baselines.my_method")
    exec(module_code, module.__dict__)
    monkeypatch.setitem(sys.modules, "baselines.my_method", module)
    registry.register(eval(spec_line.strip().rstrip(","), {"MethodSpec": registry.MethodSpec}))
    for args in _doc_commands("2."):
        assert main(args) == 0, args
    half = json.loads((newcomer / "runs/synth/test/my-method-0.5/results.json").read_text())
    assert half["method"]["config"]["strength"] == 0.5 and half["counts"]["failed"] == 0
    # what the doc promises for mistakes
    capsys.readouterr()
    assert main(["run", "--method", "my-method", "--method-arg", "strenght=0.5"]) == 2
    assert "did you mean 'strength'?" in capsys.readouterr().err
    assert main(["run", "--method", "my-method", "--method-arg", "strength=abc"]) == 2
    assert "expects a number for 'strength'" in capsys.readouterr().err


def test_doc_plugin_package_installs_and_runs(newcomer, tmp_path, monkeypatch, capsys):
    from benchmark.cli import main

    package = tmp_path / "my-package"
    (package / "my_package").mkdir(parents=True)
    (package / "my_package" / "__init__.py").write_text("")
    (package / "my_package" / "generator.py").write_text(_doc_code("2.", "python")[0])
    (bench,) = _doc_code("3.", "python")
    (package / "my_package" / "bench.py").write_text(bench)
    (pyproject,) = _doc_code("3.", "toml")
    (package / "pyproject.toml").write_text(pyproject)
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--quiet", "--target", str(site), str(package)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    try:
        assert main(["list"]) == 0
        assert "[entry point my_package.bench:SPEC]" in capsys.readouterr().out
        assert main(["run", "--method", "my-method", "--method-arg", "strength=0.9"]) == 0
    finally:
        for name in [m for m in sys.modules if m == "my_package" or m.startswith("my_package.")]:
            del sys.modules[name]
    assert json.loads((newcomer / "runs/synth/test/my-method/results.json").read_text())["counts"]["failed"] == 0
