"""FVD: cd-fvd's formula and networks with our streaming statistics, reference cache, protocol and protections.

No real I3D or VideoMAE weights exist on these machines, so every network here is built locally and documented:

* ``random_i3d`` is cd-fvd's own ``InceptionI3d(400)`` randomly initialised with a fixed seed, its conv weights
  He-initialised (PyTorch's default init shrinks activations through I3D's depth until every clip gives the
  same logits), saved to a temporary file and loaded through the weights lookup as a user's file would be
  (``$EXOEGO_I3D``; checksum enforcement off, since it is not the published file);
* ``tiny_videomae`` is cd-fvd's own VideoMAE ``VisionTransformer`` class at a tiny size (8-d features, one block),
  used where many clips are needed (the threshold, the sampling), because one I3D forward takes seconds on CPU.

The arithmetic is checked against references: the Fréchet distance against a direct scipy computation and
against cd-fvd's ``compute_fvd_from_stats``; the whole metric against ``cdfvd.fvd.cdfvd.compute_fvd`` on the
same videos; the streamed statistics against ``numpy`` on all features at once.
"""

import numpy as np
import pytest
import scipy.linalg
import torch

from benchmark.metrics import FVDProtocol, MetricSuite, VideoFVD, frechet_distance, weights
from benchmark.metrics.video_fvd import (FVD_MIN_CLIPS, I3D_FEATURE_DIM, I3D_MIN_FRAMES, VIDEOMAE_ARCH, preprocess,
                                         select_frames)


