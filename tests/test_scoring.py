"""Scoring as its own step: `score` reproduces `run` exactly, adds metrics to old runs, and names what is missing."""

import json
import shutil

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.video_io import read_video, write_video

METHOD_DIR = ("synth", "test", "exo-copy")
IGNORED = ("created", "versions", "git_commit", "git_dirty", "scoring")  # when and how, not what was scored


def run_cli(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def five_clips(tmp_path_factory):
    """A 5-clip SynthEgoExo test split (9 frames, ego 32x32): `--limit 4` leaves one clip out."""
    from benchmark.data import build_synth

    root = tmp_path_factory.mktemp("five") / "synth"
    return build_synth(root, splits=("test",), seed=0, n_clips={"test": 5}, progress=False,
                       num_frames=9, ego_size=(32, 32), exo_size=(32, 48))


@pytest.fixture(scope="module")
def exo_copy_run(five_clips, tmp_path_factory):
    """exo-copy run on the first 4 clips with psnr and ssim; returns the run folder (tests copy it to change it)."""
    out = tmp_path_factory.mktemp("runs")
    assert run_cli("run", "--method", "exo-copy", "--root", five_clips, "--out", out, "--limit", 4,
                   "--metrics", "psnr,ssim", "--no-progress") == 0
    return out.joinpath(*METHOD_DIR)


def copy_run(run_dir, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(run_dir, dest)
    return dest


def results_of(folder):
    return json.loads((folder / "results.json").read_text())


def per_clip_of(folder):
    return pd.read_csv(folder / "per_clip.csv", dtype={"clip_id": str, "category": str})


def without(results, keys=IGNORED):
    return {k: v for k, v in results.items() if k not in keys}


def test_score_of_a_run_folder_gives_exactly_the_runs_numbers(exo_copy_run, tmp_path):
    assert run_cli("score", exo_copy_run, "--out", tmp_path / "scored", "--no-progress") == 0
    ran, scored = results_of(exo_copy_run), results_of(tmp_path / "scored")
    assert without(scored) == without(ran)  # every number: means, intervals, categories, counts, identity
    assert scored["dataset"]["n_clips"] == 4 and scored["metrics"]["psnr"]["n"] == 4  # the run's --limit
    pd.testing.assert_frame_equal(per_clip_of(tmp_path / "scored"), per_clip_of(exo_copy_run), check_exact=True)
    assert ran["scoring"] == {"step": "run"}
    assert scored["scoring"]["step"] == "score" and scored["scoring"]["metrics_added"] == []


def test_score_adds_a_metric_to_a_run_without_touching_its_videos(five_clips, tmp_path):
    from benchmark.data import load_split
    from benchmark.metrics import video_ssim

    out = tmp_path / "runs"
    assert run_cli("run", "--method", "exo-copy", "--root", five_clips, "--out", out, "--limit", 3,
                   "--metrics", "psnr", "--no-progress") == 0
    run_dir = out.joinpath(*METHOD_DIR)
    before, psnr_before = results_of(run_dir), per_clip_of(run_dir)
    videos = {p.name: p.read_bytes() for p in (run_dir / "videos").iterdir()}
    run_json = (run_dir / "run.json").read_bytes()

    assert run_cli("score", run_dir, "--metrics", "ssim", "--no-progress") == 0
    after, table = results_of(run_dir), per_clip_of(run_dir)
    assert list(after["metrics"]) == ["psnr", "ssim"] and after["metrics"]["psnr"] == before["metrics"]["psnr"]
    assert after["scoring"]["metrics_before"] == ["psnr"] and after["scoring"]["metrics_added"] == ["ssim"]
    assert after["metric_settings"]["ssim"]["sigma"] == 1.5  # the new metric's settings are recorded
    pd.testing.assert_series_equal(table["psnr"], psnr_before["psnr"], check_exact=True)
    clips = load_split("synth", "test", root=five_clips)
    for clip_id, ssim in zip(table["clip_id"], table["ssim"]):
        direct = video_ssim(read_video(run_dir / "videos" / f"{clip_id}.mp4"), clips.ego_video(clip_id)).item()
        assert ssim == direct
    assert {p.name: p.read_bytes() for p in (run_dir / "videos").iterdir()} == videos  # nothing regenerated
    assert (run_dir / "run.json").read_bytes() == run_json
    assert after["counts"]["generated"] == before["counts"]["generated"]


def test_missing_videos_are_named_and_the_other_clips_scored(exo_copy_run, tmp_path, capsys):
    run_dir = copy_run(exo_copy_run, tmp_path)
    (run_dir / "videos" / "synth-test-0002.mp4").unlink()
    assert run_cli("score", run_dir, "--out", tmp_path / "scored", "--no-progress") == 1
    err = capsys.readouterr().err
    assert "1 of 4 clips have no video" in err and "synth-test-0002" in err
    results = results_of(tmp_path / "scored")
    assert results["metrics"]["psnr"]["n"] == 3 and results["dataset"]["n_scored"] == 3
    assert [(f["clip_id"], f["stage"]) for f in results["counts"]["failed_clips"]] == [("synth-test-0002", "score")]
    assert list(per_clip_of(tmp_path / "scored")["clip_id"]) == ["synth-test-0000", "synth-test-0001",
                                                                 "synth-test-0003"]
    errors = (tmp_path / "scored" / "errors.jsonl").read_text()
    assert "synth-test-0002" in errors and "MissingVideoError" in errors


def test_missing_videos_with_on_error_fail_are_one_line_exit_2_and_nothing_is_written(exo_copy_run, tmp_path,
                                                                                      capsys):
    run_dir = copy_run(exo_copy_run, tmp_path)
    for clip_id in ("synth-test-0001", "synth-test-0003"):
        (run_dir / "videos" / f"{clip_id}.mp4").unlink()
    assert run_cli("score", run_dir, "--out", tmp_path / "scored", "--on-error", "fail", "--no-progress") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: 2 of 4 clips have no video") and "\n" not in err
    assert "synth-test-0001, synth-test-0003" in err
    assert not (tmp_path / "scored").exists()


def test_a_clip_whose_generation_failed_stays_failed_and_is_not_called_missing(five_clips, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(five_clips, data)
    (data / "videos" / "test" / "synth-test-0001" / "exo_cam01.mp4").write_bytes(b"garbage")
    assert run_cli("run", "--method", "exo-copy", "--root", data, "--out", tmp_path / "runs", "--limit", 3,
                   "--metrics", "psnr", "--no-progress") == 1
    run_dir = (tmp_path / "runs").joinpath(*METHOD_DIR)
    capsys.readouterr()
    assert run_cli("score", run_dir, "--out", tmp_path / "scored", "--no-progress") == 0
    assert "no video" not in capsys.readouterr().err
    ran, scored = results_of(run_dir), results_of(tmp_path / "scored")
    assert without(scored) == without(ran)
    assert [f["stage"] for f in scored["counts"]["failed_clips"]] == ["load"]


def test_a_damaged_video_fails_its_clip_or_stops_everything_with_on_error_fail(exo_copy_run, tmp_path, capsys):
    run_dir = copy_run(exo_copy_run, tmp_path)
    video = run_dir / "videos" / "synth-test-0000.mp4"
    write_video(video, read_video(video)[:5])  # 5 frames where the clip has 9
    assert run_cli("score", run_dir, "--out", tmp_path / "stopped", "--on-error", "fail", "--no-progress") == 1
    assert "clip synth-test-0000: score failed" in capsys.readouterr().err
    assert not (tmp_path / "stopped" / "results.json").exists()
    assert run_cli("score", run_dir, "--out", tmp_path / "scored", "--no-progress") == 1
    failed = results_of(tmp_path / "scored")["counts"]["failed_clips"]
    assert [(f["clip_id"], f["stage"]) for f in failed] == [("synth-test-0000", "score")]
    assert "expected 9 frames" in failed[0]["error"]


def test_a_second_scoring_forgets_failures_that_are_fixed(exo_copy_run, tmp_path):
    run_dir = copy_run(exo_copy_run, tmp_path)
    video = run_dir / "videos" / "synth-test-0003.mp4"
    kept = video.read_bytes()
    video.unlink()
    assert run_cli("score", run_dir, "--no-progress") == 1
    assert results_of(run_dir)["counts"]["failed"] == 1 and (run_dir / "errors.jsonl").exists()
    video.write_bytes(kept)
    assert run_cli("score", run_dir, "--no-progress") == 0
    assert results_of(run_dir)["counts"]["failed"] == 0 and not (run_dir / "errors.jsonl").exists()
    assert without(results_of(run_dir)) == without(results_of(exo_copy_run))


def test_score_of_a_folder_of_videos_made_elsewhere_matches_the_run(exo_copy_run, five_clips, tmp_path, capsys):
    videos = tmp_path / "elsewhere"
    shutil.copytree(exo_copy_run / "videos", videos)
    (videos / "not-a-clip.mp4").write_bytes(b"")
    assert run_cli("score", "--videos", videos, "--dataset", "synth", "--split", "test", "--root", five_clips,
                   "--out", tmp_path / "scored", "--limit", 4, "--metrics", "psnr,ssim", "--no-progress") == 0
    assert "not-a-clip.mp4" in capsys.readouterr().err  # said, not scored
    pd.testing.assert_frame_equal(per_clip_of(tmp_path / "scored"), per_clip_of(exo_copy_run), check_exact=True)
    scored, ran = results_of(tmp_path / "scored"), results_of(exo_copy_run)
    for key in ("metrics", "per_category", "metric_settings", "bootstrap", "dataset"):
        assert scored[key] == ran[key], key
    assert scored["method"]["name"] == "elsewhere" and scored["counts"]["generated"] == 0


def test_score_of_a_folder_refuses_a_link_to_the_ground_truth(five_clips, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "synth-test-0000.mp4").symlink_to(five_clips / "videos" / "test" / "synth-test-0000" / "ego.mp4")
    assert run_cli("score", "--videos", videos, "--dataset", "synth", "--split", "test", "--root", five_clips,
                   "--out", tmp_path / "scored", "--no-progress") == 2
    assert "outside the folder" in capsys.readouterr().err
    assert not (tmp_path / "scored").exists()


def test_score_refuses_a_dataset_other_than_the_one_the_videos_were_made_from(exo_copy_run, tmp_path, capsys):
    from benchmark.data import build_synth

    other = build_synth(tmp_path / "other", splits=("test",), seed=1, n_clips={"test": 5}, progress=False,
                        num_frames=9, ego_size=(32, 32), exo_size=(32, 48))
    assert run_cli("score", exo_copy_run, "--root", other, "--out", tmp_path / "scored", "--no-progress") == 2
    err = capsys.readouterr().err.strip()
    assert "dataset identity" in err and str(other) in err and "\n" not in err
    assert not (tmp_path / "scored").exists()


def test_a_ground_truth_video_that_no_longer_matches_the_dataset_identity_fails_its_clip(exo_copy_run, five_clips,
                                                                                         tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(five_clips, data)
    clip_dir = data / "videos" / "test"
    shutil.copy(clip_dir / "synth-test-0002" / "ego.mp4", clip_dir / "synth-test-0001" / "ego.mp4")  # swapped
    assert run_cli("score", exo_copy_run, "--root", data, "--out", tmp_path / "scored", "--no-progress") == 1
    assert "synth-test-0001" in capsys.readouterr().err
    results = results_of(tmp_path / "scored")
    assert [(f["clip_id"], f["stage"]) for f in results["counts"]["failed_clips"]] == [("synth-test-0001", "verify")]
    assert results["dataset"]["n_scored"] == 3
    assert results["dataset"]["identity"] != results_of(exo_copy_run)["dataset"]["identity"]  # of the 3 clips scored


@pytest.mark.parametrize("args, expected", [
    (("score", "{tmp}/nowhere"), "run folder {tmp}/nowhere does not exist"),
    (("score", "{tmp}"), "is not a run folder (no run.json)"),
    (("score",), "score needs either a run folder"),
    (("score", "{run}", "--videos", "{tmp}"), "not both"),
    (("score", "{run}", "--split", "val"), "--split: a run folder's dataset, split"),
    (("score", "--videos", "{tmp}", "--dataset", "synth"), "needs --split, --out"),
    (("score", "--videos", "{tmp}/nowhere", "--dataset", "synth", "--split", "test", "--out", "{tmp}/o"),
     "--videos {tmp}/nowhere: no such folder"),
    (("score", "{run}", "--out", "{other_run}"), "--out {other_run} is a run folder"),
    (("score", "{run}", "--metrics", "psnr,sim"), "unknown metric 'sim'"),
])
def test_usage_errors_of_score_are_one_line_and_exit_2(exo_copy_run, tmp_path, capsys, args, expected):
    run_dir = copy_run(exo_copy_run, tmp_path)
    fill = {"tmp": tmp_path / "x", "run": run_dir, "other_run": exo_copy_run}
    (tmp_path / "x").mkdir()
    assert run_cli(*[a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected.format(**fill) in err
