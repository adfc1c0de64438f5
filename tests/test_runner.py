"""The runner's guarantees: sharded generation gives exactly the single-process numbers; seeds are per clip."""

import json

import pandas as pd
import pytest

from benchmark.errors import UsageError
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


def _free_port() -> int:
    """A TCP port nobody listens on now, so that concurrent launches do not fight over the default 29500."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(cmd, tmp_path):
    import os
    import subprocess

    # HF_HOME: accelerate must not pick up a config file of the user's (it would change the launcher)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home")}
    done = subprocess.run(cmd, capture_output=True, timeout=300, env=env, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_torchrun_with_two_processes_gives_the_single_process_results(tiny_synth, tmp_path):
    """Real multi-process launch: each rank generates its clips, the last one scores."""
    import sys

    single = run("exo-copy", root=tiny_synth, out=tmp_path / "single", progress=False)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "benchmark", "run",
           "--method", "exo-copy", "--root", str(tiny_synth), "--out", str(tmp_path / "multi"), "--no-progress"]
    _launch(cmd, tmp_path)
    r = json.loads((tmp_path / "multi/synth/test/exo-copy/results.json").read_text())
    assert r["metrics"] == single.results["metrics"] and r["counts"]["generated"] == 3
    assert r["counts"]["shards"] == 2


@pytest.mark.slow
def test_accelerate_launch_with_two_processes_shards_like_torchrun(tiny_synth, tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2`` (torchrun underneath; no GPU needed) runs two shards.

    ``accelerate launch --cpu --num_processes 2`` starts a single process without a rank (accelerate needs mpirun
    for several CPU processes): that process must run every clip, give the same numbers and say so.
    """
    import sys

    single = run("exo-copy", root=tiny_synth, out=tmp_path / "single", progress=False)
    common = ["-m", "benchmark", "run", "--method", "exo-copy", "--root", str(tiny_synth), "--no-progress"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--num_processes", "2", "--main_process_port", str(_free_port())]
    _launch(launch + ["--multi_gpu"] + common + ["--out", str(tmp_path / "multi")], tmp_path)
    r = json.loads((tmp_path / "multi/synth/test/exo-copy/results.json").read_text())
    assert r["metrics"] == single.results["metrics"] and r["counts"]["shards"] == 2 and r["counts"]["generated"] == 3
    a = pd.read_csv(tmp_path / "single/synth/test/exo-copy/per_clip.csv")
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "multi/synth/test/exo-copy/per_clip.csv"))

    done = _launch(launch + ["--cpu"] + common + ["--out", str(tmp_path / "cpu")], tmp_path)
    assert "started this single process" in done.stderr
    r = json.loads((tmp_path / "cpu/synth/test/exo-copy/results.json").read_text())
    assert r["metrics"] == single.results["metrics"] and "shards" not in r["counts"] and r["counts"]["generated"] == 3


@pytest.mark.parametrize("env, expected", [
    ({}, (0, 1)),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, (1, 2)),  # torchrun, accelerate --multi_gpu
    ({"PMI_RANK": "2", "PMI_SIZE": "4"}, (2, 4)),  # Intel MPI / MPICH (accelerate --cpu --mpirun_hostfile)
    ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4"}, (3, 4)),  # Open MPI
    ({"MV2_COMM_WORLD_RANK": "0", "MV2_COMM_WORLD_SIZE": "2"}, (0, 2)),  # MVAPICH
    ({"RANK": "1", "WORLD_SIZE": "2", "PMI_RANK": "0", "PMI_SIZE": "8"}, (1, 2)),  # torchrun's variables first
])
def test_rank_and_world_size_come_from_the_launcher_variables(env, expected):
    from benchmark.runner import shard_from_env

    assert shard_from_env(env) == expected


def test_a_world_size_without_a_rank_is_refused():
    from benchmark.runner import shard_from_env

    with pytest.raises(UsageError, match="WORLD_SIZE=2 is set but RANK is not"):
        shard_from_env({"WORLD_SIZE": "2"})
    with pytest.raises(UsageError, match="not integers"):
        shard_from_env({"RANK": "one", "WORLD_SIZE": "2"})


def test_accelerate_cpu_launch_without_mpi_warns_that_one_process_runs_everything():
    from benchmark.runner import shard_from_env

    with pytest.warns(UserWarning, match=r"accelerate launch --cpu.*single process"):
        assert shard_from_env({"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1"}) == (0, 1)


def test_reusing_a_run_folder_with_other_settings_is_refused_unless_overwritten(tiny_synth, tmp_path):
    run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, limit=1, seed=0)
    with pytest.raises(UsageError, match=r"other settings \(seed: 0 -> 1\).*--overwrite"):
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
