"""The metric catalogue: every metric's facts in one place, and every reader (the run summary, the results
validation, the leaderboard, the reported numbers, the ablation and the regression check) taking them from it.

Entries are changed here with ``monkeypatch.setitem(METRICS, ...)``: the catalogue is data, and a reader that
kept its own copy of a label, a direction or a number of decimals would not follow the change.
"""

import dataclasses
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main, print_summary
from benchmark.metrics import catalog
from benchmark.metrics.catalog import KINDS, METRICS, NA, PER_CLIP, SET
from benchmark.results import ResultsSchemaError, build_results, load_results, per_clip_disagreements, \
    write_csv_atomic, write_json_atomic
from leaderboard import reported
from leaderboard.ablation import paired_difference, render_ablation
from leaderboard.regression import compare_runs
from leaderboard.table import render_markdown

RESULTS = Path(__file__).resolve().parents[2] / "leaderboard" / "results"
REFERENCE = RESULTS / "reference" / "synth" / "test"
ABLATION = RESULTS / "ablation"
SECTION = "## synth / test / exo-only"


def patch(monkeypatch, name, **changes):
    """Replace catalogue entry ``name`` by a copy with ``changes`` for the duration of the test."""
    monkeypatch.setitem(METRICS, name, dataclasses.replace(METRICS[name], **changes))


def table_rows(text: str, heading: str) -> list:
    """Header and body rows of the first Markdown table after ``heading``, as lists of cells."""
    rows = [ln for ln in text.split(heading, 1)[1].split("\n\n#", 1)[0].splitlines() if ln.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows if not row.startswith("| ---")]


def write_run(root: Path, name: str, per_clip: pd.DataFrame, metrics_summary: dict, *, seed: int = 0) -> Path:
    """A run folder written by the real writers: ``per_clip.csv`` and a validated ``results.json``."""
    from benchmark.metrics.suite import summarize

    summary = summarize(per_clip, [c for c in per_clip.columns if c in METRICS], n_boot=100, seed=seed)
    results = build_results(
        method={"name": name, "config": {}, "checkpoint_sha256": None, "oracle": False},
        dataset={"name": "synth", "split": "test", "track": "exo-only", "identity": "0" * 64,
                 "manifest_sha256": "1" * 64, "n_clips": len(per_clip)},
        metrics_summary={**summary["metrics"], **metrics_summary}, per_category={},
        bootstrap=summary["bootstrap"], settings={}, seed=seed,
        counts={"generated": len(per_clip), "reused": 0, "failed": 0},
    )
    folder = root / "synth" / "test" / name
    write_csv_atomic(folder / "per_clip.csv", per_clip)
    write_json_atomic(folder / "results.json", results)
    return folder


# --- the entries -----------------------------------------------------------------------------------------------


def test_the_six_metrics_are_registered_with_their_targets():
    assert {name: e.target for name, e in METRICS.items()} == {
        "psnr": "benchmark.metrics.video_psnr:VideoPSNR",
        "ssim": "benchmark.metrics.video_ssim:VideoSSIM",
        "lpips": "benchmark.metrics.video_lpips:VideoLPIPS",
        "fvd": "benchmark.metrics.video_fvd:VideoFVD",
        "clip_i": "benchmark.metrics.video_clip:VideoCLIPI",
        "ego_motion": "benchmark.metrics.ego_motion:EgoMotionError",
    }


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_has_complete_metadata(name):
    e = METRICS[name]
    assert e.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name)
    assert re.fullmatch(r"[\w.]+:[A-Za-z_]\w*", e.target)
    assert isinstance(e.higher_is_better, bool) and e.arrow in ("↑", "↓")
    assert e.label.strip() and isinstance(e.unit, str)
    assert isinstance(e.decimals, int) and 0 <= e.decimals <= 6
    assert e.kind in KINDS
    for names in (e.needs, e.weights):
        assert isinstance(names, tuple) and all(isinstance(n, str) and n for n in names)
    assert e.description.strip() and "\n" not in e.description and "(" in e.description  # names what it matches
    assert isinstance(e.default, bool) and 0 < e.regression_floor < 1e-6


