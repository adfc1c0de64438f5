"""The on-disk dataset format and the loader: build, reload, hashes, errors, `datasets` compatibility."""

import json
import shutil

import numpy as np
import pytest

from benchmark.data import (ClipSet, DatasetIntegrityError, DatasetNotFoundError, build_synth, default_cache_dir,
                            load_split, show_clip)
from benchmark.data import hf_format as fmt
from benchmark.data.loading import ClipNotFoundError, UnknownSplitError
from benchmark.data.synth.render import SynthConfig, render_clip
from benchmark.errors import UsageError
from benchmark.video_io import VideoReadError, write_video

TINY = dict(num_frames=9, ego_size=(32, 32), exo_size=(32, 48), clips_per_scene=2)
SIZES = {"train": 3, "val": 1, "test": 2}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return build_synth(tmp_path_factory.mktemp("ds") / "synth", n_clips=SIZES, seed=5, progress=False, **TINY)


@pytest.fixture
def dataset_copy(dataset, tmp_path):
    return shutil.copytree(dataset, tmp_path / "copy")


def test_reloaded_clips_equal_the_rendered_ones(dataset):
    clips = load_split("synth", "test", root=dataset)
    config = SynthConfig(**TINY)
    assert clips.clip_ids == ["synth-test-0000", "synth-test-0001"]
    for i, cid in enumerate(clips.clip_ids):
        loaded, rendered = clips.get(cid), render_clip("test", i, seed=5, config=config)
        for name in ("exo_video", "ego_video", "exo_depth", "ego_depth", "exo_K", "exo_T_world_cam", "ego_K",
                     "ego_T_world_cam"):
            assert np.array_equal(getattr(loaded, name), getattr(rendered, name)), name  # lossless
        assert (loaded.text, loaded.category, loaded.fps) == (rendered.text, rendered.category, 8.0)
        assert loaded.extra["scene_id"] == rendered.extra["scene_id"] and loaded.extra["split"] == "test"


def test_clipset_metadata_needs_no_decoding(dataset):
    clips = load_split("synth", "train", root=dataset)
    assert len(clips) == 3 and clips.name == "synth" and clips.split == "train"
    assert clips.info["num_frames"] == 9 and clips.info["ego_size"] == [32, 32] and clips.info["n_views"] == 4
    assert clips.categories() == {"synth-train-0000": "pick-place", "synth-train-0001": "stack",
                                  "synth-train-0002": "push"}
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert clips.manifest_sha256 == manifest["splits"]["train"]["sha256"] == fmt.split_sha256(dataset, "train")
    assert manifest["splits"]["train"]["max_abs_video_error"] == 0


def test_hf_datasets_loads_every_split(dataset, tmp_path):
    import datasets

    ds = datasets.load_dataset(str(dataset), cache_dir=str(tmp_path / "hf-cache"))
    assert {s: ds[s].num_rows for s in ds} == SIZES
    row = ds["test"][0]
    assert row["clip_id"] == "synth-test-0000" and len(row["exo_K"]) == 4 * 9 and len(row["ego_T_world_cam"]) == 9 * 16
    assert (dataset / row["ego_video"]).is_file()


def test_same_seed_rebuild_has_identical_hashes(dataset, tmp_path):
    again = build_synth(tmp_path / "again", splits=("test",), n_clips=SIZES, seed=5, progress=False, **TINY)
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (dataset, again))
    assert first["splits"]["test"]["sha256"] == second["splits"]["test"]["sha256"]


def test_adding_a_split_later_keeps_the_manifest_consistent(tmp_path):
    root = build_synth(tmp_path / "ds", splits=("test",), n_clips=SIZES, progress=False, **TINY)
    test_sha = json.loads((root / "manifest.json").read_text())["splits"]["test"]["sha256"]
    build_synth(root, splits=("val",), n_clips=SIZES, progress=False, **TINY)
    manifest = json.loads((root / "manifest.json").read_text())
    assert sorted(manifest["splits"]) == ["test", "val"] and manifest["splits"]["test"]["sha256"] == test_sha
    assert set(manifest["files"]) == set(fmt.split_files(root, "test")) | set(fmt.split_files(root, "val"))
    assert "path: data/val.parquet" in (root / "README.md").read_text()
    assert not list(tmp_path.glob(".ds.staging-*"))  # no staging leftovers


