"""The leaderboard in its three formats (Markdown, LaTeX, HTML), all printed from one table model.

Each format is parsed back here: its numbers must equal the results files, its bold / underline marks must sit
on the cells the results files say are best / second (with each metric's direction), LaTeX must be well formed
(balanced braces, booktabs rules, escaped names; compiled when ``pdflatex`` is installed), reported numbers
must stay apart and labelled, and per-category tables must carry the per-category numbers.
"""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.metrics import catalog, summarize
from benchmark.results import build_results, write_csv_atomic, write_json_atomic
from leaderboard.protocol import protocol_digest
from leaderboard.reported import reported_rows, reported_sources
from leaderboard.table import build_leaderboard, render, to_html, to_latex, to_markdown

FORMATS = ("md", "tex", "html")


# ---- run folders ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_runs(tiny_synth, tmp_path_factory):
    """exo-copy, mean-colour and reproject (oracle) on the 3 tiny clips, PSNR and SSIM: ``<root>/synth/test/<run>``."""
    from benchmark.runner import run

    root = tmp_path_factory.mktemp("runs")
    for method in ("exo-copy", "mean-colour", "reproject"):
        run(method, root=tiny_synth, out=root, progress=False, metrics=("psnr", "ssim"))
    return root


def write_run(root, name, *, psnr, lpips, categories=None, oracle=False):
    """A run folder written by the real writers from chosen per-clip PSNR and LPIPS (lower is better) scores."""
    per_clip = pd.DataFrame({"clip_id": [f"c{i}" for i in range(len(psnr))], "category": categories or "x",
                             "psnr": psnr, "lpips": lpips})
    summary = summarize(per_clip, ["psnr", "lpips"], n_boot=200, seed=0)
    results = build_results(
        method={"name": name, "config": {}, "checkpoint_sha256": None, "oracle": oracle},
        dataset={"name": "synth", "split": "test", "track": "exo-only", "identity": "0" * 64,
                 "manifest_sha256": "1" * 64, "n_clips": len(psnr)},
        metrics_summary=summary["metrics"], per_category=summary["per_category"], bootstrap=summary["bootstrap"],
        settings={"colour_space": "RGB"}, seed=0, counts={"generated": len(psnr), "reused": 0, "failed": 0})
    write_csv_atomic(root / "synth/test" / name / "per_clip.csv", per_clip)
    write_json_atomic(root / "synth/test" / name / "results.json", results)


CATEGORIES = ["cook", "cook", "bike", "bike"]


@pytest.fixture(scope="module")
def chosen_runs(tmp_path_factory):
    """Runs with known orders: PSNR a > b = c > d (higher is better), LPIPS d < c < a = b (lower is better); on the
    bike clips d has the best PSNR and the worst LPIPS."""
    root = tmp_path_factory.mktemp("chosen")
    write_run(root, "gt", psnr=[60.0, 61.0, 60.0, 61.0], lpips=[0.0] * 4, categories=CATEGORIES, oracle=True)
    write_run(root, "a", psnr=[25.0, 26.0, 25.0, 26.0], lpips=[0.4] * 4, categories=CATEGORIES)
    write_run(root, "b", psnr=[24.0, 25.0, 24.0, 25.0], lpips=[0.4] * 4, categories=CATEGORIES)
    write_run(root, "c", psnr=[24.0, 25.0, 24.0, 25.0], lpips=[0.3] * 4, categories=CATEGORIES)
    write_run(root, "d", psnr=[20.0, 21.0, 26.0, 27.0], lpips=[0.05, 0.05, 0.45, 0.45], categories=CATEGORIES)
    return root


def results_of(root, name) -> dict:
    return json.loads((root / "synth/test" / name / "results.json").read_text())


# ---- parsers: each format back into {table caption/title: {row name: {metric: (mean, half, mark)}}} --------------


def parse_md(text: str) -> list[dict]:
    """Tables of the Markdown: ``{"title", "caption", "columns", "rows": {name: {column: (mean, half, mark)}}}``."""
    tables, title, paragraph, lines = [], None, "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            title, paragraph = line.lstrip("# "), ""
        elif line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            header = [c.strip() for c in line.strip("|").split("|")]
            first = header.index("method")  # a reported table has a split column before it
            columns, rows = header[first + 1:], {}
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip("|").split("|")][first:]
                rows[re.sub(r"^↳ | \[\d+\]$", "", cells[0])] = dict(zip(columns, map(_md_cell, cells[1:])))
                i += 1
            tables.append({"title": title, "caption": paragraph, "columns": columns, "rows": rows})
            continue
        elif line:
            paragraph += line + " "
        i += 1
    return tables


