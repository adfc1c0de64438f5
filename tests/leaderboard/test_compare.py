"""`compare`: paired statistics checked against direct numpy / scipy computations, seeds averaged per clip,
protocol mismatches refused, and the command line's exit codes."""

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.cli import main
from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.metrics.suite import MetricSuite, summarize
from benchmark.results import build_results, write_csv_atomic, write_json_atomic
from leaderboard.compare import compare, paired_statistics, sign_flip_pvalue

REFERENCE = Path(__file__).resolve().parents[2] / "leaderboard" / "results"
SPLIT_IDENTITY = hashlib.sha256(b"a split").hexdigest()


def run_cli(*args):
    return main([str(a) for a in args])


def make_run(folder: Path, scores: dict, *, name="m", seed=0, track="exo-only", settings=None, split_identity=None,
             clip_ids=None) -> Path:
    """A run folder (results.json + per_clip.csv) holding the given clip scores ``{metric: array}``."""
    n = len(next(iter(scores.values())))
    ids = clip_ids or [f"clip-{i:03d}" for i in range(n)]
    table = pd.DataFrame({"clip_id": ids, "category": ["a" if i % 2 else "b" for i in range(n)], **scores})
    summary = summarize(table, list(scores), n_boot=200, seed=seed)
    results = build_results(
        method={"name": name}, dataset={"name": "synth", "split": "test", "track": track, "n_clips": n,
                                        "identity": hashlib.sha256(",".join(ids).encode()).hexdigest(),
                                        "split_identity": split_identity or SPLIT_IDENTITY, "manifest_sha256": None},
        metrics_summary=summary["metrics"], per_category=summary["per_category"],
        settings=settings or MetricSuite(tuple(scores)).settings(), bootstrap=summary["bootstrap"], seed=seed,
        counts={"generated": n, "reused": 0, "failed": 0})
    folder.mkdir(parents=True)
    write_csv_atomic(folder / "per_clip.csv", table)
    write_json_atomic(folder / "results.json", results)
    return folder


@pytest.fixture
def shifted(tmp_path):
    """40 clips; B is A plus 0.5 dB with a little per-clip noise."""
    rng = np.random.default_rng(1)
    a = rng.normal(30.0, 2.0, 40)
    b = a + 0.5 + rng.normal(0.0, 0.2, 40)
    return make_run(tmp_path / "a", {"psnr": a}), make_run(tmp_path / "b", {"psnr": b}, name="n"), a, b


# ---- the statistics against direct computations ----------------------------------------------------------------


def test_a_known_shift_gives_its_mean_difference_and_a_small_p(shifted):
    run_a, run_b, a, b = shifted
    s = compare([run_a], [run_b], n_boot=2000, n_perm=5000, seed=3).stats[0]
    d = b - a
    assert s.metric == "psnr" and s.n == 40
    assert s.diff == pytest.approx(d.mean(), abs=1e-12) and abs(s.diff - 0.5) < 0.1
    assert s.mean_a == pytest.approx(a.mean()) and s.mean_b == pytest.approx(b.mean())
    assert s.ci95 == pytest.approx(bootstrap_ci(d, n_boot=2000, seed=3))  # the paired bootstrap: resampled pairs
    assert s.ci95[0] < d.mean() < s.ci95[1]
    assert s.p_permutation == pytest.approx(1 / 5001)  # no sign vector reaches the observed mean
    assert s.p_wilcoxon == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-12) and s.p_wilcoxon < 1e-6
    assert s.effect_size == pytest.approx(d.mean() / d.std(ddof=1))
    assert s.improved == pytest.approx(np.mean(d > 0)) and s.worse == pytest.approx(np.mean(d < 0))
    assert s.b_better


def test_identical_runs_give_p_1_and_difference_0(tmp_path):
    scores = {"psnr": np.linspace(20, 30, 12), "ssim": np.linspace(0.2, 0.6, 12)}
    a, b = make_run(tmp_path / "a", scores), make_run(tmp_path / "b", scores, name="n")
    comparison = compare([a], [b])
    for s in comparison.stats:
        assert (s.diff, s.ci95, s.p_permutation, s.p_wilcoxon, s.effect_size) == (0.0, (0.0, 0.0), 1.0, 1.0, 0.0)
        assert (s.improved, s.worse) == (0.0, 0.0)
    assert "the same score on every clip" in comparison.render()


