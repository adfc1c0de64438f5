"""Regression: the baselines and the shipped Exo2EgoSyn reproduce the committed reference numbers on the default synthetic test split.

The reference runs (``leaderboard/results/reference``) were made with ``python -m benchmark run --method M``
on the full default test split; here the first clips are regenerated from scratch (dataset built anew from
its seed, videos generated anew) and must score the same to 1e-6.
"""

from pathlib import Path

import pytest

from benchmark.runner import run
from leaderboard.regression import compare_runs

RESULTS = Path(__file__).resolve().parents[2] / "leaderboard" / "results"
REFERENCE = RESULTS / "reference" / "synth" / "test"
ABLATION = RESULTS / "ablation" / "seed0" / "synth" / "test"


@pytest.mark.slow
@pytest.mark.parametrize("method, reference", [("exo-copy", REFERENCE), ("reproject", REFERENCE),
                                               ("exo2egosyn", ABLATION)])
def test_method_reproduces_the_committed_numbers(method, reference, tmp_path):
    """exo2egosyn uses the shipped checkpoints: a change to the model, the weights or the sampler shows here."""
    run(method, out=tmp_path, limit=4, progress=False)  # builds the default test split into the test cache
    assert compare_runs(reference / method, tmp_path / "synth" / "test" / method) == []


def test_compare_runs_reports_a_changed_number(tmp_path):
    import shutil

    import pandas as pd

    candidate = tmp_path / "exo-copy"
    shutil.copytree(REFERENCE / "exo-copy", candidate)
    df = pd.read_csv(candidate / "per_clip.csv", dtype={"clip_id": str})
    df.loc[2, "psnr"] += 0.01
    df.to_csv(candidate / "per_clip.csv", index=False)
    problems = compare_runs(REFERENCE / "exo-copy", candidate)
    assert len(problems) == 1 and f"psnr on {df.loc[2, 'clip_id']}" in problems[0]
