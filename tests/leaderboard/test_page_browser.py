"""The leaderboard page sorts in a real browser: Debian's ``chromium``, headless, reading the page from disk.

The page's script takes the sort from the address (``?sort=ssim``, ``?sort=-ssim``) or clicks headings itself
through their click handler (``?click=ssim,ssim``), and ``chromium --dump-dom`` prints the document after the
script ran: the rows' order must then be the order of the numbers in the results files, better first on the
first click and reversed on the second, with n/a last both ways, and the printed order back when "method" is
clicked. The runs: exo-copy, mean-colour and reproject (oracle) on the tiny dataset, and a copy of exo-copy whose
SSIM is unavailable (an n/a cell in the same ranked table). Skipped where ``chromium`` is not installed
(``.ci/run`` installs it when it can).
"""

import json
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from benchmark.cli import main

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install "
                                                           "chromium); the page's sorting is checked in a browser"),
              pytest.mark.slow]  # about 15 s: the runs, then a browser start per page state
RANKED = "synth-default-test-exo-only-ranked"
NA_RUN = "exo-copy-ssim-na"


@pytest.fixture(scope="module")
def site(tiny_synth, tmp_path_factory):
    """The page of the four runs; returns ``(site folder, runs root)``."""
    from benchmark.runner import run

    root = tmp_path_factory.mktemp("browser-runs")
    for method in ("exo-copy", "mean-colour", "reproject"):
        run(method, root=tiny_synth, out=root, progress=False, metrics=("psnr", "ssim"))
    # a run whose SSIM could not be computed: results say so, per_clip.csv has no ssim column
    na = root / "synth/test" / NA_RUN
    shutil.copytree(root / "synth/test/exo-copy", na)
    results = json.loads((na / "results.json").read_text())
    results["method"]["name"] = NA_RUN
    results["metrics"]["ssim"] = {"unavailable": "ssim could not be computed in this test run"}
    (na / "results.json").write_text(json.dumps(results))
    pd.read_csv(na / "per_clip.csv", dtype={"clip_id": str}).drop(columns="ssim").to_csv(na / "per_clip.csv",
                                                                                          index=False)
    out = tmp_path_factory.mktemp("browser-site") / "page"
    assert main(["leaderboard", "--format", "page", "--root", str(root), "--out", str(out)]) == 0
    return out, root


class Dom(HTMLParser):
    """The dumped document: per table id, its rows' ``data-method`` (or ``data-clip``) in order, its attributes,
    every link (href / src) and every id of the document."""

    def __init__(self, text: str):
        super().__init__()
        self.rows, self.table_attrs, self.links, self.ids, self._table = {}, {}, [], set(), None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("href", "src") if k in attrs]
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            classes = (attrs.get("class") or "").split()
            self._table = attrs.get("id") or ("per-clip" if "per-clip" in classes else " ".join(classes))
            self.rows[self._table], self.table_attrs[self._table] = [], attrs
        elif tag == "tr" and ("data-method" in attrs or "data-clip" in attrs):
            self.rows[self._table].append(attrs.get("data-method") or attrs.get("data-clip"))


def dump(page: Path, query: str = "", tmp_path=None) -> Dom:
    """The page's document after its script ran in headless chromium, opened as ``file://...?query``."""
    url = page.resolve().as_uri() + (f"?{query}" if query else "")
    proc = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           f"--user-data-dir={tmp_path}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "</html>" in proc.stdout, proc.stderr[-2000:]
    return Dom(proc.stdout)


def means(root: Path, metric: str) -> dict:
    """``{method: mean of metric}`` from the results files (None where unavailable)."""
    out = {}
    for path in sorted(root.glob("synth/test/*/results.json")):
        results = json.loads(path.read_text())
        out[results["method"]["name"]] = results["metrics"][metric].get("mean")
    return out


def expected_order(printed: list, values: dict, descending: bool) -> list:
    """The rows sorted by value (n/a last whichever the direction), equal values in the printed order."""
    def key(name):
        value = values[name]
        return (value is None, 0.0 if value is None else (-value if descending else value), printed.index(name))

    return sorted(printed, key=key)


def test_headings_sort_rows_by_the_results_numbers_both_ways_with_na_last(site, tmp_path):
    out, root = site
    index = out / "index.html"
    start = time.monotonic()
    printed = dump(index, tmp_path=tmp_path).rows[RANKED]
    assert sorted(printed) == sorted(["exo-copy", "mean-colour", "reproject", NA_RUN])
    ssim, psnr = means(root, "ssim"), means(root, "psnr")
    assert ssim[NA_RUN] is None and len({v for v in ssim.values() if v is not None}) == 3

    # better first on load (higher is better for SSIM), then worse first; the n/a row is last both ways
    best_first = expected_order(printed, ssim, descending=True)
    worst_first = expected_order(printed, ssim, descending=False)
    assert best_first[-1] == worst_first[-1] == NA_RUN and best_first[:3] == worst_first[2::-1]
    sorted_dom = dump(index, "sort=ssim", tmp_path)
    assert sorted_dom.rows[RANKED] == best_first
    assert sorted_dom.table_attrs[RANKED]["data-sorted-by"] == "ssim"
    assert sorted_dom.table_attrs[RANKED]["data-sort-direction"] == "descending"
    assert dump(index, "sort=-ssim", tmp_path).rows[RANKED] == worst_first

    # the same through the click handler: once better first, twice reversed, "method" back to the printed order
    assert dump(index, "click=ssim", tmp_path).rows[RANKED] == best_first
    assert dump(index, "click=ssim,ssim", tmp_path).rows[RANKED] == worst_first
    assert dump(index, "click=ssim,ssim,ssim", tmp_path).rows[RANKED] == best_first
    assert dump(index, "click=ssim,order", tmp_path).rows[RANKED] == printed
    # PSNR: exo-copy and its n/a copy tie, and keep their printed order in both directions
    assert dump(index, "click=psnr,psnr", tmp_path).rows[RANKED] == expected_order(printed, psnr, descending=False)
    print(f"browser checks: {time.monotonic() - start:.1f} s")


def test_run_links_lead_to_per_clip_pages_whose_tables_sort_too(site, tmp_path):
    out, root = site
    index = out / "index.html"
    dom = dump(index, tmp_path=tmp_path)
    run_links = [link for link in dom.links if link.startswith("runs/")]
    assert len(run_links) == 4
    for link in run_links:
        page = index.parent / urlsplit(link).path
        assert page.is_file(), link
        run_dom = dump(page, "sort=-psnr", tmp_path)  # lowest PSNR first
        assert "../../index.html" in run_dom.links
        for target in run_dom.links:
            parts = urlsplit(target)
            if parts.path:
                assert (page.parent / parts.path).is_file(), f"{link}: {target} points to no file"
            else:
                assert parts.fragment in run_dom.ids, f"{link}: {target} points to no element"
        assert "per_clip.csv" in run_dom.links
        assert sum(t.endswith(".png") for t in run_dom.links) == 3
        per_clip = pd.read_csv(page.parent / "per_clip.csv", dtype={"clip_id": str})
        assert "sortable" in run_dom.table_attrs["per-clip"]["class"].split()
        assert run_dom.rows["per-clip"] == list(per_clip.sort_values("psnr", kind="stable")["clip_id"])
