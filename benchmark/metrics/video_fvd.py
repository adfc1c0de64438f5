r"""Fréchet video distance (FVD): one number for a whole set of generated clips against their true ego clips.

Each clip is turned into a feature vector by a video network (I3D, as cd-fvd, or cd-fvd's VideoMAE-v2 for the
content-debiased variant); the real and the generated features are summarised by their mean and covariance, and

.. math::

    \mathrm{FVD} = \lVert \mu_r - \mu_g \rVert_2^2
                   + \operatorname{tr}\!\big(\Sigma_r + \Sigma_g - 2\, (\Sigma_r \Sigma_g)^{1/2}\big)

(lower is better), with :math:`(\Sigma_r\Sigma_g)^{1/2}` from ``scipy.linalg.sqrtm`` and the real part taken at the
end, exactly as ``cdfvd.fvd.cdfvd.compute_fvd_from_stats`` (:func:`frechet_distance`). Means and covariances are
accumulated as cd-fvd's ``FeatureStats`` does: float64 sums of :math:`x` and :math:`x x^\top` over clips, then
:math:`\mu = \frac{1}{N}\sum x`, :math:`\Sigma = \frac{1}{N}\sum x x^\top - \mu\mu^\top` (population covariance,
divided by :math:`N`), so memory does not grow with the number of clips.

**Protocol** (:class:`FVDProtocol`, recorded in results; the defaults match cd-fvd's array API
``cdfvd.add_fake_stats`` on uint8 videos, and the FVD recipe that reproduces EgoX's Table 1 — cd-fvd, I3D,
resolution 224, the first 16 frames — as reported in DAVIAN-Robotics/EgoX issue #29):

* frames: the first ``frames_per_clip = 16`` frames of each clip, after skipping ``skip_first_frames`` (0 by
  default: a given first frame of the ``first-frame`` track is *included*; set 1 to leave it out). Every clip
  therefore enters with the same length;
* clips shorter than that (:data:`SHORT_CLIP_RULES`): ``"repeat-last"`` (default) repeats the last frame up to
  16 frames, in the real and the generated clip alike, and counts the clips it padded; ``"error"`` refuses the
  clip. I3D itself cannot take fewer than :data:`I3D_MIN_FRAMES` = 9 frames (its last 2x7x7 average pool needs
  two time steps after a temporal stride of 8), so a fixed window is needed either way;
* resize: every frame to 224x224, bilinear, ``align_corners=False``, no antialiasing, aspect ratio not kept and no
  crop (cd-fvd's ``preprocess_i3d``; cd-fvd's folder loader instead resizes the short side with antialiasing and
  centre-crops: the two agree on square frames up to the antialiasing);
* input range: I3D gets :math:`2x/255 - 1 \in [-1, 1]`, VideoMAE gets :math:`x/255 \in [0, 1]` (cd-fvd's);
* features: I3D's 400 Kinetics logits averaged over its output time steps (``InceptionI3d.forward``, what cd-fvd's
  ``get_i3d_logits`` uses, not the 1024-d pooled features); VideoMAE-v2: the 1408-d ``forward_features``;
* the network runs in float32, in eval mode, with gradients off.

**Reference statistics** (:data:`REFERENCE_SOURCE`): the true ego videos of exactly the clips scored, paired
with the generated ones, so both sets always have the same number of clips. Their features are cached on disk
per clip (:class:`ReferenceCache`), keyed by the protocol, the network weights' sha256 and the sha256 of the
uint8 frames fed to the network: scoring a second method on the same data reads them back instead of running
the network on the true videos again, any subset of the clips (``--limit``, failed clips) hits the cache, and a
changed video, protocol or weights file can never be served stale features.

**Protections**: fewer than :attr:`VideoFVD.min_clips` clips (the feature dimension + 1: 401 for I3D, 1409 for
VideoMAE-v2) gives a warning, in results and in the printed summary: with :math:`N \le D` clips both covariance
estimates have rank at most :math:`N - 1 < D`, so the trace term is set by the sample size more than by the videos,
and even above it FVD is biased upward by roughly :math:`D/N`; compare FVDs only at equal :math:`N` (cd-fvd's
default sample is 2048).
With ``max_clips`` set, a seeded sample of that many clips is scored (bottom-k of a seeded hash of each clip's
true frames: the same clips whatever the order or the sharding).

**Choosing** (:data:`OPTIONS`; on the command line ``--metric-arg fvd.KEY=VALUE``): ``backbone`` (``i3d`` or
``videomae``; VideoMAE-v2 needs its own file, ``python -m benchmark weights download fvd.videomae``),
``max_clips`` and ``seed`` (the sample), and the protocol's ``frames_per_clip``, ``skip_first_frames`` and
``short_clip_rule``. Every one is recorded in ``metric_settings.fvd`` (the backbone and the frame window inside
``protocol``), so FVDs under different choices never share a leaderboard row.

Example (needs the I3D file, see ``python -m benchmark weights download fvd``):
    >>> import numpy as np
    >>> from benchmark.metrics import weights
    >>> if weights.check("fvd")[0]:
    ...     rng = np.random.default_rng(0)
    ...     target = rng.integers(0, 256, size=(3, 16, 64, 64, 3), dtype=np.uint8)
    ...     fvd = VideoFVD(reference_cache=None)
    ...     fvd.update(target, target)
    ...     assert abs(float(fvd.compute())) < 1e-3 and fvd.warning() is not None
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from benchmark.metrics._video import check_video_pair
from benchmark.metrics.options import MetricOption
from benchmark.metrics.weights import WeightsUnavailableError, require

FVD_PROTOCOL_VERSION = "exoego-fvd-v1"
FRAMES_PER_CLIP = 16
I3D_MIN_FRAMES = 9
RESIZE_HW = (224, 224)
SHORT_CLIP_RULES = ("repeat-last", "error")
I3D_FEATURE_DIM = 400
VIDEOMAE_FEATURE_DIM = 1408
FVD_MIN_CLIPS = I3D_FEATURE_DIM + 1
CD_FVD_SAMPLE_SIZE = 2048  # cdfvd.third_party.i3d.utils.FVD_SAMPLE_SIZE, the number of clips its examples use
REFERENCE_SOURCE = ("the true ego videos of exactly the clips scored (paired with the generated clips, so both sets "
                    "have the same clips and the same length), through the same protocol and network; their "
                    "features are cached per clip on disk, keyed by protocol, weights sha256 and frame content")
BOOTSTRAP_NOTE = ("no interval: FVD is one number per set; a clip bootstrap would need one 400x400 matrix square "
                  "root per resample (0.1-1 s each here, minutes at n_boot=1000), would keep every clip's features, "
                  "and resampling with replacement duplicates clips, which lowers the covariance rank and biases "
                  "FVD upward, so a percentile interval would not be centred on the estimate")

# cd-fvd's construction of VideoMAE-v2 (cdfvd/third_party/VideoMAEv2/utils.py load_videomae_model; a test checks it)
VIDEOMAE_ARCH = {"img_size": 224, "pretrained": False, "num_classes": 174, "all_frames": 16, "tubelet_size": 2,
                 "drop_path_rate": 0.3, "use_mean_pooling": True}


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    r"""Fréchet distance between Gaussians :math:`(\mu_1, \Sigma_1)` and :math:`(\mu_2, \Sigma_2)` (float64).

    :math:`\lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1\Sigma_2)^{1/2})`, the
    square root by ``scipy.linalg.sqrtm`` of :math:`\Sigma_1 \Sigma_2` in that order and the real part of the
    total, as cd-fvd's ``compute_fvd_from_stats`` (which passes the real statistics first). Shapes: ``(D,)``,
    ``(D, D)``, ``(D,)``, ``(D, D)``; numpy arrays or tensors.
    """
    mu1, mu2 = (np.asarray(_numpy(m), dtype=np.float64).reshape(-1) for m in (mu1, mu2))
    sigma1, sigma2 = (np.asarray(_numpy(s), dtype=np.float64) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"expected mu (D,) and sigma (D, D) of one D, got {mu1.shape}, {sigma1.shape}, "
                         f"{mu2.shape}, {sigma2.shape}")
    mean_term = np.square(mu1 - mu2).sum()
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(np.real(mean_term + np.trace(sigma1 + sigma2 - 2.0 * root)))


def _numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else x


def mean_and_covariance(feature_sum: Tensor, outer_sum: Tensor, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mu (D,), sigma (D, D))`` from float64 sums of ``x`` and ``x x^T`` over ``n`` clips (population covariance)."""
    s = feature_sum.detach().cpu().to(torch.float64).numpy()
    o = outer_sum.detach().cpu().to(torch.float64).numpy()
    mu = s / n
    return mu, o / n - np.outer(mu, mu)


