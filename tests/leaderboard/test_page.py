"""The static leaderboard page (``python -m benchmark leaderboard --format page --out DIR``), read as files.

Built from real runs of the shipped quick methods on the tiny dataset, the folder must stand alone (every link
relative and resolving to a file of the folder, nothing fetched from elsewhere), carry the numbers of the
results files, give each run a page listing every clip of its per_clip.csv, and show strips whose pixels are
the true frames above the run's own frames. Sorting in a browser: test_page_browser.py.
"""

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.metrics import catalog
from leaderboard.page import GENERATOR, STRIP_GAP, strip_image

METHODS = ("exo-copy", "mean-colour", "reproject")
STRIP_FRAMES = [0, 3, 5, 8]  # default_frames of the tiny clips' 9 frames


@pytest.fixture(scope="module")
def runs(tiny_synth, tmp_path_factory):
    """exo-copy, mean-colour and reproject (oracle), PSNR and SSIM, on the 3 tiny clips: ``<root>/synth/test/<m>``."""
    from benchmark.runner import run

    root = tmp_path_factory.mktemp("page-runs")
    for method in METHODS:
        run(method, root=tiny_synth, out=root, progress=False, metrics=("psnr", "ssim"))
    return root


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "page"
    assert main(["leaderboard", "--format", "page", "--root", str(runs), "--out", str(out), "--reported"]) == 0
    return out


class Page(HTMLParser):
    """An HTML file as the tests read it: ids, links (href / src), scripts, and tables (rows of cells, each
    ``(tag, attrs, text, hrefs)``; the header cells under ``head``)."""

    def __init__(self, path: Path):
        super().__init__()
        self.path, self.ids, self.links, self.scripts, self.tables = path, set(), [], [], []
        self._cell = None
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])
                if self._cell is not None:
                    self._cell[3].append(attrs[key])
        if tag in ("script", "link"):
            self.scripts.append((tag, attrs))
        elif tag == "table":
            self.tables.append({"attrs": attrs, "head": [], "rows": []})
        elif tag in ("thead", "tbody"):
            self._in_head = tag == "thead"
        elif tag == "tr" and self.tables:
            self._row = (attrs, [])
        elif tag in ("td", "th") and self.tables:
            self._cell = [tag, attrs, "", []]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row[1].append(tuple(self._cell))
            self._cell = None
        elif tag == "tr" and self.tables:
            table = self.tables[-1]
            (table["head"] if self._in_head else table["rows"]).append(self._row)

    def table(self, **attrs) -> dict:
        found = [t for t in self.tables if all(t["attrs"].get(k) == v for k, v in attrs.items())]
        assert len(found) == 1, f"{self.path}: {len(found)} tables with {attrs}"
        return found[0]


def metric_cells(table: dict, row) -> dict:
    """``{metric: cell}`` of one body row, by the metric headings' positions."""
    headings = table["head"][0][1]
    return {h[1]["data-metric"]: row[1][i] for i, h in enumerate(headings) if "data-metric" in h[1]}


def run_pages(site: Path) -> list:
    return sorted((site / "runs").glob("*/index.html"))


# ---- the folder stands alone ----------------------------------------------------------------------------------


def test_the_page_is_a_folder_of_files_linked_relatively_with_nothing_fetched_from_elsewhere(site):
    assert (site / "index.html").is_file()
    assert [p.parent.name for p in run_pages(site)] == [f"synth-test-{m}" for m in sorted(METHODS)]
    for page_path in [site / "index.html", *run_pages(site)]:
        page = Page(page_path)
        assert f'content="{GENERATOR}"' in page_path.read_text()
        # inline CSS and JavaScript only: no <script src>, no <link rel=stylesheet>
        assert page.scripts and all(tag == "script" and "src" not in attrs for tag, attrs in page.scripts), page_path
        for link in page.links:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), f"{page_path}: {link}"
            target = (page_path.parent / parts.path).resolve() if parts.path else page_path
            assert target.is_file(), f"{page_path}: {link} points to no file"
            assert site.resolve() in target.parents, f"{page_path}: {link} leaves the folder"
            if parts.fragment:
                assert parts.fragment in Page(target).ids, f"{page_path}: {link}: no such id"


