"""Every registered method runs on converted ExoEgo4D clips end to end (issue 8's "done means"), through the same
runner and CLI as on the synthetic data; the one that cannot (oracle depth) is refused up front with one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from benchmark import registry
from benchmark.ablation import run_ablation
from benchmark.data import load_split
from benchmark.data.egoexo4d.convert import build_exoego4d
from benchmark.data.egoexo4d.fixture import write_fixture
from benchmark.runner import run

pytestmark = pytest.mark.slow

# from-folder scores videos made elsewhere (here: exo-copy's); reproject needs exo depth, which video has not
SPECIAL = {"from-folder", "reproject"}


@pytest.fixture(scope="module")
def exoego4d(tmp_path_factory):
    """A converted fixture: 5 takes of one 17-frame window each, test split = 2 clips (covid-test, cooking)."""
    base = tmp_path_factory.mktemp("exoego4d-methods")
    truth = write_fixture(base / "egoexo", n_takes=5, n_frames=69, supersample=1)
    out, _ = build_exoego4d(truth.root, base / "four", progress=False)
    single, _ = build_exoego4d(truth.root, base / "single", setting="single-exo", progress=False)
    return {"four": out, "single-exo": single}


def _check_scored(report, n=1):
    assert report.failed == [], report.failed
    res = report.results
    assert res["dataset"]["name"] == "exoego4d" and res["counts"]["failed"] == 0
    for metric in ("psnr", "ssim"):
        assert res["metrics"][metric]["n"] == n and math.isfinite(res["metrics"][metric]["mean"])
    return res


@pytest.mark.parametrize("method", [m for m in registry.available() if m not in SPECIAL])
def test_every_generating_method_runs_on_exoego4d(exoego4d, tmp_path, method):
    tracks = registry.method_class(method).tracks
    track = "exo-only" if "exo-only" in tracks else tracks[0]  # the first-frame baselines run on their track
    for setting, root in exoego4d.items():
        report = run(method, dataset="exoego4d", split="test", root=root, out=tmp_path / setting, limit=1,
                     metrics=("psnr", "ssim"), n_boot=10, progress=False, track=track)
        res = _check_scored(report)
        assert res["dataset"]["identity"] is not None
        clips = load_split("exoego4d", "test", root=root)
        video = next((report.out_dir / "videos").glob("*.mp4"))
        assert video.stem == clips.clip_ids[0]


def test_from_folder_scores_videos_made_elsewhere(exoego4d, tmp_path):
    made = run("exo-copy", dataset="exoego4d", split="test", root=exoego4d["four"], out=tmp_path / "made",
               metrics=("psnr",), n_boot=10, progress=False)
    scored = run("from-folder", dataset="exoego4d", split="test", root=exoego4d["four"], out=tmp_path / "scored",
                 metrics=("psnr",), n_boot=10, progress=False, method_kwargs={"root": str(made.out_dir / "videos")})
    assert scored.failed == []
    # the same videos give the same score
    assert scored.results["metrics"]["psnr"]["mean"] == pytest.approx(made.results["metrics"]["psnr"]["mean"],
                                                                      abs=1e-9)


def test_the_oracle_depth_method_is_refused_before_anything_runs(exoego4d, tmp_path):
    runs = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "benchmark", "run", "--method", "reproject", "--dataset", "exoego4d",
                        "--root", str(exoego4d["four"]), "--out", str(runs), "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "needs exo depth maps" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.rglob("run.json"))


def test_ablation_on_exoego4d_leaves_out_the_depth_method_and_says_so(exoego4d, tmp_path):
    path = run_ablation(tmp_path / "abl", methods=("exo-copy", "reproject"), seeds=(0,), dataset="exoego4d",
                        split="test", root=exoego4d["four"], limit=1, reference="exo-copy", n_boot=10,
                        progress=False)
    text = path.read_text()
    assert "Not run: reproject (needs exo depth maps" in text
    assert json.loads(next((tmp_path / "abl").rglob("results.json")).read_text())["method"]["name"] == "exo-copy"
