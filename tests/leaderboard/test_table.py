"""The Markdown leaderboard, rendered from real results.json files written by build_results."""

import re

import pytest

from benchmark.results import build_results, write_json_atomic
from leaderboard.reported import REPORTED, SOURCE
from leaderboard.table import render_markdown


def metric(mean, low, high, higher=True, n=10):
    return {"mean": mean, "ci95": [low, high], "higher_is_better": higher, "n": n}


def write_run(root, name, *, psnr, lpips=None, oracle=False, dataset="synth", split="test", track="exo-only",
              seed=0, failed=0):
    metrics = {"psnr": metric(*psnr), "ssim": metric(0.5, 0.45, 0.55)}
    metrics["lpips"] = metric(*lpips, higher=False) if lpips else {"unavailable": "AlexNet weights missing here"}
    results = build_results(
        method={"name": name, "config": {}, "checkpoint_sha256": None, "oracle": oracle},
        dataset={"name": dataset, "split": split, "track": track, "manifest_sha256": "0" * 64, "n_clips": 10 + failed},
        metrics_summary=metrics,
        per_category={},
        settings={"colour_space": "RGB", "resolution_scored": [[64, 64]]},
        seed=seed,
        counts={"generated": 10, "reused": 0, "failed": failed,
                "failed_clips": [{"clip_id": f"f{i}", "error": "boom"} for i in range(failed)]},
    )
    return write_json_atomic(root / dataset / split / name / "results.json", results)


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the table under ``heading``, as lists of cells."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


@pytest.fixture
def two_runs(tmp_path):
    write_run(tmp_path, "exo-copy", psnr=(11.2, 10.9, 11.5), seed=3)
    write_run(tmp_path, "reproject", psnr=(24.31, 23.79, 24.83), lpips=(0.312, 0.3, 0.324), failed=2)
    return tmp_path


def test_rows_are_sorted_by_psnr_with_mean_plus_minus_half_interval(two_runs):
    text = render_markdown(two_runs)
    assert "| method | PSNR ↑ | SSIM ↑ | LPIPS ↓ | n clips | seed |" in text
    rows = table_rows(text, "## synth / test / exo-only")
    assert [r[0] for r in rows] == ["reproject", "exo-copy"]
    assert rows[0][1] == "24.31 ± 0.52"
    assert rows[0][3] == "0.312 ± 0.012"
    assert rows[0][4] == "10 of 12 (2 failed)"
    assert rows[1][5] == "3"


def test_unavailable_metric_is_n_a_with_a_footnote_giving_the_reason(two_runs):
    text = render_markdown(two_runs)
    cell = table_rows(text, "## synth / test / exo-only")[1][3]
    number = re.fullmatch(r"n/a \[(\d+)\]", cell).group(1)
    assert f"[{number}] lpips unavailable: AlexNet weights missing here" in text


def test_oracle_runs_are_marked(tmp_path):
    write_run(tmp_path, "gt-copy", psnr=(60.0, 59.0, 61.0), oracle=True)
    write_run(tmp_path, "exo-copy", psnr=(11.2, 10.9, 11.5))
    text = render_markdown(tmp_path)
    assert table_rows(text, "## synth / test / exo-only")[0][0] == "gt-copy (oracle)"
    assert "(oracle): sees ground truth" in text


def test_one_table_per_dataset_split_and_track_and_filters(tmp_path):
    write_run(tmp_path, "a", psnr=(20.0, 19.0, 21.0), split="test")
    write_run(tmp_path, "b", psnr=(21.0, 20.0, 22.0), split="val")
    write_run(tmp_path, "c", psnr=(22.0, 21.0, 23.0), split="test", track="first-frame")
    text = render_markdown(tmp_path)
    for heading in ("## synth / test / exo-only", "## synth / val / exo-only", "## synth / test / first-frame"):
        assert heading in text
    only_val = render_markdown(tmp_path, split="val")
    assert "## synth / val / exo-only" in only_val and "/ test /" not in only_val
    assert "No results.json found" in render_markdown(tmp_path, dataset="egoexo4d")


def test_reported_numbers_only_on_request_and_in_their_own_labelled_table(two_runs):
    assert "Ego-Forge" not in render_markdown(two_runs)
    text = render_markdown(two_runs, include_reported=True)
    ranked, reported = text.split("## Reported by their authors, not reproduced here")
    assert "Ego-Forge" not in ranked and "EgoX" not in ranked
    assert SOURCE in reported
    assert "| seen | Ego-Forge | 16.37 | 0.557 | 0.492 | 0.893 | 170.18 |" in reported
    assert "| unseen | Exo2Ego-V | 12.93 | 0.430 | 0.594 | 0.677 | 1123.90 |" in reported
    assert len([line for line in reported.splitlines() if line.startswith("| ") and "seen |" in line]) == len(REPORTED)


def test_files_that_are_not_schema_v1_are_listed_as_skipped(two_runs):
    bad = two_runs / "synth" / "test" / "old" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"schema_version": 0, "metrics": {}}')
    text = render_markdown(two_runs)
    assert "Skipped files" in text and "synth/test/old/results.json" in text
    assert [r[0] for r in table_rows(text, "## synth / test / exo-only")] == ["reproject", "exo-copy"]