# ---- protocol ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FVDProtocol:
    """How clips become network inputs (see the module docstring). ``as_dict()`` is what results record."""

    backbone: str = "i3d"
    frames_per_clip: int = FRAMES_PER_CLIP
    skip_first_frames: int = 0
    short_clip_rule: str = "repeat-last"

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown FVD backbone {self.backbone!r}; known: {', '.join(BACKBONES)}")
        if self.short_clip_rule not in SHORT_CLIP_RULES:
            raise ValueError(f"short_clip_rule must be one of {SHORT_CLIP_RULES}, got {self.short_clip_rule!r}")
        if self.skip_first_frames < 0:
            raise ValueError(f"skip_first_frames must be >= 0, got {self.skip_first_frames}")
        spec = BACKBONES[self.backbone]
        if spec.fixed_frames is not None and self.frames_per_clip != spec.fixed_frames:
            raise ValueError(f"{self.backbone} takes exactly {spec.fixed_frames} frames per clip "
                             f"(its position embeddings are fixed), got frames_per_clip={self.frames_per_clip}")
        if self.frames_per_clip < spec.min_frames:
            raise ValueError(f"{self.backbone} needs at least {spec.min_frames} frames per clip, "
                             f"got frames_per_clip={self.frames_per_clip}")

    def as_dict(self) -> dict:
        spec = BACKBONES[self.backbone]
        return {
            "definition": FVD_PROTOCOL_VERSION,
            **asdict(self),
            "frame_selection": f"frames [{self.skip_first_frames}, {self.skip_first_frames + self.frames_per_clip}) "
                               "of each clip, stride 1",
            "first_frame_included": self.skip_first_frames == 0,
            "short_clip_rule_text": {"repeat-last": "a clip with fewer frames repeats its last frame up to "
                                                    f"{self.frames_per_clip} (real and generated alike)",
                                     "error": "a clip with fewer frames is refused"}[self.short_clip_rule],
            "resize": f"{RESIZE_HW[0]}x{RESIZE_HW[1]} bilinear, align_corners=False, no antialias, "
                      "aspect ratio not kept, no crop",
            "input_range": spec.input_range,
            "features": spec.features,
            "feature_dim": spec.feature_dim,
            "network_dtype": "float32",
        }


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    weights_key: str
    feature_dim: int
    features: str
    input_range: str
    min_frames: int
    fixed_frames: Optional[int]


