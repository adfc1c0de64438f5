"""Property tests of exo2egosyn.geometry (relative poses and Plücker rays)."""

import numpy as np
import pytest
import torch

from benchmark import cameras
from exo2egosyn import geometry
from exo2egosyn.testing import synthetic_rig


def _random_pose(rng):
    eye = rng.uniform(-3, 3, 3)
    target = eye + rng.normal(size=3) + np.array([2.0, 0, 0])
    return torch.from_numpy(cameras.look_at(eye, target))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_ray_through_pixel_projects_back_to_that_pixel_at_a_rescaled_grid(rng):
    K = torch.from_numpy(cameras.intrinsics_from_fov(64, 96, 70.0))
    T = _random_pose(rng)
    o, d = geometry.camera_rays(K, T, 8, 12, image_size=(64, 96))  # latent grid of an 8x VAE
    s = torch.from_numpy(rng.uniform(0.5, 5.0, (8, 12, 1)))
    K_latent = cameras.scale_intrinsics(K, 12 / 96, 8 / 64)
    uv, z = cameras.project_points(K_latent, T, (o + s * d).reshape(-1, 3))
    grid = cameras.pixel_grid(8, 12, like=K).reshape(-1, 2)
    assert torch.all(z > 0)
    torch.testing.assert_close(uv, grid, atol=1e-9, rtol=0)


def test_plucker_closest_point_d_cross_m_lies_on_the_ray(rng):
    K = torch.from_numpy(cameras.intrinsics_from_fov(16, 16, 60.0))
    T = _random_pose(rng)
    pl = geometry.plucker_rays(K, T, 16, 16)
    d, m = pl[..., :3], pl[..., 3:]
    p0 = torch.linalg.cross(d, m, dim=-1)  # closest point of the line to the world origin
    o = T[:3, 3].expand_as(p0)
    # p0 - o is parallel to d
    torch.testing.assert_close(torch.linalg.cross(p0 - o, d, dim=-1), torch.zeros_like(p0), atol=1e-9, rtol=0)


def test_identity_pose_gives_the_camera_own_rays(rng):
    K = torch.from_numpy(cameras.intrinsics_from_fov(10, 14, 80.0))
    T_world_cam = _random_pose(rng)
    T_cam_cam = geometry.relative_pose(T_world_cam, T_world_cam)
    pl = geometry.plucker_rays(K, T_cam_cam, 10, 14)
    uv1 = torch.cat([cameras.pixel_grid(10, 14, like=K), torch.ones(10, 14, 1, dtype=K.dtype)], -1)
    d = uv1 @ torch.linalg.inv(K).T
    d = d / d.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(pl[..., :3], d, atol=1e-12, rtol=0)
    torch.testing.assert_close(pl[..., 3:], torch.zeros_like(d), atol=1e-12, rtol=0)


def test_moment_is_invariant_to_moving_the_origin_along_the_ray(rng):
    o = torch.from_numpy(rng.normal(size=(50, 3)))
    d = torch.from_numpy(rng.normal(size=(50, 3)))
    d = d / d.norm(dim=-1, keepdim=True)
    s = torch.from_numpy(rng.normal(size=(50, 1)) * 10)
    torch.testing.assert_close(geometry.plucker(o + s * d, d), geometry.plucker(o, d), atol=1e-9, rtol=0)


def test_relative_poses_and_ray_maps_are_invariant_to_a_common_world_transform(rng):
    rig = {k: torch.from_numpy(v) for k, v in synthetic_rig(num_views=3, num_frames=5, seed=1).items()}
    G = _random_pose(rng)  # any rigid motion of the whole world
    exo_T = rig["exo_T_world_cam"][None, :, None].expand(1, 3, 5, 4, 4)
    ego_T = rig["ego_T_world_cam"][None]
    torch.testing.assert_close(geometry.relative_pose(G @ ego_T[:, None], G @ exo_T),
                               geometry.relative_pose(ego_T[:, None], exo_T), atol=1e-9, rtol=0)
    a = geometry.ego_rays_in_exo_frames(rig["ego_K"][None], ego_T, exo_T, 8, 8, image_size=(64, 64))
    b = geometry.ego_rays_in_exo_frames(rig["ego_K"][None], G @ ego_T, G @ exo_T, 8, 8, image_size=(64, 64))
    torch.testing.assert_close(a, b, atol=1e-9, rtol=0)
    c = geometry.exo_rays_in_ego_frame(rig["exo_K"][None], exo_T, ego_T, 8, 12, image_size=(64, 96))
    e = geometry.exo_rays_in_ego_frame(rig["exo_K"][None], G @ exo_T, G @ ego_T, 8, 12, image_size=(64, 96))
    torch.testing.assert_close(c, e, atol=1e-9, rtol=0)
    assert a.shape == (1, 3, 5, 8, 8, 6) and c.shape == (1, 3, 5, 8, 12, 6)


def test_latent_frame_packing_follows_the_causal_vae():
    T, tf = 9, 4
    per_frame = torch.arange(T, dtype=torch.float64).view(T, 1, 1, 1).expand(T, 2, 3, 6)  # value = frame index
    packed = geometry.pack_to_latent_frames(per_frame, tf)  # (6 tf, T', 2, 3)
    assert packed.shape == (24, 3, 2, 3)
    frames_seen = packed[::6, :, 0, 0].T  # (T', tf): first channel of each packed frame
    assert frames_seen.tolist() == [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8]]
