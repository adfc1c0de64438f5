"""The ablation command: methods x seeds through the runner, then paired per-clip comparisons from files."""

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.errors import UsageError
from leaderboard.ablation import collect, paired_difference, render_ablation


def test_paired_difference_of_a_constant_shift():
    ref = pd.Series([10.0, 12.0, 11.0, 9.0], index=list("abcd"))
    r = paired_difference(ref, ref - 0.5, n_boot=200)
    assert r["mean"] == pytest.approx(0.5) and r["ci95"] == pytest.approx([0.5, 0.5]) and r["wins"] == 1.0
    assert paired_difference(ref, ref)["p_wilcoxon"] is None  # no difference at all: no test


def test_paired_difference_uses_only_common_clips():
    ref = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"])
    other = pd.Series([0.0, 0.0], index=["b", "c"])
    assert paired_difference(ref, other)["n"] == 2


def test_ablation_command_runs_methods_over_seeds_and_compares_them(tiny_synth, tmp_path, capsys):
    code = main(["ablation", "--out", str(tmp_path), "--methods", "reproject,exo-copy", "--seeds", "0,1",
                 "--reference", "reproject", "--root", str(tiny_synth), "--no-progress", "--n-boot", "200"])
    assert code == 0
    tables = collect(tmp_path)
    assert set(tables) == {"reproject", "exo-copy"} and set(tables["exo-copy"]) == {0, 1}
    text = (tmp_path / "ABLATION.md").read_text()
    assert "## Paired: reproject minus each other method" in text
    assert "| exo-copy | PSNR | +" in text  # reproject is better than exo-copy on every clip
    assert text == render_ablation(tmp_path, reference="reproject", n_boot=200)


def test_a_folder_without_runs_is_a_usage_error_saying_what_was_expected(tmp_path):
    (tmp_path / "seed0").mkdir()
    with pytest.raises(UsageError) as err:
        render_ablation(tmp_path)
    message = str(err.value)
    assert f"no results.json under {tmp_path}" in message and "ROOT/seed<K>/<dataset>/<split>/<run>/" in message
    assert f"`python -m benchmark ablation --out {tmp_path}`" in message


def test_metrics_no_run_scored_are_a_usage_error_naming_what_was_scored(tiny_synth, tmp_path):
    assert main(["run", "--method", "exo-copy", "--root", str(tiny_synth), "--out", str(tmp_path / "seed0"),
                 "--metrics", "psnr", "--no-progress", "--n-boot", "50"]) == 0
    with pytest.raises(UsageError, match=r"scored any of the metrics \['lpips'\]; the runs there scored: psnr"):
        render_ablation(tmp_path, metrics=("lpips",))
    assert "| exo-copy |" in render_ablation(tmp_path, metrics=("lpips", "psnr"), n_boot=50)
