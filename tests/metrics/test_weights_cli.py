"""``python -m benchmark weights list | download | verify | register``, and runs whose weights are missing.

Nothing here touches the network: downloads come from a ``file://`` mirror (``$EXOEGO_WEIGHTS_MIRROR``). The
"weights" are locally made stand-ins: bytes that are not the published I3D file (so its published git blob id
must reject them), and a tiny CLIP model built from a small config with a fixed seed and saved with
``save_pretrained``.
"""

import json

import pandas as pd
import pytest
import torch
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

from benchmark.cli import main
from benchmark.metrics import weights


def run_cli(*args):
    return main([str(a) for a in args])


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Every weights lookup pointed at empty temporary folders; no library cache can leak in."""
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv(weights.ENV_I3D, str(tmp_path / "no-i3d" / weights.I3D_FILENAME))  # cd-fvd's folder stays out
    monkeypatch.setenv(weights.ENV_VIDEOMAE, str(tmp_path / "no-videomae" / weights.VIDEOMAE_FILENAME))
    for var in (weights.ENV_LPIPS_ALEXNET, weights.ENV_LPIPS_VGG16, weights.ENV_CLIP, weights.ENV_WEIGHTS_MIRROR):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A seeded tiny CLIPVisionModelWithProjection and the default CLIP processor, saved as a model folder."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4,
                              image_size=224, patch_size=32, projection_dim=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        CLIPVisionModelWithProjection(config).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


@pytest.fixture
def not_the_i3d(tmp_path):
    path = tmp_path / "downloads" / weights.I3D_FILENAME
    path.parent.mkdir()
    path.write_bytes(b"these bytes are not the published I3D weights")
    return path


def test_list_gives_every_file_with_its_source_published_checksum_and_the_chosen_directory(env, tmp_path, capsys):
    assert run_cli("weights", "list", "--cache-dir", tmp_path / "elsewhere") == 0
    out = capsys.readouterr().out
    assert f"weights directory: {tmp_path / 'elsewhere'}" in out
    for key in weights.FILES:
        assert key in out
    for text in (weights.I3D_URL, weights.ALEXNET_URL, weights.VIDEOMAE_URL, weights.I3D_GIT_BLOB_SHA1,
                 "sha256 unknown", "python -m benchmark weights download fvd.i3d", "fvd: unavailable"):
        assert text in out
    assert run_cli("weights") == 0 and run_cli("weights", "status") == 0  # the default and the older name


def test_registered_clip_folder_is_used_by_checks_and_verify(env, tmp_path, clip_folder, capsys):
    assert not weights.check("clip_i")[0]
    assert run_cli("weights", "register", "clip_i.vit_b_32", clip_folder) == 0
    registry = json.loads((tmp_path / "weights" / weights.REGISTRY_FILENAME).read_text())
    assert registry["clip_i.vit_b_32"]["path"] == str(clip_folder.resolve())
    assert registry["clip_i.vit_b_32"]["sha256"] == weights.folder_digest(clip_folder)
    ok, reason = weights.check("clip_i")
    assert ok and "unverified" in reason
    capsys.readouterr()
    assert run_cli("weights", "verify", "clip_i") == 0
    out = capsys.readouterr().out
    assert "clip_i.vit_b_32: unverified" in out and "sha256 unknown" in out


def test_a_registered_file_that_changed_since_is_a_mismatch(env, tmp_path, clip_folder):
    copy = tmp_path / "clip-copy"
    copy.mkdir()
    for f in clip_folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    weights.register("clip_i.vit_b_32", copy)
    (copy / "preprocessor_config.json").write_text("{}")
    status = weights.file_status(weights.FILES["clip_i.vit_b_32"])
    assert status.state == "mismatch" and "changed since" in status.detail
    assert run_cli("weights", "verify", "clip_i.vit_b_32") == 1


def test_register_refuses_a_file_contradicting_the_published_git_blob_unless_forced(env, not_the_i3d, capsys):
    assert run_cli("weights", "register", "i3d", not_the_i3d) == 2
    err = capsys.readouterr().err
    assert "git blob sha1" in err and weights.I3D_GIT_BLOB_SHA1 in err and "--force" in err
    assert weights.registered() == {}
    assert run_cli("weights", "register", "fvd.i3d", not_the_i3d, "--force") == 0
    env.delenv(weights.ENV_I3D)  # the registration is now the lookup
    assert run_cli("weights", "verify", "fvd.i3d") == 1
    assert "mismatch" in capsys.readouterr().out
    assert not weights.check("fvd")[0] and weights.check("fvd", verify_checksum=False)[0]


def test_verify_path_checks_a_local_file_without_registering_it(env, not_the_i3d, capsys):
    assert run_cli("weights", "verify", "fvd.i3d", "--path", not_the_i3d) == 1
    out = capsys.readouterr().out
    assert "fvd.i3d: mismatch" in out and str(not_the_i3d) in out
    assert weights.registered() == {}
    assert run_cli("weights", "verify", "lpips", "--path", not_the_i3d) == 2  # two files: --path is ambiguous


def test_download_from_a_mirror_installs_checks_and_refuses_wrong_bytes(env, tmp_path, clip_folder, capsys):
    mirror = tmp_path / "mirror"
    (mirror / weights.CLIP_FOLDER).mkdir(parents=True)
    (mirror / weights.VIDEOMAE_FILENAME).write_bytes(b"stand-in for the VideoMAE-v2 checkpoint")
    (mirror / weights.I3D_FILENAME).write_bytes(b"not the I3D weights")
    for f in clip_folder.iterdir():
        (mirror / weights.CLIP_FOLDER / f.name).write_bytes(f.read_bytes())
    env.setenv(weights.ENV_WEIGHTS_MIRROR, mirror.as_uri())
    cache = tmp_path / "my-weights"

    # CLIP into the chosen weights directory; VideoMAE to the path its variable names ($EXOEGO_VIDEOMAE)
    assert run_cli("weights", "download", "fvd.videomae", "clip_i", "--cache-dir", cache, "--no-progress") == 0
    assert (cache / weights.CLIP_FOLDER / "config.json").is_file() and weights.check("clip_i", cache_dir=cache)[0]
    videomae = weights.file_status(weights.FILES["fvd.videomae"], cache)
    assert videomae.state == "unverified" and videomae.path == tmp_path / "no-videomae" / weights.VIDEOMAE_FILENAME

    capsys.readouterr()
    assert run_cli("weights", "fetch", "i3d", "--cache-dir", cache, "--no-progress") == 1  # 'fetch' is an alias
    err = capsys.readouterr().err
    assert weights.I3D_GIT_BLOB_SHA1 in err and "weights register fvd.i3d PATH" in err
    i3d_target = tmp_path / "no-i3d"
    assert not (i3d_target / weights.I3D_FILENAME).exists()
    assert not [p for p in i3d_target.iterdir() if p.name.endswith(".partial")]


def test_the_lpips_vgg_files_are_listed_verified_and_fetched_by_name_only(env, tmp_path, capsys):
    assert run_cli("weights", "list") == 0
    out = capsys.readouterr().out
    assert "lpips.vgg16" in out and weights.VGG16_URL in out and f"sha256 prefix {weights.VGG16_SHA256_PREFIX}" in out
    assert run_cli("weights", "verify", "lpips.linear_vgg") == 0  # shipped inside torchmetrics
    assert "lpips.linear_vgg: verified" in capsys.readouterr().out
    assert run_cli("weights", "verify", "lpips_vgg") == 1  # both files of the variant; the backbone is missing
    out = capsys.readouterr().out
    assert "lpips.vgg16: missing" in out and "python -m benchmark weights download lpips.vgg16" in out
    assert run_cli("weights", "verify") == 1
    assert "lpips.vgg16" not in capsys.readouterr().out  # by default only the default variants are checked

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / weights.VGG16_FILENAME).write_bytes(b"not the VGG16 weights")
    env.setenv(weights.ENV_WEIGHTS_MIRROR, mirror.as_uri())
    assert run_cli("weights", "download", "vgg16", "--no-progress") == 1  # refused by the published sha256 prefix
    assert weights.VGG16_URL in capsys.readouterr().err
    assert not (weights.weights_dir() / weights.VGG16_FILENAME).exists()


def test_unknown_names_are_usage_errors(env, capsys):
    assert run_cli("weights", "verify", "alexnett") == 2
    assert "known: lpips.alexnet" in capsys.readouterr().err
    assert run_cli("weights", "register", "fvd.i3d") == 2


def test_git_blob_sha1_is_gits_object_id(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "hello").write_bytes(b"hello\n")
    assert weights.git_blob_sha1(tmp_path / "empty") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert weights.git_blob_sha1(tmp_path / "hello") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_manifest_urls_are_those_of_the_installed_cd_fvd():
    import inspect

    from cdfvd.third_party.i3d.utils import load_i3d_model
    from cdfvd.third_party.VideoMAEv2.utils import load_videomae_model

    assert weights.I3D_URL in inspect.getsource(load_i3d_model)
    assert weights.I3D_FILENAME in inspect.getsource(load_i3d_model)
    assert weights.VIDEOMAE_URL in inspect.getsource(load_videomae_model).replace("'", "").replace('"', "")


def test_run_without_weights_records_fvd_and_clip_i_unavailable_and_succeeds(env, tiny_synth, tmp_path, capsys):
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path / "runs", "--no-progress",
                   "--metrics", "psnr,fvd,clip_i", "--n-boot", 20) == 0
    run_dir = tmp_path / "runs" / "synth" / "test" / "exo-copy"
    results = json.loads((run_dir / "results.json").read_text())
    assert "mean" in results["metrics"]["psnr"]
    for name, key in (("fvd", "fvd.i3d"), ("clip_i", "clip_i.vit_b_32")):
        assert set(results["metrics"][name]) == {"unavailable"}
        assert f"python -m benchmark weights download {key}" in results["metrics"][name]["unavailable"]
    assert list(pd.read_csv(run_dir / "per_clip.csv").columns) == ["clip_id", "category", "psnr"]
    assert results["metric_settings"]["fvd"]["protocol"]["resize"].startswith("224x224 bilinear")


def test_run_scores_clip_i_from_a_registered_folder(env, tiny_synth, tmp_path, clip_folder):
    weights.register("clip_i.vit_b_32", clip_folder)
    assert run_cli("run", "--method", "exo-copy", "--root", tiny_synth, "--out", tmp_path / "runs", "--no-progress",
                   "--metrics", "psnr,clip_i", "--n-boot", 20) == 0
    run_dir = tmp_path / "runs" / "synth" / "test" / "exo-copy"
    results = json.loads((run_dir / "results.json").read_text())
    entry = results["metrics"]["clip_i"]
    assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1] and entry["n"] == 3
    assert pd.read_csv(run_dir / "per_clip.csv")["clip_i"].between(-1, 1).all()
    assert results["metric_settings"]["clip_i"]["weight_file"]["source"] == "registered"