BACKBONES: dict[str, BackboneSpec] = {
    "i3d": BackboneSpec("i3d", "fvd.i3d", I3D_FEATURE_DIM,
                        "I3D Kinetics-400 logits averaged over output time steps (InceptionI3d.forward, as cd-fvd's "
                        "get_i3d_logits)", "[-1, 1] = 2 * uint8 / 255 - 1", I3D_MIN_FRAMES, None),
    "videomae": BackboneSpec("videomae", "fvd.videomae", VIDEOMAE_FEATURE_DIM,
                             "VideoMAE-v2 ViT-g forward_features (mean-pooled tokens after fc_norm), as cd-fvd's "
                             "get_videomae_features", "[0, 1] = uint8 / 255", 16, 16),
}


# what a user may choose (``--metric-arg fvd.KEY=VALUE``); each is recorded in ``metric_settings.fvd`` at recorded_at
OPTIONS = {
    "backbone": MetricOption("backbone", str, "i3d", choices=tuple(BACKBONES), recorded_at=("protocol", "backbone"),
                             help="i3d (FVD as peers report it) or videomae (cd-fvd's content-debiased cd-FVD; "
                                  f"{VIDEOMAE_FEATURE_DIM}-d features, so {VIDEOMAE_FEATURE_DIM + 1} clips for a "
                                  "full-rank covariance)"),
    "max_clips": MetricOption("max_clips", int, None, minimum=2, optional=True, recorded_at=("max_clips",),
                              help="score a seeded sample of at most N clips (null: every clip)"),
    "seed": MetricOption("seed", int, 0, recorded_at=("seed",), help="seed of the max_clips sample"),
    "frames_per_clip": MetricOption("frames_per_clip", int, FRAMES_PER_CLIP, minimum=1,
                                    recorded_at=("protocol", "frames_per_clip"), help="frames of each clip scored"),
    "skip_first_frames": MetricOption("skip_first_frames", int, 0, minimum=0,
                                      recorded_at=("protocol", "skip_first_frames"),
                                      help="frames left out at the start (1: leave out a given first frame)"),
    "short_clip_rule": MetricOption("short_clip_rule", str, "repeat-last", choices=SHORT_CLIP_RULES,
                                    recorded_at=("protocol", "short_clip_rule"),
                                    help="what a clip shorter than frames_per_clip gets"),
}
_PROTOCOL_OPTIONS = ("backbone", "frames_per_clip", "skip_first_frames", "short_clip_rule")


