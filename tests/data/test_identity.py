"""The dataset's identity is defined over content, is the same on every machine, and catches changed data."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import DatasetIntegrityError, load_split
from benchmark.data import hf_format as fmt
from benchmark.data import identity
from benchmark.runner import run
from benchmark.schema import ClipValidationError
from benchmark.video_io import read_video

REPO = Path(__file__).resolve().parents[2]
# numpy's AVX-512 kernels for sin/cos/arctan2 differ in the last bit from its AVX2 ones (issue 7); OpenBLAS
# picks its kernel from the CPU as well. Both are simulated here on one machine.
OTHER_CPU = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_SKX AVX512_CLX "
                                         "AVX512_CNL AVX2 FMA3 X86_V3",
             "OPENBLAS_CORETYPE": "Prescott", "ATEN_CPU_CAPABILITY": "default"}


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_the_manifest_records_a_content_identity_that_the_files_reproduce(tiny_synth):
    clips = load_split("synth", "test", root=tiny_synth)
    assert clips.verifiable and len(clips.identity) == 64
    hashes = {cid: clips.verify_clip(cid) for cid in clips.clip_ids}
    assert identity.set_identity(hashes) == clips.identity
    manifest = fmt.read_manifest(tiny_synth)
    assert manifest["identity_definition"] == identity.DEFINITION
    assert "## Identity" in (tiny_synth / "README.md").read_text()


def test_identity_ignores_container_bytes_but_not_frames(tiny_synth, tmp_path):
    """Re-encoding a video with other settings changes its bytes, not its identity; changing a pixel does."""
    import av

    data = _copy(tiny_synth, tmp_path / "d")
    clips = load_split("synth", "test", root=data)
    cid = clips.clip_ids[0]
    rel = clips._row(cid)["exo_videos"][1]
    frames = read_video(data / rel)
    before = (data / rel).read_bytes()
    with av.open(str(data / rel), "w") as out:  # same lossless frames, another encoder preset and muxer tag
        out.metadata["comment"] = "re-encoded elsewhere"
        stream = out.add_stream("libx264rgb", rate=8)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb24"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert (data / rel).read_bytes() != before
    assert np.array_equal(read_video(data / rel), frames)
    assert clips.verify_clip(cid) == clips._clip_sha256[cid]

    frames[3, 5, 7, 0] ^= 1
    from benchmark.video_io import write_video

    write_video(data / rel, frames, fps=8)
    with pytest.raises(DatasetIntegrityError, match=rf"{cid}.*{rel}"):
        clips.verify_clip(cid)


def test_camera_values_hash_at_the_stated_precision():
    rng = np.random.default_rng(0)
    poses = identity.round_cameras(rng.normal(size=(17, 4, 4)))
    ulp_off = np.nextafter(poses, np.inf)  # what another CPU's last bit would do to a stored value
    assert identity.cameras_sha256(ulp_off) == identity.cameras_sha256(poses)
    moved = poses.copy()
    moved[4, 0, 3] += 1e-8  # 10 nm: a real change
    assert identity.cameras_sha256(moved) != identity.cameras_sha256(poses)
    assert np.array_equal(identity.round_cameras(poses), poses)  # rounding is idempotent


def test_a_swapped_ground_truth_video_is_refused_by_name_when_scoring(tiny_synth, tmp_path):
    data = _copy(tiny_synth, tmp_path / "d")
    clips = load_split("synth", "test", root=data)
    a, b = clips.clip_ids[:2]
    shutil.copy(data / clips._row(b)["ego_video"], data / clips._row(a)["ego_video"])
    report = run("exo-copy", root=data, out=tmp_path / "runs", progress=False)
    assert [(f["clip_id"], f["stage"]) for f in report.failed] == [(a, "verify")]
    assert "does not match the content identity" in report.failed[0]["error"]
    results = report.results
    assert results["dataset"]["n_scored"] == len(clips) - 1
    others = {cid: clips._clip_sha256[cid] for cid in clips.clip_ids if cid != a}
    assert results["dataset"]["identity"] == identity.set_identity(others)


def test_results_name_the_verified_identity_of_the_scored_clips(tiny_synth, tmp_path):
    full = run("exo-copy", root=tiny_synth, out=tmp_path / "full", progress=False).results
    part = run("exo-copy", root=tiny_synth, out=tmp_path / "part", limit=2, progress=False).results
    clips = load_split("synth", "test", root=tiny_synth)
    assert full["dataset"]["identity"] == clips.identity == full["dataset"]["split_identity"]
    assert part["dataset"]["identity"] == identity.set_identity({c: clips._clip_sha256[c] for c in clips.clip_ids[:2]})
    assert full["dataset"]["identity_verified"] is True


def test_dataset_paths_cannot_leave_the_dataset_folder(tiny_synth, tmp_path):
    data = _copy(tiny_synth, tmp_path / "d")
    outside = tmp_path / "outside.mp4"
    clips = load_split("synth", "test", root=data)
    cid = clips.clip_ids[0]
    rel = clips._row(cid)["ego_video"]
    shutil.move(data / rel, outside)
    os.symlink(outside, data / rel)  # a symlink inside the folder that points out of it
    with pytest.raises(ClipValidationError, match="outside the dataset folder"):
        clips.ego_video(cid)
    rows = fmt.read_rows(data / "data" / "test.parquet")
    rows[1]["ego_video"] = "../../outside.mp4"
    fmt.write_parquet(data / "data" / "test.parquet", rows)
    with pytest.raises(ClipValidationError, match="outside the dataset folder"):
        load_split("synth", "test", root=data).get(rows[1]["clip_id"])


def _build_in_subprocess(out: Path, env_extra: dict) -> dict:
    env = {**os.environ, **env_extra, "PYTHONPATH": str(REPO)}
    code = ("from benchmark.data import build_synth; import sys; "
            "build_synth(sys.argv[1], splits=('test',), seed=0, progress=False)")
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, cwd=REPO, timeout=900)
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_the_default_test_split_has_one_identity_on_different_cpus(tmp_path):
    """The full default test split, built as this CPU builds it and as a CPU without AVX-512/AVX2/FMA would."""
    here = _build_in_subprocess(tmp_path / "here", {})
    other = _build_in_subprocess(tmp_path / "other", OTHER_CPU)
    assert here["splits"]["test"]["identity"] == other["splits"]["test"]["identity"]
    assert here["splits"]["test"]["clip_sha256"] == other["splits"]["test"]["clip_sha256"]
    # with stored values that no longer depend on the CPU, even the file bytes agree here
    assert here["files"] == other["files"]


def test_a_run_folder_remembers_the_data_by_content(tiny_synth, tmp_path):
    """run.json names the dataset by identity, so a dataset rebuilt with other file bytes is still the same data."""
    report = run("exo-copy", root=tiny_synth, out=tmp_path, limit=1, progress=False)
    settings = json.loads((report.out_dir / "run.json").read_text())
    assert settings["dataset_identity"] == load_split("synth", "test", root=tiny_synth).identity
    assert "manifest_sha256" not in settings
