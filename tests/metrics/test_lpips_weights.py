"""LPIPS through local files only: equal to torchmetrics with the same backbone; unavailable when missing.

No AlexNet or VGG16 ImageNet weights exist on these machines, so the tests save a randomly initialised
torchvision AlexNet / VGG16 (fixed seed) under the file name torchvision looks for, and compare our harness against
torchmetrics' own ``LearnedPerceptualImagePatchSimilarity`` (``net_type="alex"`` / ``"vgg"``) loading that same file
from the torch hub cache. The VGG16 stand-in is a full state dict (553 MB, as torchvision's loader wants), written
once per module.
"""

import hashlib

import numpy as np
import pytest
import torch
import torchvision
from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

from benchmark.metrics import MetricSuite, VideoLPIPS, WeightsFetchError, WeightsUnavailableError, video_lpips
from benchmark.metrics import weights

FRAME_SHAPE = (3, 64, 64, 3)


@pytest.fixture(scope="module")
def local_alexnet_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds a seeded random AlexNet state dict named like the real file."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = torchvision.models.alexnet(weights=None)
    torch.save(model.state_dict(), checkpoints / weights.ALEXNET_FILENAME)
    return home


@pytest.fixture(scope="module")
def local_vgg16_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds a seeded random VGG16 state dict named like the real file."""
    home = tmp_path_factory.mktemp("torch_home_vgg")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4321)
        model = torchvision.models.vgg16(weights=None)
    torch.save(model.state_dict(), checkpoints / weights.VGG16_FILENAME)
    return home


@pytest.fixture
def weights_env(monkeypatch, tmp_path):
    """Point every weight lookup at temporary folders (empty unless a test fills them)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    monkeypatch.delenv(weights.ENV_LPIPS_ALEXNET, raising=False)
    monkeypatch.delenv(weights.ENV_LPIPS_VGG16, raising=False)
    monkeypatch.delenv(weights.ENV_WEIGHTS_MIRROR, raising=False)
    return monkeypatch


def torchmetrics_lpips_frame_mean(pred: np.ndarray, target: np.ndarray, net_type: str = "alex") -> float:
    metric = LearnedPerceptualImagePatchSimilarity(net_type=net_type, normalize=True)  # loads from the hub cache
    values = []
    for p, t in zip(pred, target):
        to01 = lambda v: torch.from_numpy(v).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
        metric.reset()
        metric.update(to01(p), to01(t))
        values.append(float(metric.compute()))
    return float(np.mean(values))


def test_lpips_equals_torchmetrics_with_the_same_local_backbone(weights_env, local_alexnet_home, make_clip, perturb):
    weights_env.setenv("TORCH_HOME", str(local_alexnet_home))
    target = make_clip(0, FRAME_SHAPE)
    pred = perturb(target, 1, amplitude=80)
    expected = torchmetrics_lpips_frame_mean(pred, target)

    metric = VideoLPIPS(frame_batch_size=2, verify_checksum=False)
    metric.update(pred, target)
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-5)
    assert float(video_lpips(pred, target, net=metric.net)) == pytest.approx(expected, rel=1e-5)
    assert float(video_lpips(target, target, net=metric.net)) == 0.0


@pytest.mark.slow  # ~12 s: a 553 MB VGG16 stand-in is written, then loaded by torchmetrics and by us
def test_lpips_vgg_equals_torchmetrics_vgg_with_the_same_local_backbone(weights_env, local_vgg16_home,
                                                                        local_alexnet_home, make_clip, perturb):
    weights_env.setenv("TORCH_HOME", str(local_vgg16_home))
    target = make_clip(10, FRAME_SHAPE)
    pred = perturb(target, 11, amplitude=80)
    expected = torchmetrics_lpips_frame_mean(pred, target, net_type="vgg")

    suite = MetricSuite(("lpips",), verify_weights=False, metric_options={"lpips": {"net": "vgg"}})
    suite.update("c0", "cat", pred, target)
    assert suite.per_clip()["lpips"].iloc[0] == pytest.approx(expected, rel=1e-5)
    net = suite.metrics["lpips"].net
    assert float(video_lpips(pred, target, net=net)) == pytest.approx(expected, rel=1e-5)
    assert float(video_lpips(target, target, net=net)) == 0.0
    settings = suite.settings()["lpips"]
    assert settings["net"] == "vgg"
    assert [f["filename"] for f in settings["weight_files"]] == [weights.VGG16_FILENAME, "vgg.pth"]
    assert settings["weight_files"][0]["matches_published"] is False  # a random backbone is recorded as such
    assert settings["weight_files"][1]["matches_published"] is True  # torchmetrics' own VGG linear layers

    # the selection is real: AlexNet on the same frames gives another number
    weights_env.setenv(weights.ENV_LPIPS_ALEXNET, str(local_alexnet_home / "hub" / "checkpoints" /
                                                      weights.ALEXNET_FILENAME))
    alex = VideoLPIPS(verify_checksum=False)
    alex.update(pred, target)
    assert abs(float(alex.compute()) - expected) > 1e-3