@pytest.mark.parametrize("n", [6, 10, 13])
def test_the_exact_sign_flip_p_value_equals_scipys_permutation_test(n):
    rng = np.random.default_rng(n)
    d = rng.normal(0.3, 1.0, n)
    p, exact = sign_flip_pvalue(d, n_perm=10_000)
    reference = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                       alternative="two-sided").pvalue
    assert exact and p == pytest.approx(reference, rel=1e-12)


def test_the_sampled_sign_flip_p_value_is_close_to_the_exact_one():
    rng = np.random.default_rng(0)
    d = rng.normal(0.5, 1.0, 16)  # 2^16 sign vectors: more than n_perm, so they are sampled
    p, exact = sign_flip_pvalue(d, n_perm=20_000, seed=1)
    reference = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                       alternative="two-sided").pvalue
    assert not exact and abs(p - reference) < 0.01 and 0.05 < reference < 0.5
    assert sign_flip_pvalue(d, n_perm=20_000, seed=1) == (p, exact)  # seeded


def test_improvement_reads_the_metrics_direction():
    a = np.full(40, 0.30)
    b = a.copy()
    b[:30] -= 0.05  # lower on 30 clips
    b[30:] += 0.01  # higher on 10
    lpips = paired_statistics(a, b, metric="lpips", n_boot=100, n_perm=100)
    psnr = paired_statistics(a, b, metric="psnr", n_boot=100, n_perm=100)
    assert lpips.improved == 0.75 and lpips.worse == 0.25 and lpips.b_better  # lower LPIPS is better
    assert psnr.improved == 0.25 and psnr.worse == 0.75 and not psnr.b_better
    assert lpips.diff == psnr.diff == pytest.approx(-0.035)


def test_several_seeds_are_averaged_per_clip_before_pairing(tmp_path):
    rng = np.random.default_rng(5)
    ids = [f"clip-{i:03d}" for i in range(20)]
    a0, a1, b0 = rng.normal(25, 2, 20), rng.normal(25, 2, 20), rng.normal(26, 2, 20)
    run_a0 = make_run(tmp_path / "a0", {"psnr": a0}, seed=0, clip_ids=ids)
    run_a1 = make_run(tmp_path / "a1", {"psnr": a1[:18]}, seed=1, clip_ids=ids[:18])  # two clips failed here
    run_b0 = make_run(tmp_path / "b0", {"psnr": b0}, name="n", seed=0, clip_ids=ids)
    comparison = compare([run_a0, run_a1], [run_b0], n_boot=500, n_perm=1000)
    side_a = (pd.Series(a0, ids) + pd.Series(a1[:18], ids[:18])).dropna() / 2  # the 18 clips both seeds scored
    direct = paired_statistics(side_a.to_numpy(), pd.Series(b0, ids).loc[side_a.index].to_numpy(), metric="psnr",
                               n_boot=500, n_perm=1000)
    assert comparison.stats[0] == direct and comparison.stats[0].n == 18
    assert comparison.only_b == {"psnr": ids[18:]}
    assert "2 runs, seeds 0, 1, clip scores averaged over them" in comparison.render()


# ---- protocol -----------------------------------------------------------------------------------------------------


def test_runs_on_another_track_split_content_or_metric_setting_are_refused(tmp_path):
    from benchmark.errors import UsageError

    scores = {"psnr": np.linspace(20, 30, 8), "ssim": np.linspace(0.2, 0.6, 8)}
    base = make_run(tmp_path / "base", scores)
    settings = MetricSuite(("psnr", "ssim")).settings()
    other_sigma = copy.deepcopy(settings)
    other_sigma["ssim"]["sigma"] = 2.0
    cases = {
        "track": (make_run(tmp_path / "ff", scores, track="first-frame"), "dataset.track"),
        "content": (make_run(tmp_path / "content", scores, split_identity="f" * 64), "split identity"),
        "setting": (make_run(tmp_path / "sigma", scores, settings=other_sigma),
                    "metric_settings.ssim.sigma: 1.5 vs 2.0"),
    }
    for what, (run, expected) in cases.items():
        with pytest.raises(UsageError, match="not under the same protocol") as info:
            compare([base], [run])
        assert expected in str(info.value), what
    # a setting of a metric that is not compared does not matter
    assert [s.metric for s in compare([base], [cases["setting"][0]], metrics=["psnr"]).stats] == ["psnr"]


