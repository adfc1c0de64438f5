"""The Markdown leaderboard, rendered from real run folders (runner on the tiny dataset) and hand-edited copies.

It ranks together only valid, self-consistent runs over the same clips under one protocol; everything else
is shown apart with the reason, and a broken file never stops the table. Best / second marks, ablation rows,
per-category tables and the reported numbers' data files are specified here too; the LaTeX and HTML renderers
of the same model in test_table_formats.py.
"""

import json
import re
import shutil

import pandas as pd
import pytest

from benchmark.metrics import summarize
from benchmark.results import build_results, write_csv_atomic, write_json_atomic
from leaderboard.protocol import protocol_digest
from leaderboard.reported import ReportedDataError, load_source, reported_rows, reported_sources
from leaderboard.table import render_markdown

SECTION = "## synth / test / exo-only"
LONG_REASON = ("lpips needs torchvision AlexNet ImageNet weights (IMAGENET1K_V1), file alexnet-owt-7be5be79.pth, not "
               "found at /somewhere/alexnet-owt-7be5be79.pth; to get it, run `python -m benchmark weights fetch` on a "
               "machine with internet, or download it by hand and point EXOEGO_LPIPS_ALEXNET at it")


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under ``heading`` (up to the next heading), as lists of cells."""
    section = re.split(r"\n#{2,3} ", text.split(heading, 1)[1], maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def ranked_names(text: str) -> list[str]:
    return [r[0] for r in table_rows(text, SECTION)]


# --- real runs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def complete_runs(tiny_synth, tmp_path_factory):
    """exo-copy and reproject (oracle) scored on all 3 clips of the tiny dataset: ``<root>/synth/test/<run>``."""
    from benchmark.runner import run

    root = tmp_path_factory.mktemp("complete")
    for method in ("exo-copy", "reproject"):
        run(method, root=tiny_synth, out=root, progress=False, metrics=("psnr", "ssim"))
    return root


@pytest.fixture(scope="module")
def mixed_runs(complete_runs, tiny_synth, tmp_path_factory):
    """The complete runs plus a --limit 2 run and a run where clip 0000 failed (2 of 3 clips scored).

    The partial run scores reproject's own videos of clips 0001 and 0002 (from-folder), so its PSNR is higher
    than exo-copy's: it must still not be ranked with (or above) the complete runs.
    """
    from benchmark.runner import run

    root = tmp_path_factory.mktemp("mixed")
    shutil.copytree(complete_runs, root, dirs_exist_ok=True)
    run("exo-copy", root=tiny_synth, out=root, progress=False, metrics=("psnr", "ssim"), limit=2,
        run_name="exo-copy-first2")
    folder = root / "outside-videos"
    folder.mkdir()
    for clip_id in ("synth-test-0001", "synth-test-0002"):
        shutil.copy(root / "synth/test/reproject/videos" / f"{clip_id}.mp4", folder)
    report = run("from-folder", root=tiny_synth, out=root, progress=False, metrics=("psnr", "ssim"),
                 method_kwargs={"root": str(folder)}, run_name="reproject-partial")
    assert [f["clip_id"] for f in report.failed] == ["synth-test-0000"]
    return root


def copy_of(root, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(root, out)
    return out


def edit_run(root, source: str, new_name: str, edit) -> None:
    """Copy run folder ``source`` to ``new_name`` (method renamed) and apply ``edit(results_dict)`` by hand."""
    src, dst = root / "synth/test" / source, root / "synth/test" / new_name
    shutil.copytree(src, dst)
    results = json.loads((dst / "results.json").read_text())
    results["method"]["name"] = new_name
    edit(results)
    (dst / "results.json").write_text(json.dumps(results))


def test_complete_runs_are_ranked_best_psnr_first_with_mean_plus_minus_half_interval(complete_runs):
    text = render_markdown(complete_runs)
    # columns: the default metrics these runs recorded (they scored psnr and ssim only)
    assert "| method | PSNR ↑ | SSIM ↑ | n clips | seed |" in text
    results = json.loads((complete_runs / "synth/test/exo-copy/results.json").read_text())
    assert (f"Ranked: 2 runs over the same 3 clips under one metric protocol. Dataset synth, config default, split "
            f"test, track exo-only; dataset identity `{results['dataset']['identity'][:12]}`; protocol "
            f"`{protocol_digest(results)}`.") in text
    rows = table_rows(text, SECTION)
    assert [r[0] for r in rows] == ["reproject (oracle)", "exo-copy"]
    for row, run in zip(rows, ("reproject", "exo-copy")):
        results = json.loads((complete_runs / "synth/test" / run / "results.json").read_text())
        psnr, ssim = results["metrics"]["psnr"], results["metrics"]["ssim"]
        assert row[1] == f"{psnr['mean']:.2f} ± {(psnr['ci95'][1] - psnr['ci95'][0]) / 2:.2f}"
        assert row[2] == f"{ssim['mean']:.3f} ± {(ssim['ci95'][1] - ssim['ci95'][0]) / 2:.3f}"
        assert row[3:] == ["3", "0"]  # one non-oracle row: nothing to mark
    assert "(oracle): sees ground truth" in text and "Not ranked" not in text
    named = render_markdown(complete_runs, metrics=("psnr", "ssim", "lpips"))  # a column asked for is shown
    assert "| method | PSNR ↑ | SSIM ↑ | LPIPS ↓ | n clips | seed |" in named
    assert all(re.fullmatch(r"n/a \[\d\]", row[3]) for row in table_rows(named, SECTION))  # not scored: a note


def test_files_with_a_string_mean_or_a_null_interval_are_skipped_by_name_and_the_rest_is_rendered(
        complete_runs, tmp_path, capsys):
    root = copy_of(complete_runs, tmp_path)
    edit_run(root, "exo-copy", "string-mean", lambda r: r["metrics"]["psnr"].update(mean="11.5"))
    edit_run(root, "exo-copy", "null-ci", lambda r: r["metrics"]["ssim"].update(ci95=None))
    text = render_markdown(root)
    assert ranked_names(text) == ["reproject (oracle)", "exo-copy"]
    skipped = text.split("Skipped files", 1)[1]
    assert '- `synth/test/string-mean/results.json`: metrics.psnr.mean: expected a finite number, got "11.5" (str)' \
        in skipped
    assert "- `synth/test/null-ci/results.json`: metrics.ssim.ci95: expected [low, high], got null" in skipped

    from benchmark.cli import main

    assert main(["leaderboard", "--root", str(root)]) == 0  # the command shows the table, not a traceback
    out = capsys.readouterr().out
    assert "| reproject (oracle) |" in out and "synth/test/null-ci/results.json" in out


def test_a_hand_edited_mean_that_contradicts_its_per_clip_csv_is_not_ranked(complete_runs, tmp_path):
    root = copy_of(complete_runs, tmp_path)

    def inflate(results):  # a best-looking row, valid by itself: mean inside its interval
        results["metrics"]["psnr"].update(mean=60.0, ci95=[59.0, 61.0])

    edit_run(root, "exo-copy", "too-good", inflate)
    text = render_markdown(root)
    assert ranked_names(text) == ["reproject (oracle)", "exo-copy"]
    apart = text.split("### Not ranked: inconsistent with per_clip.csv", 1)[1]
    assert re.search(r"- too-good \(`synth/test/too-good/results.json`\): metrics\.psnr\.mean is 60\.0 in results"
                     r"\.json, but per_clip\.csv gives 1\d\.\d+ \(mean of 3 clip scores\)", apart)
    assert "60.00" not in text  # its numbers are not shown as if they were scores


def test_missing_or_non_numbers_show_as_n_a_never_nan(complete_runs, tmp_path):
    root = copy_of(complete_runs, tmp_path)
    edit_run(root, "exo-copy", "nan-mean", lambda r: r["metrics"]["psnr"].update(mean=float("nan")))
    edit_run(root, "exo-copy", "no-ssim", lambda r: r["metrics"].pop("ssim"))
    text = render_markdown(root)
    assert "- `synth/test/nan-mean/results.json`: metrics.psnr.mean: expected a finite number, got NaN" in text
    cells = [c for line in text.splitlines() if line.startswith("|") for c in line.split("|")]
    assert not any(re.search(r"\bnan\b|\binf\b", c, re.IGNORECASE) for c in cells)
    [no_ssim] = [r for r in table_rows(text, SECTION) if r[0] == "no-ssim"]
    number = re.fullmatch(r"n/a \[(\d)\]", no_ssim[2]).group(1)
    assert f"[{number}] ssim was not scored in this run." in text


def test_runs_over_other_clips_are_shown_apart_labelled_and_never_ranked_above_complete_runs(mixed_runs):
    text = render_markdown(mixed_runs)
    assert ranked_names(text) == ["reproject (oracle)", "exo-copy"]
    ranked_end = text.index("Cells: mean")
    apart = text[ranked_end:]
    assert text.index("| reproject-partial |") > ranked_end and text.index("| exo-copy-first2 |") > ranked_end

    [limit_section, partial_section] = apart.split("### Not ranked with the table above: other clips")[1:]
    assert "Scored 2 clips; 1 of the 3 clips ranked above are missing (synth-test-0002); run on 2 of the split's " \
           "3 clips (--limit)." in limit_section
    assert "| exo-copy-first2 |" in limit_section and re.search(r"\| 2 of 3 \| 0 \|", limit_section)
    assert "Scored 2 clips; 1 of the 3 clips ranked above are missing (synth-test-0000)." in partial_section
    assert re.search(r"\| reproject-partial \| [^|]+ \| [^|]+ \| 2 of 3 \(1 failed\) \| 0 \|", partial_section)
    partial_psnr = float(table_rows(partial_section.join(["### x", ""]), "### x")[0][1].split()[0])
    exo_copy_psnr = float(table_rows(text, SECTION)[1][1].split()[0])
    assert partial_psnr > exo_copy_psnr  # better-looking, and still not ranked with the complete runs


def test_a_run_under_another_metric_protocol_is_shown_apart_with_the_difference(complete_runs, tmp_path):
    root = copy_of(complete_runs, tmp_path)
    edit_run(root, "exo-copy", "wide-window", lambda r: r["metric_settings"]["ssim"].update(sigma=2.0))
    edit_run(root, "exo-copy", "other-device",  # where it ran and with which versions is not the protocol
             lambda r: r["metric_settings"].update(device="cuda:0", versions={"torch": "9.9"}))
    text = render_markdown(root)
    assert ranked_names(text) == ["reproject (oracle)", "exo-copy", "other-device"]
    section = text.split("### Not ranked with the table above: other protocol", 1)[1]
    assert "Differs from the ranked runs in (theirs vs these) metric_settings.ssim.sigma: 1.5 vs 2.0." in section
    assert [r[0] for r in table_rows(section.join(["### x", ""]), "### x")] == ["wide-window"]


def test_runs_without_a_per_clip_csv_or_without_a_verified_identity_are_not_ranked(complete_runs, tmp_path):
    root = copy_of(complete_runs, tmp_path)
    edit_run(root, "exo-copy", "no-csv", lambda r: None)
    (root / "synth/test/no-csv/per_clip.csv").unlink()

    def schema_1(results):
        results["schema_version"] = 1
        del results["dataset"]["identity"], results["bootstrap"]

    edit_run(root, "exo-copy", "old-file", schema_1)
    text = render_markdown(root)
    assert ranked_names(text) == ["reproject (oracle)", "exo-copy"]
    assert re.search(r"### Not ranked: no usable per_clip\.csv\n\n- no-csv \(`synth/test/no-csv/results\.json`\): "
                     r"no per_clip\.csv next to results\.json", text)
    section = text.split("### Not ranked with the table above: unverified data, other protocol", 1)[1]
    assert section.startswith("\n\nSchema-1 results without a verified dataset identity")
    assert re.search(r"differs from the ranked runs in \(theirs vs these\) bootstrap: \{.* vs null\.", section)
    assert "| old-file |" in section


# --- synthetic runs (per_clip.csv and results.json written by the real writers from chosen scores) ------------


def write_run(root, name, *, psnr, lpips_reason=None, oracle=False, dataset="synth", split="test",
              track="exo-only", seed=0, lpips=None, categories=None, registered_as=None):
    """A run folder whose results are summarize() of the given per-clip PSNR scores (SSIM and LPIPS too: LPIPS
    ``lpips`` per clip, default 0.3; ``categories`` per clip, default all "x")."""
    per_clip = pd.DataFrame({"clip_id": [f"c{i}" for i in range(len(psnr))], "category": categories or "x",
                             "psnr": psnr, "ssim": [0.5 + 0.01 * i for i in range(len(psnr))]})
    unavailable = {"lpips": lpips_reason} if lpips_reason else {}
    if not lpips_reason:
        per_clip["lpips"] = 0.3 if lpips is None else lpips
    summary = summarize(per_clip, ["psnr", "ssim", "lpips"], n_boot=200, seed=seed, unavailable=unavailable)
    method = {"name": name, "config": {}, "checkpoint_sha256": None, "oracle": oracle}
    if registered_as:
        method["registered_as"] = registered_as
    results = build_results(
        method=method,
        dataset={"name": dataset, "split": split, "track": track, "identity": "0" * 64, "manifest_sha256": "1" * 64,
                 "n_clips": len(psnr)},
        metrics_summary=summary["metrics"], per_category=summary["per_category"], bootstrap=summary["bootstrap"],
        settings={"colour_space": "RGB", "resolution_scored": [[64, 64]]}, seed=seed,
        counts={"generated": len(psnr), "reused": 0, "failed": 0},
    )
    folder = root / dataset / split / name
    write_csv_atomic(folder / "per_clip.csv", per_clip)
    return write_json_atomic(folder / "results.json", results)


def test_the_lpips_unavailable_reason_is_said_once_per_table_and_points_to_weights(tmp_path):
    for i, name in enumerate(("a", "b", "c")):
        write_run(tmp_path, name, psnr=[20.0 + i, 21.0 + i], lpips_reason=LONG_REASON)
    text = render_markdown(tmp_path)
    cells = [r[3] for r in table_rows(text, SECTION)]
    assert cells == ["n/a [1]"] * 3
    short = LONG_REASON.split("; ")[0]
    assert text.count(short) == 1 and "EXOEGO_LPIPS_ALEXNET" not in text
    assert f"[1] lpips unavailable: {short}. `python -m benchmark weights` says what is missing" in text


def test_one_table_per_dataset_split_and_track_and_filters(tmp_path):
    write_run(tmp_path, "a", psnr=[20.0, 21.0], split="test")
    write_run(tmp_path, "b", psnr=[21.0, 22.0], split="val")
    write_run(tmp_path, "c", psnr=[22.0, 23.0], split="test", track="first-frame")
    text = render_markdown(tmp_path)
    for heading in ("## synth / test / exo-only", "## synth / val / exo-only", "## synth / test / first-frame"):
        assert heading in text
    only_val = render_markdown(tmp_path, split="val")
    assert "## synth / val / exo-only" in only_val and "/ test /" not in only_val
    assert "No results.json found" in render_markdown(tmp_path, dataset="egoexo4d")


def test_runs_are_sorted_by_psnr_and_oracle_runs_are_marked(tmp_path):
    write_run(tmp_path, "gt-copy", psnr=[60.0, 61.0], oracle=True)
    write_run(tmp_path, "exo-copy", psnr=[11.0, 12.0])
    write_run(tmp_path, "better", psnr=[15.0, 16.0])
    text = render_markdown(tmp_path)
    assert ranked_names(text) == ["gt-copy (oracle)", "better", "exo-copy"]
    assert table_rows(text, SECTION)[2][3] == "**0.300** ± 0.000"  # tied with "better": both best


def test_best_is_bold_and_second_underlined_per_column_with_ties_and_lower_is_better(tmp_path):
    # PSNR (higher is better): a 25.5 > b 24.5 = c 24.5 > d 20.5; LPIPS (lower is better): d 0.1 < c 0.2 < a = b 0.4
    write_run(tmp_path, "gt", psnr=[60.0, 61.0], lpips=[0.0, 0.0], oracle=True)  # best everywhere, never marked
    write_run(tmp_path, "a", psnr=[25.0, 26.0], lpips=[0.4, 0.4])
    write_run(tmp_path, "b", psnr=[24.0, 25.0], lpips=[0.4, 0.4])
    write_run(tmp_path, "c", psnr=[24.0, 25.0], lpips=[0.2, 0.2])
    write_run(tmp_path, "d", psnr=[20.0, 21.0], lpips=[0.1, 0.1])
    rows = {r[0]: r for r in table_rows(render_markdown(tmp_path), SECTION)}
    assert [rows[n][1].split(" ± ")[0] for n in ("gt (oracle)", "a", "b", "c", "d")] == [
        "60.50", "**25.50**", "<ins>24.50</ins>", "<ins>24.50</ins>", "20.50"]
    assert [rows[n][3].split(" ± ")[0] for n in ("gt (oracle)", "a", "b", "c", "d")] == [
        "0.000", "0.400", "0.400", "<ins>0.200</ins>", "**0.100**"]
    # SSIM is the same for every run (0.505): all tied for best, and no second
    assert {rows[n][2] for n in "abcd"} == {"**0.505** ± 0.005"}


def test_exo2egosyn_ablations_are_grouped_under_it(tmp_path):
    write_run(tmp_path, "exo2egosyn", psnr=[14.0, 15.0], registered_as="exo2egosyn")
    write_run(tmp_path, "exo2egosyn-no-align", psnr=[12.0, 13.0], registered_as="exo2egosyn-no-align")
    write_run(tmp_path, "exo2egosyn-no-poseinj", psnr=[16.0, 17.0], registered_as="exo2egosyn-no-poseinj")
    write_run(tmp_path, "my-no-multi", psnr=[13.0, 14.0], registered_as="exo2egosyn-no-multiexocon")  # by registry
    write_run(tmp_path, "exo-copy", psnr=[11.0, 12.0])
    write_run(tmp_path, "other", psnr=[15.0, 16.0])
    text = render_markdown(tmp_path)
    assert ranked_names(text) == ["other", "exo2egosyn", "↳ exo2egosyn-no-poseinj", "↳ my-no-multi",
                                  "↳ exo2egosyn-no-align", "exo-copy"]
    assert table_rows(text, SECTION)[2][1].startswith("**16.50**")  # marks ignore the grouping
    assert "Exo2EgoSyn ablations follow exo2egosyn" in text


def test_by_category_adds_one_table_per_category_with_the_per_category_numbers(tmp_path):
    categories = ["cook", "cook", "bike"]
    write_run(tmp_path, "a", psnr=[20.0, 22.0, 30.0], lpips=[0.2, 0.2, 0.5], categories=categories)
    write_run(tmp_path, "b", psnr=[21.0, 23.0, 25.0], lpips=[0.1, 0.3, 0.4], categories=categories)
    assert "### Category" not in render_markdown(tmp_path)
    text = render_markdown(tmp_path, by="category")
    assert text.index("### Category: bike") < text.index("### Category: cook")
    for category in ("bike", "cook"):
        rows = {r[0]: r for r in table_rows(text, f"### Category: {category}")}
        for name in ("a", "b"):
            results = json.loads((tmp_path / "synth/test" / name / "results.json").read_text())
            for col, metric in ((1, "psnr"), (3, "lpips")):
                entry = results["per_category"][category][metric]
                shown = rows[name][col].replace("**", "").replace("<ins>", "").replace("</ins>", "")
                half = (entry["ci95"][1] - entry["ci95"][0]) / 2
                decimals = 2 if metric == "psnr" else 3
                assert shown == f"{entry['mean']:.{decimals}f} ± {half:.{decimals}f}"
            assert rows[name][4] == str(categories.count(category))
    bike = {r[0]: r for r in table_rows(text, "### Category: bike")}
    assert bike["a"][1].startswith("**30.00**") and bike["b"][3].startswith("**0.400**")  # per category, not overall
    assert re.fullmatch(r"[\d.]+ ± [\d.]+", bike["b"][1])  # of two values the other is not "second": no mark
    assert "category bike" in text.split("### Category: bike", 1)[1].split("|", 1)[0]


def test_reported_numbers_only_on_request_in_their_own_labelled_tables_never_ranked(tmp_path):
    write_run(tmp_path, "exo-copy", psnr=[11.0, 12.0])
    assert "Ego-Forge" not in render_markdown(tmp_path)
    text = render_markdown(tmp_path, include_reported=True)
    ranked, reported = text.split("## Reported by their authors, not reproduced here")
    assert "Ego-Forge" not in ranked and "EgoX" not in ranked
    for source in reported_sources():
        heading = f"### Reported: {source.source}"
        block = reported.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "not reproduced here" in block and source.setting.describe() in block
        rows = table_rows(reported, heading)
        assert [(r[0], re.sub(r" \[\d\]$", "", r[1])) for r in rows] == [(r.split, r.method) for r in source.rows]
        for row, result in zip(rows, source.rows):
            assert [None if c.startswith("n/a [") else c for c in row[2:]] == [result.formatted(m)
                                                                              for m in source.metrics]
    assert "**" not in reported and "<ins>" not in reported  # not ranked, not even among themselves
    assert "| seen | Ego-Forge | 16.37 | 0.557 | 0.492 | 0.893 | 170.18 |" in reported
    assert "| unseen | Exo2Ego-V | 12.93 | 0.430 | 0.594 | 0.677 | 1123.90 |" in reported  # printed digits kept
    assert "| unseen | Exo2Ego-V [3] | 12.70 | 1283 |" in reported  # and none added
    assert sum(1 for line in reported.splitlines() if re.match(r"\| (un)?seen \|", line)) == len(reported_rows())


def test_reported_data_files_state_their_source_and_setting():
    forge, egox = (next(s for s in reported_sources() if s.path.stem == stem) for stem in ("ego_forge_table1",
                                                                                          "egox_paper"))
    assert forge.source == "Ego-Forge (Mahdi et al., 2026), Table 1" and forge.dataset == "Ego-Exo4D"
    assert (forge.setting.frames, forge.setting.ego_resolution, forge.setting.exo_resolution) == (25, "448x448",
                                                                                                  "448x768")
    assert forge.setting.exo_views is None  # not stated in our source: not guessed
    assert forge.metrics == ("psnr", "ssim", "lpips", "clip_i", "fvd") and forge.splits == ("seen", "unseen")
    assert (egox.setting.exo_views, egox.setting.frames) == (1, 49)
    [exo2ego_v] = [r for r in egox.rows if r.method == "Exo2Ego-V" and r.split == "unseen"]
    assert exo2ego_v.printed_value("fvd") == "1283" and exo2ego_v.value("psnr") == 12.70
    assert exo2ego_v.setting.exo_views is None and exo2ego_v.setting.frames == 49  # a row's override


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["rows"][0]["values"].update(psnr=14.41), "rows[0].values.psnr"),  # a float loses printed digits
    (lambda d: d["rows"][1]["values"].pop("ssim"), "rows[1].values"),
    (lambda d: d["setting"].update(frames="25"), "setting.frames"),
    (lambda d: d.update(metrics=["psnr", "nope"]), "metrics"),
    (lambda d: d.pop("source"), "'source'"),
])
def test_a_malformed_reported_data_file_names_the_file_and_the_field(tmp_path, edit, field):
    data = json.loads(reported_sources()[0].path.read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportedDataError) as info:
        load_source(path)
    assert str(info.value).startswith(f"{path}: ") and field in str(info.value)


def test_files_of_another_schema_version_are_listed_as_skipped(tmp_path):
    write_run(tmp_path, "a", psnr=[20.0, 21.0])
    bad = tmp_path / "synth" / "test" / "old" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"schema_version": 0, "metrics": {}}')
    text = render_markdown(tmp_path)
    assert "Skipped files" in text and "- `synth/test/old/results.json`: schema_version 0, but this code reads" in text
    assert ranked_names(text) == ["a"]