def protocol_from_options(options: Optional[dict] = None) -> FVDProtocol:
    """The :class:`FVDProtocol` that ``VideoFVD(**options)`` scores with (defaults for what ``options`` leave out)."""
    return FVDProtocol(**{k: v for k, v in (options or {}).items() if k in _PROTOCOL_OPTIONS})


def check_options(options: dict) -> None:
    """Raise ``ValueError`` naming the problem when ``options`` (constructor arguments) cannot go together, e.g.
    ``backbone="videomae"`` with ``frames_per_clip=8`` (VideoMAE's position embeddings fix 16 frames)."""
    protocol_from_options(options)
    max_clips = options.get("max_clips")
    if max_clips is not None and max_clips < 2:
        raise ValueError(f"max_clips must be >= 2 or None, got {max_clips}")


def select_frames(video, protocol: FVDProtocol) -> tuple[np.ndarray, bool]:
    """The protocol's frame window of a uint8 ``(T, H, W, 3)`` clip -> ``((frames_per_clip, H, W, 3), padded)``."""
    if isinstance(video, Tensor):
        video = video.detach().cpu().numpy()
    start, n = protocol.skip_first_frames, protocol.frames_per_clip
    total = video.shape[0]
    if total <= start:
        raise ValueError(f"clip has {total} frames; FVD skips the first {start} (skip_first_frames) and has none left")
    window = video[start:start + n]
    if window.shape[0] == n:
        return np.ascontiguousarray(window), False
    if protocol.short_clip_rule == "error":
        raise ValueError(f"clip has {window.shape[0]} frames after skipping {start}; FVD's protocol takes {n} "
                         "(short_clip_rule='error')")
    pad = np.repeat(window[-1:], n - window.shape[0], axis=0)
    return np.concatenate([window, pad], axis=0), True


def preprocess(frames, backbone: str, device=None) -> Tensor:
    """uint8 ``(B, T, H, W, 3)`` -> float32 ``(B, 3, T, 224, 224)`` network input of ``backbone``.

    The same arithmetic as cd-fvd's ``preprocess_i3d`` (resize the 0..255 values, then :math:`2x/255 - 1`) and
    ``preprocess_videomae`` (:math:`x/255`, then resize).
    """
    x = torch.as_tensor(frames, device=device)
    b, t, h, w, c = x.shape
    x = x.to(torch.float32).reshape(b * t, h, w, c).permute(0, 3, 1, 2)
    if backbone == "videomae":
        x = x / 255.0
    x = F.interpolate(x, size=RESIZE_HW, mode="bilinear", align_corners=False)
    x = x.reshape(b, t, c, *RESIZE_HW).transpose(1, 2).contiguous()
    return 2.0 * x / 255.0 - 1 if backbone == "i3d" else x


def network_features(net: nn.Module, inputs: Tensor, backbone: str) -> Tensor:
    """``(B, D)`` features of preprocessed inputs ``(B, 3, T, 224, 224)``."""
    with torch.no_grad():
        return net(inputs) if backbone == "i3d" else net.forward_features(inputs)


def load_i3d(path) -> nn.Module:
    """cd-fvd's ``InceptionI3d(400, in_channels=3)`` with the state dict at ``path`` (``weights_only`` load).

    The randomly initialised construction draws from a forked RNG, so the global RNG is left untouched.
    """
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d

    with torch.random.fork_rng(devices=[]):
        net = InceptionI3d(400, in_channels=3)
    _load_state(net, path, "an InceptionI3d (I3D, 400 classes) state dict")
    return net.eval()


def load_videomae(path) -> nn.Module:
    """cd-fvd's VideoMAE-v2 ViT-g (``vit_giant_patch14_224(**VIDEOMAE_ARCH)``) with the checkpoint at ``path``."""
    from cdfvd.third_party.VideoMAEv2.videomaev2_finetune import vit_giant_patch14_224

    with torch.random.fork_rng(devices=[]):
        net = vit_giant_patch14_224(**VIDEOMAE_ARCH)
    _load_state(net, path, "a VideoMAE-v2 ViT-g checkpoint")
    return net.eval()