def test_missing_vgg_backbone_makes_only_the_vgg_variant_unavailable(weights_env, local_alexnet_home, make_clip):
    weights_env.setenv("TORCH_HOME", str(local_alexnet_home))  # AlexNet is there, VGG16 is not
    assert weights.check("lpips", verify_checksum=False)[0]
    ok, reason = weights.check("lpips", verify_checksum=False, options={"net": "vgg"})
    assert not ok
    torch_hub_path = str(weights.FILES["lpips.vgg16"].library_path())
    for fragment in (weights.VGG16_FILENAME, weights.VGG16_URL, torch_hub_path, weights.ENV_LPIPS_VGG16,
                     "python -m benchmark weights download lpips.vgg16"):
        assert fragment in reason

    suite = MetricSuite(("psnr", "lpips"), verify_weights=False, metric_options={"lpips": {"net": "vgg"}})
    clip = make_clip(12, (2, 16, 16, 3))
    suite.update("c0", "cat", clip, clip)
    assert suite.summary(n_boot=10)["metrics"]["lpips"] == {"unavailable": reason}
    assert suite.settings()["lpips"]["net"] == "vgg" and "weight_files" not in suite.settings()["lpips"]
    with pytest.raises(WeightsUnavailableError, match=weights.VGG16_FILENAME):
        VideoLPIPS(net="vgg", verify_checksum=False)


def test_env_override_selects_the_backbone_file(weights_env, local_alexnet_home, make_clip, perturb):
    # TORCH_HOME stays empty: the file is only reachable through the override.
    weights_env.setenv(weights.ENV_LPIPS_ALEXNET, str(local_alexnet_home / "hub" / "checkpoints" /
                                                      weights.ALEXNET_FILENAME))
    ok, reason = weights.check("lpips", verify_checksum=False)
    assert ok, reason
    target = make_clip(2, FRAME_SHAPE)
    pred = perturb(target, 3, amplitude=80)
    suite = MetricSuite(("lpips",), verify_weights=False)
    suite.update("c0", "cat", pred, target)
    weights_env.delenv(weights.ENV_LPIPS_ALEXNET)
    weights_env.setenv("TORCH_HOME", str(local_alexnet_home))
    assert suite.per_clip()["lpips"].iloc[0] == pytest.approx(torchmetrics_lpips_frame_mean(pred, target), rel=1e-5)
    files = suite.settings()["lpips"]["weight_files"]
    assert files[0]["matches_published"] is False  # a random backbone is recorded as such


def test_missing_backbone_makes_lpips_unavailable_with_file_url_and_path(weights_env, make_clip):
    ok, reason = weights.check("lpips")
    assert not ok
    torch_hub_path = str(weights.FILES["lpips.alexnet"].library_path())
    for fragment in (weights.ALEXNET_FILENAME, weights.ALEXNET_URL, torch_hub_path,
                     "python -m benchmark weights download lpips.alexnet", weights.ENV_LPIPS_ALEXNET):
        assert fragment in reason

    suite = MetricSuite(("psnr", "lpips"))
    clip = make_clip(4, (2, 16, 16, 3))
    suite.update("c0", "cat", clip, clip)
    summary = suite.summary(n_boot=50)
    assert summary["metrics"]["lpips"] == {"unavailable": reason}
    assert "lpips" not in suite.per_clip().columns
    assert "lpips" not in summary["per_category"]["cat"]
    with pytest.raises(WeightsUnavailableError, match=weights.ALEXNET_FILENAME):
        VideoLPIPS()