def test_adding_a_split_with_other_parameters_is_refused(tmp_path):
    root = build_synth(tmp_path / "ds", splits=("val",), n_clips=SIZES, progress=False, **TINY)
    with pytest.raises(UsageError) as err:
        build_synth(root, splits=("test",), n_clips=SIZES, seed=1, progress=False, **TINY)
    message = str(err.value)
    assert f"--out {root}" in message and "seed 0 there, 1 asked for" in message
    assert "num_frames" not in message  # only the settings that differ are named
    with pytest.raises(UsageError, match=r"num_frames 9 there, 17 asked for"):
        build_synth(root, splits=("test",), n_clips=SIZES, progress=False)
    assert sorted(json.loads((root / "manifest.json").read_text())["splits"]) == ["val"]  # nothing was added


@pytest.mark.parametrize("kwargs, expected", [
    (dict(splits=("test", "tset")), ["(--splits): unknown split(s) ['tset']", "splits train, val, test"]),
    (dict(splits=()), ["(--splits): none given", "splits train, val, test"]),
    (dict(splits=("test",), n_clips={"test": 0}),
     ["n_clips['test'] (--n-clips test=N) must be an integer >= 1, got 0"]),
    (dict(splits=("test",), n_clips={"tset": 2}),
     ["n_clips (--n-clips) names unknown split 'tset'", "train, val, test"]),
])
def test_bad_splits_and_sizes_are_usage_errors_naming_the_argument(tmp_path, kwargs, expected):
    with pytest.raises(UsageError) as err:
        build_synth(tmp_path / "ds", progress=False, **TINY, **kwargs)
    for text in expected:
        assert text in str(err.value)
    assert not (tmp_path / "ds").exists()


def test_a_single_split_name_is_one_split_not_its_letters(tmp_path):
    root = build_synth(tmp_path / "ds", splits="val", n_clips=SIZES, progress=False, **TINY)
    assert sorted(json.loads((root / "manifest.json").read_text())["splits"]) == ["val"]


def test_manifest_hash_changes_when_a_file_changes(dataset_copy):
    clips = load_split("synth", "test", root=dataset_copy)
    assert clips.verify() == clips.manifest_sha256
    depth = dataset_copy / "depth" / "test" / "synth-test-0001.npz"
    data = np.load(depth)
    fmt.write_npz(depth, exo_depth=data["exo_depth"] + 1, ego_depth=data["ego_depth"])
    assert fmt.split_sha256(dataset_copy, "test") != clips.manifest_sha256
    with pytest.raises(DatasetIntegrityError, match="depth/test/synth-test-0001.npz"):
        clips.verify()


def test_missing_dataset_error_names_the_path_and_how_to_build(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        load_split("synth", "test", root=missing)
    assert str(missing) in str(err.value) and "python -m benchmark data build synth --out" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_other_datasets_are_never_built(tmp_path, monkeypatch):
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="egoexo4d"):
        load_split("egoexo4d", "test")
    assert not (tmp_path / "egoexo4d").exists()


def test_unknown_split_lists_the_present_splits(dataset):
    with pytest.raises(UnknownSplitError) as err:
        load_split("synth", "validation", root=dataset)
    assert isinstance(err.value, UsageError)
    assert f"split 'validation' (--split) is not in dataset 'synth' at {dataset}" in str(err.value)
    assert "the splits there are: test, train, val" in str(err.value)


def test_a_synth_split_not_built_in_the_folder_says_how_to_build_it(tmp_path):
    root = build_synth(tmp_path / "ds", splits=("val",), n_clips=SIZES, progress=False, **TINY)
    with pytest.raises(UnknownSplitError) as err:
        load_split("synth", "test", root=root)
    assert f"`python -m benchmark data build synth --out {root} --splits test`" in str(err.value)


