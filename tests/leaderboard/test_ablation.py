"""The ablation command: methods x seeds through the runner, then paired per-clip comparisons from files."""

import pandas as pd
import pytest

from benchmark.cli import main
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
