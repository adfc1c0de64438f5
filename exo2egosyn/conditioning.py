"""The conditioning of Exo2EgoSyn, one implementation for inference and training.

Everything the model is conditioned on is built here, and both the pipeline (``Exo2EgoSynPipeline``, through the
generator) and training (``exo2egosyn.train``) call these functions, so what a module sees at inference is what it
was trained on (``tests/exo2egosyn/test_conditioning_agreement.py`` checks this for a whole clip):

1. :func:`generation_sizes`, :func:`clip_inputs` - a benchmark clip (uint8 videos, cameras in the clip's pixels)
   to the model's working sizes: ego (h, w) and exo (he, we) multiples of the latent grid, near the clip's aspect
   and under an area cap; ``n = tf k + 1`` frames (the last frame repeated); videos float in [-1, 1],
   ``(B, V, 3, n, he, we)``; intrinsics rescaled to the resized pixels.
2. :func:`encode_normalized` - WAN latents ``z = (mode(E(x)) - mean) / std`` (the VAE's per-channel statistics).
3. :func:`exo_conditioning` - per clip, from the cameras and the exo latents: the closest exo view (largest
   cosine between optical axes at frame 0), the exo rays in the ego frame on the exo latent grid (MultiExoCon and
   EgoExo-Align), the ego's own first-frame rays (EgoExo-Align's query) and the ego rays in every exo frame on the
   ego latent grid (PoseInj), packed per latent frame (``tf`` frames stacked on channels).
4. :func:`closest_exo_frame` - the first frame of the closest exo view at the ego size (no-Align first frame).
5. :func:`first_frame_mask`, :func:`with_clean_first_frame`, :func:`token_timesteps` - WAN 2.2 TI2V's first
   frame conditioning: ``x = (1 - m) c + m x_t`` with ``m = 0`` on latent frame 0, and per-token timesteps
   ``t m`` (0 on the clean first frame's tokens) at the transformer's patch stride.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from benchmark import cameras
from benchmark.video_ops import resize_video

from . import geometry
from .align import closest_view


# ----------------------------------------------------------------------------------------------- 1. sizes, inputs
def working_size(height: int, width: int, multiple: int, max_area: int | None = None) -> tuple:
    """(h, w) multiples of ``multiple`` closest to the input's aspect; scaled to ``max_area`` when given."""
    if max_area is not None:
        scale = (max_area / (height * width)) ** 0.5
        height, width = height * scale, width * scale

    def snap(x):
        return max(multiple, int(round(x / multiple)) * multiple)

    return snap(height), snap(width)


