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