def test_override_to_a_missing_file_says_so(weights_env, tmp_path):
    weights_env.setenv(weights.ENV_LPIPS_ALEXNET, str(tmp_path / "nowhere.pth"))
    ok, reason = weights.check("lpips")
    assert not ok and f"{weights.ENV_LPIPS_ALEXNET}={tmp_path / 'nowhere.pth'}" in reason


def test_backbone_not_matching_the_published_checksum_is_unavailable_by_default(weights_env, local_alexnet_home):
    weights_env.setenv("TORCH_HOME", str(local_alexnet_home))
    ok, reason = weights.check("lpips")
    assert not ok
    assert weights.ALEXNET_SHA256_PREFIX in reason and "does not match" in reason
    assert weights.check("lpips", verify_checksum=False)[0]


def test_loading_the_network_leaves_the_global_rng_alone(weights_env, local_alexnet_home):
    weights_env.setenv("TORCH_HOME", str(local_alexnet_home))
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    weights.load_lpips_network(verify_checksum=False)
    assert torch.equal(torch.rand(3), expected)


def test_manifest_matches_the_installed_sources():
    alexnet = torchvision.models.AlexNet_Weights.IMAGENET1K_V1
    assert alexnet.url == weights.ALEXNET_URL
    assert alexnet.url.endswith(weights.ALEXNET_FILENAME)
    assert f"-{weights.ALEXNET_SHA256_PREFIX}." in weights.ALEXNET_FILENAME
    linear = weights.FILES["lpips.linear"].library_path()
    assert hashlib.sha256(linear.read_bytes()).hexdigest() == weights.LPIPS_LINEAR_SHA256
    vgg16 = torchvision.models.VGG16_Weights.IMAGENET1K_V1  # what torchmetrics' LPIPS(net_type="vgg") loads
    assert vgg16.url == weights.VGG16_URL and vgg16.url.endswith(weights.VGG16_FILENAME)
    assert f"-{weights.VGG16_SHA256_PREFIX}." in weights.VGG16_FILENAME
    linear_vgg = weights.FILES["lpips.linear_vgg"].library_path()
    assert hashlib.sha256(linear_vgg.read_bytes()).hexdigest() == weights.LPIPS_LINEAR_VGG_SHA256
    lpips_package = pytest.importorskip("lpips")  # the reference package ships the same linear layers
    from pathlib import Path

    shipped = Path(lpips_package.__file__).parent / "weights" / "v0.1" / "vgg.pth"
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == weights.LPIPS_LINEAR_VGG_SHA256


def test_fetch_verifies_the_checksum_and_leaves_nothing_behind(weights_env, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / weights.ALEXNET_FILENAME).write_bytes(b"not the real weights")
    weights_env.setenv(weights.ENV_WEIGHTS_MIRROR, mirror.as_uri())  # file:// : no network involved
    target = weights.weights_dir() / weights.ALEXNET_FILENAME  # where downloads go
    with pytest.raises(WeightsFetchError) as err:
        weights.fetch_weights(["lpips"], progress=False)
    message = str(err.value)
    assert weights.ALEXNET_FILENAME in message and str(target) in message and weights.ALEXNET_URL in message
    assert not target.exists()
    assert not any(p.name.endswith(".partial") for p in target.parent.iterdir())


def test_fetch_does_not_overwrite_a_present_file_that_differs(weights_env, tmp_path):
    target = weights.FILES["lpips.alexnet"].library_path()  # an existing torch hub copy is used, never replaced
    target.parent.mkdir(parents=True)
    target.write_bytes(b"someone else's file")
    with pytest.raises(WeightsFetchError, match="not overwriting"):
        weights.fetch_weights(["lpips"], progress=False)
    assert target.read_bytes() == b"someone else's file"


def test_fvd_is_reported_unavailable_only_when_asked(weights_env, tmp_path, make_clip):
    weights_env.setenv(weights.ENV_I3D, str(tmp_path / "no-i3d.pt"))
    clip = make_clip(5, (2, 16, 16, 3))
    without = MetricSuite(("psnr",))
    without.update("c0", "cat", clip, clip)
    assert "fvd" not in without.summary(n_boot=10)["metrics"]

    asked = MetricSuite(("psnr", "fvd"))
    asked.update("c0", "cat", clip, clip)
    reason = asked.summary(n_boot=10)["metrics"]["fvd"]["unavailable"]
    assert "I3D" in reason and "python -m benchmark weights download fvd.i3d" in reason