def test_unknown_split_of_the_cached_synth_names_the_splits_and_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path))
    with pytest.raises(UnknownSplitError) as err:
        load_split("synth", "tset")
    assert "unknown split 'tset' (--split) of dataset 'synth'" in str(err.value)
    assert "train, val, test" in str(err.value) and "did you mean 'test'?" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_clip_not_in_the_split_is_a_key_error_and_a_usage_error(dataset):
    clips = load_split("synth", "test", root=dataset)
    with pytest.raises(KeyError) as err:
        clips.get("synth-test-001")
    assert isinstance(err.value, ClipNotFoundError) and isinstance(err.value, UsageError)
    message = str(err.value)  # a sentence, not KeyError's quoted repr
    assert message.startswith("clip 'synth-test-001' is not in synth/test (2 clips at ")
    assert "close matches: synth-test-0001" in message and "python -m benchmark data list" in message
    with pytest.raises(ClipNotFoundError, match="synth-train-0000"):
        clips.ego_video("synth-train-0000")


def test_corrupt_video_error_names_clip_and_file(dataset_copy):
    video = dataset_copy / "videos" / "test" / "synth-test-0001" / "exo_cam02.mp4"
    video.write_bytes(b"not a video at all" * 10)
    clips = load_split("synth", "test", root=dataset_copy)
    clips[0]  # other clips still load
    with pytest.raises(VideoReadError) as err:
        clips[1]
    assert "synth-test-0001" in str(err.value) and str(video) in str(err.value)


def test_short_video_error_says_how_many_frames(dataset_copy):
    video = dataset_copy / "videos" / "test" / "synth-test-0000" / "ego.mp4"
    write_video(video, np.zeros((5, 32, 32, 3), np.uint8), fps=8)
    with pytest.raises(VideoReadError, match=r"synth-test-0000.*expected 9 frames, decoded 5"):
        load_split("synth", "test", root=dataset_copy)[0]


def test_missing_video_error_names_clip_and_file(dataset_copy):
    video = dataset_copy / "videos" / "test" / "synth-test-0000" / "exo_cam04.mp4"
    video.unlink()
    with pytest.raises(VideoReadError, match=r"synth-test-0000.*exo_cam04.mp4.*not found"):
        load_split("synth", "test", root=dataset_copy)[0]


def test_directory_without_manifest_is_not_a_dataset(dataset_copy):
    (dataset_copy / "manifest.json").unlink()  # what an interrupted build would leave
    with pytest.raises(DatasetNotFoundError, match="manifest.json"):
        load_split("synth", "test", root=dataset_copy)


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("EXOEGO_CACHE")
    assert default_cache_dir().name == "exoego-bench"


def test_show_clip_writes_a_png(dataset, tmp_path):
    clip = load_split("synth", "val", root=dataset)[0]
    out = show_clip(clip, tmp_path / "sheet.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ego_marker_is_not_drawn_behind_an_exo_camera(dataset):
    from benchmark.data.show import ego_marker

    clip = load_split("synth", "val", root=dataset)[0]
    centre, tip = ego_marker(clip, 0, 0)
    assert centre is not None and tip is not None  # the person faces the table, in front of cam01
    T = clip.exo_T_world_cam.copy()
    T[0, :3, :3] = -T[0, :3, :3] @ np.diag([1, -1, 1])  # turn cam01 around (still a rotation)
    turned = type(clip)(**{**clip.__dict__, "exo_T_world_cam": T})
    assert ego_marker(turned, 0, 0) == (None, None)


@pytest.mark.slow
def test_load_split_builds_the_default_synth_split_on_first_use(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path))
    clips = load_split("synth", "val")
    assert isinstance(clips, ClipSet) and len(clips) == 24 and clips.root == tmp_path / "synth-v2"
    assert "building SynthEgoExo split 'val'" in capsys.readouterr().err
    assert load_split("synth", "val").manifest_sha256 == clips.manifest_sha256  # built once


def test_build_refuses_a_foreign_non_empty_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError) as err:
        build_synth(tmp_path / "mine", splits=("val",), n_clips=SIZES, progress=False, **TINY)
    assert f"--out {tmp_path / 'mine'}: this folder is not empty and holds no manifest.json" in str(err.value)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