def vae_frame_count(num_frames: int, temporal_factor: int) -> int:
    """Smallest ``n = tf k + 1 >= num_frames``: WAN's causal VAE encodes ``1 + tf k`` frames into ``1 + k``."""
    tf = int(temporal_factor)
    return ((max(int(num_frames), 1) - 1 + tf - 1) // tf) * tf + 1


@dataclass(frozen=True)
class GenerationSizes:
    """Working sizes of one clip: ego (height, width), exo (exo_height, exo_width), num_frames = tf k + 1."""

    height: int
    width: int
    num_frames: int
    exo_height: int
    exo_width: int


def generation_sizes(ego_size: tuple, exo_size: tuple, num_frames: int, *, spatial_factor: int, patch_size: tuple,
                     temporal_factor: int, max_area: int | None = None,
                     max_exo_area: int | None = None) -> GenerationSizes:
    """The sizes a clip is generated (and trained) at.

    The ego frame snaps to multiples of ``spatial_factor * patch`` (whole transformer tokens), the exo views to
    multiples of ``spatial_factor`` (whole latents: the exo latents are not patchified by the transformer).
    """
    h, w = working_size(int(ego_size[0]), int(ego_size[1]), spatial_factor * int(patch_size[-2]), max_area)
    he, we = working_size(int(exo_size[0]), int(exo_size[1]), spatial_factor, max_exo_area)
    return GenerationSizes(h, w, vae_frame_count(num_frames, temporal_factor), he, we)


def pad_frames(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Repeat the last frame along ``axis`` up to ``n`` frames (or cut to ``n``)."""
    t = x.shape[axis]
    if t >= n:
        return np.take(x, np.arange(n), axis=axis)
    idx = np.concatenate([np.arange(t), np.full(n - t, t - 1)])
    return np.take(x, idx, axis=axis)


def video_to_tensor(video: np.ndarray) -> torch.Tensor:
    """uint8 (..., T, H, W, 3) -> float32 (..., 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(video)).float().div(127.5).sub(1.0)
    return x.movedim(-1, -4)


@dataclass
class ClipInputs:
    """One clip at its working sizes, batched (B = 1), as the pipeline takes it.

    exo_video (1, V, 3, n, he, we) float32 in [-1, 1]; exo_K (1, V, 3, 3) and ego_K (1, 3, 3) in the resized
    pixels; exo_T_world_cam (1, V, n, 4, 4); ego_T_world_cam (1, n, 4, 4) (float64 numpy).
    """

    exo_video: torch.Tensor
    exo_K: np.ndarray
    exo_T_world_cam: np.ndarray
    ego_K: np.ndarray
    ego_T_world_cam: np.ndarray
    sizes: GenerationSizes


def clip_inputs(inputs, sizes: GenerationSizes) -> ClipInputs:
    """:class:`ClipInputs` of a ``benchmark.schema.ExoEgoInputs`` (what the generator passes to the pipeline)."""
    n, he, we = sizes.num_frames, sizes.exo_height, sizes.exo_width
    He, We = inputs.exo_video.shape[2:4]
    exo = resize_video(pad_frames(inputs.exo_video, n, axis=1), he, we)  # (V, n, he, we, 3)
    exo_K = cameras.scale_intrinsics(np.asarray(inputs.exo_K, dtype=np.float64), we / We, he / He)
    exo_T = pad_frames(inputs.exo_T_world_cam_per_frame(), n, axis=1)
    ego_K = cameras.scale_intrinsics(np.asarray(inputs.ego_K, dtype=np.float64), sizes.width / inputs.ego_width,
                                     sizes.height / inputs.ego_height)
    ego_T = pad_frames(np.asarray(inputs.ego_T_world_cam), n, axis=0)
    return ClipInputs(video_to_tensor(exo)[None], exo_K[None], exo_T[None], ego_K[None], ego_T[None], sizes)


# ----------------------------------------------------------------------------------------------- 2. latents
def latent_norm(vae, device=None, dtype=torch.float32):
    """The VAE's per-channel latent mean and 1 / std, each (1, C, 1, 1, 1)."""
    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1).to(device, dtype)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1).to(device, dtype)
    return mean, inv_std


