"""Camera conventions (benchmark.cameras): round trips, projection of known points, relative poses."""

import numpy as np
import pytest
import torch

from benchmark import cameras as C


def random_pose(rng):
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = rng.normal(size=3)
    return T


def test_invert_se3_is_the_matrix_inverse():
    rng = np.random.default_rng(0)
    T = np.stack([random_pose(rng) for _ in range(5)])
    np.testing.assert_allclose(C.invert_se3(T), np.linalg.inv(T), atol=1e-12)
    np.testing.assert_allclose(C.invert_se3(C.invert_se3(T)), T, atol=1e-12)


def test_invert_se3_works_on_torch_tensors():
    T = torch.from_numpy(random_pose(np.random.default_rng(1)))
    assert torch.allclose(C.invert_se3(T) @ T, torch.eye(4, dtype=T.dtype), atol=1e-12)


def test_relative_pose_maps_b_points_into_a_frame():
    rng = np.random.default_rng(2)
    T_world_a, T_world_b = random_pose(rng), random_pose(rng)
    p_b = rng.normal(size=(7, 3))
    p_world = C.transform_points(T_world_b, p_b)
    p_a = C.transform_points(C.relative_pose(T_world_a, T_world_b), p_b)
    np.testing.assert_allclose(C.transform_points(C.invert_se3(T_world_a), p_world), p_a, atol=1e-12)


def test_relative_pose_is_invariant_to_a_common_world_transform():
    rng = np.random.default_rng(3)
    T_world_a, T_world_b, G = random_pose(rng), random_pose(rng), random_pose(rng)
    np.testing.assert_allclose(C.relative_pose(G @ T_world_a, G @ T_world_b), C.relative_pose(T_world_a, T_world_b),
                               atol=1e-12)


def test_look_at_camera_looks_along_plus_z_with_y_down():
    T = C.look_at(np.array([0.0, -2.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(C.viewing_direction(T), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(T[:3, 1], [0, 0, -1], atol=1e-12)  # image y points down = world -z
    np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)


def test_known_point_projects_to_the_expected_pixel():
    K = C.intrinsics_from_fov(64, 96, 90.0)  # f = 48, c = (47.5, 31.5)
    T = C.look_at(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))  # looking along world +y
    # A point 2 m ahead, 0.5 m to the right (world +x) and 0.25 m up (world +z).
    uv, z = C.project_points(K, T, np.array([[0.5, 2.0, 0.25]]))
    assert z[0] == pytest.approx(2.0)
    np.testing.assert_allclose(uv[0], [47.5 + 48 * 0.25, 31.5 - 48 * 0.125], atol=1e-9)


def test_unproject_then_project_returns_the_pixels():
    rng = np.random.default_rng(4)
    K = C.intrinsics_from_fov(8, 12, 70.0)
    T = random_pose(rng)
    depth = rng.uniform(0.5, 3.0, size=(8, 12))
    pts = C.unproject_depth(K, T, depth).reshape(-1, 3)
    uv, z = C.project_points(K, T, pts)
    np.testing.assert_allclose(uv.reshape(8, 12, 2), C.pixel_grid(8, 12), atol=1e-9)
    np.testing.assert_allclose(z.reshape(8, 12), depth, atol=1e-9)


def test_pixel_rays_pass_through_their_pixels():
    rng = np.random.default_rng(5)
    K = C.intrinsics_from_fov(6, 10, 60.0)
    T = random_pose(rng)
    o, d = C.pixel_rays(K, T, 6, 10)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    uv, z = C.project_points(K, T, (o + 1.7 * d).reshape(-1, 3))
    assert np.all(z > 0)
    np.testing.assert_allclose(uv.reshape(6, 10, 2), C.pixel_grid(6, 10), atol=1e-9)


def test_scale_intrinsics_keeps_pixel_centres_aligned():
    K = C.intrinsics_from_fov(64, 96, 80.0)
    K2 = C.scale_intrinsics(K, 0.5, 0.5)
    np.testing.assert_allclose(K2, C.intrinsics_from_fov(32, 48, 80.0), atol=1e-12)
