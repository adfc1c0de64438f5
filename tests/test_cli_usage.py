"""How the command line treats mistakes: users' mistakes are one line and exit 2, our bugs keep their traceback.

Also: `data list` / `data show` on unknown clip ids, `--help` describing every option, the short note for metrics
that cannot be computed here, and `--no-progress` silencing the libraries' weights-loading bars.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmark import registry
from benchmark.cli import build_parser, library_progress_bars_off, main
from benchmark.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
TINY_WAN = REPO / "exo2egosyn" / "checkpoints" / "tiny-wan"


def run_cli(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def two_splits(tmp_path_factory):
    """A tiny SynthEgoExo folder with a val and a test split (one clip each)."""
    from benchmark.data import build_synth

    root = tmp_path_factory.mktemp("two-splits") / "synth"
    return build_synth(root, splits=("val", "test"), seed=0, n_clips={"val": 1, "test": 1}, progress=False,
                       num_frames=9, ego_size=(32, 32), exo_size=(32, 48))


# ---- users' mistakes: exit 2, one line ---------------------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (("run", "--method", "reproject", "--method-arg", "strenght=0.5"),
     ["unknown --method-arg 'strenght'", "supersample (an integer, default 3)"]),
    (("run", "--method", "reproject", "--method-arg", "supersampel=2"), ["did you mean 'supersample'?"]),
    (("run", "--method", "reproject", "--method-arg", "supersample=abc"),
     ["--method-arg supersample=abc", "expects an integer for 'supersample'", "got 'abc'"]),
    (("run", "--method", "reproject", "--metrics", "psnr,lpis"), ["unknown metric 'lpis'", "did you mean 'lpips'"]),
    (("run", "--method", "reprojekt"), ["unknown method 'reprojekt'", "reproject"]),
    (("run", "--method", "exo-copy", "--dataset", "egoexo4d"),
     ["dataset 'egoexo4d' not found", "no builder for 'egoexo4d'", "--root DIR", "manifest.json"]),
    (("run", "--method", "exo-copy", "--dataset", "exoego4d"),
     ["dataset 'exoego4d' not found", "data build exoego4d --root EGOEXO_DIR --out"]),
    (("data", "build", "synth", "--out", "unused", "--n-clips", "test=some"), ["--n-clips expects SPLIT=N", "'test=some'"]),
    (("data", "build", "synth", "--out", "unused", "--splits", "test,tset"), ["--splits 'test,tset'", "train, val, test"]),
    (("ablation", "--methods", "reproject,exo-cpy"), ["unknown method 'exo-cpy'", "exo-copy"]),
    (("ablation", "--methods", "reproject", "--seeds", "0,one"), ["--seeds expects comma-separated integers"]),
])
def test_users_mistakes_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, expected):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path / "cache"))
    assert run_cli(*args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for text in expected:
        assert text in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "unused").exists()  # nothing was done


def test_missing_synth_folder_names_the_commands_that_exist(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert run_cli("run", "--method", "exo-copy", "--root", missing) == 2
    err = capsys.readouterr().err
    assert f"`python -m benchmark data build synth --out {missing}`" in err and f"`--root {missing}`" in err
    assert "root=DIR" not in err


def test_bad_option_values_are_argparse_usage_errors(capsys):
    for args in (["run", "--method", "exo-copy", "--limit", "0"], ["run", "--method", "exo-copy", "--n-boot", "x"]):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        assert "error: argument" in capsys.readouterr().err


# Mistakes found by the library (dataset loader, dataset builder, a method's constructor), not by the parser:
# each is a UsageError, so the user gets one line naming the argument and exit 2, and nothing is written.
# {root}: a built dataset folder; {tmp}: this test's folder; {ckpt}: a checkpoint folder lacking poseinj/.
LIBRARY_MISTAKES = [
    (("run", "--method", "exo2egosyn", "--method-arg", "num_inference_steps=abc", "--limit", "1"),
     ["--method-arg num_inference_steps=abc", "expects an integer (or null) for 'num_inference_steps'", "got 'abc'"]),
    (("run", "--method", "exo2egosyn", "--method-arg", "num_inference_steps=0"),
     ["num_inference_steps (--method-arg num_inference_steps=N, denoising steps) must be an integer >= 1"]),
    (("run", "--method", "exo2egosyn", "--method-arg", "checkpoint=/nope"),
     ["checkpoint (--method-arg checkpoint=DIR): '/nope' does not exist"]),
    (("run", "--method", "exo2egosyn", "--method-arg", "checkpoint={ckpt}"),
     ["checkpoint (--method-arg checkpoint=DIR) has no poseinj module but use_poseinj=True",
      "--method-arg use_poseinj=false"]),
    (("run", "--method", "exo2egosyn", "--method-arg", "offload=gpu"),
     ["offload (--method-arg offload=MODE) must be 'model'", "got 'gpu'"]),
    (("run", "--method", "wan2.2-ti2v", "--method-arg", "dtype=float8"),
     ["dtype (--method-arg dtype=NAME) must be one of float32, float16, bfloat16, float64", "got 'float8'"]),
    (("run", "--method", "reproject", "--method-arg", "supersample=0"),
     ["reproject: supersample (--method-arg supersample=N) must be an integer >= 1", "got 0"]),
    (("run", "--method", "reproject", "--method-arg", "near=-1"),
     ["reproject: near (--method-arg near=METRES) must be a positive finite distance", "got -1.0"]),
    (("run", "--method", "exo-copy", "--split", "tset"),
     ["split 'tset' (--split) is not in dataset 'synth' at {root}", "the splits there are: test",
      "did you mean 'test'?"]),
    (("data", "list", "--split", "vall"),  # no --root: the cached synth, where nothing is built for it
     ["unknown split 'vall' (--split) of dataset 'synth'", "train, val, test", "did you mean 'val'?"]),
    (("data", "list", "--split", "val"),
     ["split 'val' (--split) is not in dataset 'synth' at {root}",
      "build it with `python -m benchmark data build synth --out {root} --splits val`"]),
    (("data", "build", "synth", "--out", "{root}", "--splits", "val", "--seed", "1"),
     ["--out {root} holds SynthEgoExo built with other settings", "seed 0 there, 1 asked for",
      "num_frames 9 there, 17 asked for"]),
    (("data", "build", "synth", "--out", "{tmp}", "--splits", "val", "--n-clips", "val=1"),
     ["--out {tmp}: this folder is not empty and holds no manifest.json", "nothing was built"]),
]


@pytest.mark.parametrize("args, expected", LIBRARY_MISTAKES, ids=[" ".join(a[:5]) for a, _ in LIBRARY_MISTAKES])
def test_mistakes_found_by_the_library_are_one_line_and_exit_2(tiny_synth, tmp_path, monkeypatch, capsys, args,
                                                               expected):
    cache = tmp_path.parent / f"{tmp_path.name}-cache"
    monkeypatch.setenv("EXOEGO_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    for module in ("align", "multiexocon"):  # what a training run without PoseInj writes
        (tmp_path / "ckpt" / module).mkdir(parents=True)
    fill = {"root": tiny_synth, "tmp": tmp_path, "ckpt": tmp_path / "ckpt"}
    args = [a.format(**fill) for a in args]
    if args[0] == "run" or args[:2] == ["data", "list"] and "vall" not in args:
        args += ["--root", str(tiny_synth)]
    if args[0] == "run":
        args += ["--out", str(tmp_path / "runs"), "--no-progress"]
    manifest = (tiny_synth / "manifest.json").read_bytes()
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for text in expected:
        assert text.format(**fill) in err
    assert not (tmp_path / "runs").exists() and not cache.exists()  # no run folder, nothing built in the cache
    assert (tiny_synth / "manifest.json").read_bytes() == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


BUGGY = textwrap.dedent('''
    from benchmark.generator import Generator
    from benchmark.registry import MethodSpec

    class Buggy(Generator):
        def __init__(self):
            raise ValueError("a bug of ours, deep inside")

        def generate(self, inputs, *, seed):
            raise AssertionError("never reached")

    SPEC = MethodSpec("buggy", "buggy_plugin:Buggy", "raises a plain ValueError when built")
''')


def test_a_plain_value_error_from_our_code_is_not_turned_into_a_usage_error(tiny_synth, tmp_path, monkeypatch):
    (tmp_path / "buggy_plugin.py").write_text(BUGGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(registry.MethodSpec("buggy", "buggy_plugin:Buggy", "test"))
    with pytest.raises(ValueError, match="a bug of ours") as info:
        run_cli("run", "--method", "buggy", "--root", tiny_synth, "--out", tmp_path / "runs", "--no-progress")
    assert not isinstance(info.value, UsageError)


def test_exit_status_and_traceback_in_a_real_process(tiny_synth, tmp_path):
    """`python -m benchmark`: a usage error is one line and status 2; a bug is a traceback and status 1."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "broken_plugin.py").write_text(
        "from benchmark.registry import MethodSpec\n"
        "SPEC = MethodSpec('broken', 'broken_impl:Broken', 'its module raises a plain ValueError on import')\n")
    (plugin / "broken_impl.py").write_text("raise ValueError('a bug, deep inside')\n")
    dist = plugin / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nbroken = broken_plugin:SPEC\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(REPO)])}

    def bench(*args):
        return subprocess.run([sys.executable, "-m", "benchmark", "run", *args, "--root", str(tiny_synth),
                               "--out", str(tmp_path / "runs"), "--no-progress"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    usage = bench("--method", "brokn")
    assert usage.returncode == 2, usage.stderr
    assert usage.stderr.startswith("error: unknown method 'brokn'. Did you mean broken?")
    assert usage.stderr.count("\n") == 1
    bug = bench("--method", "broken")
    assert bug.returncode == 1
    assert "Traceback (most recent call last)" in bug.stderr and "ValueError: a bug, deep inside" in bug.stderr


# ---- data list / data show ---------------------------------------------------------------------------------


def test_data_list_shows_every_clip_with_category_and_frames(tiny_synth, capsys):
    from benchmark.data import load_split

    assert run_cli("data", "list", "--root", tiny_synth) == 0
    out = capsys.readouterr().out
    clips = load_split("synth", "test", root=tiny_synth)
    assert f"synth/test at {tiny_synth}: 3 clips" in out
    for clip_id, category in clips.categories().items():
        line = next(ln for ln in out.splitlines() if ln.startswith(clip_id))
        assert line.split() == [clip_id, category, "9", "32x32"]


def test_data_show_of_an_unknown_id_names_it_with_close_matches_and_the_list_command(tiny_synth, capsys):
    assert run_cli("data", "show", "synth-test-001", "--root", tiny_synth) == 2
    err = capsys.readouterr().err
    assert "clip 'synth-test-001' is not in synth/test" in err and "close matches: synth-test-0001" in err
    assert f"`python -m benchmark data list --dataset synth --split test --root {tiny_synth}`" in err


def test_data_show_of_a_clip_of_another_split_says_which(two_splits, capsys):
    assert run_cli("data", "show", "synth-val-0000", "--root", two_splits) == 2
    assert "it is in split 'val': pass --split val" in capsys.readouterr().err
    assert run_cli("data", "show", "synth-val-0000", "--root", two_splits, "--split", "val", "--out",
                   two_splits.parent / "val.png") == 0


def test_data_show_writes_under_runs_show_by_default_and_says_where(tiny_synth, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("data", "show", "synth-test-0002", "--root", tiny_synth) == 0
    expected = Path("runs") / "show" / "synth" / "test" / "synth-test-0002.png"
    assert (tmp_path / expected).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]  # nothing else in the current folder
    assert capsys.readouterr().out.strip() == f"wrote {expected}"


# ---- --help ------------------------------------------------------------------------------------------------


def _sub_commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,), sub
                yield from _sub_commands(sub, prefix + (name,))


def test_every_option_of_every_command_is_described():
    undescribed = [(" ".join(cmd), a.dest) for cmd, sub in _sub_commands(build_parser()) for a in sub._actions
                   if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert undescribed == []


def test_help_shows_defaults_and_the_metric_names_that_exist(capsys):
    from benchmark.metrics.suite import METRICS

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # unwrap
    assert "out of: " + ", ".join(METRICS) in text
    for default in ("(default: synth)", "(default: test)", "(default: runs)", "(default: 0)", "(default: 1000)",
                    "(default: psnr,ssim,lpips,fvd,clip_i,ego_motion)", "(default: exo-only)", "(default: all)"):
        assert default in text
    assert "(default: None)" not in text and "(default: False)" not in text


# ---- the run summary ---------------------------------------------------------------------------------------


def test_summary_says_once_and_briefly_which_metrics_need_weights(tiny_synth, tmp_path, capsys, monkeypatch):
    from benchmark.metrics import weights

    monkeypatch.setenv("EXOEGO_I3D", str(tmp_path / "no-such-i3d.pt"))  # the user's I3D path, missing
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path, "--no-progress",
                   "--metrics", "psnr,lpips,fvd", "--n-boot", 50) == 0
    out = capsys.readouterr().out
    results = json.loads((tmp_path / "synth/test/exo-copy/results.json").read_text())
    assert results["metrics"]["fvd"]["unavailable"] == weights.check("fvd")[1]  # the full reason is kept there
    assert out.count("`python -m benchmark weights`") == 1
    for metric in results["metrics"].values():
        if "unavailable" in metric:
            assert metric["unavailable"] not in out
    note = next(ln for ln in out.splitlines() if "python -m benchmark weights" in ln)
    assert "fvd" in note and len(note) < 120


# ---- progress bars of the libraries ------------------------------------------------------------------------


def test_library_bars_are_off_inside_the_block_and_restored_after():
    import transformers.utils.logging as tl

    try:
        tl.enable_progress_bar()
        with library_progress_bars_off():
            assert not tl.is_progress_bar_enabled()
        assert tl.is_progress_bar_enabled()
        tl.disable_progress_bar()  # a user's own choice survives the block
        with library_progress_bars_off():
            pass
        assert not tl.is_progress_bar_enabled()
    finally:
        tl.enable_progress_bar()
    assert not any(type(f).__name__ == "_AfterImport" for f in sys.meta_path)


LAZY = textwrap.dedent('''
    import sys
    from benchmark.cli import library_progress_bars_off

    assert "transformers" not in sys.modules
    with library_progress_bars_off():
        import transformers.utils.logging as tl  # first imported inside the block
        assert not tl.is_progress_bar_enabled()
    assert tl.is_progress_bar_enabled() and tl.__loader__ is tl.__spec__.loader
    assert type(tl.__loader__).__name__ != "_ThenCall"
    assert not any(type(f).__name__ == "_AfterImport" for f in sys.meta_path)
    print("ok")
''')


def test_a_library_imported_inside_the_block_is_silenced_as_it_is_imported():
    proc = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


LOAD_TWICE = textwrap.dedent('''
    import sys
    from benchmark.cli import library_progress_bars_off

    def load():
        from transformers import UMT5EncoderModel
        UMT5EncoderModel.from_pretrained(sys.argv[1], subfolder="text_encoder")

    assert "transformers" not in sys.modules
    with library_progress_bars_off():
        load()  # imports transformers inside the block: its switch is turned off as it is imported
    print("=== outside ===", file=sys.stderr, flush=True)
    load()
''')


@pytest.mark.slow
@pytest.mark.skipif(not (TINY_WAN / "text_encoder").is_dir(), reason="the shipped tiny backbone is not present")
def test_weights_loading_bar_is_silenced_only_inside_the_block(tmp_path):
    proc = subprocess.run([sys.executable, "-c", LOAD_TWICE, str(TINY_WAN)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    inside, outside = proc.stderr.split("=== outside ===")
    assert "Loading weights" not in inside
    assert "Loading weights" in outside  # the negative control: the bar is real, and back after the block


@pytest.mark.slow
def test_no_progress_run_of_exo2egosyn_prints_no_bar(two_splits, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmark", "run", "--method", "exo2egosyn", "--limit", "1",
                           "--root", two_splits, "--out", tmp_path, "--metrics", "psnr", "--no-progress"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Loading" not in proc.stderr and "it/s" not in proc.stderr and "%|" not in proc.stderr, proc.stderr


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(tiny_synth, monkeypatch):
    """`python -m benchmark data list | head -1`: writing to a closed pipe ends the command quietly, status 0."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone, as `head` is after its line: every write raises BrokenPipeError
    stdout = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr("sys.stdout", stdout)
    try:
        assert run_cli("data", "list", "--root", tiny_synth) == 0
    finally:
        stdout.close()
