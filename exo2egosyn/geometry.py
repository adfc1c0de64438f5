"""Camera geometry of Exo2EgoSyn: relative exo/ego poses and Plücker ray maps at any resolution.

Built on :mod:`benchmark.cameras` (the project's one owner of camera conventions: camera-to-world
``T_world_cam``, OpenCV axes, ``T_a_b = inv(T_world_a) @ T_world_b``, pixel centres at integers).

A ray ``(o, d)`` (origin, unit direction) is written in Plücker coordinates as the 6-vector
``(d, m)`` with moment ``m = o x d``. The moment does not depend on which point of the line is
used as origin (``(o + s d) x d = o x d``), so the 6 numbers describe the line, not a point on it;
the point of the line closest to the origin of the frame is ``d x m``.

Which rays, in which frame (both are used; see the README):

* :func:`ego_rays_in_exo_frames` - the ego camera's pixel rays expressed in each exo camera's frame,
  on the *ego* latent grid. PoseInj adds features to the ego tokens, so its map must be indexed by ego
  pixels; and expressing the rays in an exo frame tells each ego token which line of sight it renders
  relative to the camera that actually observed the scene (the ego rays in the ego frame would carry no
  pose at all: they only depend on the intrinsics).
* :func:`exo_rays_in_ego_frame` - each exo camera's pixel rays expressed in the ego frame, on the *exo*
  latent grid. They travel with the exo latents (MultiExoCon, EgoExo-Align), so each exo feature carries
  the line of sight it was seen along, in the coordinates of the camera to be synthesised.

Everything here is batched over leading dimensions (torch, float64 recommended) and differentiable.
"""

from __future__ import annotations

import torch

from benchmark import cameras


def relative_pose(T_world_a: torch.Tensor, T_world_b: torch.Tensor) -> torch.Tensor:
    """``T_a_b = inv(T_world_a) @ T_world_b`` (maps points of ``b``'s frame into ``a``'s frame), (..., 4, 4)."""
    return cameras.relative_pose(T_world_a, T_world_b)


def plucker(origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Plücker coordinates ``(d, o x d)`` of rays: (..., 3) and (..., 3) -> (..., 6). ``d`` should be unit."""
    origins, directions = torch.broadcast_tensors(origins, directions)
    return torch.cat([directions, torch.linalg.cross(origins, directions, dim=-1)], dim=-1)


def camera_rays(K: torch.Tensor, T_ref_cam: torch.Tensor, height: int, width: int,
                image_size: tuple | None = None):
    """Rays through the pixel centres of a camera, expressed in a reference frame ``ref``.

    Args:
        K: (..., 3, 3) intrinsics in pixels of ``image_size`` (H0, W0); default ``(height, width)``.
        T_ref_cam: (..., 4, 4) pose of the camera in the reference frame (``T_world_cam`` gives world rays).
            Leading dimensions of ``K`` and ``T_ref_cam`` must match (expand them first).
        height, width: the grid to sample; ``K`` is rescaled to it with pixel-centre alignment
            (``u' = (u + 0.5) s - 0.5``), which is what area / bilinear (align_corners=False) resizing and a
            VAE's strided downsampling do to pixel centres.
    Returns:
        origins, directions: (..., height, width, 3) each; directions are unit vectors.
    """
    if image_size is not None and tuple(image_size) != (height, width):
        h0, w0 = image_size
        K = cameras.scale_intrinsics(K, width / w0, height / h0)
    return cameras.pixel_rays(K, T_ref_cam, height, width)


def plucker_rays(K: torch.Tensor, T_ref_cam: torch.Tensor, height: int, width: int,
                 image_size: tuple | None = None) -> torch.Tensor:
    """Plücker map (..., height, width, 6) of a camera's pixel rays in a reference frame (see :func:`camera_rays`)."""
    o, d = camera_rays(K, T_ref_cam, height, width, image_size)
    return plucker(o, d)


def ego_rays_in_exo_frames(ego_K, ego_T_world_cam, exo_T_world_cam, height, width, image_size=None):
    """Ego pixel rays expressed in each exo camera's frame, per frame.

    Args:
        ego_K: (B, 3, 3) in pixels of ``image_size`` (default ``(height, width)``).
        ego_T_world_cam: (B, T, 4, 4). exo_T_world_cam: (B, V, T, 4, 4) (static cameras: expand over T).
    Returns:
        (B, V, T, height, width, 6) Plücker map.
    """
    B, V, T = exo_T_world_cam.shape[:3]
    T_exo_ego = relative_pose(exo_T_world_cam, ego_T_world_cam[:, None])  # (B, V, T, 4, 4)
    K = ego_K[:, None, None].expand(B, V, T, 3, 3)
    return plucker_rays(K, T_exo_ego, height, width, image_size)


def exo_rays_in_ego_frame(exo_K, exo_T_world_cam, ego_T_world_cam, height, width, image_size=None):
    """Exo pixel rays expressed in the ego camera's frame, per frame.

    Args:
        exo_K: (B, V, 3, 3) in pixels of ``image_size`` (default ``(height, width)``).
        exo_T_world_cam: (B, V, T, 4, 4). ego_T_world_cam: (B, T, 4, 4).
    Returns:
        (B, V, T, height, width, 6) Plücker map.
    """
    B, V, T = exo_T_world_cam.shape[:3]
    T_ego_exo = relative_pose(ego_T_world_cam[:, None], exo_T_world_cam)  # (B, V, T, 4, 4)
    K = exo_K[:, :, None].expand(B, V, T, 3, 3)
    return plucker_rays(K, T_ego_exo, height, width, image_size)


def latent_frame_indices(num_frames: int, temporal_factor: int) -> torch.Tensor:
    """Video frames covered by each latent frame of WAN's causal VAE, (T', temporal_factor) long.

    Latent frame 0 encodes frame 0 alone (repeated ``temporal_factor`` times here); latent frame ``k >= 1``
    encodes frames ``tf (k - 1) + 1 ... tf k``.
    """
    num_latent = (num_frames - 1) // temporal_factor + 1
    idx = torch.zeros(num_latent, temporal_factor, dtype=torch.long)
    for k in range(1, num_latent):
        idx[k] = torch.arange(temporal_factor * (k - 1) + 1, temporal_factor * k + 1)
    return idx.clamp(max=num_frames - 1)


def pack_to_latent_frames(ray_map: torch.Tensor, temporal_factor: int) -> torch.Tensor:
    """Per-frame Plücker maps (..., T, H, W, 6) -> channels-first latent-frame maps (..., 6 * tf, T', H, W).

    The ``tf`` frames a latent frame covers are stacked on the channel axis (frame-major), so per-frame
    head motion inside a latent frame stays visible to the encoders instead of being averaged away.
    """
    T = ray_map.shape[-4]
    idx = latent_frame_indices(T, temporal_factor).to(ray_map.device)  # (T', tf)
    x = ray_map.index_select(-4, idx.flatten())  # (..., T' * tf, H, W, 6)
    x = x.unflatten(-4, tuple(idx.shape))  # (..., T', tf, H, W, 6)
    x = x.movedim(-1, -3)  # (..., T', tf, 6, H, W)
    x = x.flatten(-4, -3)  # (..., T', tf * 6, H, W)
    return x.transpose(-4, -3)  # (..., tf * 6, T', H, W)
