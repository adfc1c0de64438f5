"""`figures`: the qualitative grid drawn from real run folders (exo-copy and mean-colour on the tiny dataset).

What is checked: the command writes a PNG and a PDF; every panel of the PNG shows exactly the frame the layout
says (its colours are the frame's colours); the figure grows with frames and clips; the PDF embeds TrueType
fonts; a row's PSNR is the one in the run's per_clip.csv; the default clips and frames; and each user mistake
is one line naming the folder, clip or option, with exit status 2.
"""

import contextlib
import csv
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.data import load_split
from benchmark.video_io import read_video
from leaderboard.figures import style
from leaderboard.figures.qualitative import (choose_clips, default_frames, load_run, qualitative_grid, row_label,
                                             row_names)

DPI = style.PNG_DPI
METHODS = ("exo-copy", "mean-colour")


@pytest.fixture(scope="module")
def runs_root(tiny_synth, tmp_path_factory):
    """exo-copy and mean-colour run on the 3 clips of the tiny dataset (PSNR only): ``<root>/synth/test/<method>``."""
    from benchmark.runner import run

    root = tmp_path_factory.mktemp("figure-runs")
    for method in METHODS:
        run(method, root=tiny_synth, out=root, progress=False, metrics=("psnr",), n_boot=100)
    return root


def run_folder(runs_root, method):
    return runs_root / "synth" / "test" / method


@pytest.fixture(scope="module")
def drawn(runs_root, tmp_path_factory):
    """``figures --root <runs> --out <dir>`` run once: (exit status, stdout, out folder)."""
    out = tmp_path_factory.mktemp("figures")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["figures", "--root", str(runs_root), "--out", str(out), "--which", "qualitative"])
    return status, stdout.getvalue(), out


def png_pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def colours_in(img: np.ndarray, box) -> set:
    """The RGB colours inside a panel of the PNG, 2 pixels in from its edges (edges blend with the background)."""
    x0, y0, x1, y1 = box.pixels(DPI)
    inner = img[int(np.ceil(y0)) + 2:int(y1) - 2, int(np.ceil(x0)) + 2:int(x1) - 2]
    assert inner.size, "panel too small to sample"
    return {tuple(c) for c in inner.reshape(-1, 3)}


def colours_of(frame: np.ndarray) -> set:
    return {tuple(c) for c in frame.reshape(-1, 3)}


# --- the files ----------------------------------------------------------------------------------------------------


def test_the_command_writes_a_png_and_a_pdf_and_prints_their_paths(drawn):
    status, stdout, out = drawn
    assert status == 0
    png, pdf = out / "qualitative.png", out / "qualitative.pdf"
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
    assert stdout.splitlines() == [f"wrote {png}", f"wrote {pdf}"]
    assert pdf.read_bytes().startswith(b"%PDF")


def test_every_panel_shows_the_frame_the_layout_places_there(runs_root, tiny_synth, tmp_path):
    figure = qualitative_grid([run_folder(runs_root, m) for m in METHODS], out=tmp_path)
    img = png_pixels(figure.png)
    assert abs(img.shape[1] - figure.layout.width * DPI) < 1 and abs(img.shape[0] - figure.layout.height * DPI) < 1
    assert figure.rows == ["ground truth", "exo-copy", "mean-colour"]  # method names from results.json, in order
    assert figure.clips == ["synth-test-0000", "synth-test-0001", "synth-test-0002"]
    dataset = load_split("synth", "test", root=tiny_synth)
    for block, clip_id, frames in zip(figure.layout.blocks, figure.clips, figure.frames):
        assert frames == [0, 3, 5, 8]  # 9 frames: 4 spread over the clip, first and last included
        clip = dataset.get(clip_id)
        outputs = [read_video(run_folder(runs_root, m) / "videos" / f"{clip_id}.mp4") for m in METHODS]
        videos = [clip.ego_video, *outputs]
        for boxes, video in zip(block.rows, videos):
            for box, t in zip(boxes, frames):
                assert colours_in(img, box) == colours_of(video[t]), (clip_id, t)
        for box, view in zip(block.exo, clip.exo_video[:, frames[0]]):
            # exo panels are under 2 px per pixel: the trimmed edges may hide a colour, none may be added
            shown = colours_in(img, box)
            assert shown <= colours_of(view) and len(shown) > 0.8 * len(colours_of(view))
        # a negative control of the check itself: the truth's panels are not what exo-copy made
        assert colours_in(img, block.rows[0][0]) != colours_of(videos[1][frames[0]])


