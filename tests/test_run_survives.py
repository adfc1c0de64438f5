"""Runs that survive: SIGKILL at random points, hanging generators, --on-error, untrusted from-folder input, umask.

Everything runs the real runner (in-process or as ``python -m benchmark run`` subprocesses) on small real
datasets; generators that misbehave are real ``Generator`` subclasses registered for the test.
"""

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import registry
from benchmark.atomic import remove_stale_temps, write_text_atomic
from benchmark.cli import main
from benchmark.errors import UsageError
from benchmark.runner import clip_deadline, ClipTimeout, read_errors, run
from benchmark.video_io import read_video, write_video

MISBEHAVING = textwrap.dedent('''
    import time

    import numpy as np
    from benchmark.generator import Generator

    class Misbehaving(Generator):
        """Clip ...0 is fine; the others hang (sleep), hang and swallow the timeout, or raise."""

        def __init__(self, kind):
            self.kind = kind

        def generate(self, inputs, *, seed):
            if not inputs.clip_id.endswith("0"):
                if self.kind == "hang":
                    time.sleep(60)
                elif self.kind == "hang-and-swallow":
                    try:
                        time.sleep(60)
                    except BaseException:  # a generator that catches everything must still be stopped
                        time.sleep(60)
                elif self.kind == "raise":
                    raise RuntimeError("the model crashed")
            return np.full((inputs.num_frames, inputs.ego_height, inputs.ego_width, 3), 100, np.uint8)
''')


@pytest.fixture
def misbehaving(tmp_path, monkeypatch):
    """Registers ``misbehaving-<kind>`` methods for this test only."""
    (tmp_path / "misbehaving_generators.py").write_text(MISBEHAVING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    for kind in ("hang", "hang-and-swallow", "raise"):
        registry.register(registry.MethodSpec(f"misbehaving-{kind}", "misbehaving_generators:Misbehaving", "test",
                                              {"kind": kind}))


def run_folder(out, name="exo-copy"):
    return Path(out) / "synth" / "test" / name


# ---- hanging generators: --timeout-per-clip ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hang", "hang-and-swallow"])
def test_a_hanging_generator_times_out_per_clip_and_the_run_goes_on(tiny_synth, tmp_path, misbehaving, kind):
    t0 = time.perf_counter()
    report = run(f"misbehaving-{kind}", root=tiny_synth, out=tmp_path, progress=False, metrics=("psnr",),
                 timeout_per_clip=0.5)
    elapsed = time.perf_counter() - t0
    assert elapsed < 30  # two clips of 60 s (or 120 s) each were cut short
    assert [(f["clip_id"], f["stage"]) for f in report.failed] == [("synth-test-0001", "generate"),
                                                                  ("synth-test-0002", "generate")]
    assert all("timeout after 0.5 s" in f["error"] for f in report.failed)
    assert report.generated == 1 and report.results["metrics"]["psnr"]["n"] == 1
    errors = read_errors(report.out_dir)
    assert [e["error"] for e in errors] == ["ClipTimeout: timeout after 0.5 s"] * 2
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_clip_deadline_restores_the_previous_alarm_handler_and_does_not_fire_late():
    def mine(signum, frame):
        raise AssertionError("the previous handler must not be called by the deadline")

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        with clip_deadline(0.2):
            time.sleep(0.01)  # finishes in time: no exception, now or later
        time.sleep(0.4)
        assert signal.getsignal(signal.SIGALRM) is mine
        with pytest.raises(ClipTimeout, match="timeout after 0.2 s"):
            with clip_deadline(0.2):
                time.sleep(5)
    finally:
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("value", [0, -1, float("nan"), "soon"])
def test_timeout_must_be_a_positive_number(tiny_synth, tmp_path, value):
    with pytest.raises(UsageError, match="--timeout-per-clip"):
        run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, timeout_per_clip=value)


# ---- --on-error ---------------------------------------------------------------------------------------------------


def test_on_error_fail_stops_at_the_first_failure_and_scores_nothing(tiny_synth, tmp_path, misbehaving):
    report = run("misbehaving-raise", root=tiny_synth, out=tmp_path, progress=False, on_error="fail")
    assert report.stopped and report.results is None and report.generated == 1
    assert [f["clip_id"] for f in report.failed] == ["synth-test-0001"]  # clip 2 was never tried
    out = report.out_dir
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["synth-test-0000.mp4"]
    assert not (out / "results.json").exists() and not (out / "per_clip.csv").exists()
    assert [e["clip_id"] for e in read_errors(out)] == ["synth-test-0001"]