def test_a_metric_one_run_did_not_score_is_named(tmp_path):
    from benchmark.errors import UsageError

    a = make_run(tmp_path / "a", {"psnr": np.arange(5.0)})
    b = make_run(tmp_path / "b", {"psnr": np.arange(5.0) + 1, "ssim": np.linspace(0, 1, 5)})
    assert [s.metric for s in compare([a], [b]).stats] == ["psnr"]  # default: what every run scored
    with pytest.raises(UsageError, match=r"--metrics ssim: not scored by .*score RUN_DIR --metrics ssim"):
        compare([a], [b], metrics=["ssim"])


# ---- on the committed runs, and the command line -------------------------------------------------------------------


def test_committed_reference_runs_reproject_beats_exo_copy(capsys):
    ref = REFERENCE / "reference" / "synth" / "test"
    assert run_cli("compare", ref / "exo-copy", ref / "reproject", "--n-boot", 1000, "--n-perm", 2000) == 0
    out = capsys.readouterr().out
    psnr = next(line for line in out.splitlines() if line.strip().startswith("PSNR"))
    assert "100%" in psnr and "4.7e-10" in psnr  # every clip better: the exact Wilcoxon minimum 2 / 2^32
    comparison = compare([ref / "exo-copy"], [ref / "reproject"], n_boot=1000, n_perm=2000)
    assert all(s.b_better and s.p_permutation == pytest.approx(1 / 2001) for s in comparison.stats)


def test_seeds_given_as_globs_on_the_command_line(capsys, tmp_path):
    root = REFERENCE / "ablation"
    assert run_cli("compare", "--a", f"{root}/seed*/synth/test/exo2egosyn-no-align",
                   "--b", f"{root}/seed*/synth/test/exo2egosyn", "--metrics", "psnr", "--n-boot", 500,
                   "--out", tmp_path / "cmp.md") == 0
    out = capsys.readouterr().out
    assert "3 runs, seeds 0, 1, 2, clip scores averaged over them" in out
    markdown = (tmp_path / "cmp.md").read_text()
    assert markdown.startswith("## Paired comparison on synth/test") and "| PSNR ↑ | 32 |" in markdown


def test_compare_of_runs_under_different_protocols_is_one_line_exit_2(tmp_path, capsys):
    scores = {"psnr": np.linspace(20, 30, 8)}
    a = make_run(tmp_path / "a", scores)
    b = make_run(tmp_path / "b", scores, track="first-frame")
    assert run_cli("compare", a, b) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the runs are not under the same protocol") and "\n" not in err
    assert "dataset.track: \"exo-only\" vs \"first-frame\"" in err


@pytest.mark.parametrize("args, expected", [
    (("compare", "{a}"), "takes two run folders"),
    (("compare", "{a}", "{a}"), "is given more than once"),
    (("compare", "{a}", "{tmp}/nowhere"), "run folder {tmp}/nowhere does not exist"),
    (("compare", "{a}", "{tmp}/nothing*"), "matches no run folder"),
    (("compare", "{a}", "{tmp}"), "holds no results.json"),
    (("compare", "{a}", "{b}", "--a", "{a}"), "not both"),
    (("compare", "--a", "{a}"), "needs both sides"),
    (("compare", "{a}", "{b}", "--metrics", "lpips"), "--metrics lpips: not scored by"),
])
def test_usage_errors_of_compare_are_one_line_and_exit_2(tmp_path, capsys, args, expected):
    a = make_run(tmp_path / "a", {"psnr": np.arange(4.0)})
    b = make_run(tmp_path / "b", {"psnr": np.arange(4.0) + 1})
    fill = {"a": a, "b": b, "tmp": tmp_path}
    assert run_cli(*[x.format(**fill) for x in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected.format(**fill) in err


def test_a_results_file_that_disagrees_with_its_per_clip_table_is_refused(tmp_path, capsys):
    a = make_run(tmp_path / "a", {"psnr": np.arange(4.0)})
    b = make_run(tmp_path / "b", {"psnr": np.arange(4.0) + 1})
    results = json.loads((b / "results.json").read_text())
    results["metrics"]["psnr"]["mean"] += 1.0
    results["metrics"]["psnr"]["ci95"] = [x + 1.0 for x in results["metrics"]["psnr"]["ci95"]]
    (b / "results.json").write_text(json.dumps(results))
    assert run_cli("compare", a, b) == 2
    assert "results.json and per_clip.csv disagree" in capsys.readouterr().err
