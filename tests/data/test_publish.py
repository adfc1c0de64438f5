"""`data push`: which files of a dataset folder a maintainer's push would upload (dry runs only: no network)."""

import json
import shutil
import subprocess
import sys

import pytest

from benchmark.cli import main
from benchmark.data import hf_format as fmt
from benchmark.data.publish import files_to_push, push_to_hub
from benchmark.errors import UsageError

LICENSE_URL = "https://ego4ddataset.com/egoexo-license/"


def test_a_default_push_of_synthetic_data_is_its_description_only(tiny_synth, capsys):
    files = push_to_hub(tiny_synth, "org/synth", dry_run=True)
    assert files == ["README.md", "manifest.json"]
    out = capsys.readouterr().out
    assert out.startswith("would upload 2 files (") and "to the dataset repository org/synth" in out
    assert out.splitlines()[1:] == ["  README.md", "  manifest.json"]


def test_synthetic_data_may_be_pushed_whole(tiny_synth):
    files = files_to_push(tiny_synth, include_videos=True)
    manifest = fmt.read_manifest(tiny_synth)
    assert files == sorted({"README.md", "manifest.json", *manifest["files"]})
    assert "data/test.parquet" in files and any(f.startswith("videos/test/") for f in files)
    assert any(f.startswith("depth/test/") for f in files)


def test_a_changed_file_is_never_pushed(tiny_synth, tmp_path):
    copy = shutil.copytree(tiny_synth, tmp_path / "copy")
    video = sorted((copy / "videos" / "test").rglob("ego.mp4"))[0]
    video.write_bytes(video.read_bytes()[:-10])
    rel = video.relative_to(copy).as_posix()
    with pytest.raises(UsageError, match=f"1 file\\(s\\) missing or changed since the build \\(not pushed\\): {rel}"):
        files_to_push(copy, include_videos=True)
    assert files_to_push(copy) == ["README.md", "manifest.json"]  # the description alone is still consistent


def test_a_folder_that_is_not_a_finished_dataset_is_refused(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(UsageError, match=r"half: no manifest.json, so it is not a finished dataset folder"):
        files_to_push(tmp_path / "half")


@pytest.mark.parametrize("repo_id", ["synth", "org/", "/name", "org/na me", "a/b/c"])
def test_the_repo_id_must_be_org_slash_name(tiny_synth, repo_id):
    with pytest.raises(UsageError, match="expected ORG/NAME"):
        push_to_hub(tiny_synth, repo_id, dry_run=True)


def test_the_cli_dry_run_lists_the_files_and_loads_no_hub_client(tiny_synth):
    code = ("import sys; from benchmark.cli import main; "
            f"rc = main(['data', 'push', {str(tiny_synth)!r}, '--repo-id', 'org/synth', '--include-videos', "
            "'--dry-run']); print('hub client loaded:', 'huggingface_hub' in sys.modules); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    n = len(fmt.read_manifest(tiny_synth)["files"]) + 2
    assert r.stdout.startswith(f"would upload {n} files") and "  data/test.parquet\n" in r.stdout
    assert r.stdout.rstrip().endswith("hub client loaded: False")


def test_cli_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["data", "push", str(tmp_path), "--repo-id", "org/x", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no manifest.json" in err


# --- ExoEgo4D: the license allows publishing the clip list, not the videos -------------------------------------


@pytest.fixture(scope="module")
def exoego4d(tmp_path_factory):
    """Two takes converted: bike-repair (train) and covid-test (test)."""
    from benchmark.data.egoexo4d.convert import build_exoego4d
    from benchmark.data.egoexo4d.fixture import write_fixture

    base = tmp_path_factory.mktemp("exoego4d")
    truth = write_fixture(base / "egoexo", n_takes=2, n_frames=69, supersample=1)
    out, _ = build_exoego4d(truth.root, base / "out", progress=False)
    return out


@pytest.mark.slow
def test_exoego4d_pushes_its_card_manifests_and_report_but_no_data(exoego4d):
    files = files_to_push(exoego4d)
    assert files == ["README.md", "build_report.json", "exoego4d_manifest.json", "manifest.json"]
    assert json.loads((exoego4d / "exoego4d_manifest.json").read_text())  # the clip list is there to publish


@pytest.mark.slow
def test_exoego4d_videos_are_refused_citing_the_license(exoego4d, capsys):
    with pytest.raises(UsageError, match=f"--include-videos refused for .*Ego-Exo4D.*{LICENSE_URL}"):
        files_to_push(exoego4d, include_videos=True)
    assert main(["data", "push", str(exoego4d), "--repo-id", "org/exoego4d", "--include-videos", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and LICENSE_URL in err and "leave --include-videos out" in err
    assert main(["data", "push", str(exoego4d), "--repo-id", "org/exoego4d", "--dry-run"]) == 0
    assert "would upload 4 files" in capsys.readouterr().out