@torch.no_grad()
def vae_identity(vae) -> str:
    """sha256 over a VAE's config and the exact bytes (and dtype) of its parameters: the key part that says which
    encoder made a cached latent. One definition for the pipeline's exo-latent cache and the training latent cache,
    so the two can never disagree on whether a VAE changed."""
    h = hashlib.sha256(json.dumps(vae.config, sort_keys=True, default=str).encode())
    for name, tensor in sorted(vae.state_dict().items()):
        h.update(name.encode())
        h.update(str(tensor.dtype).encode())
        h.update(tensor.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def encode_normalized(vae, video: torch.Tensor, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalized WAN latents ``(mode(E(x)) - mean) / std`` (N, C, T', h, w) of videos (N, 3, T, H, W) in [-1, 1].

    The video goes to the VAE's device and dtype; the latents come back on ``device`` (default: the VAE's).
    """
    from diffusers.utils.torch_utils import get_module_execution_device

    vae_device = get_module_execution_device(vae)
    device = vae_device if device is None else device
    z = vae.encode(video.to(device=vae_device, dtype=vae.dtype)).latent_dist.mode().to(device=device, dtype=dtype)
    mean, inv_std = latent_norm(vae, device, dtype)
    return (z - mean) * inv_std


def denormalize(vae, latents: torch.Tensor) -> torch.Tensor:
    """Inverse of the normalization in :func:`encode_normalized` (what ``vae.decode`` takes)."""
    mean, inv_std = latent_norm(vae, latents.device, latents.dtype)
    return latents / inv_std + mean


# ----------------------------------------------------------------------------------------------- 3, 4. geometry
def batched_geometry(exo_K, exo_T_world_cam, ego_K, ego_T_world_cam, num_frames):
    """float64 CPU tensors: exo_K (B, V, 3, 3), exo_T (B, V, T, 4, 4), ego_K (B, 3, 3), ego_T (B, T, 4, 4).

    Batched-ness is read from ``ego_T_world_cam``: (T, 4, 4) means one clip, (B, T, 4, 4) a batch. Static exo
    cameras (B, V, 4, 4) are expanded over time.
    """
    def t64(x):
        return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu(),
                               dtype=torch.float64)

    exo_K, exo_T, ego_K, ego_T = map(t64, (exo_K, exo_T_world_cam, ego_K, ego_T_world_cam))
    if ego_T.ndim == 3:
        exo_K, exo_T, ego_K, ego_T = exo_K[None], exo_T[None], ego_K[None], ego_T[None]
    B, T = ego_T.shape[:2]
    if exo_T.ndim == 4:  # static exo cameras
        exo_T = exo_T[:, :, None].expand(B, exo_T.shape[1], T, 4, 4)
    if T != num_frames:
        raise ValueError(f"ego_T_world_cam has {T} frames, expected num_frames={num_frames}")
    return exo_K, exo_T, ego_K, ego_T


@dataclass
class ExoConditioning:
    """What the exo views and the cameras give the modules, per clip (B clips, V views, on one device).

    view_mask (B, V) bool; base_view (B,) the closest exo view at frame 0;
    exo_latents (B, V, C, T'x, hx, wx) normalized, or None when no module reads them;
    rays_exo (B, V, 6 tf, T'x, hx, wx) exo rays in the ego frame (with exo_latents);
    ego_rays0 (B, 6, h, w) the ego's first-frame rays in its own frame (EgoExo-Align's query), or None;
    rays_ego (B, V, 6 tf, T', h, w) the ego rays in every exo frame (PoseInj), or None.
    """

    view_mask: torch.Tensor
    base_view: torch.Tensor
    exo_latents: torch.Tensor | None = None
    rays_exo: torch.Tensor | None = None
    ego_rays0: torch.Tensor | None = None
    rays_ego: torch.Tensor | None = None


def exo_conditioning(exo_video: torch.Tensor, exo_K, exo_T_world_cam, ego_K, ego_T_world_cam, *, height: int,
                     width: int, num_frames: int, spatial_factor: int, temporal_factor: int,
                     encode: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     exo_latent_frames: int | None = None, ego_rays0: bool = False, rays_ego: bool = False,
                     view_mask=None, ego_image_size: tuple | None = None, device=None,
                     dtype=torch.float32) -> ExoConditioning:
    """The :class:`ExoConditioning` of a batch of clips.

    Args:
        exo_video: (B, V, 3, T, He, We) or (V, 3, T, He, We) in [-1, 1].
        exo_K, exo_T_world_cam, ego_K, ego_T_world_cam: cameras as in :func:`batched_geometry`; intrinsics in the
            pixels of ``exo_video`` and of ``ego_image_size`` (default ``(height, width)``).
        height, width, num_frames: the ego video to generate.
        encode: videos (N, 3, T, He, We) -> normalized latents (N, C, T', hx, wx); None: no exo latents.
        exo_latent_frames: how many latent frames of the exo videos to encode (None: all). WAN's VAE is causal,
            so the first k latent frames of a shorter clip are those of the whole clip (EgoExo-Align alone reads
            only the first).
        ego_rays0, rays_ego: also build those ray maps.
    """
    tf, s = int(temporal_factor), int(spatial_factor)
    if exo_video.ndim == 5:
        exo_video = exo_video[None]
    device = exo_video.device if device is None else device
    B, V = exo_video.shape[:2]
    He, We = exo_video.shape[-2:]
    exo_K64, exo_T64, ego_K64, ego_T64 = batched_geometry(exo_K, exo_T_world_cam, ego_K, ego_T_world_cam,
                                                          num_frames)
    mask = (torch.ones(B, V, dtype=torch.bool) if view_mask is None
            else torch.as_tensor(view_mask, dtype=torch.bool).reshape(B, V).cpu())
    T_ego_exo0 = geometry.relative_pose(ego_T64[:, None, 0], exo_T64[:, :, 0])  # (B, V, 4, 4)
    out = ExoConditioning(view_mask=mask.to(device), base_view=closest_view(T_ego_exo0, mask).to(device))
    h, w = height // s, width // s
    ego_size = tuple(ego_image_size) if ego_image_size is not None else (height, width)
    if encode is not None:
        n_lat = (num_frames - 1) // tf + 1
        n_lat = n_lat if exo_latent_frames is None else min(int(exo_latent_frames), n_lat)
        n_frames = (n_lat - 1) * tf + 1
        clips = exo_video[:, :, :, :n_frames].flatten(0, 1)  # (B V, 3, n, He, We)
        out.exo_latents = encode(clips).to(device=device, dtype=dtype).unflatten(0, (B, V))
        hx, wx = out.exo_latents.shape[-2:]
        rays = geometry.exo_rays_in_ego_frame(exo_K64, exo_T64[:, :, :n_frames], ego_T64[:, :n_frames], hx, wx,
                                              image_size=(He, We))
        out.rays_exo = geometry.pack_to_latent_frames(rays, tf).to(device=device, dtype=dtype)
    if ego_rays0:
        eye = torch.eye(4, dtype=torch.float64).expand(B, 4, 4)
        rays0 = geometry.plucker_rays(ego_K64, eye, h, w, image_size=ego_size)  # (B, h, w, 6)
        out.ego_rays0 = rays0.permute(0, 3, 1, 2).to(device=device, dtype=dtype)
    if rays_ego:
        rays = geometry.ego_rays_in_exo_frames(ego_K64, ego_T64, exo_T64, h, w, image_size=ego_size)
        out.rays_ego = geometry.pack_to_latent_frames(rays, tf).to(device=device, dtype=dtype)
    return out


def closest_exo_frame(exo_video: torch.Tensor, base_view: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """First frame of each clip's closest exo view at the ego size: (B, 3, 1, height, width) in [-1, 1].

    exo_video (B, V, 3, T, He, We); bilinear with antialiasing (the whole frame: the exo aspect is not cropped,
    as vanilla WAN is given the whole exo frame).
    """
    B = exo_video.shape[0]
    frame0 = exo_video[torch.arange(B, device=exo_video.device), base_view.to(exo_video.device), :, 0]
    frame0 = F.interpolate(frame0, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return frame0.clamp(-1, 1).unsqueeze(2)


# ----------------------------------------------------------------------------------------------- 5. first frame
def first_frame_mask(num_latent_frames: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(1, 1, T', h, w): 0 on latent frame 0 (given, clean), 1 on the frames to generate."""
    mask = torch.ones(1, 1, num_latent_frames, h, w, dtype=dtype, device=device)
    mask[:, :, 0] = 0
    return mask


def with_clean_first_frame(latents: torch.Tensor, condition: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(1 - m) c + m x``: the condition latent on frame 0, ``latents`` elsewhere."""
    return (1 - mask) * condition + mask * latents


def token_timesteps(mask: torch.Tensor, t: torch.Tensor, patch_size: tuple, batch_size: int) -> torch.Tensor:
    """Per-token timesteps (B, T' h/ph w/pw): ``t`` (scalar or (B,)) on generated tokens, 0 on frame 0's."""
    _, ph, pw = patch_size
    per_token = mask[0, 0][:, ::ph, ::pw].flatten()[None]  # (1, seq)
    t = torch.as_tensor(t, device=mask.device)
    if t.ndim == 0:
        return (per_token * t).expand(batch_size, -1)
    return per_token * t.to(per_token.dtype)[:, None]
