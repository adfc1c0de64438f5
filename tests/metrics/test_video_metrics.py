"""PSNR and SSIM: our video metrics are torchmetrics' image metrics per frame, averaged over frames."""

import math

import numpy as np
import pytest
import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from benchmark.metrics import PSNR_CAP_DB, VideoPSNR, VideoSSIM, video_psnr, video_ssim


def frames01(video: np.ndarray) -> torch.Tensor:
    """What the protocol scores: (T, 3, H, W) float frames x / 255."""
    return torch.from_numpy(video).permute(0, 3, 1, 2).float() / 255.0


def torchmetrics_frame_mean(metric_factory, pred, target) -> float:
    """A fresh torchmetrics image metric per frame, the frame values averaged."""
    values = []
    for p, t in zip(frames01(pred), frames01(target)):
        metric = metric_factory()
        metric.update(p[None], t[None])
        values.append(float(metric.compute()))
    return float(np.mean(values))


def test_psnr_equals_torchmetrics_per_frame_mean(make_clip, perturb):
    target = make_clip(0, (5, 24, 32, 3))
    pred = perturb(target, 1)
    expected = torchmetrics_frame_mean(lambda: PeakSignalNoiseRatio(data_range=1.0), pred, target)
    metric = VideoPSNR()
    metric.update(pred, target)
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-6)
    assert float(video_psnr(pred, target)) == pytest.approx(expected, rel=1e-6)


def test_ssim_equals_torchmetrics_per_frame_mean(make_clip, perturb):
    target = make_clip(2, (5, 24, 32, 3))
    pred = perturb(target, 3, amplitude=60)
    expected = torchmetrics_frame_mean(
        lambda: StructuralSimilarityIndexMeasure(gaussian_kernel=True, kernel_size=11, sigma=1.5, data_range=1.0),
        pred, target,
    )
    metric = VideoSSIM(frame_batch_size=2)  # frame batching must not change the numbers
    metric.update(pred, target)
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-5)
    assert float(video_ssim(pred, target)) == pytest.approx(expected, rel=1e-5)


def test_identical_frames_score_the_psnr_cap_instead_of_infinity(make_clip, perturb):
    target = make_clip(4, (3, 16, 16, 3))
    assert math.isinf(float(PeakSignalNoiseRatio(data_range=1.0)(frames01(target[:1]), frames01(target[:1]))))
    assert float(video_psnr(target, target)) == PSNR_CAP_DB

    pred = perturb(target, 5)
    pred[0] = target[0]  # one exact frame among noisy ones
    per_frame = video_psnr(pred, target, per_frame=True)
    assert float(per_frame[0]) == PSNR_CAP_DB
    assert float(video_psnr(pred, target)) == pytest.approx(float(per_frame.double().mean()))
    assert math.isfinite(float(video_psnr(pred, target)))


def test_psnr_below_the_cap_is_unchanged(make_clip):
    target = make_clip(6, (2, 16, 16, 3))
    pred = target.copy()
    pred[:, 0, 0, 0] ^= 1  # one level at one pixel: the smallest possible error, still below 100 dB here
    expected = torchmetrics_frame_mean(lambda: PeakSignalNoiseRatio(data_range=1.0), pred, target)
    assert expected < PSNR_CAP_DB
    assert float(video_psnr(pred, target)) == pytest.approx(expected, rel=1e-6)


def test_batched_torch_update_equals_one_clip_at_a_time(make_clip, perturb):
    targets = np.stack([make_clip(s, (3, 20, 20, 3)) for s in (7, 8)])
    preds = np.stack([perturb(t, s) for t, s in zip(targets, (9, 10))])
    batched = VideoPSNR()
    batched.update(torch.from_numpy(preds), torch.from_numpy(targets))
    single = VideoPSNR()
    for p, t in zip(preds, targets):
        single.update(p, t)
    assert torch.allclose(batched.per_clip_scores(), single.per_clip_scores())
    assert float(batched.compute()) == pytest.approx(float(single.per_clip_scores().mean()))


def test_compute_is_the_mean_of_clip_scores(make_clip, perturb):
    metric = VideoSSIM()
    clips = [(perturb(make_clip(s, (2, 16, 16, 3)), s + 100), make_clip(s, (2, 16, 16, 3))) for s in range(3)]
    for pred, target in clips:
        metric.update(pred, target)
    expected = np.mean([float(video_ssim(p, t)) for p, t in clips])
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-6)
    assert metric.per_clip_scores().shape == (3,)