@pytest.fixture(scope="module")
def random_i3d(tmp_path_factory):
    """cd-fvd's InceptionI3d, seeded random weights (He-initialised convs), saved as a user's weights file."""
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = InceptionI3d(400, in_channels=3)
        with torch.no_grad():
            for name, param in net.named_parameters():
                if name.endswith("conv3d.weight"):
                    torch.nn.init.kaiming_normal_(param, nonlinearity="relu")
    path = tmp_path_factory.mktemp("i3d") / weights.I3D_FILENAME
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def i3d_env(monkeypatch, random_i3d, tmp_path):
    """The random I3D file as the user's I3D (``$EXOEGO_I3D``), and a fresh cache folder."""
    monkeypatch.setenv(weights.ENV_I3D, str(random_i3d))
    monkeypatch.setenv("EXOEGO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    return monkeypatch


def tiny_videomae(seed=0):
    """cd-fvd's VideoMAE-v2 VisionTransformer at a tiny size: 8-d features, one block, 4x4 patches of 56 px."""
    from cdfvd.third_party.VideoMAEv2.videomaev2_finetune import VisionTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VisionTransformer(img_size=224, patch_size=56, embed_dim=8, depth=1, num_heads=2, num_classes=2,
                                 all_frames=16, tubelet_size=2, use_mean_pooling=True).eval()


def tiny_fvd(**kwargs):
    return VideoFVD("videomae", network=tiny_videomae(), **kwargs)


def clips(seed, n, shape=(16, 32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def blocky(seed, n, shape=(16, 32, 32, 3)):
    """Clips of 8x8-pixel blocks: different statistics from per-pixel noise."""
    t, h, w, c = shape
    coarse = np.random.default_rng(seed).integers(0, 256, size=(n, t, h // 8, w // 8, c), dtype=np.uint8)
    return np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)


# ---- the Fréchet distance -------------------------------------------------------------------------------------


def random_gaussian(rng, d):
    a = rng.normal(size=(3 * d, d))
    return rng.normal(size=d), a.T @ a / (3 * d)


def test_frechet_distance_matches_a_direct_scipy_computation():
    rng = np.random.default_rng(0)
    (mu1, s1), (mu2, s2) = random_gaussian(rng, 12), random_gaussian(rng, 12)
    # the symmetric form tr((S1^1/2 S2 S1^1/2)^1/2): the same quantity, computed another way
    r1 = scipy.linalg.sqrtm(s1).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(torch.from_numpy(mu1), torch.from_numpy(s1), mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_equals_cd_fvd_compute_fvd_from_stats():
    from cdfvd.fvd import cdfvd
    from cdfvd.utils.metric_utils import FeatureStats

    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 10)), rng.normal(0.3, 1.2, size=(40, 10))
    stats = []
    for x in (real, fake):
        s = FeatureStats(capture_mean_cov=True)
        s.append(x)
        stats.append(s)
    # compute_fvd_from_stats only reads its arguments; calling it unbound avoids building a network
    reference = cdfvd.compute_fvd_from_stats(None, fake_stats=stats[1], real_stats=stats[0])
    (mu_r, s_r), (mu_f, s_f) = stats[0].get_mean_cov(), stats[1].get_mean_cov()
    assert frechet_distance(mu_r, s_r, mu_f, s_f) == pytest.approx(float(reference), rel=1e-9)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ---- protocol ----------------------------------------------------------------------------------------------------


def test_preprocessing_is_cd_fvd_s_arithmetic():
    from cdfvd.third_party.i3d.utils import preprocess_i3d
    from cdfvd.third_party.VideoMAEv2.utils import preprocess_videomae

    videos = clips(2, 2, (16, 30, 40, 3))
    ours = preprocess(videos, "i3d")
    assert ours.shape == (2, 3, 16, 224, 224)
    assert torch.equal(ours, preprocess_i3d(videos))
    assert float(ours.min()) >= -1.0 and float(ours.max()) <= 1.0
    assert torch.allclose(preprocess(videos, "videomae"), preprocess_videomae(videos), atol=1e-6, rtol=0)


def test_short_clips_repeat_their_last_frame_or_are_refused():
    video = clips(3, 1, (10, 8, 8, 3))[0]
    frames, padded = select_frames(video, FVDProtocol())
    assert padded and frames.shape == (16, 8, 8, 3)
    assert np.array_equal(frames[:10], video) and all(np.array_equal(f, video[-1]) for f in frames[10:])
    long_video = clips(4, 1, (20, 8, 8, 3))[0]
    frames, padded = select_frames(long_video, FVDProtocol(skip_first_frames=1))
    assert not padded and np.array_equal(frames, long_video[1:17])  # a given first frame left out when asked
    with pytest.raises(ValueError, match="10 frames.*takes 16"):
        select_frames(video, FVDProtocol(short_clip_rule="error"))


def test_protocol_rejects_what_the_networks_cannot_take():
    with pytest.raises(ValueError, match=f"at least {I3D_MIN_FRAMES}"):
        FVDProtocol(frames_per_clip=8)
    with pytest.raises(ValueError, match="exactly 16"):
        FVDProtocol("videomae", frames_per_clip=24)
    with pytest.raises(ValueError, match="unknown FVD backbone"):
        FVDProtocol("c3d")


def test_padded_clips_are_counted_and_equal_length_clips_are_not():
    metric = tiny_fvd(reference_cache=None)
    metric.update(clips(5, 1, (12, 32, 32, 3))[0], clips(6, 1, (12, 32, 32, 3))[0])
    metric.update(clips(7, 1)[0], clips(8, 1)[0])
    assert metric.summary()["clips_padded"] == 1 and metric.num_clips == 2


def test_videomae_construction_matches_cd_fvd_s_loader():
    import inspect

    from cdfvd.third_party.VideoMAEv2.utils import load_videomae_model

    source = inspect.getsource(load_videomae_model).replace(" ", "")
    for key, value in VIDEOMAE_ARCH.items():
        assert f"{key}={value}" in source, key


# ---- the whole metric against cd-fvd ---------------------------------------------------------------------------


@pytest.mark.slow
def test_fvd_equals_cd_fvd_on_the_same_videos_and_streams_the_batch_statistics(i3d_env, random_i3d):
    """Two clip pairs through our streaming metric and through ``cdfvd.compute_fvd`` (its array API)."""
    from cdfvd.fvd import cdfvd

    real, fake = clips(10, 2), blocky(11, 2)
    metric = VideoFVD(verify_checksum=False, reference_cache=None)
    captured = []
    metric.net.register_forward_hook(lambda module, inputs, output: captured.append(output.detach().double()))
    for f, r in zip(fake, real):  # one clip at a time: streamed
        metric.update(f, r)
    ours = float(metric.compute())

    reference = cdfvd("i3d", ckpt_path=str(random_i3d), device="cpu")
    expected = reference.compute_fvd(real, fake)
    assert ours > 1e-3  # the random network tells these clips apart
    assert ours == pytest.approx(float(expected), rel=1e-5)

    # streamed float64 sums give the statistics of all features at once (population covariance, as cd-fvd)
    fake_feats, real_feats = torch.cat(captured[0::2]).numpy(), torch.cat(captured[1::2]).numpy()
    stats = metric.statistics()
    for side, feats in (("fake", fake_feats), ("real", real_feats)):
        assert np.allclose(stats[f"mu_{side}"], feats.mean(0), rtol=0, atol=1e-12)
        assert np.allclose(stats[f"sigma_{side}"], np.cov(feats, rowvar=False, bias=True), rtol=0, atol=1e-10)
    mu_r, sigma_r = reference.real_stats.get_mean_cov()
    assert np.allclose(stats["mu_real"], mu_r, atol=1e-5) and np.allclose(stats["sigma_real"], sigma_r, atol=1e-5)
    assert stats["mu_real"].shape == (I3D_FEATURE_DIM,)


@pytest.mark.slow
def test_second_method_reads_the_true_videos_features_from_the_cache(i3d_env, tmp_path):
    """Counts the videos that go through I3D: the second method's true videos do not."""
    real = clips(20, 2)
    cache = tmp_path / "fvd-reference"
    seen = []

    def scored(fake):
        metric = VideoFVD(verify_checksum=False, reference_cache=cache)
        metric.net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape[0]))
        metric.update(fake, real)
        return metric

    first = scored(blocky(21, 2))
    assert sum(seen) == 4 and first.summary()["reference_features"] == {"from_cache": 0, "computed": 2}
    seen.clear()
    second = scored(clips(22, 2))
    assert sum(seen) == 2  # only the generated videos
    assert second.summary()["reference_features"] == {"from_cache": 2, "computed": 0}
    a, b = first.statistics(), second.statistics()
    assert np.array_equal(a["mu_real"], b["mu_real"]) and np.array_equal(a["sigma_real"], b["sigma_real"])
    assert float(second.compute()) != float(first.compute())
    assert len(list((cache / first.reference_cache.key).glob("*.npy"))) == 2


def test_cache_key_changes_with_weights_and_protocol_and_a_broken_entry_is_recomputed(tmp_path):
    real, fake = clips(30, 1)[0], clips(31, 1)[0]
    metric = tiny_fvd(weights_sha256="a" * 64, reference_cache=tmp_path)
    metric.update(fake, real)
    other_weights = tiny_fvd(weights_sha256="b" * 64, reference_cache=tmp_path)
    other_protocol = VideoFVD("videomae", network=tiny_videomae(), weights_sha256="a" * 64, reference_cache=tmp_path,
                              short_clip_rule="error")
    assert len({metric.reference_cache.key, other_weights.reference_cache.key, other_protocol.reference_cache.key}) == 3
    entry = next(metric.reference_cache.folder.glob("*.npy"))
    entry.write_bytes(b"not an array")
    again = tiny_fvd(weights_sha256="a" * 64, reference_cache=tmp_path)
    again.update(fake, real)
    assert again.summary()["reference_features"] == {"from_cache": 0, "computed": 1}
    assert np.array_equal(np.load(entry), again.statistics()["mu_real"].astype(np.float32))


# ---- protections -----------------------------------------------------------------------------------------------


def test_warning_below_the_threshold_and_none_from_feature_dim_plus_one_clips():
    metric = tiny_fvd(reference_cache=None)
    assert metric.min_clips == 9  # 8-d features + 1
    real, fake = clips(40, 9), blocky(41, 9)
    metric.update(fake[:8], real[:8])
    summary = metric.summary()
    assert summary["n"] == 8 and "fewer than 9" in summary["warning"] and "rank at most 7" in summary["warning"]
    metric.update(fake[8], real[8])
    assert metric.warning() is None and "warning" not in metric.summary()
    assert np.isfinite(metric.summary()["mean"]) and metric.summary()["ci95"] is None


def test_i3d_threshold_is_its_feature_dimension_plus_one():
    assert FVD_MIN_CLIPS == I3D_FEATURE_DIM + 1 == 401


def test_capped_sample_is_seeded_and_independent_of_order():
    real, fake = clips(50, 8), blocky(51, 8)
    order = np.random.default_rng(0).permutation(8)

    def fvd(indices, seed=0):
        metric = tiny_fvd(reference_cache=None, max_clips=3, seed=seed)
        for i in indices:
            metric.update(fake[i], real[i])
        return metric

    forward, shuffled = fvd(range(8)), fvd(order)
    assert forward.num_clips == 3 and forward.summary()["clips_left_out_by_sample"] == 5
    assert float(forward.compute()) == float(shuffled.compute())
    assert np.array_equal(forward.statistics()["mu_real"], shuffled.statistics()["mu_real"])
    others = {float(fvd(range(8), seed=s).compute()) for s in range(1, 6)}
    assert len(others | {float(forward.compute())}) > 1  # the seed picks the clips
    assert sum(t.shape[0] for t in forward.kept_priority) <= 2 * 3  # memory bounded by the cap


def test_failed_update_of_another_metric_can_be_undone():
    real, fake = clips(60, 3), blocky(61, 3)
    metric = tiny_fvd(reference_cache=None)
    metric.update(fake[0], real[0])
    metric.update(fake[1], real[1])
    before = metric.statistics()
    metric.update(fake[2], real[2])
    metric.drop_last_update()
    after = metric.statistics()
    assert after["n"] == 2
    assert np.allclose(after["mu_fake"], before["mu_fake"], atol=1e-12)
    assert np.allclose(after["sigma_real"], before["sigma_real"], atol=1e-12)


def test_fvd_in_the_suite_is_one_number_with_its_warning_and_settings(i3d_env, make_clip, tmp_path, capsys):
    from benchmark.cli import print_summary

    suite = MetricSuite(("psnr", "fvd"), verify_weights=False,
                        metric_options={"fvd": {"network": tiny_videomae(), "backbone": "videomae",
                                                "weights_sha256": "c" * 64, "reference_cache": tmp_path}})
    for i in range(3):
        target = make_clip(70 + i, (16, 24, 24, 3))
        suite.update(f"c{i}", "cat", blocky(80 + i, 1, (16, 24, 24, 3))[0], target)
    assert list(suite.per_clip().columns) == ["clip_id", "category", "psnr"]
    summary = suite.summary(n_boot=50)
    fvd = summary["metrics"]["fvd"]
    assert fvd["kind"] == "set" and fvd["n"] == 3 and fvd["ci95"] is None and fvd["higher_is_better"] is False
    assert np.isfinite(fvd["mean"]) and "fewer than 9" in fvd["warning"]
    assert "fvd" not in summary["per_category"]["cat"]
    settings = suite.settings()["fvd"]
    protocol = settings["protocol"]
    assert protocol["frames_per_clip"] == 16 and protocol["first_frame_included"] is True
    assert "224x224 bilinear" in protocol["resize"] and protocol["input_range"] == "[0, 1] = uint8 / 255"
    assert settings["weights_sha256"] == "c" * 64 and "true ego videos" in settings["reference_source"]
    results = {"method": {"name": "m"}, "dataset": {"name": "synth", "split": "test", "track": "exo-only", "n_clips": 3},
               "counts": {"generated": 3, "reused": 0, "failed": 0}, "metrics": summary["metrics"]}
    print_summary(results)
    assert "fvd warning: FVD from 3 clips" in capsys.readouterr().out


def test_missing_i3d_makes_fvd_unavailable_with_the_fixing_command(monkeypatch, tmp_path, make_clip):
    monkeypatch.setenv(weights.ENV_I3D, str(tmp_path / "nowhere" / weights.I3D_FILENAME))
    suite = MetricSuite(("psnr", "fvd"))
    clip = make_clip(90, (4, 16, 16, 3))
    suite.update("c0", "cat", clip, clip)
    reason = suite.summary(n_boot=10)["metrics"]["fvd"]["unavailable"]
    assert "python -m benchmark weights download fvd.i3d" in reason
    assert "python -m benchmark weights register fvd.i3d PATH" in reason and weights.ENV_I3D in reason
    assert suite.settings()["fvd"]["protocol"]["frames_per_clip"] == 16  # the protocol is on record anyway
    with pytest.raises(weights.WeightsUnavailableError, match="weights download fvd.i3d"):
        VideoFVD()
