"""The command line end to end on a tiny real dataset, and every kind of bad input the runner must survive."""

import json
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest

from benchmark import registry
from benchmark.cli import main
from benchmark.results import SCHEMA_VERSION
from benchmark.video_io import read_video


def run_cli(*args):
    return main([str(a) for a in args])


def test_run_writes_videos_per_clip_scores_and_results(tiny_synth, tmp_path, capsys):
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path, "--no-progress") == 0
    out = tmp_path / "synth" / "test" / "exo-copy"
    assert sorted(p.name for p in (out / "videos").iterdir()) == [f"synth-test-000{i}.mp4" for i in range(3)]
    per_clip = pd.read_csv(out / "per_clip.csv", dtype={"clip_id": str})
    assert list(per_clip.columns[:4]) == ["clip_id", "category", "psnr", "ssim"] and len(per_clip) == 3
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == SCHEMA_VERSION
    assert results["dataset"]["n_clips"] == 3 and len(results["dataset"]["identity"]) == 64
    assert results["counts"]["generated"] == 3 and results["counts"]["failed"] == 0
    assert results["metrics"]["psnr"]["mean"] == pytest.approx(per_clip["psnr"].mean())
    assert "unavailable" in results["metrics"]["lpips"] or "mean" in results["metrics"]["lpips"]
    assert "psnr" in capsys.readouterr().out


def test_rerun_reuses_finished_clips_and_gives_identical_numbers(tiny_synth, tmp_path):
    args = ("run", "--method", "reproject", "--root", tiny_synth, "--out", tmp_path, "--no-progress", "--limit", 2)
    assert run_cli(*args) == 0
    out = tmp_path / "synth" / "test" / "reproject"
    first = json.loads((out / "results.json").read_text())
    (out / "videos" / "synth-test-0001.mp4").unlink()
    assert run_cli(*args) == 0
    second = json.loads((out / "results.json").read_text())
    assert (second["counts"]["generated"], second["counts"]["reused"]) == (1, 1)
    assert second["metrics"] == first["metrics"]


def test_leaderboard_ranks_runs_from_result_files(tiny_synth, tmp_path, capsys):
    for method in ("exo-copy", "reproject"):
        assert run_cli("run", "--method", method, "--root", tiny_synth, "--out", tmp_path, "--no-progress") == 0
    capsys.readouterr()
    assert run_cli("leaderboard", "--root", tmp_path) == 0
    table = capsys.readouterr().out
    assert table.index("reproject") < table.index("exo-copy")  # reproject has the higher PSNR


def test_from_folder_scores_videos_made_elsewhere_exactly_like_the_run(tiny_synth, tmp_path):
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path / "a", "--no-progress") == 0
    videos = tmp_path / "a" / "synth" / "test" / "exo-copy" / "videos"
    assert run_cli("run", "--method", "from-folder", "--method-arg", f"root={videos}", "--name", "copied",
                   "--root", tiny_synth, "--out", tmp_path / "b", "--no-progress") == 0
    a = pd.read_csv(tmp_path / "a" / "synth" / "test" / "exo-copy" / "per_clip.csv")
    b = pd.read_csv(tmp_path / "b" / "synth" / "test" / "copied" / "per_clip.csv")
    pd.testing.assert_frame_equal(a, b)