def test_each_run_row_links_to_its_page_and_reported_rows_link_nowhere(site, runs):
    index = Page(site / "index.html")
    ranked = index.table(id="synth-default-test-exo-only-ranked")
    assert sorted(r[0]["data-method"] for r in ranked["rows"]) == sorted(METHODS)
    for attrs, cells in ranked["rows"]:
        name_cell = next(c for c in cells if c[0] == "th")
        assert name_cell[3] == [f"runs/synth-test-{attrs['data-method']}/index.html"]
        assert attrs["data-path"] == f"synth/test/{attrs['data-method']}/results.json"
    reported = [t for t in index.tables if "reported" in t["attrs"]["class"]]
    assert reported, "the page was built with --reported"
    for table in reported:
        assert table["rows"] and all(not c[3] or all(h.startswith("#") for h in c[3]) for r in table["rows"]
                                     for c in r[1]), "a reported row links to a run page"


# ---- the numbers ---------------------------------------------------------------------------------------------


def test_every_number_in_the_index_equals_the_results_files(site, runs):
    index = Page(site / "index.html")
    ranked = index.table(id="synth-default-test-exo-only-ranked")
    for attrs, _ in ranked["rows"]:
        results = json.loads((runs / attrs["data-path"]).read_text())
        cells = metric_cells(ranked, (attrs, _))
        assert set(cells) == {"psnr", "ssim"}
        for metric, (_, cell_attrs, text, _) in cells.items():
            entry = results["metrics"][metric]
            assert float(cell_attrs["data-value"]) == entry["mean"]
            assert [float(cell_attrs["data-low"]), float(cell_attrs["data-high"])] == entry["ci95"]
            half = catalog.format_value(metric, (entry["ci95"][1] - entry["ci95"][0]) / 2)
            assert text.split() == [catalog.format_value(metric, entry["mean"]), "±", half]
            low, high = (catalog.format_value(metric, v) for v in entry["ci95"])
            assert cell_attrs["title"] == f"95% interval [{low}, {high}]"


def test_each_run_page_lists_every_clip_of_its_per_clip_csv_with_its_scores(site, runs):
    for method in METHODS:
        folder = site / "runs" / f"synth-test-{method}"
        per_clip = pd.read_csv(runs / "synth/test" / method / "per_clip.csv", dtype={"clip_id": str})
        assert (folder / "per_clip.csv").read_bytes() == (runs / "synth/test" / method / "per_clip.csv").read_bytes()
        page = Page(folder / "index.html")
        table = page.table(**{"class": "plain per-clip"})
        assert [r[0]["data-clip"] for r in table["rows"]] == list(per_clip["clip_id"])
        for row, (_, expected) in zip(table["rows"], per_clip.iterrows()):
            cells = metric_cells(table, row)
            for metric in ("psnr", "ssim"):
                assert float(cells[metric][1]["data-value"]) == expected[metric]
                assert cells[metric][2] == catalog.format_value(metric, expected[metric])
            assert row[1][0][3] == [f"#strip-{row[0]['data-clip']}"]  # the clip links to its strip
        scores = page.table(**{"class": "plain scores"})
        results = json.loads((runs / "synth/test" / method / "results.json").read_text())
        shown = {r[0]["data-metric"]: float(r[1][1][1]["data-value"]) for r in scores["rows"]}
        assert shown == {m: results["metrics"][m]["mean"] for m in ("psnr", "ssim")}


