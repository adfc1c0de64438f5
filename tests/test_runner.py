"""The runner's guarantees: sharded generation gives exactly the single-process numbers; seeds are per clip."""

import json

import pandas as pd
import pytest

from benchmark.runner import clip_seed, run


def test_clip_seed_is_stable_and_depends_on_seed_and_clip():
    assert clip_seed(0, "synth-test-0001") == clip_seed(0, "synth-test-0001")
    assert clip_seed(0, "synth-test-0001") != clip_seed(1, "synth-test-0001")
    assert clip_seed(0, "synth-test-0001") != clip_seed(0, "synth-test-0002")
    assert 0 <= clip_seed(123, "x") < 2**31


def test_two_shards_give_exactly_the_single_process_results(tiny_synth, tmp_path):
    single = run("exo-copy", root=tiny_synth, out=tmp_path / "single", progress=False)
    first = run("exo-copy", root=tiny_synth, out=tmp_path / "sharded", progress=False, shard=0, num_shards=2)
    assert first.results is None  # shard 1's clip is not done yet: nobody scores early
    second = run("exo-copy", root=tiny_synth, out=tmp_path / "sharded", progress=False, shard=1, num_shards=2)
    assert (first.generated, second.generated) == (2, 1)
    assert second.results["metrics"] == single.results["metrics"]
    assert second.results["counts"]["generated"] == 3 and second.results["counts"]["shards"] == 2
    a = pd.read_csv(tmp_path / "single/synth/test/exo-copy/per_clip.csv")
    b = pd.read_csv(tmp_path / "sharded/synth/test/exo-copy/per_clip.csv")
    pd.testing.assert_frame_equal(a, b)


def test_shard_is_read_from_the_launcher_environment(tiny_synth, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    report = run("exo-copy", root=tiny_synth, out=tmp_path, progress=False)
    videos = sorted(p.name for p in (tmp_path / "synth/test/exo-copy/videos").iterdir())
    assert videos == ["synth-test-0001.mp4"] and report.results is None


def test_results_record_how_each_number_was_made(tiny_synth, tmp_path):
    run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, seed=5)
    r = json.loads((tmp_path / "synth/test/exo-copy/results.json").read_text())
    assert r["seed"] == 5 and r["dataset"]["track"] == "exo-only"
    s = r["metric_settings"]
    assert s["colour_space"] == "RGB" and s["crop"] == "none" and s["resolution_scored"] == [[32, 32]]
    assert r["versions"]["torch"] and r["method"]["config"]["view_selection"]


@pytest.mark.slow
def test_torchrun_with_two_processes_gives_the_single_process_results(tiny_synth, tmp_path):
    """Real multi-process launch: each rank generates its clips, the last one scores."""
    import subprocess
    import sys

    single = run("exo-copy", root=tiny_synth, out=tmp_path / "single", progress=False)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "benchmark", "run",
           "--method", "exo-copy", "--root", str(tiny_synth), "--out", str(tmp_path / "multi"), "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    r = json.loads((tmp_path / "multi/synth/test/exo-copy/results.json").read_text())
    assert r["metrics"] == single.results["metrics"] and r["counts"]["generated"] == 3


def test_reusing_a_run_folder_with_other_settings_is_refused_unless_overwritten(tiny_synth, tmp_path):
    run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, limit=1, seed=0)
    with pytest.raises(ValueError, match=r"other settings \(seed: 0 -> 1\).*--overwrite"):
        run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, limit=1, seed=1)
    report = run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, limit=1, seed=1, overwrite=True)
    assert (report.generated, report.reused) == (1, 0)
    assert json.loads((tmp_path / "synth/test/exo-copy/run.json").read_text())["seed"] == 1


def test_first_frame_track_gets_its_own_run_folder(tiny_synth, tmp_path):
    run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, limit=1)
    report = run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, limit=1, track="first-frame")
    assert report.out_dir.name == "exo-copy@first-frame" and report.generated == 1
    assert report.results["dataset"]["track"] == "first-frame"


def test_scoring_reads_only_the_ground_truth_it_needs(tiny_synth):
    from benchmark.data import load_split

    clips = load_split("synth", "test", root=tiny_synth)
    clip = clips.get("synth-test-0001")
    import numpy as np

    np.testing.assert_array_equal(clips.ego_video("synth-test-0001"), clip.ego_video)
    assert clips.ego_shape("synth-test-0001") == clip.ego_video.shape[:3]