def test_the_grid_grows_with_the_frames_and_the_clips(runs_root, tmp_path):
    runs = [run_folder(runs_root, m) for m in METHODS]

    def size(clips, frames):
        figure = qualitative_grid(runs, clips=clips, frames=frames, out=tmp_path / f"{len(clips)}-{len(frames)}")
        assert figure.frames == [frames] * len(clips)
        return Image.open(figure.png).size

    one_clip_two, one_clip_three = size(["synth-test-0001"], [0, 8]), size(["synth-test-0001"], [0, 4, 8])
    two_clips_three = size(["synth-test-0001", "synth-test-0002"], [0, 4, 8])
    assert one_clip_three[0] > one_clip_two[0]  # (the exo views, sharing the frames' width, grow a little too)
    assert two_clips_three[0] == one_clip_three[0] and two_clips_three[1] > 1.8 * one_clip_three[1]


def test_the_pdf_embeds_its_fonts_as_truetype(drawn, tmp_path):
    pdf = (drawn[2] / "qualitative.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf
    # the same check catches matplotlib's default Type 3 fonts
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    fig = Figure()
    fig.text(0.5, 0.5, "ground truth")
    with rc_context({"pdf.fonttype": 3}):
        fig.savefig(tmp_path / "type3.pdf")
    assert b"/Type3" in (tmp_path / "type3.pdf").read_bytes()


# --- labels, clips, frames ----------------------------------------------------------------------------------------


def test_a_row_label_gives_the_clips_psnr_from_per_clip_csv(runs_root):
    for method in METHODS:
        folder = run_folder(runs_root, method)
        with open(folder / "per_clip.csv", newline="") as f:
            recorded = {row["clip_id"]: float(row["psnr"]) for row in csv.DictReader(f)}
        run = load_run(folder)
        labels = {clip_id: row_label(method, run, clip_id) for clip_id in recorded}
        for clip_id, value in recorded.items():
            assert labels[clip_id] == f"{method}\nPSNR {value:.2f} dB"
        assert len(set(labels.values())) == len(recorded)  # each clip's own number, not one per run


def test_a_clip_without_a_psnr_is_labelled_n_a(runs_root, tmp_path):
    folder = tmp_path / "no-psnr"
    shutil.copytree(run_folder(runs_root, "exo-copy"), folder)
    (folder / "per_clip.csv").write_text("clip_id,category\nsynth-test-0000,pick-place\n")
    assert row_label("exo-copy", load_run(folder), "synth-test-0000") == "exo-copy\nPSNR n/a"


def test_runs_of_one_method_get_rows_that_say_which_is_which(runs_root, tmp_path):
    shutil.copytree(run_folder(runs_root, "exo-copy"), tmp_path / "again")
    names = row_names([load_run(run_folder(runs_root, "exo-copy")), load_run(tmp_path / "again")])
    assert len(set(names)) == 2 and all(n.startswith("exo-copy, ") for n in names)


def test_default_frames_spread_over_the_clip_with_first_and_last():
    assert default_frames(9) == [0, 3, 5, 8]
    assert default_frames(17) == [0, 5, 11, 16]
    assert default_frames(2) == [0, 1]


def test_default_clips_are_a_seeded_choice_from_different_categories():
    categories = {f"c{i}": cat for i, cat in enumerate(["a", "a", "a", "b", "b", "c", "c", "c", "d"])}
    chosen = choose_clips(categories, 3, seed=0)
    assert len(chosen) == 3 and len({categories[c] for c in chosen}) == 3
    assert chosen == choose_clips(dict(reversed(list(categories.items()))), 3, seed=0)  # order of the input: none
    assert {tuple(choose_clips(categories, 3, seed=s)) for s in range(20)} != {tuple(chosen)}  # the seed matters
    two_categories = {"x1": "a", "x2": "a", "y1": "b"}
    assert sorted(choose_clips(two_categories, 3)) == ["x1", "x2", "y1"]  # fewer categories: filled up


# --- user mistakes ------------------------------------------------------------------------------------------------


def fails(capsys, *args) -> str:
    """Run the command; it must exit 2 with one line on stderr, which is returned."""
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_folder_without_results_is_named(runs_root, tmp_path, capsys):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    err = fails(capsys, "figures", "--runs", run_folder(runs_root, "exo-copy"), empty, "--out", tmp_path / "out")
    assert str(empty) in err and "results.json" in err
    assert not (tmp_path / "out").exists()
    err = fails(capsys, "figures", "--root", empty, "--out", tmp_path / "out")
    assert str(empty) in err and "results.json" in err


def test_a_run_without_videos_is_named(runs_root, tmp_path, capsys):
    folder = tmp_path / "scores-only"
    shutil.copytree(run_folder(runs_root, "exo-copy"), folder)
    shutil.rmtree(folder / "videos")
    err = fails(capsys, "figures", "--runs", folder, "--out", tmp_path / "out")
    assert str(folder) in err and "videos/" in err


def test_a_clip_missing_from_a_run_is_named_with_the_run(runs_root, tmp_path, capsys):
    folder = tmp_path / "two-clips"
    shutil.copytree(run_folder(runs_root, "mean-colour"), folder)
    (folder / "videos" / "synth-test-0001.mp4").unlink()
    runs = ("--runs", run_folder(runs_root, "exo-copy"), folder, "--out", tmp_path / "out")
    err = fails(capsys, "figures", *runs, "--clips", "synth-test-0000,synth-test-0001")
    assert "'synth-test-0001'" in err and str(folder) in err and str(run_folder(runs_root, "exo-copy")) not in err
    err = fails(capsys, "figures", *runs, "--clips", "synth-test-9999")
    assert "'synth-test-9999'" in err and "not a clip of synth/test" in err
    # without --clips, the clips every run has are chosen from
    assert main(["figures", *map(str, runs)]) == 0
    assert "synth-test-0001" not in capsys.readouterr().err


def test_runs_on_different_splits_are_refused_naming_both(runs_root, tmp_path, capsys):
    other = tmp_path / "on-val"
    shutil.copytree(run_folder(runs_root, "mean-colour"), other)
    results = json.loads((other / "results.json").read_text())
    results["dataset"]["split"] = "val"
    (other / "results.json").write_text(json.dumps(results))
    err = fails(capsys, "figures", "--runs", run_folder(runs_root, "exo-copy"), other, "--out", tmp_path / "out")
    assert str(other) in err and str(run_folder(runs_root, "exo-copy")) in err and "synth/val" in err


@pytest.mark.parametrize("args, named", [
    (("--frames", "0,9"), re.compile(r"clip 'synth-test-000\d' has 9 frames .*frame\(s\) 9")),
    (("--frames", "0,x"), re.compile(r"--frames expects comma-separated integers")),
    (("--which", "histogram"), re.compile(r"--which 'histogram'.*qualitative")),
])
def test_bad_options_are_named(runs_root, tmp_path, capsys, args, named):
    err = fails(capsys, "figures", "--root", runs_root, "--out", tmp_path / "out", *args)
    assert named.search(err), err


def test_help_gives_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["figures", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: all)" in text and "4 evenly spaced" in text and "3 clips of different categories" in text
    from leaderboard.figures import FIGURES

    assert all(name in text for name in FIGURES)  # the help writes the names out; it must know every figure