def test_on_error_skip_is_the_default_and_fail_fast_is_an_alias(tiny_synth, tmp_path, misbehaving, capsys):
    report = run("misbehaving-raise", root=tiny_synth, out=tmp_path / "skip", progress=False, metrics=("psnr",))
    assert len(report.failed) == 2 and report.results["counts"]["failed"] == 2
    for flag in (["--fail-fast"], ["--on-error", "fail"]):
        out = tmp_path / flag[-1]
        code = main(["run", "--method", "misbehaving-raise", "--root", str(tiny_synth), "--out", str(out),
                     "--no-progress", *flag])
        assert code == 1 and "stopped at the first failing clip" in capsys.readouterr().err
        assert not (run_folder(out, "misbehaving-raise") / "results.json").exists()
    with pytest.raises(UsageError, match="--on-error must be one of skip, fail"):
        run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, on_error="ignore")


# ---- atomic files -------------------------------------------------------------------------------------------------


def test_errors_reader_skips_a_torn_line_left_by_older_versions(tmp_path):
    path = tmp_path / "errors.jsonl"
    whole = {"clip_id": "a", "stage": "generate", "error": "RuntimeError: x"}
    path.write_text(json.dumps(whole) + "\n" + '{"clip_id": "b", "stage": "gen')  # killed mid-append
    with pytest.warns(UserWarning, match=r"errors.jsonl:2: skipping"):
        assert read_errors(path) == [whole]


def test_stale_temporary_files_of_a_killed_run_are_removed_by_the_next_run(tiny_synth, tmp_path):
    run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, metrics=("psnr",), limit=2)
    out = run_folder(tmp_path)
    leftovers = [out / ".results.json.k1ll3d00.tmp", out / "videos" / ".synth-test-0001.mp4.abcd1234.mp4",
                 out / ".errors.jsonl.zzzz9999.tmp"]
    for p in leftovers:
        p.write_bytes(b"half a file")
    (out / "videos" / "synth-test-0001.mp4").unlink()
    report = run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, metrics=("psnr",), limit=2)
    assert (report.generated, report.reused) == (1, 1)
    assert not any(p.exists() for p in leftovers)
    assert _temp_files(out) == []