def _md_cell(text: str):
    text = re.sub(r"( \[\d+\])+$", "", text)
    mark = "best" if text.startswith("**") else "second" if text.startswith("<ins>") else None
    text = re.sub(r"\*\*|</?ins>", "", text)
    mean, _, half = text.partition(" ± ")
    return mean, half or None, mark


def parse_tex(text: str) -> list[dict]:
    tables = []
    for block in re.findall(r"\\begin\{table\}.*?\\end\{table\}", text, re.S):
        caption = re.search(r"\\caption\{(.*)\}\n\\label", block, re.S).group(1)
        body = block.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
        header = block.split("\\toprule\n", 1)[1].split(" \\\\\n\\midrule", 1)[0].split(" & ")
        first = header.index("Method")  # a reported table has a split column before it
        rows = {}
        for line in body.strip().splitlines():
            cells = line.removesuffix(" \\\\").split(" & ")[first:]
            name = re.sub(r"^\\quad |(\\textsuperscript\{\d+\})+$", "", cells[0])
            rows[name] = dict(zip(header[first + 1:], map(_tex_cell, cells[1:])))
        tables.append({"caption": caption, "columns": header[first + 1:], "rows": rows, "block": block})
    return tables


def _tex_cell(text: str):
    text = re.sub(r"(\\textsuperscript\{\d+\})+$", "", text)
    m = re.fullmatch(r"(\\textbf\{|\\underline\{)?([^{}]+?)\}?(\{\\scriptsize\$\\pm\$([^{}]+)\})?", text)
    if m is None:  # not a metric cell (n clips, seed)
        return text, None, None
    mark = {"\\textbf{": "best", "\\underline{": "second"}.get(m.group(1))
    return m.group(2), m.group(4), mark