def test_a_strip_is_the_true_frames_above_the_runs_own_frames(site, runs, tiny_synth):
    import cv2

    from benchmark.data import load_split
    from benchmark.video_io import read_video

    clips = load_split("synth", "test", root=tiny_synth)
    for method in ("exo-copy", "mean-colour"):
        folder = site / "runs" / f"synth-test-{method}"
        strips = sorted(folder.glob("*.png"))
        assert [p.stem for p in strips] == sorted(clips.clip_ids)  # 3 clips, 3 strips
        for path in strips:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
            truth = clips.get(path.stem).ego_video[STRIP_FRAMES]
            made = read_video(runs / "synth/test" / method / "videos" / f"{path.stem}.mp4")[STRIP_FRAMES]
            assert image.shape == (2 * 32 + STRIP_GAP, 4 * 32 + 3 * STRIP_GAP, 3)
            for j in range(4):
                x = j * (32 + STRIP_GAP)
                np.testing.assert_array_equal(image[:32, x:x + 32], truth[j])
                np.testing.assert_array_equal(image[32 + STRIP_GAP:, x:x + 32], made[j])
        assert f'src="{strips[0].name}"' in (folder / "index.html").read_text()


def test_a_strip_of_large_frames_is_reduced_to_the_maximum_height():
    truth = np.zeros((2, 300, 400, 3), np.uint8)
    image = strip_image(truth, truth + 200, max_height=60, gap=2)
    assert image.shape == (2 * 60 + 2, 2 * 80 + 2, 3)
    assert (image[62:, :80] == 200).all() and (image[:60, :80] == 0).all() and (image[60:62] == 255).all()
    with pytest.raises(ValueError, match="must both be"):
        strip_image(truth, truth[:1])


# ---- runs without videos, folders, options --------------------------------------------------------------------


def test_a_run_without_videos_gets_a_page_that_says_why_it_has_no_strips(runs, tmp_path, capsys):
    root = tmp_path / "runs"
    shutil.copytree(runs / "synth/test/exo-copy", root / "synth/test/exo-copy", ignore=shutil.ignore_patterns("videos"))
    assert main(["leaderboard", "--format", "page", "--root", str(root), "--out", str(tmp_path / "site")]) == 0
    assert "warning:" in capsys.readouterr().err
    text = (tmp_path / "site/runs/synth-test-exo-copy/index.html").read_text()
    assert "No frame strips: the run folder has no videos/" in text
    assert not list((tmp_path / "site/runs/synth-test-exo-copy").glob("*.png"))


def test_the_page_refuses_a_folder_it_did_not_write_and_rebuilds_its_own(runs, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["leaderboard", "--format", "page", "--root", str(runs), "--out", str(foreign)]) == 2
    assert "not a leaderboard page" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"

    out = tmp_path / "site"
    assert main(["leaderboard", "--format", "page", "--root", str(runs), "--out", str(out)]) == 0
    stale = out / "runs" / "synth-test-gone"
    stale.mkdir()
    assert main(["leaderboard", "--format", "page", "--root", str(runs), "--out", str(out)]) == 0
    assert not stale.exists() and len(run_pages(out)) == 3


@pytest.mark.parametrize("args, message", [
    (["--format", "page"], "--out DIR"),
    (["--format", "page", "--out", "x", "--standalone"], "--standalone"),
    (["--format", "md", "--data-root", "x"], "--data-root applies to --format page"),
])
def test_page_options_are_checked(runs, args, message, capsys):
    assert main(["leaderboard", "--root", str(runs), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_page_has_the_same_tables_as_the_html_format(runs, site, capsys):
    """One model: the page's tables are the --format html tables, with the run names made links."""
    assert main(["leaderboard", "--root", str(runs), "--format", "html", "--reported"]) == 0
    plain = capsys.readouterr().out
    page = (site / "index.html").read_text()
    tables = re.findall(r"<table .*?</table>", plain, flags=re.S)
    assert tables
    for table in tables:
        assert re.sub(r'<a href="runs/[^"]*">(.*?)</a>', r"\1", table) in re.sub(
            r'<a href="runs/[^"]*">(.*?)</a>', r"\1", page)