def test_the_facts_of_the_new_metrics():
    fvd, clip_i, ego = METRICS["fvd"], METRICS["clip_i"], METRICS["ego_motion"]
    assert (fvd.kind, fvd.higher_is_better, fvd.weights, fvd.needs) == (SET, False, ("fvd.i3d",), ())
    assert (clip_i.kind, clip_i.higher_is_better, clip_i.weights) == (PER_CLIP, True, ("clip_i.vit_b_32",))
    assert "cosine" in clip_i.description
    assert (ego.kind, ego.higher_is_better, ego.unit, ego.weights) == (PER_CLIP, False, "deg", ())
    assert ego.needs == ("ego_K", "ego_T_world_cam")
    assert [e.name for e in METRICS.values() if not e.weights] == ["psnr", "ssim", "ego_motion"]


@pytest.mark.parametrize("name", list(METRICS))
def test_the_weight_files_named_are_those_the_weights_module_keeps_for_the_metric(name):
    from benchmark.metrics import weights

    assert set(METRICS[name].weights) == {key for key, wf in weights.FILES.items() if wf.metric == name}


def test_run_scores_all_six_metrics_by_default():
    from benchmark.runner import run

    assert catalog.DEFAULT_METRICS == ("psnr", "ssim", "lpips", "fvd", "clip_i", "ego_motion")
    assert run.__kwdefaults__["metrics"] == catalog.DEFAULT_METRICS


@pytest.mark.parametrize("name", list(METRICS))
def test_each_implemented_class_has_the_catalogues_direction(name):
    """torchmetrics reads ``higher_is_better`` off the class; it must say what the catalogue says."""
    import importlib

    module_name, class_name = METRICS[name].target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        pytest.skip(f"{module_name} is not written yet")
    assert getattr(module, class_name).higher_is_better is METRICS[name].higher_is_better