@pytest.mark.parametrize(
    "pred, target, message",
    [
        (np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 3), np.uint8), "uint8"),
        (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8), "shapes differ"),
        (np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8), "(T, H, W, 3)"),
    ],
)
def test_inputs_must_be_uint8_rgb_videos_of_one_shape(pred, target, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        video_psnr(pred, target)


# --- SSIM's window and border rule, as recorded in results.json (metric_settings.ssim) -------------------------


def reference_ssim(pred: np.ndarray, target: np.ndarray, *, window_size: int, sigma: float, k1: float, k2: float,
                   border: str) -> float:
    """SSIM of uint8 (T, H, W, 3) clips written from the recorded settings alone, in float64 numpy.

    ``border="reflect-pad-average-all"``: reflect-pad by the window radius (numpy "reflect" mirrors about the
    edge pixel without repeating it), SSIM map at all H x W pixels, mean over the whole map.
    ``border="crop"``: only windows inside the frame (scikit-image's rule).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    r = window_size // 2
    x = np.arange(window_size) - r
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    w = np.outer(g, g)

    def local_mean(img):  # (H, W) -> weighted window means over the valid positions
        return np.einsum("ijkl,kl->ij", sliding_window_view(img, (window_size, window_size)), w)

    c1, c2 = k1 ** 2, k2 ** 2
    frames = []
    for p_frame, t_frame in zip(pred, target):
        maps = []
        for c in range(3):
            a, b = p_frame[..., c] / 255.0, t_frame[..., c] / 255.0
            if border == "reflect-pad-average-all":
                a, b = np.pad(a, r, mode="reflect"), np.pad(b, r, mode="reflect")
            mu_a, mu_b = local_mean(a), local_mean(b)
            var_a = np.maximum(local_mean(a * a) - mu_a ** 2, 0.0)
            var_b = np.maximum(local_mean(b * b) - mu_b ** 2, 0.0)
            cov = local_mean(a * b) - mu_a * mu_b
            maps.append((2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
        frames.append(np.mean(maps))
    return float(np.mean(frames))


@pytest.fixture(scope="module")
def exo_copy_clip(tiny_synth):
    """A real (prediction, ground truth) pair: exo-copy's output for the first clip of the tiny dataset."""
    from benchmark import registry
    from benchmark.data import load_split

    clip = load_split("synth", "test", root=tiny_synth)[0]
    return registry.build("exo-copy").generate(clip.inputs("exo-only"), seed=0), clip.ego_video


def test_ssim_settings_record_the_window_and_border_rule_that_is_computed(exo_copy_clip):
    """The number follows from what metric_settings.ssim says: a reimplementation from those fields agrees."""
    from benchmark.metrics import MetricSuite

    settings = MetricSuite(("ssim",)).settings()["ssim"]
    assert (settings["window"], settings["window_size"], settings["sigma"]) == ("gaussian", 11, 1.5)
    assert (settings["k1"], settings["k2"], settings["covariance"]) == (0.01, 0.03, "population")
    assert settings["border"] == "reflect-pad-average-all"
    assert "crops 5 px" in settings["notes"]["border_rule"] and "scikit-image" in settings["notes"]["gap_to_scikit_image"]
    pred, target = exo_copy_clip
    rule = {k: settings[k] for k in ("window_size", "sigma", "k1", "k2", "border")}
    assert float(video_ssim(pred, target)) == pytest.approx(reference_ssim(pred, target, **rule), abs=2e-5)


def test_the_border_rule_changes_the_number_on_real_outputs(exo_copy_clip):
    """Averaging the padded border (ours) vs cropping it (scikit-image) differs by far more than rounding."""
    pred, target = exo_copy_clip
    rule = dict(window_size=11, sigma=1.5, k1=0.01, k2=0.03)
    ours = float(video_ssim(pred, target))
    cropped = reference_ssim(pred, target, border="crop", **rule)
    assert abs(ours - cropped) > 0.003  # 32x32 frames: the 5 px border is 55% of the pixels (0.009 here)
    assert ours == pytest.approx(reference_ssim(pred, target, border="reflect-pad-average-all", **rule), abs=2e-5)


def test_cropping_rule_is_scikit_images(exo_copy_clip):
    """Only where scikit-image is installed (it is not a dependency): the "crop" rule above is its SSIM."""
    metrics = pytest.importorskip("skimage.metrics")
    pred, target = exo_copy_clip
    theirs = np.mean([metrics.structural_similarity(p / 255.0, t / 255.0, gaussian_weights=True, sigma=1.5,
                                                    use_sample_covariance=False, data_range=1.0, channel_axis=-1)
                      for p, t in zip(pred.astype(np.float64), target.astype(np.float64))])
    cropped = reference_ssim(pred, target, window_size=11, sigma=1.5, k1=0.01, k2=0.03, border="crop")
    assert cropped == pytest.approx(theirs, abs=1e-9)


def test_suite_converts_a_clip_once_and_gives_the_same_scores_as_each_metric_alone(make_clip, perturb):
    """MetricSuite hands PSNR and SSIM one float copy of the clip (update_unit_frames); the numbers must be those
    of each metric's own uint8 update, bit for bit, whatever the frame batching."""
    from benchmark.metrics import MetricSuite
    from benchmark.metrics._video import frames_per_batch

    suite = MetricSuite(("psnr", "ssim"))
    alone = {"psnr": VideoPSNR(), "ssim": VideoSSIM(frame_batch_size=3)}
    for i in range(3):
        target = make_clip(10 + i, (7, 24, 32, 3))
        pred = perturb(target, 20 + i, amplitude=40)
        suite.update(f"c{i}", "demo", pred, target)
        for metric in alone.values():
            metric.update(pred, target)
    table = suite.per_clip()
    for name, metric in alone.items():
        np.testing.assert_array_equal(table[name].to_numpy(), metric.per_clip_scores().numpy())
    assert frames_per_batch(64, 64) >= 17  # a whole synth clip is one call
    assert frames_per_batch(704, 1280) == 4  # a 720p clip is scored 4 frames at a time


def test_update_unit_frames_is_refused_by_metrics_that_read_uint8_frames():
    from benchmark.metrics.ego_motion import EgoMotionError

    with pytest.raises(TypeError, match="uint8"):
        EgoMotionError().update_unit_frames(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