def _load_state(net: nn.Module, path, what: str) -> None:
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    for wrapper in ("model", "module"):  # checkpoints saved from training scripts wrap the state dict
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise WeightsUnavailableError(f"{path} is not {what}: {str(err)[:500]}") from err


def network_feature_dim(net: nn.Module, backbone: str) -> int:
    """The feature dimension of a built network (I3D: its classes; VideoMAE: its embedding width)."""
    return int(net._num_classes) if backbone == "i3d" else int(net.embed_dim)


# ---- reference cache -----------------------------------------------------------------------------------------


def default_reference_cache_dir() -> Path:
    """``<$EXOEGO_CACHE or ~/.cache/exoego-bench>/fvd-reference``."""
    from benchmark.data.loading import default_cache_dir

    return default_cache_dir() / "fvd-reference"


class ReferenceCache:
    """Features of true clips on disk: ``<root>/<protocol key>/<frames sha256>.npy`` (float32 ``(D,)``).

    The protocol key is the sha256 of the canonical JSON of the protocol, the feature dimension and the weights'
    sha256 (written beside the features as ``protocol.json``); the frames sha256 is
    :func:`benchmark.data.identity.frames_sha256` of the uint8 frames fed to the network. Writes are atomic; an
    unreadable or malformed entry is treated as absent and rewritten.
    """

    def __init__(self, root, protocol: FVDProtocol, weights_sha256: str, feature_dim: int) -> None:
        self.root = Path(root).expanduser()
        self.description = {"protocol": protocol.as_dict(), "weights_sha256": weights_sha256,
                            "feature_dim": int(feature_dim)}
        text = json.dumps(self.description, sort_keys=True, separators=(",", ":"))
        self.key = hashlib.sha256(text.encode()).hexdigest()
        self.folder = self.root / self.key
        self.feature_dim = int(feature_dim)

    def get(self, frames_key: str) -> Optional[np.ndarray]:
        path = self.folder / f"{frames_key}.npy"
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if value.shape != (self.feature_dim,) or value.dtype != np.float32 or not np.all(np.isfinite(value)):
            return None
        return value

    def put(self, frames_key: str, features: np.ndarray) -> None:
        from benchmark.atomic import atomic_path, write_text_atomic

        self.folder.mkdir(parents=True, exist_ok=True)
        description = self.folder / "protocol.json"
        if not description.exists():
            write_text_atomic(description, json.dumps(self.description, indent=1, sort_keys=True) + "\n")
        with atomic_path(self.folder / f"{frames_key}.npy", fsync=False) as tmp:  # a cache: a lost entry is recomputed
            np.save(tmp, np.asarray(features, dtype=np.float32).reshape(self.feature_dim))


def _frames_key(frames: np.ndarray) -> str:
    from benchmark.data.identity import frames_sha256

    return frames_sha256(frames)


