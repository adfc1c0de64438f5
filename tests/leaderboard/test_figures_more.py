"""The ablation, per-category and sweep figures, and the run options the sweeps need (``--views``, ``--pose-noise``).

What is checked, on real runs of exo-copy and mean-colour on the tiny dataset (and the committed ablation):
every figure is written as a non-empty PNG and a PDF with embedded TrueType fonts; the numbers each figure plots
are those of the results files (per_clip.csv, results.json, ABLATION.md); a method run with ``--views N`` is given
only the N exo views closest to the ego view and with ``--pose-noise`` exo poses wrong by exactly that much (seen
through the baselines' own outputs), while the truth is untouched; the setting is recorded in the folder name,
run.json and results.json; and every bad value is one line with exit status 2.
"""

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from baselines.mean_colour import mean_colour
from benchmark.cli import main
from benchmark.data import load_split
from benchmark.errors import UsageError
from benchmark.input_checks import InputCheckError, check_inputs
from benchmark.runner import InputSetting, clip_seed, pose_errors, run, run_sweep
from benchmark.video_io import read_video
from benchmark.video_ops import resize_video
from leaderboard.figures import FIGURES, run_dirs_under, style
from leaderboard.figures.ablation_bars import ablation_figure, ablation_numbers
from leaderboard.figures.categories import categories_figure, category_numbers
from leaderboard.figures.sweeps import NoSweepRuns, sweep_series, views_figure

METHODS = ("exo-copy", "mean-colour")
COMMITTED_ABLATION = Path(__file__).resolve().parents[2] / "leaderboard" / "results" / "ablation"
VIEWS, POSE_NOISE = (1, 2, 3, 4), (0, 1, 2, 5)


@pytest.fixture(scope="module")
def plain_root(tiny_synth, tmp_path_factory):
    """exo-copy and mean-colour, every view and the true poses (PSNR only): ``<root>/synth/test/<method>``."""
    root = tmp_path_factory.mktemp("plain-runs")
    for method in METHODS:
        run(method, root=tiny_synth, out=root, progress=False, metrics=("psnr",), n_boot=100)
    return root


@pytest.fixture(scope="module")
def sweep_root(tiny_synth, tmp_path_factory):
    """Both sweeps of both methods through ``run_sweep`` (the `sweep` command's function), PSNR only."""
    root = tmp_path_factory.mktemp("sweep-runs")
    common = dict(out=root, root=tiny_synth, progress=False, metrics=("psnr",), n_boot=100)
    run_sweep(METHODS, views=",".join(map(str, VIEWS)), **common)
    run_sweep(METHODS, pose_noise=",".join(map(str, POSE_NOISE)), **common)
    return root


def folder(root, name) -> Path:
    return Path(root) / "synth" / "test" / name


def results_of(path) -> dict:
    return json.loads((Path(path) / "results.json").read_text())


