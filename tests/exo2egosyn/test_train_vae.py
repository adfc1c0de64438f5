"""Stage 0a (the tiny WAN VAE, exo2egosyn/train/vae_stage.py): whole-clip training, per-frame PSNR as it trains, resume,
config checks, and a VAE of other sizes writing a backbone whose transformer matches its latent channels.

Runs on the session's tiny SynthEgoExo fixture (3 clips, 9 frames, ego 32x32) in a few seconds.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from exo2egosyn.train import frame_psnr_table, train, vae_frame_psnr


def _vae_cfg(root, tmp, name, steps=4, **vae):
    return dict(stage="vae", seed=0, data=dict(root=str(root), split="test"), threads=1,
                output_dir=str(tmp / name), work_dir=str(tmp / f"work-{name}"), cache_dir=str(tmp / "cache"),
                train=dict(steps=steps, batch_size=2, save_every=2, log_every=1, lr=1e-3),
                vae=dict(dict(crop=16, eval_every=2, eval_clips=2, eval_splits=["test"]), **vae))


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "vae" / "diffusion_pytorch_model.safetensors"))


def test_frame_psnr_table_is_the_benchmark_psnr_per_frame():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, size=(2, 5, 16, 16, 3), dtype=np.uint8)
    pred = np.clip(target.astype(int) + 8, 0, 255).astype(np.uint8)
    pred[1, 3] = target[1, 3]  # one exact frame: capped at 100 dB, not infinite
    table = frame_psnr_table(pred, target)
    assert table.shape == (2, 5)
    assert table[1, 3] == pytest.approx(100.0)
    mse = ((pred[0, 0].astype(float) - target[0, 0]) / 255.0) ** 2
    assert table[0, 0] == pytest.approx(10 * np.log10(1.0 / mse.mean()), abs=1e-4)


def test_vae_stage_records_per_frame_psnr_of_whole_clips(tiny_synth, tmp_path):
    from diffusers import AutoencoderKLWan

    from benchmark.data import load_split

    s = train(_vae_cfg(tiny_synth, tmp_path, "wan"), progress=False)
    assert s["finished"]
    meta = json.loads((tmp_path / "wan" / "train-meta-foundation-vae.json").read_text())
    evals = meta["vae_eval"]
    assert [e["step"] for e in evals] == [2, 4]  # every eval_every steps and at the end
    assert all(len(e["test"]) == 9 for e in evals)  # one value per frame index of the 9-frame clips
    # the last entry is the saved VAE's posterior-mode PSNR on whole clips, mean over clips per frame index
    vae = AutoencoderKLWan.from_pretrained(str(tmp_path / "wan" / "vae")).eval()
    clips = load_split("synth", "test", root=tiny_synth)
    videos = np.stack([clips[i].ego_video for i in range(2)])
    again = vae_frame_psnr(vae, videos).mean(0)
    np.testing.assert_allclose(evals[-1]["test"], again, atol=2e-3)
    card = (tmp_path / "wan" / "MODEL_CARD-vae.md").read_text()
    assert "PSNR per frame index" in card and f"{min(evals[-1]['test']):.2f}" in card
    # where it ran: one line per training session, naming the machine and the thread count
    assert "* session from step 0: " in card and "1 torch thread(s)" in card


def test_vae_resume_equals_uninterrupted(tiny_synth, tmp_path):
    ref = train(_vae_cfg(tiny_synth, tmp_path, "ref"), progress=False)
    cfg = _vae_cfg(tiny_synth, tmp_path, "res")
    assert not train(cfg, stop_after=3, progress=False)["finished"]  # state of step 2 saved, step 3 lost
    res = train(cfg, progress=False)
    assert res["finished"] and res["step"] == ref["step"] == 4
    assert res["losses"] == ref["losses"]
    a, b = _weights(tmp_path / "ref"), _weights(tmp_path / "res")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ma = json.loads((tmp_path / "ref" / "train-meta-foundation-vae.json").read_text())
    mb = json.loads((tmp_path / "res" / "train-meta-foundation-vae.json").read_text())
    assert [(e["step"], e["test"]) for e in ma["vae_eval"]] == [(e["step"], e["test"]) for e in mb["vae_eval"]]


@pytest.mark.parametrize("vae, match", [
    (dict(num_frames=6), "num_frames must be 4k"),
    (dict(num_frames=13), "num_frames must be 4k"),  # longer than the fixture's 9-frame clips
    (dict(crop=10), "crop must be a multiple"),
    (dict(model=dict(dim_mult=[1, 2, 2, 2], temperal_downsample=[True, True], scale_factor_spatial=8)),
     "temperal_downsample of that length"),
    (dict(model=dict(dim_mult=[1, 2, 2, 2], temperal_downsample=[True, True, True], scale_factor_spatial=8,
                     scale_factor_temporal=8)), "chunks of 4 frames"),
    (dict(model=dict(dim_mult=[1, 2, 2], temperal_downsample=[False, True], scale_factor_spatial=4,
                     scale_factor_temporal=4)), "need scale_factor_temporal 2"),
    (dict(sources="exo"), "sources must be"),
])
def test_vae_config_errors_name_the_setting(tiny_synth, tmp_path, vae, match):
    with pytest.raises(ValueError, match=match):
        train(_vae_cfg(tiny_synth, tmp_path, "bad", steps=1, **vae), progress=False)


@pytest.mark.parametrize("temporal, factor, latent_frames", [
    ([False, False], 1, 9), ([False, True], 2, 5), ([True, True], 4, 3)])
def test_vae_temporal_compression_of_1_2_or_4_gives_the_latent_frames_the_pipeline_expects(temporal, factor,
                                                                                             latent_frames):
    """The pipeline counts (T - 1) // scale_factor_temporal + 1 latent frames; the VAE must make that many and
    decode them back to T frames."""
    from diffusers import AutoencoderKLWan

    from exo2egosyn.train import vae_architecture

    arch = vae_architecture(dict(dim_mult=[1, 2, 2], temperal_downsample=temporal, scale_factor_temporal=factor,
                                 scale_factor_spatial=4))
    vae = AutoencoderKLWan(**arch)
    z = vae.encode(torch.zeros(1, 3, 9, 16, 16)).latent_dist.mode()
    assert z.shape[2] == (9 - 1) // factor + 1 == latent_frames
    assert vae.decode(z).sample.shape == (1, 3, 9, 16, 16)


def test_vae_of_other_sizes_writes_a_matching_backbone(tiny_synth, tmp_path):
    """4x spatial, 8 latent channels: the fresh transformer written with it reads and writes 8 channels."""
    from exo2egosyn.pipeline import load_wan_components

    model = dict(z_dim=8, dim_mult=[1, 2, 2], temperal_downsample=[True, True], scale_factor_spatial=4)
    train(_vae_cfg(tiny_synth, tmp_path, "s4", steps=2, model=model), progress=False)
    comps = load_wan_components(str(tmp_path / "s4"), torch_dtype=torch.float32)
    vc, tc = comps["vae"].config, comps["transformer"].config
    assert (vc.z_dim, vc.scale_factor_spatial, len(vc.latents_mean)) == (8, 4, 8)
    assert tc.in_channels == tc.out_channels == 8
    z = comps["vae"].encode(torch.zeros(1, 3, 9, 32, 32)).latent_dist.mode()
    assert z.shape == (1, 8, 3, 8, 8)