class _Tables(HTMLParser):
    """Every <table>: caption text, class, column metrics and, per row, each <td>'s attributes and text."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._in = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "caption": "", "columns": [], "rows": [],
                                "attrs": attrs})
        elif tag == "caption":
            self._in = "caption"
        elif tag == "th" and attrs.get("scope") == "col" and "data-column" not in attrs:  # not a lead column
            self.tables[-1]["columns"].append(attrs.get("data-metric") or "")
        elif tag == "tr" and self.tables and "data-method" in attrs:
            self.tables[-1]["rows"].append({"attrs": attrs, "name": "", "cells": []})
            self._in = "lead"
        elif tag == "th" and attrs.get("scope") == "row":
            self._in = "name"
        elif tag == "td" and self._in in ("row", "name"):  # cells after the name (lead cells are skipped)
            self._cell = {"attrs": attrs, "text": ""}
            self.tables[-1]["rows"][-1]["cells"].append(self._cell)
        elif tag in ("strong", "u") and self._cell is not None:
            self._cell["mark_tag"] = tag

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in = None
        elif tag == "th" and self._in == "name":
            self._in = "row"
        elif tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._in == "caption":
            self.tables[-1]["caption"] += data
        elif self._in == "name" and not re.fullmatch(r"\[\d+\]", data):
            self.tables[-1]["rows"][-1]["name"] += data
        elif self._cell is not None:
            self._cell["text"] += data


def parse_html(text: str) -> list[dict]:
    parser = _Tables()
    parser.feed(text)
    out = []
    for t in parser.tables:
        rows, row_attrs = {}, {}
        for row in t["rows"]:
            name = row["name"].removeprefix("↳ ")
            row_attrs[name] = row["attrs"]
            cells = {}
            for metric, cell in zip(t["columns"][1:], row["cells"]):
                mean, _, half = re.sub(r"\[\d+\]", "", cell["text"]).strip().partition(" ± ")
                mark = cell["attrs"].get("class")
                assert mark == {"strong": "best", "u": "second"}.get(cell.get("mark_tag"))  # class and tag agree
                cells[metric] = (mean, half or None, mark, cell["attrs"])
            rows[name] = cells
        out.append({**t, "rows": rows, "row_attrs": row_attrs})
    return out


def parse(fmt: str, text: str) -> list[dict]:
    """Tables with rows ``{name: {metric: (mean, half, mark)}}`` keyed by catalogue metric name, whatever the format."""
    tables = {"md": parse_md, "tex": parse_tex, "html": parse_html}[fmt](text)
    for table in tables:
        if fmt != "html":  # headings "PSNR ↑" / "PSNR $\uparrow$" back to catalogue names
            names = {catalog.entry(m).label: m for m in catalog.METRICS}
            table["columns"] = [names.get(re.sub(r" (↑|↓|\$\\(up|down)arrow\$)$", "", c), c) for c in table["columns"]]
            table["rows"] = {n: {names.get(re.sub(r" (↑|↓|\$\\(up|down)arrow\$)$", "", k), k): v for k, v in r.items()}
                             for n, r in table["rows"].items()}
        else:
            table["columns"] = table["columns"][1:]
        table["rows"] = {n: {m: v for m, v in r.items() if m in catalog.METRICS} for n, r in table["rows"].items()}
    return tables


def expected_cell(metric: str, entry: dict):
    half = (entry["ci95"][1] - entry["ci95"][0]) / 2
    return catalog.format_value(metric, entry["mean"]), catalog.format_value(metric, half)


def expected_marks(values: dict, higher_is_better: bool) -> dict:
    """``{name: "best" | "second" | None}`` from printed values (``{name: text}``), independently of the code."""
    distinct = sorted({float(v) for v in values.values()}, reverse=higher_is_better)
    return {n: "best" if float(v) == distinct[0] else "second" if len(distinct) > 2 and float(v) == distinct[1]
            else None for n, v in values.items()}


# ---- tests -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_number_in_every_format_equals_the_results_files(real_runs, fmt):
    text = render(real_runs, format=fmt)
    [table] = parse(fmt, text)
    assert set(table["rows"]) == {"reproject (oracle)", "exo-copy", "mean-colour"}
    assert table["columns"][:2] == ["psnr", "ssim"]
    for name, row in table["rows"].items():
        results = results_of(real_runs, name.removesuffix(" (oracle)"))
        for metric in ("psnr", "ssim"):
            entry = results["metrics"][metric]
            assert row[metric][:2] == expected_cell(metric, entry), (fmt, name, metric)
            if fmt == "html":  # the unrounded numbers travel too, for a page that sorts them
                attrs = row[metric][3]
                assert float(attrs["data-value"]) == entry["mean"]
                assert [float(attrs["data-low"]), float(attrs["data-high"])] == entry["ci95"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_best_bold_and_second_underlined_with_each_metrics_direction(chosen_runs, fmt):
    tables = parse(fmt, render(chosen_runs, format=fmt))
    rows = tables[0]["rows"]
    for metric, higher in (("psnr", True), ("lpips", False)):
        printed = {n: catalog.format_value(metric, results_of(chosen_runs, n)["metrics"][metric]["mean"])
                   for n in "abcd"}
        assert {n: rows[n][metric][2] for n in "abcd"} == expected_marks(printed, higher), (fmt, metric)
        assert rows["gt (oracle)"][metric][2] is None  # the oracle is best and never marked
    assert [rows[n]["psnr"][2] for n in "abcd"] == ["best", "second", "second", None]  # b and c tie for second
    assert [rows[n]["lpips"][2] for n in "abcd"] == [None, None, "second", "best"]  # lower is better


@pytest.mark.parametrize("fmt", FORMATS)
def test_by_category_adds_a_table_per_category_with_its_numbers_and_marks(chosen_runs, fmt):
    assert len(parse(fmt, render(chosen_runs, format=fmt))) == 1
    tables = parse(fmt, render(chosen_runs, format=fmt, by="category"))
    assert len(tables) == 3
    for table, category in zip(tables[1:], ("bike", "cook")):
        assert f"category {category}" in table["caption"]
        for name in "abcd":
            entry = results_of(chosen_runs, name)["per_category"][category]
            for metric in ("psnr", "lpips"):
                assert table["rows"][name][metric][:2] == expected_cell(metric, entry[metric])
    bike = tables[1]["rows"]
    assert bike["d"]["psnr"][2] == "best" and bike["d"]["lpips"][2] is None  # d: best PSNR on bike, worst LPIPS


def test_latex_is_well_formed_with_booktabs_escaped_names_and_a_full_caption(real_runs, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(real_runs, root)
    odd = root / "synth/test/odd"
    shutil.copytree(root / "synth/test/exo-copy", odd)
    results = json.loads((odd / "results.json").read_text())
    results["method"]["name"] = "my_run&50%#{x}"
    (odd / "results.json").write_text(json.dumps(results))
    text = to_latex(build_leaderboard(root, by="category"), standalone=True)

    unescaped = re.sub(r"\\[{}]", "", text)
    depth = 0
    for ch in unescaped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", text):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack.pop() == env
    assert stack == []
    tables = parse_tex(text)
    assert len(tables) == 1 + len(results["per_category"])  # ranked + one per category of the tiny dataset
    for table in tables:
        block = table["block"]
        assert block.index("\\toprule") < block.index("\\midrule") < block.index("\\bottomrule")
        spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", block).group(1)
        body = block.split("\\toprule\n", 1)[1].split("\\bottomrule", 1)[0].replace("\\midrule\n", "")
        for line in body.strip().splitlines():
            assert len(re.split(r"(?<!\\)&", line)) == len(spec), line
    assert "my\\_run\\&50\\%\\#\\{x\\}" in tables[0]["rows"]
    caption = tables[0]["caption"]
    identity = results["dataset"]["identity"][:12]
    for part in ("Dataset synth", "config default", "split test", "track exo-only", f"\\texttt{{{identity}}}",
                 f"\\texttt{{{protocol_digest(results)}}}"):
        assert part in caption
    assert text.startswith("\\documentclass{article}") and "\\usepackage{booktabs}" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles_with_pdflatex(real_runs, tmp_path):
    (tmp_path / "table.tex").write_text(render(real_runs, format="tex", standalone=True, include_reported=True,
                                               by="category"))
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "table.pdf").stat().st_size > 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_reported_rows_are_apart_after_the_reproduced_ones_labelled_and_not_ranked(real_runs, fmt):
    text = render(real_runs, format=fmt, include_reported=True)
    tables = parse(fmt, text)
    [reproduced, *reported] = tables
    assert "exo-copy" in reproduced["rows"] and not {r.method for r in reported_rows()} & set(reproduced["rows"])
    sources = reported_sources()
    assert len(reported) == len(sources)
    for table, source in zip(reported, sources):
        label = table["title"] if fmt == "md" else table["caption"]
        assert label.startswith(f"Reported: {source.source}")
        assert "not reproduced here" in table["caption"]
        assert set(table["rows"]) == {r.method for r in source.rows}
        assert all(cell[2] is None for row in table["rows"].values() for cell in row.values())  # never ranked
        if fmt == "html":
            assert "reported" in table["class"].split()
            assert all("reported" in attrs["class"].split() for attrs in table["row_attrs"].values())
    if fmt == "tex":
        assert text.index("Reported by their authors") > text.index("exo-copy")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_under_another_protocol_is_never_ranked_or_marked_with_the_others(real_runs, tmp_path, fmt):
    root = tmp_path / "runs"
    shutil.copytree(real_runs, root)
    other = root / "synth/test/wide-window"
    shutil.copytree(root / "synth/test/exo-copy", other)
    results = json.loads((other / "results.json").read_text())
    results["method"]["name"] = "wide-window"
    results["metric_settings"]["ssim"]["sigma"] = 2.0  # same numbers: only the protocol differs
    (other / "results.json").write_text(json.dumps(results))
    text = render(root, format=fmt)
    ranked, apart = parse(fmt, text)
    assert "wide-window" not in ranked["rows"] and list(apart["rows"]) == ["wide-window"]
    said = apart["title"] + apart["caption"] if fmt == "md" else apart["caption"]
    assert "Not ranked with the table above: other protocol" in said
    assert "sigma: 1.5 vs 2.0" in said.replace("metric\\_settings", "metric_settings")
    assert all(cell[2] is None for cell in apart["rows"]["wide-window"].values())
    assert f"protocol {'`' if fmt == 'md' else ''}{protocol_digest(results)}" in said.replace("\\texttt{", "")
    if fmt == "html":
        assert apart["attrs"]["data-protocol"] == protocol_digest(results) != ranked["attrs"]["data-protocol"]


def test_the_formats_render_one_model(chosen_runs):
    board = build_leaderboard(chosen_runs, by="category")
    marks = [[(r.name, m, c.mark) for r in t.rows for m, c in r.cells.items()] for s in board.sections
             for t in s.tables]
    for fmt, text in (("md", to_markdown(board)), ("tex", to_latex(board)), ("html", to_html(board))):
        parsed = parse(fmt, text)
        got = [[(n.removesuffix(" (oracle)"), m, {"best": 1, "second": 2, None: 0}[cell[2]])
                for n, row in t["rows"].items() for m, cell in row.items()] for t in parsed]
        assert got == marks, fmt


def test_the_command_writes_each_format_and_refuses_bad_options(chosen_runs, tmp_path, capsys):
    for fmt in FORMATS:
        out = tmp_path / f"board.{fmt}"
        assert main(["leaderboard", "--root", str(chosen_runs), "--format", fmt, "--by", "category", "--reported",
                     "--out", str(out)]) == 0
        assert out.read_text() == render(chosen_runs, format=fmt, by="category", include_reported=True)
    capsys.readouterr()
    assert main(["leaderboard", "--root", str(chosen_runs), "--format", "tex", "--standalone"]) == 0
    assert capsys.readouterr().out.startswith("\\documentclass")
    assert main(["leaderboard", "--root", str(chosen_runs), "--standalone"]) == 2
    assert "--standalone applies to --format tex" in capsys.readouterr().err
    for bad in (["--format", "xls"], ["--by", "colour"]):
        with pytest.raises(SystemExit) as info:
            main(["leaderboard", "--root", str(chosen_runs), *bad])
        assert info.value.code == 2