def test_the_catalogue_imports_without_torch():
    code = ("import sys; import benchmark.metrics.catalog, benchmark.results, leaderboard.table; "
            "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# --- printing ----------------------------------------------------------------------------------------------------


def test_values_print_with_the_metrics_decimals_and_never_as_nan():
    assert catalog.format_value("psnr", 21.456) == "21.46"
    assert catalog.format_value("ssim", 0.5) == "0.500"
    assert catalog.format_value("psnr", 0.25, decimals=4, sign=True) == "+0.2500"
    for bad in (None, float("nan"), float("inf"), "21.4", True):
        assert catalog.format_value("psnr", bad) == NA
    assert catalog.format_interval("psnr", 21.456, [20.1, 22.9]) == "21.46 [20.10, 22.90] dB"
    assert catalog.format_interval("ssim", 0.5, None) == "0.500"
    assert catalog.heading("lpips") == "LPIPS ↓" and catalog.heading("ego_motion") == "Ego-motion error ↓"


def test_a_metric_the_catalogue_does_not_know_gets_a_generic_entry():
    e = catalog.entry("sharpness", higher_is_better=False)
    assert (e.label, e.decimals, e.kind, e.arrow, e.better) == ("sharpness", 3, PER_CLIP, "↓", "lower")
    assert catalog.heading("sharpness") == "sharpness" and catalog.entry("sharpness").better == "?"
    assert catalog.entry("psnr", higher_is_better=False).higher_is_better is True  # the catalogue's word wins


def test_the_metrics_help_lists_every_metric_and_the_default_set(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "out of: psnr, ssim, lpips, fvd, clip_i, ego_motion (default: psnr,ssim,lpips,fvd,clip_i,ego_motion)" in text


def test_the_run_summary_prints_as_the_catalogue_says(monkeypatch):
    results = load_results(REFERENCE / "exo-copy" / "results.json")
    out = io.StringIO()
    print_summary(results, out)
    m = results["metrics"]["psnr"]
    assert re.search(rf"psnr +{m['mean']:.2f} \[{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}\] dB +higher +32",
                     out.getvalue())
    patch(monkeypatch, "psnr", decimals=4, unit="decibel")
    out = io.StringIO()
    print_summary(results, out)
    assert f"{m['mean']:.4f} [{m['ci95'][0]:.4f}, {m['ci95'][1]:.4f}] decibel" in out.getvalue()


# --- the leaderboard and the reported numbers -------------------------------------------------------------------


def test_the_table_takes_labels_directions_and_decimals_from_the_catalogue(monkeypatch):
    before = table_rows(render_markdown(REFERENCE), SECTION)
    assert before[0][:4] == ["method", "PSNR ↑", "SSIM ↑", "LPIPS ↓"]
    patch(monkeypatch, "psnr", label="Peak SNR", decimals=4)
    patch(monkeypatch, "lpips", label="Perceptual")
    text = render_markdown(REFERENCE)
    after = table_rows(text, SECTION)
    assert after[0][:4] == ["method", "Peak SNR ↑", "SSIM ↑", "Perceptual ↓"]
    assert "sorted by Peak SNR, best first" in text
    for old, new in zip(before[1:], after[1:]):
        old, new = ([re.sub(r"\*\*|</?ins>", "", c) for c in row] for row in (old, new))  # best / second marks
        assert re.fullmatch(r"\d+\.\d{2} ± \d+\.\d{2}", old[1]) and re.fullmatch(r"\d+\.\d{4} ± \d+\.\d{4}", new[1])
        assert float(new[1].split()[0]) == pytest.approx(float(old[1].split()[0]), abs=0.005)
        assert old[2] == new[2]


def test_a_metric_unknown_to_the_catalogue_renders_with_the_generic_entry(tmp_path):
    for name, shift in (("a", 0.0), ("b", 1.0)):
        per_clip = pd.DataFrame({"clip_id": ["c0", "c1"], "category": "x", "psnr": [20.0 + shift, 21.0 + shift],
                                 "sharpness": [0.25 + shift, 0.5 + shift]})
        write_run(tmp_path, name, per_clip, {"sharpness": {"mean": 0.375 + shift, "ci95": [0.25 + shift, 0.5 + shift],
                                                           "higher_is_better": False, "n": 2}})
    text = render_markdown(tmp_path, metrics=("sharpness",))
    rows = table_rows(text, SECTION)
    assert rows[0][:2] == ["method", "sharpness ↓"]  # its name, and the direction its files record
    assert [r[:2] for r in rows[1:]] == [["a", "**0.375** ± 0.125"], ["b", "1.375 ± 0.125"]]  # lower first
    assert "sorted by sharpness, best first" in text
    ablation = render_ablation(tmp_path, reference="b", metrics=("sharpness",), n_boot=50)
    assert table_rows(ablation, "# Ablation")[0][1] == "sharpness ↓ seed 0"
    assert table_rows(ablation, "# Ablation")[1][0] == "a"  # lower first
    assert "| a | sharpness | +1.0000 [+1.0000, +1.0000] | 0% |" in ablation  # b - a > 0: b is worse
    assert "Negative sharpness differences mean b is better." in ablation
    out = io.StringIO()
    print_summary(load_results(tmp_path / "synth/test/a/results.json"), out)
    assert re.search(r"sharpness +0\.375 \[0\.250, 0\.500\] +lower +2", out.getvalue())


def test_reported_numbers_are_printed_with_the_catalogues_decimals_without_losing_a_digit(monkeypatch):
    for r in reported.REPORTED:
        for m in reported.METRICS:
            value = r.value(m)
            assert value is None or round(value, METRICS[m].decimals) == value, (r.method, m)
    patch(monkeypatch, "fvd", decimals=0, label="Frechet video distance")
    text = render_markdown(REFERENCE, include_reported=True)
    assert "| Frechet video distance ↓ |" in text and "| seen | Ego-Forge | 16.37 | 0.557 | 0.492 | 0.893 | 170 |" in text


# --- the ablation -----------------------------------------------------------------------------------------------


def test_the_committed_ablation_renders_as_committed():
    assert render_ablation(ABLATION) == (ABLATION / "ABLATION.md").read_text()


def test_the_ablation_takes_labels_and_decimals_from_the_catalogue(monkeypatch):
    patch(monkeypatch, "psnr", label="Peak SNR", decimals=5)
    text = render_ablation(ABLATION, n_boot=50)
    header = table_rows(text, "# Ablation")[0]
    assert header[1] == "Peak SNR ↑ seed 0" and "Peak SNR mean of seeds" in header
    row = next(r for r in table_rows(text, "# Ablation")[1:] if r[0] == "exo-copy")
    assert re.fullmatch(r"\d+\.\d{5}", row[1]) and re.fullmatch(r"\d\.\d{3}", row[4])  # SSIM keeps 3
    paired = next(line for line in text.splitlines() if line.startswith("| exo-copy | Peak SNR |"))
    assert re.search(r"\| \+\d+\.\d{6} \[\+\d+\.\d{6}, \+\d+\.\d{6}\] \|", paired)
    # only the metrics of the paired rows (the committed runs have no LPIPS / CLIP-I scores), each with its direction
    assert "Positive Peak SNR / SSIM differences (negative Ego-motion error) mean exo2egosyn is better." in text


def test_the_reference_is_better_where_the_difference_has_the_metrics_sign():
    ref = pd.Series([0.1, 0.2, 0.3, 0.4], index=list("abcd"))
    other = pd.Series([0.2, 0.3, 0.4, 0.3], index=list("abcd"))  # the reference is lower on 3 clips of 4
    assert paired_difference(ref, other, n_boot=50)["wins"] == 0.25
    assert paired_difference(ref, other, n_boot=50, higher_is_better=False)["wins"] == 0.75


def test_a_lower_is_better_metric_counts_a_negative_difference_as_the_reference_winning(tmp_path):
    for name, lp in (("ref", 0.2), ("other", 0.4)):
        per_clip = pd.DataFrame({"clip_id": ["c0", "c1", "c2"], "category": "x", "lpips": [lp, lp + 0.01, lp + 0.02]})
        write_run(tmp_path / "seed0", name, per_clip, {})
    text = render_ablation(tmp_path, reference="ref", metrics=("lpips",), n_boot=50)
    line = next(ln for ln in text.splitlines() if ln.startswith("| other | LPIPS |"))
    assert "| -0.2000 [-0.2000, -0.2000] | 100% |" in line
    assert "Negative LPIPS differences mean ref is better." in text
    assert table_rows(text, "# Ablation")[1][0] == "ref"  # lower LPIPS ranks first


# --- results files ------------------------------------------------------------------------------------------------


def test_a_results_file_contradicting_the_catalogues_direction_is_refused(tmp_path):
    results = json.loads((REFERENCE / "exo-copy" / "results.json").read_text())
    results["metrics"]["psnr"]["higher_is_better"] = False
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(ResultsSchemaError, match=r"metrics\.psnr\.higher_is_better: expected true \(higher is "
                                                 r"better for psnr, benchmark\.metrics\.catalog\), got false"):
        load_results(path)


def test_a_set_metric_has_no_per_clip_column_and_is_not_inconsistent_for_it(tmp_path):
    per_clip = pd.DataFrame({"clip_id": ["c0", "c1"], "category": "x", "psnr": [20.0, 21.0]})
    fvd = {"mean": 412.5, "ci95": None, "kind": "set", "higher_is_better": False, "n": 2}  # as the suite writes it
    folder = write_run(tmp_path, "a", per_clip, {"fvd": fvd})
    results = load_results(folder / "results.json")
    assert per_clip_disagreements(results, per_clip) == []
    text = render_markdown(tmp_path, metrics=("psnr", "fvd"))
    assert table_rows(text, SECTION)[1][:3] == ["a", "20.50 ± 0.50", "412.50"]


# --- the regression check ----------------------------------------------------------------------------------------


def test_the_regression_tolerance_floor_is_the_catalogues(tmp_path, monkeypatch):
    candidate = tmp_path / "exo-copy"
    shutil.copytree(REFERENCE / "exo-copy", candidate)
    df = pd.read_csv(candidate / "per_clip.csv", dtype={"clip_id": str})
    df.loc[2, "psnr"] += 0.01
    df.to_csv(candidate / "per_clip.csv", index=False)
    assert not compare_runs(REFERENCE / "exo-copy", candidate).ok
    patch(monkeypatch, "psnr", regression_floor=0.05)
    comparison = compare_runs(REFERENCE / "exo-copy", candidate)
    assert comparison.ok and comparison.tolerances["psnr"] == 0.05


def test_the_regression_check_compares_a_set_metric_by_its_aggregates(tmp_path):
    per_clip = pd.DataFrame({"clip_id": ["c0", "c1"], "category": "x", "psnr": [20.0, 21.0]})
    fvd = {"mean": 412.5, "ci95": None, "kind": "set", "higher_is_better": False, "n": 2}  # as the suite writes it
    reference = write_run(tmp_path / "ref", "exo-copy", per_clip, {"fvd": fvd})
    same = write_run(tmp_path / "same", "exo-copy", per_clip, {"fvd": fvd})
    moved = write_run(tmp_path / "moved", "exo-copy", per_clip, {"fvd": {**fvd, "mean": 413.0}})
    first = write_run(tmp_path / "first", "exo-copy", per_clip.iloc[:1], {"fvd": {**fvd, "mean": 401.0, "n": 1}})
    ok = compare_runs(reference, same, atol=0.1)
    assert ok.ok and ok.metrics == ("psnr", "fvd")
    bad = compare_runs(reference, moved, atol=0.1)
    assert [(d.clip, d.metric) for d in bad.differences] == [("results mean", "fvd")]
    partial = compare_runs(reference, first, atol=0.1)
    assert partial.ok and partial.metrics == ("psnr",) and "fvd not compared" in partial.render()
