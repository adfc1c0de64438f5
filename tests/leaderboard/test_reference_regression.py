"""Regression: the baselines and the shipped Exo2EgoSyn reproduce the committed reference numbers, and
``python -m benchmark check`` says so (or shows a readable diff when they do not).

The reference runs (``leaderboard/results/reference``) were made with ``python -m benchmark run --method M``
on the full default test split; here the first clips are regenerated from scratch (dataset built anew from
its seed, videos generated anew) and must score the same within the measured cross-machine tolerance.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark import registry
from benchmark.cli import main
from benchmark.generator import Generator
from benchmark.metrics.catalog import METRICS
from benchmark.registry import MethodSpec
from benchmark.runner import run
from leaderboard import tolerances
from leaderboard.regression import compare_runs

RESULTS = Path(__file__).resolve().parents[2] / "leaderboard" / "results"
REFERENCE = RESULTS / "reference" / "synth" / "test"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["exo-copy", "reproject", "exo2egosyn", "mean-colour", "mean-exo-frame"])
def test_method_reproduces_the_committed_numbers(method, tmp_path):
    """exo2egosyn uses the shipped checkpoints: a change to the model, the weights or the sampler shows here."""
    run(method, out=tmp_path, limit=4, progress=False)  # builds the default test split into the test cache
    comparison = compare_runs(REFERENCE / method, tmp_path / "synth" / "test" / method)
    assert comparison.ok, comparison.render()
    assert comparison.n_clips == 4 and comparison.metrics == ("psnr", "ssim", "ego_motion")


def test_compare_runs_reports_a_changed_number_with_its_tolerance(tmp_path):
    candidate = tmp_path / "exo-copy"
    shutil.copytree(REFERENCE / "exo-copy", candidate)
    df = pd.read_csv(candidate / "per_clip.csv", dtype={"clip_id": str})
    df.loc[2, "psnr"] += 0.01
    df.to_csv(candidate / "per_clip.csv", index=False)
    comparison = compare_runs(REFERENCE / "exo-copy", candidate)
    assert not comparison.ok
    clip = df.loc[2, "clip_id"]
    assert [(d.clip, d.metric) for d in comparison.differences][0] == (clip, "psnr")
    assert comparison.differences[0].tolerance == tolerances.tolerance("exo-copy", "psnr")
    text = comparison.render()
    for word in ("clip", "metric", "reference", "got", "difference", "tolerance", clip, "+0.01"):
        assert word in text


def test_runs_on_other_data_are_not_compared(tmp_path):
    import json

    candidate = tmp_path / "exo-copy"
    shutil.copytree(REFERENCE / "exo-copy", candidate)
    results = json.loads((candidate / "results.json").read_text())
    results["dataset"]["split_identity"] = "f" * 64
    (candidate / "results.json").write_text(json.dumps(results))
    comparison = compare_runs(REFERENCE / "exo-copy", candidate)
    assert not comparison.ok and not comparison.differences
    assert "not the same data" in comparison.protocol[0]


def test_tolerances_come_from_the_measured_spread():
    for method, metric in (("exo-copy", "psnr"), ("exo2egosyn", "psnr"), ("exo2egosyn", "ssim")):
        spread = tolerances.measured_spread(tolerances.kind_of(method), metric)
        assert spread is not None, f"no measured spread for {method} {metric}"
        assert tolerances.tolerance(method, metric) == max(METRICS[metric].regression_floor,
                                                           tolerances.SAFETY_FACTOR * spread)
    assert tolerances.kind_of("some-new-method") == "neural"


class _Perturbed(Generator):
    """exo-copy with one pixel of every output changed: what a broken baseline looks like to `check`."""

    def __init__(self):
        from baselines.exo_copy import ExoCopy

        self.inner = ExoCopy()

    def generate(self, inputs, *, seed):
        video = self.inner.generate(inputs, seed=seed).copy()
        video[0, :8, :8] = 255 - video[0, :8, :8]
        return video


@pytest.fixture
def perturb_exo_copy():
    """Call it to make the registry's exo-copy the perturbed one; the original is restored afterwards."""
    original = registry.get_spec("exo-copy")
    yield lambda: registry.register(MethodSpec("exo-copy", f"{__name__}:_Perturbed", "perturbed exo-copy"),
                                    overwrite=True)
    registry.register(original, overwrite=True)


def _reference_of(tiny_synth, tmp_path) -> Path:
    """A reference folder made by the ordinary runner on the tiny dataset."""
    run("exo-copy", root=tiny_synth, out=tmp_path / "ref", progress=False)
    return tmp_path / "ref"


def test_check_passes_when_the_method_reproduces(tiny_synth, tmp_path, capsys):
    reference = _reference_of(tiny_synth, tmp_path)
    assert main(["check", "--reference", str(reference), "--root", str(tiny_synth), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "OK   exo-copy: 3 clip(s) x 3 metric(s) (psnr, ssim, ego_motion)" in out and "reproduce" in out


def test_check_fails_with_a_readable_diff_when_a_baseline_output_is_perturbed(tiny_synth, tmp_path, capsys,
                                                                             perturb_exo_copy):
    reference = _reference_of(tiny_synth, tmp_path)
    perturb_exo_copy()
    assert main(["check", "--reference", str(reference), "--root", str(tiny_synth), "--no-progress",
                 "--limit", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAIL exo-copy" in out and "REGRESSION" in out
    assert "synth-test-0000" in out and "psnr" in out and "tolerance" in out


def test_check_usage_errors_exit_2(tmp_path, capsys):
    assert main(["check", "--reference", str(tmp_path / "nowhere")]) == 2
    assert "--reference" in capsys.readouterr().err
    assert main(["check", "--methods", "no-such-method"]) == 2
    assert "no reference run for ['no-such-method']" in capsys.readouterr().err


@pytest.mark.slow
def test_check_passes_on_the_committed_references(capsys):
    assert main(["check", "--limit", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("OK   ") == len(list(REFERENCE.iterdir()))