def test_list_shows_every_method(capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    for name in registry.available():
        assert name in out


def test_data_show_writes_a_picture(tiny_synth, tmp_path):
    png = tmp_path / "clip.png"
    assert run_cli("data", "show", "synth-test-0001", "--root", tiny_synth, "--out", png) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- bad input ---------------------------------------------------------------------------------------


def test_unknown_method_is_a_one_line_error(tiny_synth, tmp_path, capsys):
    assert run_cli("run", "--method", "reprojekt", "--root", tiny_synth, "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert "unknown method 'reprojekt'" in err and "reproject" in err


def test_missing_dataset_path_names_the_path_and_how_to_build(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert run_cli("run", "--method", "exo-copy", "--root", missing, "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "python -m benchmark data build synth" in err


def test_corrupt_and_short_videos_fail_only_their_clip(tiny_synth, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_synth, data)
    (data / "videos" / "test" / "synth-test-0000" / "ego.mp4").write_bytes(b"garbage" * 100)
    short = data / "videos" / "test" / "synth-test-0002" / "exo_cam02.mp4"
    from benchmark.video_io import write_video

    write_video(short, read_video(short)[:4])
    assert run_cli("run", "--method", "exo-copy", "--root", data, "--out", tmp_path / "runs", "--no-progress") == 1
    err = capsys.readouterr().err
    assert "synth-test-0000" in err and "ego.mp4" in err
    assert "synth-test-0002" in err and "exo_cam02.mp4" in err and "expected 9 frames" in err
    out = tmp_path / "runs" / "synth" / "test" / "exo-copy"
    results = json.loads((out / "results.json").read_text())
    assert results["counts"]["failed"] == 2 and results["metrics"]["psnr"]["n"] == 1
    assert {f["clip_id"] for f in results["counts"]["failed_clips"]} == {"synth-test-0000", "synth-test-0002"}
    assert (out / "videos" / "synth-test-0001.mp4").exists()


BAD_GENERATORS = textwrap.dedent('''
    import numpy as np
    from benchmark.generator import Generator

    class Bad(Generator):
        def __init__(self, kind):
            self.kind = kind

        def generate(self, inputs, *, seed):
            shape = (inputs.num_frames, inputs.ego_height, inputs.ego_width, 3)
            if inputs.clip_id.endswith("0"):  # the first clip is fine: it must survive the others
                return np.zeros(shape, np.uint8)
            if self.kind == "shape":
                return np.zeros((inputs.num_frames - 1,) + shape[1:], np.uint8)
            if self.kind == "dtype":
                return np.zeros(shape, np.float32)
            if self.kind == "nan":
                return np.full(shape, np.nan, np.float32)
            raise RuntimeError("the model crashed")
''')


@pytest.mark.parametrize("kind, expected", [
    ("shape", r"expected shape (T, H, W, 3) = (9, 32, 32, 3), got (8, 32, 32, 3)"),
    ("dtype", "expected dtype uint8"),
    ("nan", "NaN"),
    ("raise", "RuntimeError: the model crashed"),
])
def test_bad_generator_output_fails_its_clip_and_keeps_the_others(tiny_synth, tmp_path, monkeypatch, capsys,
                                                                  kind, expected):
    (tmp_path / "bad_generators.py").write_text(BAD_GENERATORS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(registry.MethodSpec(f"bad-{kind}", "bad_generators:Bad", "test", {"kind": kind}))
    code = run_cli("run", "--method", f"bad-{kind}", "--root", tiny_synth, "--out", tmp_path / "runs", "--no-progress")
    assert code == 1
    err = capsys.readouterr().err
    assert expected in err and "synth-test-0001" in err and f"bad-{kind}" in err or expected in err
    out = tmp_path / "runs" / "synth" / "test" / f"bad-{kind}"
    assert (out / "videos" / "synth-test-0000.mp4").exists()
    assert not (out / "videos" / "synth-test-0001.mp4").exists()
    results = json.loads((out / "results.json").read_text())
    assert results["counts"]["failed"] == 2 and results["metrics"]["psnr"]["n"] == 1
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert all(expected in e["error"] for e in errors)


def test_same_seed_gives_the_same_videos_and_numbers(tiny_synth, tmp_path):
    for name in ("a", "b"):
        assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path / name,
                       "--no-progress", "--seed", 3) == 0
    ra = json.loads((tmp_path / "a/synth/test/exo-copy/results.json").read_text())
    rb = json.loads((tmp_path / "b/synth/test/exo-copy/results.json").read_text())
    assert ra["metrics"] == rb["metrics"] and ra["seed"] == 3
    va = read_video(tmp_path / "a/synth/test/exo-copy/videos/synth-test-0001.mp4")
    np.testing.assert_array_equal(va, read_video(tmp_path / "b/synth/test/exo-copy/videos/synth-test-0001.mp4"))


def test_run_name_is_the_table_row_name(tiny_synth, tmp_path, capsys):
    assert run_cli("run", "--method", "exo-copy", "--name", "my-method", "--root", tiny_synth, "--out", tmp_path,
                   "--no-progress") == 0
    results = json.loads((tmp_path / "synth/test/my-method/results.json").read_text())
    assert results["method"]["name"] == "my-method" and results["method"]["registered_as"] == "exo-copy"
    capsys.readouterr()
    run_cli("leaderboard", "--root", tmp_path)
    assert "my-method" in capsys.readouterr().out
