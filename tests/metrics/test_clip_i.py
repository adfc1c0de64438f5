"""CLIP-I through a local transformers folder: equal to a direct call of the model; unavailable when missing.

No CLIP weights exist on these machines, so the tests build tiny CLIP models from small configs with a fixed
seed (a ``CLIPVisionModelWithProjection``, and a full ``CLIPModel`` as openai's folder is) and save them with
``save_pretrained`` next to the default ``CLIPImageProcessor``; the harness loads them as a user's folder.
"""

import numpy as np
import pytest
import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPVisionConfig, CLIPVisionModelWithProjection

from benchmark.metrics import MetricSuite, VideoCLIPI, video_clip_i, weights

VISION = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=224,
              patch_size=32, projection_dim=16)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A seeded tiny CLIPVisionModelWithProjection with the default CLIP image processor, saved as a folder."""
    folder = tmp_path_factory.mktemp("clip-vision")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION)).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def full_clip_folder(tmp_path_factory):
    """A seeded tiny full CLIPModel (text tower included), saved as openai/clip-vit-base-patch32 is."""
    folder = tmp_path_factory.mktemp("clip-full")
    text = dict(hidden_size=16, intermediate_size=20, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
                max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        CLIPModel(CLIPConfig(text_config=text, vision_config=VISION, projection_dim=16)).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


@pytest.fixture
def clip_env(monkeypatch, tmp_path):
    """No CLIP anywhere unless a test puts it there: empty weights directory and Hugging Face cache."""
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.delenv(weights.ENV_CLIP, raising=False)
    return monkeypatch


def direct_clip_i(pred, target, folder) -> float:
    """CLIP-I the way a user would call transformers: processor on HxWx3 frames, image_embeds, cosine, mean."""
    model = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
    processor = CLIPImageProcessor.from_pretrained(folder)

    def embed(video):
        pixels = processor(images=list(video), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            e = model(pixel_values=pixels).image_embeds
        return e / e.norm(dim=-1, keepdim=True)

    return float((embed(pred) * embed(target)).sum(-1).mean())


def test_clip_i_equals_a_direct_call_of_the_model(clip_env, clip_folder, make_clip, perturb):
    target = make_clip(0, (3, 40, 56, 3))
    pred = perturb(target, 1, amplitude=90)
    expected = direct_clip_i(pred, target, clip_folder)
    metric = VideoCLIPI(frame_batch_size=2, model_path=clip_folder)
    metric.update(pred, target)
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-5)
    assert float(video_clip_i(pred, target, model=metric.model, processor=metric.processor)) == pytest.approx(
        expected, rel=1e-5)
    assert float(video_clip_i(target, target, model=metric.model, processor=metric.processor)) == pytest.approx(1.0)
    assert expected < 0.9999  # the perturbation is seen


def test_a_full_clip_model_folder_gives_its_get_image_features(clip_env, full_clip_folder, make_clip, perturb):
    target = make_clip(2, (2, 64, 48, 3))
    pred = perturb(target, 3, amplitude=90)
    full = CLIPModel.from_pretrained(full_clip_folder).eval()
    processor = CLIPImageProcessor.from_pretrained(full_clip_folder)
    with torch.no_grad():
        feats = [full.get_image_features(pixel_values=processor(images=list(v), return_tensors="pt")["pixel_values"])
                 for v in (pred, target)]
    feats = [getattr(f, "pooler_output", f) for f in feats]  # transformers 5 wraps the projected embedding
    feats = [f / f.norm(dim=-1, keepdim=True) for f in feats]
    expected = float((feats[0] * feats[1]).sum(-1).mean())
    clip_env.setenv(weights.ENV_CLIP, str(full_clip_folder))
    metric = VideoCLIPI()
    metric.update(np.stack([pred]), np.stack([target]))  # a batch of one clip
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-5)


def test_clip_i_settings_record_the_model_and_preprocessing(clip_env, clip_folder):
    clip_env.setenv(weights.ENV_CLIP, str(clip_folder))
    settings = VideoCLIPI().settings()
    assert settings["processor"]["crop_size"] == {"height": 224, "width": 224}
    assert settings["processor"]["size"] == {"shortest_edge": 224} and settings["processor"]["resample"] == 3
    assert settings["model_config"]["projection_dim"] == 16 and "openai/clip-vit-base-patch32" in settings["model"]
    assert settings["weight_file"]["state"] == "unverified" and len(settings["weight_file"]["file_sha256"]) == 64


def test_clip_i_is_a_per_clip_metric_with_an_interval(clip_env, clip_folder, make_clip, perturb):
    clip_env.setenv(weights.ENV_CLIP, str(clip_folder))
    suite = MetricSuite(("psnr", "clip_i"))
    for i in range(3):
        target = make_clip(10 + i, (2, 32, 32, 3))
        suite.update(f"c{i}", "cat", perturb(target, 20 + i, amplitude=40 + 30 * i), target)
    per_clip = suite.per_clip()
    assert list(per_clip.columns) == ["clip_id", "category", "psnr", "clip_i"]
    entry = suite.summary(n_boot=100)["metrics"]["clip_i"]
    assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1] and entry["n"] == 3 and entry["higher_is_better"]
    assert entry["mean"] == pytest.approx(per_clip["clip_i"].mean())


def test_missing_clip_folder_makes_clip_i_unavailable_with_the_fixing_command(clip_env, make_clip):
    ok, reason = weights.check("clip_i")
    assert not ok
    assert "python -m benchmark weights download clip_i.vit_b_32" in reason
    assert "python -m benchmark weights register clip_i.vit_b_32 PATH" in reason
    suite = MetricSuite(("psnr", "clip_i"))
    clip = make_clip(30, (2, 16, 16, 3))
    suite.update("c0", "cat", clip, clip)
    assert suite.summary(n_boot=10)["metrics"]["clip_i"] == {"unavailable": reason}
    assert "clip_i" not in suite.per_clip().columns
    with pytest.raises(weights.WeightsUnavailableError, match="clip_i.vit_b_32"):
        VideoCLIPI()


def test_a_folder_without_a_model_is_refused(clip_env, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    clip_env.setenv(weights.ENV_CLIP, str(empty))
    ok, reason = weights.check("clip_i")
    assert not ok and "no config.json" in reason