def draw(*args):
    """``figures ...``: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["figures", *map(str, args)])
    return status, out.getvalue(), err.getvalue()


def fails(capsys, *args) -> str:
    """Run the command; it must exit 2 with one line on stderr, which is returned."""
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def check_files(png: Path, pdf: Path):
    """A PNG that shows something (many colours, not one flat image) and a PDF with TrueType fonts embedded."""
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data and b"/Type3" not in data
    return image


def has_colour(image: np.ndarray, hex_colour: str, at_least: int = 20) -> bool:
    rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return int(np.all(image == rgb, axis=-1).sum()) >= at_least


# --- the files ----------------------------------------------------------------------------------------------------


def test_the_command_draws_every_new_figure_from_sweep_runs(sweep_root, tmp_path):
    status, stdout, _ = draw("--root", sweep_root, "--out", tmp_path, "--which", "ablation,categories,views,pose-noise")
    assert status == 0
    stems = ("ablation", "categories", "views", "pose-noise")
    assert stdout.splitlines() == [f"wrote {tmp_path / s}.{ext}" for s in stems for ext in ("png", "pdf")]
    for stem in stems:
        image = check_files(tmp_path / f"{stem}.png", tmp_path / f"{stem}.pdf")
        # the first two colours of the palette (black, orange) draw the two methods' bars and lines
        assert has_colour(image, style.PALETTE[1]), stem
    for stem in ("views", "pose-noise"):  # a paper column wide, at the style's resolution
        assert Image.open(tmp_path / f"{stem}.png").size[0] == round(style.COLUMN_WIDTH_IN * style.PNG_DPI)


def test_all_skips_the_sweep_figures_when_there_are_no_sweep_runs(plain_root, tmp_path):
    status, stdout, stderr = draw("--root", plain_root, "--out", tmp_path)
    assert status == 0
    written = {Path(line.removeprefix("wrote ")).name for line in stdout.splitlines()}
    assert written == {f"{s}.{e}" for s in ("qualitative", "ablation", "categories") for e in ("png", "pdf")}
    assert "skipped figure views: no views sweep run" in stderr and "skipped figure pose-noise" in stderr


def test_a_sweep_figure_asked_for_without_sweep_runs_is_an_error(plain_root, tmp_path, capsys):
    err = fails(capsys, "figures", "--root", plain_root, "--out", tmp_path, "--which", "views")
    assert "no views sweep run" in err and "--views 1,2,3,4" in err


def test_every_figure_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["figures", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in FIGURES) and set(FIGURES) >= {"ablation", "categories", "views", "pose-noise"}


# --- the numbers are the results files' -----------------------------------------------------------------------------


def ablation_md_rows(text: str) -> dict:
    """``{method: {metric label: (mean, low, high)}}`` of the means table, ``{(method, label): (mean, low, high)}``
    of the paired table, as ABLATION.md prints them."""
    means, paired = {}, {}
    number = r"([+-]?\d+\.\d+)"
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        found = [re.fullmatch(rf"{number} \[{number}, {number}\]", c) for c in cells]
        if len(cells) == 6 and found[2]:
            paired[cells[0], cells[1]] = tuple(float(x) for x in found[2].groups())
        elif any(found):
            means[cells[0]] = [tuple(float(x) for x in f.groups()) for f in found if f]
    return means, paired


def test_the_ablation_bars_are_the_numbers_of_the_committed_ablation_table():
    numbers = ablation_numbers(run_dirs_under(COMMITTED_ABLATION))
    means, paired = ablation_md_rows((COMMITTED_ABLATION / "ABLATION.md").read_text())
    metrics = ["psnr", "ssim", "ego_motion"]
    assert numbers.metrics == metrics and numbers.seeds == [0, 1, 2] and numbers.reference == "exo2egosyn"
    assert numbers.methods == list(means)  # the table's order: best PSNR first
    for method, printed_means in means.items():
        for metric, printed in zip(metrics, printed_means):
            iv = numbers.means[metric][method]
            assert (iv.mean, iv.low, iv.high) == pytest.approx(printed, abs=5e-4), (method, metric)
    assert len(paired) == 24  # 8 methods against exo2egosyn, three metrics
    key = {"PSNR": "psnr", "SSIM": "ssim", "Ego-motion error": "ego_motion"}
    for (method, label), printed in paired.items():
        iv = numbers.differences[key[label]][method]
        assert (iv.mean, iv.low, iv.high) == pytest.approx(printed, abs=5e-5), (method, label)
    assert "exo2egosyn" not in numbers.differences["psnr"]  # the reference has no difference to itself


def test_the_ablation_figures_axis_labels_do_not_overlap_their_neighbours(tmp_path, monkeypatch):
    """Side by side, "Ego-motion error ↓ (deg)" and its "Δ" twin ran into each other before they were wrapped."""
    drawn, save = [], style.save

    def keep_figure(fig, out_stem):  # the real save, and the figure kept to measure its labels
        drawn.append(fig)
        return save(fig, out_stem)

    monkeypatch.setattr(style, "save", keep_figure)
    ablation_figure(run_dirs_under(COMMITTED_ABLATION), out=tmp_path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = drawn[0]
    canvas = FigureCanvasAgg(fig)  # laid out and drawn as savefig does
    canvas.draw()
    renderer = canvas.get_renderer()
    rows = {}
    for ax in fig.axes:
        rows.setdefault(round(ax.get_position().y0, 3), []).append(ax)
    assert len(rows) == 3 and all(len(axes) == 2 for axes in rows.values())
    for axes in rows.values():
        left, right = sorted(axes, key=lambda a: a.get_position().x0)
        a = left.xaxis.label.get_window_extent(renderer)
        b = right.xaxis.label.get_window_extent(renderer)
        assert a.x1 < b.x0, (left.get_xlabel(), right.get_xlabel())


def test_the_ablation_bars_of_single_runs_are_their_per_clip_means_and_paired_differences(plain_root, tmp_path):
    runs = [folder(plain_root, m) for m in METHODS]
    figure = ablation_figure(runs, reference="mean-colour", out=tmp_path)
    check_files(figure.png, figure.pdf)
    tables = {m: pd.read_csv(folder(plain_root, m) / "per_clip.csv").set_index("clip_id")["psnr"] for m in METHODS}
    numbers = figure.numbers
    assert numbers.methods == ["mean-colour", "exo-copy"]  # higher PSNR first
    for method in METHODS:
        iv = numbers.means["psnr"][method]
        assert iv.mean == pytest.approx(tables[method].mean(), rel=1e-12) and iv.low <= iv.mean <= iv.high
        assert iv.mean == pytest.approx(results_of(folder(plain_root, method))["metrics"]["psnr"]["mean"], rel=1e-12)
    d = numbers.differences["psnr"]["exo-copy"]
    assert d.mean == pytest.approx((tables["mean-colour"] - tables["exo-copy"]).mean(), rel=1e-12) and d.n == 3
    # without the reference among the runs there is no difference panel, only the means
    assert ablation_numbers(runs).reference is None and ablation_numbers(runs).differences == {"psnr": {}}


def test_the_category_bars_are_the_per_category_numbers_of_results_json(plain_root, tmp_path):
    runs = [folder(plain_root, m) for m in METHODS]
    figure = categories_figure(runs, out=tmp_path)
    check_files(figure.png, figure.pdf)
    numbers = category_numbers(runs)
    assert numbers.runs == list(METHODS) and numbers.metrics == ["psnr"]
    assert numbers.categories == ["pick-place", "push", "stack"]
    for method in METHODS:
        for category, per_metric in results_of(folder(plain_root, method))["per_category"].items():
            iv = numbers.values["psnr"][category][method]
            entry = per_metric["psnr"]
            assert (iv.mean, [iv.low, iv.high], iv.n) == (entry["mean"], entry["ci95"], entry["n"])


def test_the_sweep_points_are_the_results_of_each_run(sweep_root):
    views = sweep_series(run_dirs_under(sweep_root), "views")
    assert [s.name for s in views.series] == list(METHODS) and views.metrics == ["psnr"]
    for line in views.series:
        assert line.xs == list(VIEWS)
        for point in line.points:
            assert point.folder == folder(sweep_root, f"{line.name}@views{point.x:g}")
            recorded = results_of(point.folder)["metrics"]["psnr"]
            iv = point.values["psnr"]
            assert (iv.mean, [iv.low, iv.high]) == (recorded["mean"], recorded["ci95"])
    noise = sweep_series(run_dirs_under(sweep_root), "pose-noise")
    for line in noise.series:
        assert line.xs == list(POSE_NOISE)
        # the point at 0 is the method's ordinary run, the others its pose-noise runs
        assert line.points[0].folder == folder(sweep_root, line.name)
        assert line.points[3].folder == folder(sweep_root, f"{line.name}@pose-noise5deg")
    assert noise.x_label == "exo pose error (°)"


def test_the_sweeps_are_honest_about_what_each_baseline_uses(sweep_root):
    def means(kind, name):
        line = next(s for s in sweep_series(run_dirs_under(sweep_root), kind).series if s.name == name)
        return [p.values["psnr"].mean for p in line.points]

    # exo-copy copies the closest view, which every --views N keeps: flat in the number of views
    assert len(set(means("views", "exo-copy"))) == 1
    # mean-colour ignores the poses: flat in the pose error; it averages the views it is given: not flat in views
    assert len(set(means("pose-noise", "mean-colour"))) == 1
    assert len(set(means("views", "mean-colour"))) == len(VIEWS)
    # exo-copy picks its view by the poses it is given: a wrong pose changes its choice (and its score)
    assert len(set(means("pose-noise", "exo-copy"))) > 1


# --- the run options --------------------------------------------------------------------------------------------


def test_views_n_gives_the_method_the_n_views_closest_to_the_ego_view(sweep_root, tiny_synth):
    clips = load_split("synth", "test", root=tiny_synth)
    for n in VIEWS:
        for clip_id in clips.clip_ids:
            clip = clips.get(clip_id)
            closest = sorted(clip.inputs().exo_views_closest_first()[:n])
            video = read_video(folder(sweep_root, f"mean-colour@views{n}") / "videos" / f"{clip_id}.mp4")
            # mean-colour's output is the mean colour of the exo videos it was given: those of the n closest views
            assert (video == mean_colour(clip.exo_video[closest])).all(), (n, clip_id)
            if n < 4:
                assert not (video == mean_colour(clip.exo_video)).all()  # and not every view's
    inputs = InputSetting(views=2).apply(clip.inputs(), seed=0)
    assert inputs.num_views == 2  # kept in the clip's own order, the closest view among them
    full = clip.inputs()
    assert inputs.exo_cam_ids[inputs.closest_exo_view()] == full.exo_cam_ids[full.closest_exo_view()]
    assert inputs.exo_cam_ids == [clip.exo_cam_ids[v] for v in sorted(clip.inputs().exo_views_closest_first()[:2])]


def test_pose_noise_gives_the_method_wrong_exo_poses_and_leaves_everything_else(sweep_root, tiny_synth):
    clips = load_split("synth", "test", root=tiny_synth)
    changed = 0
    for clip_id in clips.clip_ids:
        clip = clips.get(clip_id)
        true = clip.inputs()
        shown = InputSetting(rotation_deg=5.0).apply(true, clip_seed(0, clip_id))
        check_inputs(shown)  # still rigid poses: a rotation by exactly 5 degrees about the camera centre
        R, R_shown = true.exo_T_world_cam[:, :3, :3], shown.exo_T_world_cam[:, :3, :3]
        cos = (np.trace(np.transpose(R, (0, 2, 1)) @ R_shown, axis1=1, axis2=2) - 1) / 2
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))) == pytest.approx([5.0] * true.num_views, abs=1e-6)
        assert np.array_equal(shown.exo_T_world_cam[:, :3, 3], true.exo_T_world_cam[:, :3, 3])
        assert shown.exo_video is true.exo_video and np.array_equal(shown.ego_T_world_cam, true.ego_T_world_cam)
        # exo-copy's video is the view that is closest under the poses it was given, not under the true ones
        video = read_video(folder(sweep_root, "exo-copy@pose-noise5deg") / "videos" / f"{clip_id}.mp4")
        expected = resize_video(true.exo_video[shown.closest_exo_view()], true.ego_height, true.ego_width, crop=True)
        assert np.array_equal(video, expected), clip_id
        changed += shown.closest_exo_view() != true.closest_exo_view()
    assert changed >= 1  # else this check could not tell noisy poses from true ones
    # the truth is untouched: mean-colour, which ignores the poses, scores exactly as with the true poses
    noisy = pd.read_csv(folder(sweep_root, "mean-colour@pose-noise5deg") / "per_clip.csv")
    assert noisy["psnr"].tolist() == pd.read_csv(folder(sweep_root, "mean-colour") / "per_clip.csv")["psnr"].tolist()


def test_pose_errors_have_exact_sizes_and_seeded_directions():
    rotations, shifts = pose_errors(4, 2.0, 0.05, seed=7)
    angles = np.degrees(np.arccos((np.trace(rotations, axis1=1, axis2=2) - 1) / 2))
    assert angles == pytest.approx([2.0] * 4) and np.linalg.norm(shifts, axis=1) == pytest.approx([0.05] * 4)
    assert np.allclose(rotations @ np.transpose(rotations, (0, 2, 1)), np.eye(3)) and np.allclose(
        np.linalg.det(rotations), 1)
    again, shifts_again = pose_errors(4, 2.0, 0.05, seed=7)
    assert np.array_equal(again, rotations) and np.array_equal(shifts_again, shifts)
    _, other = pose_errors(4, 2.0, 0.05, seed=8)
    assert not np.allclose(other, shifts)
    _, larger = pose_errors(4, 4.0, 0.10, seed=7)  # another level: the same directions, twice as far
    assert np.allclose(larger, 2 * shifts)


def test_the_setting_is_recorded_in_the_folder_name_run_json_and_results(sweep_root):
    views2, noisy, plain = (folder(sweep_root, n) for n in ("exo-copy@views2", "exo-copy@pose-noise5deg", "exo-copy"))
    assert results_of(views2)["method"]["inputs"] == {"views": 2, "view_selection": "closest-to-ego"}
    assert results_of(views2)["method"]["name"] == "exo-copy@views2"
    noise = results_of(noisy)["method"]["inputs"]["pose_noise"]
    assert (noise["rotation_deg"], noise["translation_m"]) == (5.0, 0.0) and "random axis" in noise["model"]
    assert json.loads((views2 / "run.json").read_text())["inputs"]["views"] == 2
    assert "inputs" not in results_of(plain)["method"] and "inputs" not in json.loads((plain / "run.json").read_text())
    assert InputSetting.from_results(results_of(noisy)) == InputSetting(rotation_deg=5.0)
    assert InputSetting.from_results(results_of(plain)).is_default


def test_a_run_folder_is_not_resumed_with_another_setting(tiny_synth, tmp_path):
    common = dict(root=tiny_synth, out=tmp_path, progress=False, metrics=("psnr",), n_boot=100, limit=1,
                  run_name="named")
    run("mean-colour", views=2, **common)
    with pytest.raises(UsageError, match="inputs"):
        run("mean-colour", views=3, **common)


def test_a_translation_only_error_and_the_folder_names():
    assert InputSetting.make(views="3").suffix() == "@views3"
    assert InputSetting.make(pose_noise="0:0.05").suffix() == "@pose-noise0deg+0.05m"
    assert InputSetting.make(pose_noise=2).suffix() == "@pose-noise2deg"
    assert InputSetting.make(pose_noise="0").is_default and InputSetting.make().record() is None


def test_a_clip_with_fewer_views_than_asked_fails_the_views_rule(tiny_synth):
    clip = load_split("synth", "test", root=tiny_synth).get("synth-test-0000")
    two = clip.inputs().select_views([0, 1])
    with pytest.raises(InputCheckError) as caught:
        InputSetting(views=3).apply(two, seed=0)
    assert caught.value.rule == "views" and "synth-test-0000" in str(caught.value)


def test_sweep_runs_are_not_under_the_protocol_of_full_runs(sweep_root):
    from leaderboard.protocol import protocol_key

    keys = [json.dumps(protocol_key(results_of(folder(sweep_root, n))), sort_keys=True)
            for n in ("exo-copy", "exo-copy@views2", "exo-copy@views3", "exo-copy@pose-noise5deg")]
    assert len(set(keys)) == 4


# --- user mistakes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, named", [
    (("--views", "0"), "--views expects a number of exo views >= 1"),
    (("--views", "two"), "--views expects"),
    (("--views", "5"), "--views 5: the clips of synth/test have at most 4 exo views"),
    (("--pose-noise", "-1"), "--pose-noise expects ROT_DEG or ROT_DEG:TRANS_M"),
    (("--pose-noise", "200"), "--pose-noise expects"),
    (("--pose-noise", "1:2:3"), "--pose-noise expects"),
    (("--pose-noise", "nan"), "--pose-noise expects"),
])
def test_bad_run_options_exit_2(tiny_synth, tmp_path, capsys, args, named):
    err = fails(capsys, "run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path, "--no-progress",
                "--metrics", "psnr", *args)
    assert named in err
    assert not (tmp_path / "synth").exists()  # refused before any run folder is made


@pytest.mark.parametrize("args, named", [
    ((), "a sweep varies one setting"),
    (("--views", "1,2", "--pose-noise", "1"), "a sweep varies one setting"),
    (("--views", "1,,2"), "--views expects comma-separated values"),
    (("--views", "2,2"), "--views names the same point twice: 2"),
    (("--pose-noise", "0,0:0"), "--pose-noise names the same point twice"),
    (("--views", "1,x"), "--views expects a number of exo views"),
    (("--views", "1", "--methods", "no-such-method"), "no-such-method"),
])
def test_bad_sweeps_exit_2_before_any_run(tiny_synth, tmp_path, capsys, args, named):
    methods = () if "--methods" in args else ("--methods", "exo-copy")
    err = fails(capsys, "sweep", *methods, "--root", tiny_synth, "--out", tmp_path, "--no-progress", *args)
    assert named in err
    assert not (tmp_path / "synth").exists()


def test_the_sweep_command_runs_each_point_and_says_how_to_draw_it(tiny_synth, tmp_path, capsys):
    assert main(["sweep", "--methods", "mean-colour", "--views", "1,3", "--root", str(tiny_synth), "--out",
                 str(tmp_path), "--limit", "1", "--metrics", "psnr", "--n-boot", "100", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {folder(tmp_path, 'mean-colour@views1')}" in out and "--which views" in out
    assert {p.parent.name for p in tmp_path.rglob("results.json")} == {"mean-colour@views1", "mean-colour@views3"}
    assert views_figure(run_dirs_under(tmp_path), out=tmp_path / "fig").numbers.series[0].xs == [1, 3]


def test_figures_refuse_runs_on_different_data_and_two_runs_at_one_point(sweep_root, tmp_path, capsys):
    other = tmp_path / "on-val"
    shutil.copytree(folder(sweep_root, "exo-copy"), other)
    results = results_of(other)
    results["dataset"]["split"] = "val"
    (other / "results.json").write_text(json.dumps(results))
    for which in ("ablation", "categories"):
        err = fails(capsys, "figures", "--runs", folder(sweep_root, "mean-colour"), other, "--out", tmp_path / "o",
                    "--which", which)
        assert str(other) in err and "synth/val" in err and "synth/test" in err
    twin = tmp_path / "twin"
    shutil.copytree(folder(sweep_root, "exo-copy@views2"), twin)
    with pytest.raises(UsageError, match=r"two runs at views 2 of exo-copy"):
        sweep_series([folder(sweep_root, "exo-copy@views2"), twin], "views")
    with pytest.raises(NoSweepRuns):
        sweep_series([folder(sweep_root, "exo-copy")], "views")