def test_removing_stale_temps_spares_files_written_after_this_process_started(tmp_path):
    old, new = tmp_path / ".results.json.old00000.tmp", tmp_path / ".results.json.new00000.tmp"
    for p in (old, new):
        p.write_text("x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    other = tmp_path / ".gitignore"  # not one of ours
    other.write_text("x")
    assert remove_stale_temps(tmp_path, older_than=time.time() - 60) == [old]
    assert new.exists() and other.exists()


# ---- umask --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o007, 0o660, 0o770)])
def test_files_and_folders_get_the_permissions_of_the_umask(tiny_synth, tmp_path, umask, file_mode, dir_mode):
    previous = os.umask(umask)
    try:
        report = run("exo-copy", root=tiny_synth, out=tmp_path, progress=False, metrics=("psnr",), limit=1)
        out = report.out_dir
        write_text_atomic(tmp_path / "plain.txt", "x")
    finally:
        os.umask(previous)
    for name in ("results.json", "per_clip.csv", "run.json", "videos/synth-test-0000.mp4"):
        assert stat.S_IMODE((out / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == file_mode
    assert stat.S_IMODE((out / "videos").stat().st_mode) == dir_mode


# ---- from-folder: untrusted folders -------------------------------------------------------------------------------


@pytest.fixture
def made_elsewhere(tiny_synth, tmp_path):
    """A folder of videos made elsewhere (an exo-copy run's videos, copied)."""
    run("exo-copy", root=tiny_synth, out=tmp_path / "elsewhere", progress=False, metrics=("psnr",))
    folder = tmp_path / "outputs"
    folder.mkdir()
    for p in sorted((run_folder(tmp_path / "elsewhere") / "videos").glob("*.mp4")):
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


def from_folder(tiny_synth, out, folder, **kwargs):
    return run("from-folder", root=tiny_synth, out=out, progress=False, metrics=("psnr",), run_name="theirs",
               method_kwargs={"root": str(folder)}, **kwargs)


def test_from_folder_refuses_a_symlink_to_the_ground_truth(tiny_synth, tmp_path, made_elsewhere, capsys):
    link = made_elsewhere / "synth-test-0001.mp4"
    link.unlink()
    link.symlink_to(tiny_synth / "videos" / "test" / "synth-test-0001" / "ego.mp4")
    code = main(["run", "--method", "from-folder", "--method-arg", f"root={made_elsewhere}", "--root", str(tiny_synth),
                 "--out", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and str(link) in err and "outside the folder" in err and "ego.mp4" in err
    assert not (tmp_path / "runs" / "synth" / "test" / "from-folder" / "results.json").exists()


def test_from_folder_refuses_a_link_made_after_it_started_but_accepts_links_inside(tiny_synth, tmp_path,
                                                                                 made_elsewhere):
    from baselines.from_folder import FromFolder

    inside = made_elsewhere / "synth-test-0002.mp4"
    inside.rename(made_elsewhere / "real-0002.mp4")
    inside.symlink_to(made_elsewhere / "real-0002.mp4")  # a link that stays inside the folder is fine
    method = FromFolder(root=str(made_elsewhere))
    assert method.source_path("synth-test-0002") == inside
    late = made_elsewhere / "synth-test-0000.mp4"
    late.unlink()
    late.symlink_to(tiny_synth / "videos" / "test" / "synth-test-0000" / "ego.mp4")
    with pytest.raises(UsageError, match="outside the folder"):
        method.source_path("synth-test-0000")
    with pytest.raises(UsageError, match="outside the folder"):
        method.source_path("../elsewhere/synth/test/exo-copy/videos/synth-test-0000")


def test_from_folder_rerun_regenerates_a_clip_whose_source_changed(tiny_synth, tmp_path, made_elsewhere, capsys):
    first = from_folder(tiny_synth, tmp_path / "runs", made_elsewhere)
    assert (first.generated, first.reused) == (3, 0)
    source = made_elsewhere / "synth-test-0001.mp4"
    write_video(source, np.zeros_like(read_video(source)))  # a black video replaces the clip
    second = from_folder(tiny_synth, tmp_path / "runs", made_elsewhere)
    assert (second.generated, second.reused) == (1, 2)
    assert "synth-test-0001: its source changed" in capsys.readouterr().err
    fresh = from_folder(tiny_synth, tmp_path / "fresh", made_elsewhere)
    pd.testing.assert_frame_equal(pd.read_csv(second.out_dir / "per_clip.csv"),
                                  pd.read_csv(fresh.out_dir / "per_clip.csv"))
    assert second.results["metrics"]["psnr"]["mean"] < first.results["metrics"]["psnr"]["mean"]

    source.unlink()  # a source that disappears fails its clip; the old copy is not scored
    third = from_folder(tiny_synth, tmp_path / "runs", made_elsewhere)
    assert [f["clip_id"] for f in third.failed] == ["synth-test-0001"] and third.results["metrics"]["psnr"]["n"] == 2
    assert not (third.out_dir / "videos" / "synth-test-0001.mp4").exists()


# ---- SIGKILL at random points --------------------------------------------------------------------------------------


def _temp_files(folder: Path) -> list:
    """Temporary files of benchmark.atomic (``.<name>.<random><ext>``) anywhere under ``folder``."""
    return sorted(p for p in folder.rglob(".*") if p.is_file() and p.name.count(".") >= 3)


def _assert_no_partial_file(out: Path, clips: dict):
    """Every file under its final name is whole: videos decode to the clip's shape, the rest parses."""
    for video in (out / "videos").glob("[!.]*.mp4"):  # final names only: temporary files start with "."
        T, H, W = clips[video.stem]
        assert read_video(video, expected_frames=T, expected_size=(H, W)).shape == (T, H, W, 3)
    for name in ("run.json", "results.json"):
        if (out / name).exists():
            assert isinstance(json.loads((out / name).read_text()), dict)
    if (out / "per_clip.csv").exists():
        assert list(pd.read_csv(out / "per_clip.csv").columns[:2]) == ["clip_id", "category"]
    if (out / "errors.jsonl").exists():
        for line in (out / "errors.jsonl").read_text().splitlines():
            json.loads(line)
    for record in (out / ".failures").glob("[!.]*.json") if (out / ".failures").is_dir() else []:
        json.loads(record.read_text())


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory):
    """Six clips: enough work that kills land inside generation and inside scoring."""
    from benchmark.data import build_synth

    return build_synth(tmp_path_factory.mktemp("kill") / "data", splits=("test",), seed=1, n_clips={"test": 6},
                       progress=False, num_frames=9, ego_size=(32, 32), exo_size=(32, 48))


@pytest.mark.slow
def test_sigkill_during_generation_and_scoring_then_rerun_gives_the_uninterrupted_results(kill_data, tmp_path):
    """SIGKILL a real ``python -m benchmark run`` at random points, rerun until done: same results, no partial file.

    Generation kills: after this attempt claimed the folder (``run.json`` rewritten) and 0, 1 or 2 new videos
    appeared, plus a random delay. Scoring kills: once every video exists, at a random moment of the time an
    uninterrupted run spends after its last video (scoring and writing the results), measured first.
    """
    from benchmark.data import load_split

    clips = load_split("synth", "test", root=kill_data)
    shapes = {cid: clips.ego_shape(cid) for cid in clips.clip_ids}
    cmd = [sys.executable, "-m", "benchmark", "run", "--method", "reproject", "--root", str(kill_data), "--no-progress"]

    def start(out):
        return subprocess.Popen(cmd + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def videos(out):
        folder = run_folder(out, "reproject") / "videos"
        return {p.name for p in folder.glob("[!.]*.mp4")} if folder.is_dir() else set()

    def wait_for(predicate, proc, timeout=120):
        t_end = time.time() + timeout
        while time.time() < t_end and proc.poll() is None:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    # Uninterrupted reference, timing the phase after the last video (scoring).
    ref = start(tmp_path / "reference")
    assert wait_for(lambda: len(videos(tmp_path / "reference")) == 6, ref)
    t_last_video = time.time()
    assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()
    scoring_seconds = time.time() - t_last_video
    reference = run_folder(tmp_path / "reference", "reproject")

    rng = random.Random(7)
    out = tmp_path / "killed"
    folder = run_folder(out, "reproject")
    landed = {"generation": 0, "scoring": 0}
    attempts = 0
    while landed["scoring"] < 3 and attempts < 12:
        attempts += 1
        before = videos(out)
        phase = "generation" if len(before) < 6 else "scoring"
        claimed_at = (folder / "run.json").stat().st_mtime_ns if (folder / "run.json").exists() else None
        proc = start(out)
        assert wait_for(lambda: (folder / "run.json").exists()
                        and (folder / "run.json").stat().st_mtime_ns != claimed_at, proc)
        if phase == "generation":
            # the first attempt dies before its first video; later ones after making one or two (so the run
            # progresses), each at a random moment of the next clip's loading, generation or writing
            need = 0 if attempts == 1 else rng.choice([1, 2])
            wait_for(lambda: len(videos(out) - before) >= need, proc)
            time.sleep(rng.uniform(0, 0.1))
        else:
            time.sleep(rng.uniform(0, scoring_seconds))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            landed[phase] += 1
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()
        _assert_no_partial_file(folder, shapes)
    assert landed["generation"] >= 2 and landed["scoring"] >= 3, landed

    final = start(out)
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    _assert_no_partial_file(folder, shapes)
    assert _temp_files(folder) == []
    assert (folder / "per_clip.csv").read_bytes() == (reference / "per_clip.csv").read_bytes()
    got, want = (json.loads((f / "results.json").read_text()) for f in (folder, reference))
    assert got["metrics"] == want["metrics"] and got["per_category"] == want["per_category"]
    assert got["counts"]["failed"] == 0 and got["dataset"]["n_scored"] == 6
    for name in sorted(videos(reference)):
        assert (folder / "videos" / name).read_bytes() == (reference / "videos" / name).read_bytes()
    print(f"kill test: {attempts} killed attempts, landed {landed}, scoring phase {scoring_seconds:.2f} s")