def _priority(seed: int, frames_key: str) -> float:
    """A clip's sampling priority in [0, 1): a seeded hash of its true frames (bottom-k sampling)."""
    digest = hashlib.sha256(f"fvd-sample-v1\n{int(seed)}\n{frames_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


# ---- the metric --------------------------------------------------------------------------------------------------


class VideoFVD(Metric):
    """Streaming FVD over (generated, true) clip pairs; ``compute()`` is the set's FVD (float64 scalar).

    Args:
        backbone: ``"i3d"`` (FVD, as peers report it) or ``"videomae"`` (cd-fvd's content-debiased cd-FVD).
        frames_per_clip, skip_first_frames, short_clip_rule: the :class:`FVDProtocol`.
        max_clips: score a seeded sample of at most this many clips (``None``: all clips).
        seed: the sampling seed (only used with ``max_clips``).
        reference_cache: folder of the true clips' feature cache; ``True`` (default) for
            :func:`default_reference_cache_dir`; ``None`` or ``False`` for no cache.
        verify_checksum: refuse weights that contradict their published checksum (``False``: tests only).
        network, weights_sha256: an already built feature network to use instead of loading the weights file, and
            the sha256 naming its weights (keys the cache; without it the cache is off).
        clip_batch_size: clips per network call.

    ``update(pred, target)`` takes uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` videos of one shape. Weights
    are found by :mod:`benchmark.metrics.weights`; when missing, the constructor raises
    :class:`~benchmark.metrics.weights.WeightsUnavailableError` with the command that fixes it.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    __jit_ignored_attributes__ = ["net"]

    def __init__(self, backbone: str = "i3d", *, frames_per_clip: int = FRAMES_PER_CLIP, skip_first_frames: int = 0,
                 short_clip_rule: str = "repeat-last", max_clips: Optional[int] = None, seed: int = 0,
                 reference_cache: Union[bool, str, Path, None] = True, verify_checksum: bool = True,
                 network: Optional[nn.Module] = None, weights_sha256: Optional[str] = None, clip_batch_size: int = 4,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol = FVDProtocol(backbone, frames_per_clip, skip_first_frames, short_clip_rule)
        if max_clips is not None and max_clips < 2:
            raise ValueError(f"max_clips must be >= 2 or None, got {max_clips}")
        if clip_batch_size < 1:
            raise ValueError(f"clip_batch_size must be >= 1, got {clip_batch_size}")
        self.max_clips, self.seed, self.clip_batch_size = max_clips, int(seed), int(clip_batch_size)
        spec = BACKBONES[backbone]
        self.weight_file: Optional[dict] = None
        if network is None:
            status = require(spec.weights_key, verify_checksum=verify_checksum)
            network = load_i3d(status.path) if backbone == "i3d" else load_videomae(status.path)
            weights_sha256 = status.sha256
            self.weight_file = status.as_dict()
        self.net = network.eval()
        self.weights_sha256 = weights_sha256
        self.feature_dim = network_feature_dim(self.net, backbone)
        self.min_clips = self.feature_dim + 1
        self.reference_cache: Optional[ReferenceCache] = None
        if reference_cache not in (None, False) and weights_sha256 is not None:
            root = default_reference_cache_dir() if reference_cache is True else Path(reference_cache)
            self.reference_cache = ReferenceCache(root, self.protocol, weights_sha256, self.feature_dim)

        d = self.feature_dim
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", default=torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", default=torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")
        for counter in ("n_clips", "n_padded", "n_reference_cached", "n_reference_computed", "n_left_out"):
            self.add_state(counter, default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        # with max_clips: the kept clips' priorities and features (at most 2 * max_clips per process)
        self.add_state("kept_priority", default=[], dist_reduce_fx="cat")
        self.add_state("kept_real", default=[], dist_reduce_fx="cat")
        self.add_state("kept_fake", default=[], dist_reduce_fx="cat")
        self._last: Optional[dict] = None

    def reset(self) -> None:
        super().reset()
        self._last = None

    # -- update ------------------------------------------------------------------------------------------------

    def update(self, pred, target) -> None:
        """Add clip pairs: uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)``, prediction and truth of one shape."""
        check_video_pair(pred, target, batched=True)
        pairs = [(pred, target)] if len(pred.shape) == 4 else list(zip(pred, target))
        entries = []
        for p, t in pairs:
            fake_frames, padded = select_frames(p, self.protocol)
            real_frames, _ = select_frames(t, self.protocol)
            key = _frames_key(real_frames)
            entries.append({"fake_frames": fake_frames, "real_frames": real_frames, "key": key, "padded": padded,
                            "priority": _priority(self.seed, key)})
        if self.max_clips is not None:
            threshold = self._sample_threshold()
            kept = [e for e in entries if e["priority"] < threshold]
            self.n_left_out += len(entries) - len(kept)
            entries = kept
        if not entries:
            self._last = {"entries": [], "n_left_out": len(pairs)}
            return
        fake = self._features([e["fake_frames"] for e in entries])
        real = self._reference_features(entries)
        if not (torch.all(torch.isfinite(fake)) and torch.all(torch.isfinite(real))):
            raise ValueError("the FVD network produced non-finite features")
        self._add(fake, real, entries, sign=1)
        self._last = {"entries": entries, "fake": fake, "real": real, "n_left_out": len(pairs) - len(entries)}

    def _features(self, frame_list: list) -> Tensor:
        out = []
        for start in range(0, len(frame_list), self.clip_batch_size):
            batch = np.stack(frame_list[start:start + self.clip_batch_size])
            inputs = preprocess(batch, self.protocol.backbone, device=self.device)
            out.append(network_features(self.net, inputs, self.protocol.backbone).to(torch.float32))
        features = torch.cat(out)
        if features.shape[1] != self.feature_dim:
            raise ValueError(f"FVD network gave {features.shape[1]}-d features, expected {self.feature_dim}")
        return features

    def _reference_features(self, entries: list) -> Tensor:
        real: list[Optional[Tensor]] = [None] * len(entries)
        missing = []
        for i, e in enumerate(entries):
            cached = self.reference_cache.get(e["key"]) if self.reference_cache is not None else None
            e["from_cache"] = cached is not None
            if cached is None:
                missing.append(i)
            else:
                real[i] = torch.from_numpy(cached).to(self.device)
        if missing:
            computed = self._features([entries[i]["real_frames"] for i in missing])
            for i, feats in zip(missing, computed):
                real[i] = feats
                if self.reference_cache is not None:
                    self.reference_cache.put(entries[i]["key"], feats.detach().cpu().numpy())
        return torch.stack(real)

    def _add(self, fake: Tensor, real: Tensor, entries: list, sign: int) -> None:
        n = len(entries)
        cached = sum(e["from_cache"] for e in entries)
        self.n_clips += sign * n
        self.n_padded += sign * sum(e["padded"] for e in entries)
        self.n_reference_cached += sign * cached
        self.n_reference_computed += sign * (n - cached)
        if self.max_clips is not None:
            if sign > 0:
                self.kept_priority.append(torch.tensor([e["priority"] for e in entries], dtype=torch.float64,
                                                       device=self.device))
                self.kept_real.append(real.to(torch.float64))
                self.kept_fake.append(fake.to(torch.float64))
            else:
                for state in (self.kept_priority, self.kept_real, self.kept_fake):
                    state.pop()
            return
        f64_fake, f64_real = fake.to(torch.float64), real.to(torch.float64)
        self.fake_sum += sign * f64_fake.sum(0)
        self.fake_outer += sign * (f64_fake.T @ f64_fake)
        self.real_sum += sign * f64_real.sum(0)
        self.real_outer += sign * (f64_real.T @ f64_real)

    def _sample_threshold(self) -> float:
        """Priority below which a new clip can still be among the ``max_clips`` kept; prunes to bound memory."""
        if not self.kept_priority:
            return float("inf")
        priority = torch.cat(self.kept_priority)
        if priority.numel() < self.max_clips:
            return float("inf")
        order = torch.argsort(priority)
        if priority.numel() >= 2 * self.max_clips:  # only clips that can never re-enter the sample are dropped
            keep = order[: self.max_clips]
            self.kept_priority[:] = [priority[keep]]
            self.kept_real[:] = [torch.cat(self.kept_real)[keep]]
            self.kept_fake[:] = [torch.cat(self.kept_fake)[keep]]
            priority, order = self.kept_priority[0], torch.arange(self.max_clips)
        return float(priority[order[self.max_clips - 1]])

    def drop_last_update(self) -> None:
        """Forget the most recent ``update`` (used to keep metrics aligned when another metric fails)."""
        last, self._last = self._last, None
        if last is None:
            return
        self.n_left_out -= last["n_left_out"]
        if last["entries"]:
            self._add(last["fake"], last["real"], last["entries"], sign=-1)
        self._update_count = max(0, self._update_count - 1)
        self._computed = None

    # -- results -------------------------------------------------------------------------------------------------

    def statistics(self) -> dict:
        """``{"n", "mu_real", "sigma_real", "mu_fake", "sigma_fake"}`` (numpy float64) of the clips scored."""
        if self.max_clips is None:
            n = int(self.n_clips)
            if n == 0:
                return {"n": 0}
            mu_r, s_r = mean_and_covariance(self.real_sum, self.real_outer, n)
            mu_f, s_f = mean_and_covariance(self.fake_sum, self.fake_outer, n)
            return {"n": n, "mu_real": mu_r, "sigma_real": s_r, "mu_fake": mu_f, "sigma_fake": s_f}
        if not self.kept_priority:
            return {"n": 0}
        priority = dim_zero_cat(self.kept_priority)
        keep = torch.argsort(priority)[: self.max_clips]
        out = {"n": int(keep.numel())}
        for side, feats in (("real", self.kept_real), ("fake", self.kept_fake)):
            x = dim_zero_cat(feats)[keep].to(torch.float64)
            out[f"mu_{side}"], out[f"sigma_{side}"] = mean_and_covariance(x.sum(0), x.T @ x, x.shape[0])
        return out

    def compute(self) -> Tensor:
        """FVD of the clips scored (NaN when none was)."""
        stats = self.statistics()
        if stats["n"] == 0:
            return torch.tensor(float("nan"), dtype=torch.float64)
        with warnings.catch_warnings():
            if stats["n"] < self.min_clips:  # singular covariances are expected here and said by warning()
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            value = frechet_distance(stats["mu_real"], stats["sigma_real"], stats["mu_fake"], stats["sigma_fake"])
        return torch.tensor(value, dtype=torch.float64)

    @property
    def num_clips(self) -> int:
        """Clips that enter the FVD (after the ``max_clips`` sample)."""
        if self.max_clips is None:
            return int(self.n_clips)
        return min(int(self.n_clips), self.max_clips)

    def warning(self) -> Optional[str]:
        """A sentence when fewer clips than :attr:`min_clips` are scored (None otherwise)."""
        n = self.num_clips
        if n >= self.min_clips:
            return None
        return (f"FVD from {n} clips, fewer than {self.min_clips} (the {self.feature_dim} feature dimensions + 1): "
                f"both covariance matrices have rank at most {max(n - 1, 0)}, so the value depends strongly on the "
                f"number of clips; compare it only with FVDs from the same number of clips (cd-fvd's default "
                f"sample is {CD_FVD_SAMPLE_SIZE})")

    def summary(self) -> dict:
        """The results entry: value, clips, warning, counts (a set metric has no per-clip column and no interval)."""
        n = self.num_clips
        out = {"mean": float(self.compute()) if n else None, "n": n, "kind": "set", "ci95": None,
               "ci95_note": BOOTSTRAP_NOTE, "min_clips": self.min_clips,
               "clips_padded": int(self.n_padded), "reference_features": {
                   "from_cache": int(self.n_reference_cached), "computed": int(self.n_reference_computed)}}
        if self.max_clips is not None:
            out["clips_left_out_by_sample"] = int(self.n_clips) - n + int(self.n_left_out)
        warning = self.warning()
        if warning:
            out["warning"] = warning
        return out

    def settings(self) -> dict:
        """Every setting that changes the number (results ``metric_settings.fvd``)."""
        return fvd_settings(self.protocol, max_clips=self.max_clips, seed=self.seed,
                            reference_cache=self.reference_cache, weight_file=self.weight_file,
                            weights_sha256=self.weights_sha256, min_clips=self.min_clips)


def fvd_settings_for_options(options: Optional[dict] = None) -> dict:
    """The FVD block of ``metric_settings`` for ``VideoFVD(**options)`` that could not be built (weights missing):
    the protocol, backbone, sample and clip threshold the options chose, so an unavailable FVD is on record too."""
    options = options or {}
    return fvd_settings(protocol_from_options(options), max_clips=options.get("max_clips"),
                        seed=options.get("seed", 0))


def fvd_settings(protocol: Optional[FVDProtocol] = None, *, max_clips=None, seed=0, reference_cache=None,
                 weight_file=None, weights_sha256=None, min_clips=None) -> dict:
    """The FVD block of ``metric_settings`` (also written when FVD is unavailable, so the protocol is on record)."""
    protocol = protocol or FVDProtocol()
    spec = BACKBONES[protocol.backbone]
    return {
        "implementation": "benchmark.metrics.video_fvd.VideoFVD: cd-fvd's networks and formula, our decoding",
        "protocol": protocol.as_dict(),
        "statistics": "float64 sums of x and x x^T; mu = sum/N, sigma = sum(x x^T)/N - mu mu^T (cd-fvd FeatureStats)",
        "distance": "|mu_r - mu_g|^2 + tr(S_r + S_g - 2 sqrtm(S_r S_g)), real part (cd-fvd compute_fvd_from_stats)",
        "reference_source": REFERENCE_SOURCE,
        "reference_cache": None if reference_cache is None else {"folder": str(reference_cache.folder),
                                                                 "protocol_key": reference_cache.key},
        "clip_sampling": "all clips" if max_clips is None else
        f"seeded bottom-{max_clips} sample by sha256('fvd-sample-v1', seed, true frames' sha256), seed {seed}",
        "max_clips": max_clips,
        "seed": seed,
        "min_clips": min_clips if min_clips is not None else spec.feature_dim + 1,
        "min_clips_reason": "fewer clips than feature dimensions + 1 leave the covariance estimates rank deficient",
        "interval": BOOTSTRAP_NOTE,
        "weights_sha256": weights_sha256,
        "weight_file": weight_file,
        "versions": {"cd-fvd": _version("cd-fvd"), "scipy": scipy.__version__},
    }


def _version(dist: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
