"""Property-based tests (hypothesis) of the camera math: benchmark.cameras and exo2egosyn.geometry.

Each property must hold for every rigid transform, intrinsics matrix, depth and grid size drawn, not for a
few hand-picked ones. Tolerances are absolute and sized for float64 with translations up to 10 m and depths up
to 50 m: the operations are exact up to rounding (about 1e-15 relative), so 1e-9 leaves six orders of margin
while any convention error (a transposed rotation, a sign, a half-pixel shift) is off by far more.
"""

import math

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmark import cameras as C
from exo2egosyn import geometry as G

# derandomize: the same examples on every run and machine (a test suite must not fail by chance); no example
# database, so running the tests writes nothing into the checkout.
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)
ATOL = 1e-9


def finite(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def vec(n, lo=-10.0, hi=10.0):
    return hnp.arrays(np.float64, (n,), elements=finite(lo, hi))


def rotation_from_quaternion(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a non-zero quaternion (w, x, y, z), normalized here."""
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@st.composite
def rigid(draw, max_translation=10.0):
    """A random rigid transform (4, 4) float64: uniformly any rotation (through a quaternion), any translation."""
    q = draw(vec(4, -1.0, 1.0).filter(lambda q: np.linalg.norm(q) > 0.1))
    T = np.eye(4)
    T[:3, :3] = rotation_from_quaternion(q)
    T[:3, 3] = draw(vec(3, -max_translation, max_translation))
    return T


@st.composite
def rigid_stack(draw, n):
    return np.stack([draw(rigid()) for _ in range(n)])


@st.composite
def intrinsics(draw, skew=True):
    """A pinhole K (3, 3): focal lengths 20..2000 px (not necessarily square), principal point anywhere near the
    image, optional skew."""
    fx, fy = draw(finite(20.0, 2000.0)), draw(finite(20.0, 2000.0))
    cx, cy = draw(finite(-50.0, 300.0)), draw(finite(-50.0, 300.0))
    s = draw(finite(-2.0, 2.0)) if skew else 0.0
    return np.array([[fx, s, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


grid_side = st.integers(1, 6)


# --- rigid transforms ----------------------------------------------------------------------------------------------

@FAST
@given(rigid())
def test_inverse_times_transform_is_the_identity_both_ways(T):
    np.testing.assert_allclose(C.invert_se3(T) @ T, np.eye(4), atol=ATOL)
    np.testing.assert_allclose(T @ C.invert_se3(T), np.eye(4), atol=ATOL)


@FAST
@given(rigid())
def test_invert_se3_equals_the_general_inverse_and_is_an_involution(T):
    np.testing.assert_allclose(C.invert_se3(T), np.linalg.inv(T), atol=ATOL)
    np.testing.assert_allclose(C.invert_se3(C.invert_se3(T)), T, atol=ATOL)


@FAST
@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_invert_se3_is_batched_over_leading_dimensions(a, b, data):
    T = data.draw(rigid_stack(a * b)).reshape(a, b, 4, 4)
    inv = C.invert_se3(T)
    assert inv.shape == (a, b, 4, 4)
    for i in range(a):
        for j in range(b):
            np.testing.assert_array_equal(inv[i, j], C.invert_se3(T[i, j]))


@FAST
@given(rigid())
def test_invert_se3_does_not_modify_its_argument(T):
    before = T.copy()
    C.invert_se3(T)
    np.testing.assert_array_equal(T, before)
    t = torch.from_numpy(T.copy())
    C.invert_se3(t)
    np.testing.assert_array_equal(t.numpy(), before)


@FAST
@given(rigid(), rigid(), hnp.arrays(np.float64, (5, 3), elements=finite(-10, 10)))
def test_transform_points_composes_like_the_matrix_product(A, B, p):
    np.testing.assert_allclose(C.transform_points(A @ B, p), C.transform_points(A, C.transform_points(B, p)), atol=ATOL)
    homog = np.concatenate([p, np.ones((5, 1))], axis=1) @ A.T
    np.testing.assert_allclose(C.transform_points(A, p), homog[:, :3], atol=ATOL)


# --- relative poses (T_a_b = inv(T_world_a) @ T_world_b) -----------------------------------------------------------

@FAST
@given(rigid(), rigid(), rigid())
def test_relative_poses_compose_and_invert(T_world_a, T_world_b, T_world_c):
    T_ab = C.relative_pose(T_world_a, T_world_b)
    np.testing.assert_allclose(C.relative_pose(T_world_a, T_world_a), np.eye(4), atol=ATOL)
    np.testing.assert_allclose(C.relative_pose(T_world_b, T_world_a), C.invert_se3(T_ab), atol=ATOL)
    np.testing.assert_allclose(T_ab @ C.relative_pose(T_world_b, T_world_c), C.relative_pose(T_world_a, T_world_c),
                               atol=ATOL)
    np.testing.assert_allclose(T_world_a @ T_ab, T_world_b, atol=ATOL)  # b's pose recovered from a's and T_a_b


@FAST
@given(rigid(), rigid(), hnp.arrays(np.float64, (4, 3), elements=finite(-10, 10)))
def test_T_ego_exo_maps_exo_frame_points_into_the_ego_frame(T_world_ego, T_world_exo, p_exo):
    T_ego_exo = C.relative_pose(T_world_ego, T_world_exo)
    via_world = C.transform_points(C.invert_se3(T_world_ego), C.transform_points(T_world_exo, p_exo))
    np.testing.assert_allclose(C.transform_points(T_ego_exo, p_exo), via_world, atol=ATOL)


@FAST
@given(rigid(), rigid(), rigid())
def test_relative_pose_ignores_a_common_world_transform(T_world_a, T_world_b, W):
    np.testing.assert_allclose(C.relative_pose(W @ T_world_a, W @ T_world_b), C.relative_pose(T_world_a, T_world_b),
                               atol=ATOL)


@FAST
@given(rigid(), rigid())
def test_geometry_relative_pose_is_the_camera_modules_on_torch(T_world_a, T_world_b):
    a, b = torch.from_numpy(T_world_a), torch.from_numpy(T_world_b)
    np.testing.assert_allclose(G.relative_pose(a, b).numpy(), C.relative_pose(T_world_a, T_world_b), atol=ATOL)


# --- projection -----------------------------------------------------------------------------------------------------

@FAST
@given(intrinsics(), rigid(), grid_side, grid_side, st.data())
def test_unprojected_pixels_project_back_to_themselves_at_their_depth(K, T, h, w, data):
    depth = data.draw(hnp.arrays(np.float64, (h, w), elements=finite(0.05, 50.0)))
    pts = C.unproject_depth(K, T, depth)
    assert pts.shape == (h, w, 3)
    uv, z = C.project_points(K, T, pts.reshape(-1, 3))
    np.testing.assert_allclose(uv.reshape(h, w, 2), C.pixel_grid(h, w), atol=1e-6)
    np.testing.assert_allclose(z.reshape(h, w), depth, atol=1e-9, rtol=1e-12)


@FAST
@given(intrinsics(), rigid(), vec(2, -5, 5), finite(0.05, 50.0))
def test_a_camera_frame_point_projects_through_K(K, T, xy, z):
    p_cam = np.array([xy[0], xy[1], z])
    uv, depth = C.project_points(K, T, C.transform_points(T, p_cam[None]))
    expected = (K @ (p_cam / z))[:2]
    np.testing.assert_allclose(uv[0], expected, atol=1e-6, rtol=1e-12)
    np.testing.assert_allclose(depth[0], z, atol=ATOL)


@FAST
@given(intrinsics(), rigid(), rigid())
def test_projection_ignores_a_common_world_transform(K, T, W):
    pts = C.unproject_depth(K, T, np.full((2, 3), 2.5))
    uv1, z1 = C.project_points(K, T, pts.reshape(-1, 3))
    uv2, z2 = C.project_points(K, W @ T, C.transform_points(W, pts.reshape(-1, 3)))
    np.testing.assert_allclose(uv2, uv1, atol=1e-6)
    np.testing.assert_allclose(z2, z1, atol=ATOL)


@FAST
@given(intrinsics(), rigid(), grid_side, grid_side, finite(0.05, 50.0))
def test_pixel_rays_are_unit_and_pass_through_their_pixels_in_front_of_the_camera(K, T, h, w, s):
    o, d = C.pixel_rays(K, T, h, w)
    assert o.shape == d.shape == (h, w, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(o, np.broadcast_to(C.camera_centre(T), o.shape), atol=0)
    uv, z = C.project_points(K, T, (o + s * d).reshape(-1, 3))
    assert np.all(z > 0)
    np.testing.assert_allclose(uv.reshape(h, w, 2), C.pixel_grid(h, w), atol=1e-6)


@FAST
@given(intrinsics(), rigid(), grid_side, grid_side, st.data())
def test_torch_and_numpy_give_the_same_geometry(K, T, h, w, data):
    depth = data.draw(hnp.arrays(np.float64, (h, w), elements=finite(0.05, 50.0)))
    Kt, Tt, Dt = torch.from_numpy(K), torch.from_numpy(T), torch.from_numpy(depth)
    np.testing.assert_allclose(C.invert_se3(Tt).numpy(), C.invert_se3(T), atol=ATOL)
    np.testing.assert_allclose(C.unproject_depth(Kt, Tt, Dt).numpy(), C.unproject_depth(K, T, depth), atol=ATOL)
    pts = C.unproject_depth(K, T, depth).reshape(-1, 3)
    uv_t, z_t = C.project_points(Kt, Tt, torch.from_numpy(pts))
    uv, z = C.project_points(K, T, pts)
    np.testing.assert_allclose(uv_t.numpy(), uv, atol=1e-6)
    np.testing.assert_allclose(z_t.numpy(), z, atol=ATOL)
    for a, b in zip(C.pixel_rays(Kt, Tt, h, w), C.pixel_rays(K, T, h, w)):
        np.testing.assert_allclose(a.numpy(), b, atol=ATOL)
    np.testing.assert_allclose(C.scale_intrinsics(Kt, 0.5, 2.0).numpy(), C.scale_intrinsics(K, 0.5, 2.0), atol=ATOL)


# --- intrinsics -----------------------------------------------------------------------------------------------------

@FAST
@given(intrinsics(), finite(0.05, 8.0), finite(0.05, 8.0), finite(0.05, 8.0), finite(0.05, 8.0))
def test_scale_intrinsics_composes_and_scaling_by_one_is_the_identity(K, a, b, c, d):
    np.testing.assert_allclose(C.scale_intrinsics(K, 1.0, 1.0), K, atol=ATOL)
    twice = C.scale_intrinsics(C.scale_intrinsics(K, a, b), c, d)
    np.testing.assert_allclose(twice, C.scale_intrinsics(K, a * c, b * d), atol=1e-7, rtol=1e-12)


@FAST
@given(intrinsics(), rigid(), finite(0.05, 8.0), finite(0.05, 8.0), vec(3, -5, 5))
def test_scaled_intrinsics_move_projections_with_pixel_centres(K, T, sx, sy, p_cam):
    assume(p_cam[2] > 0.1)
    p = C.transform_points(T, p_cam[None])
    uv, _ = C.project_points(K, T, p)
    uv2, _ = C.project_points(C.scale_intrinsics(K, sx, sy), T, p)
    np.testing.assert_allclose(uv2[0], (uv[0] + 0.5) * np.array([sx, sy]) - 0.5, atol=1e-6, rtol=1e-12)


@FAST
@given(st.integers(1, 2000), st.integers(1, 2000), finite(1.0, 179.0))
def test_intrinsics_from_fov_span_the_field_of_view_between_the_outer_pixel_edges(h, w, fov):
    K = C.intrinsics_from_fov(h, w, fov)
    assert K[0, 0] == K[1, 1] > 0 and K[0, 1] == 0
    np.testing.assert_array_equal(K[:, 2], [(w - 1) / 2, (h - 1) / 2, 1.0])
    K_inv = np.linalg.inv(K)
    left, right = K_inv @ [-0.5, K[1, 2], 1.0], K_inv @ [w - 0.5, K[1, 2], 1.0]  # outer edges of the outer pixels
    angle = math.degrees(math.acos(left @ right / (np.linalg.norm(left) * np.linalg.norm(right))))
    assert abs(angle - fov) < 1e-6


# --- look_at --------------------------------------------------------------------------------------------------------

@FAST
@given(vec(3), vec(3))
def test_look_at_gives_a_rigid_pose_at_the_eye_looking_at_the_target_with_image_y_down(eye, target):
    up = np.array([0.0, 0.0, 1.0])
    forward = target - eye
    assume(np.linalg.norm(forward) > 0.1 and np.linalg.norm(np.cross(forward, up)) > 0.1 * np.linalg.norm(forward))
    T = C.look_at(eye, target)
    R = T[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert abs(np.linalg.det(R) - 1.0) < 1e-12
    np.testing.assert_array_equal(T[3], [0, 0, 0, 1])
    np.testing.assert_allclose(C.camera_centre(T), eye, atol=0)
    np.testing.assert_allclose(C.viewing_direction(T), forward / np.linalg.norm(forward), atol=1e-12)
    assert T[:3, 1] @ up < 0  # image y (down) points away from the world's up
    assert abs(T[:3, 0] @ up) < 1e-12  # no roll: the image x axis is horizontal
    K = C.intrinsics_from_fov(48, 64, 70.0)
    uv, z = C.project_points(K, T, target[None])
    np.testing.assert_allclose(uv[0], K[:2, 2], atol=1e-6)  # the target lands on the principal point
    np.testing.assert_allclose(z[0], np.linalg.norm(forward), atol=ATOL)


# --- Plücker rays (exo2egosyn.geometry) ----------------------------------------------------------------------------

def _rotate_lines(W: np.ndarray, pl: torch.Tensor) -> torch.Tensor:
    """Plücker coordinates (..., 6) of lines moved by the rigid transform W: d' = R d, m' = R m + t x R d."""
    R, t = torch.from_numpy(W[:3, :3]), torch.from_numpy(W[:3, 3])
    d = pl[..., :3] @ R.T
    m = pl[..., 3:] @ R.T + torch.linalg.cross(t.expand_as(d), d, dim=-1)
    return torch.cat([d, m], dim=-1)


@FAST
@given(vec(3), vec(3, -1, 1).filter(lambda d: np.linalg.norm(d) > 0.1), finite(-20.0, 20.0))
def test_the_moment_does_not_depend_on_the_point_chosen_on_the_line(o, d, s):
    o, d = torch.from_numpy(o), torch.from_numpy(d / np.linalg.norm(d))
    np.testing.assert_allclose(G.plucker(o + s * d, d).numpy(), G.plucker(o, d).numpy(), atol=ATOL)


@FAST
@given(intrinsics(), rigid(), grid_side, grid_side)
def test_plucker_maps_satisfy_the_plucker_constraint(K, T, h, w):
    pl = G.plucker_rays(torch.from_numpy(K), torch.from_numpy(T), h, w)
    assert pl.shape == (h, w, 6)
    d, m = pl[..., :3], pl[..., 3:]
    np.testing.assert_allclose(d.norm(dim=-1).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose((d * m).sum(-1).numpy(), 0.0, atol=ATOL)  # d . m = 0 for every line
    # the camera centre lies on every ray: (c x d) = m
    c = torch.from_numpy(C.camera_centre(T)).expand_as(d)
    np.testing.assert_allclose(torch.linalg.cross(c, d, dim=-1).numpy(), m.numpy(), atol=ATOL)


@FAST
@given(intrinsics(), rigid(), rigid(), grid_side, grid_side)
def test_world_rays_move_with_the_world(K, T, W, h, w):
    Kt = torch.from_numpy(K)
    moved = G.plucker_rays(Kt, torch.from_numpy(W @ T), h, w)
    np.testing.assert_allclose(moved.numpy(), _rotate_lines(W, G.plucker_rays(Kt, torch.from_numpy(T), h, w)).numpy(),
                               atol=ATOL)


@FAST
@given(st.integers(1, 2), st.integers(1, 3), intrinsics(), intrinsics(), rigid(), st.data())
def test_ray_maps_between_cameras_ignore_a_common_world_transform(V, T, ego_K, exo_K, W, data):
    ego = torch.from_numpy(data.draw(rigid_stack(T)))[None]  # (1, T, 4, 4)
    exo = torch.from_numpy(data.draw(rigid_stack(V)))[None, :, None].expand(1, V, T, 4, 4)
    Wt = torch.from_numpy(W)
    eK, xK = torch.from_numpy(ego_K)[None], torch.from_numpy(exo_K)[None, None].expand(1, V, 3, 3)
    a = G.ego_rays_in_exo_frames(eK, ego, exo, 3, 4)
    b = G.ego_rays_in_exo_frames(eK, Wt @ ego, Wt @ exo, 3, 4)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=ATOL)
    c = G.exo_rays_in_ego_frame(xK, exo, ego, 2, 5)
    e = G.exo_rays_in_ego_frame(xK, Wt @ exo, Wt @ ego, 2, 5)
    np.testing.assert_allclose(c.numpy(), e.numpy(), atol=ATOL)
    assert a.shape == (1, V, T, 3, 4, 6) and c.shape == (1, V, T, 2, 5, 6)


@FAST
@given(intrinsics(), rigid(), rigid())
def test_ego_rays_in_an_exo_frame_are_the_ego_world_rays_seen_from_that_exo(K, T_world_ego, T_world_exo):
    Kt = torch.from_numpy(K)
    got = G.ego_rays_in_exo_frames(Kt[None], torch.from_numpy(T_world_ego)[None, None],
                                   torch.from_numpy(T_world_exo)[None, None, None], 3, 3)[0, 0, 0]
    world = G.plucker_rays(Kt, torch.from_numpy(T_world_ego), 3, 3)
    np.testing.assert_allclose(got.numpy(), _rotate_lines(C.invert_se3(T_world_exo), world).numpy(), atol=ATOL)


@FAST
@given(intrinsics(), rigid(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 8), st.integers(1, 8),
       finite(0.05, 50.0))
def test_rays_on_a_downsampled_grid_pass_through_the_matching_full_resolution_points(K, T, h, w, fh, fw, s):
    H0, W0 = h * fh, w * fw  # a latent grid of an (fh, fw)-times downsampling
    o, d = G.camera_rays(torch.from_numpy(K), torch.from_numpy(T), h, w, image_size=(H0, W0))
    uv, z = C.project_points(K, T, (o + s * d).reshape(-1, 3).numpy())
    assert np.all(z > 0)
    expected = (C.pixel_grid(h, w) + 0.5) * np.array([fw, fh]) - 0.5  # the latent pixel's centre in full pixels
    np.testing.assert_allclose(uv.reshape(h, w, 2), expected, atol=1e-6)


# --- latent frame packing ------------------------------------------------------------------------------------------

@FAST
@given(st.integers(1, 40), st.integers(1, 8))
def test_latent_frame_indices_cover_the_frames_the_causal_vae_encodes_in_order(num_frames, tf):
    idx = G.latent_frame_indices(num_frames, tf)
    num_latent = (num_frames - 1) // tf + 1  # WAN's causal VAE: 1 + tf k frames make 1 + k latent frames
    assert idx.shape == (num_latent, tf)
    assert idx[0].tolist() == [0] * tf  # latent frame 0 is frame 0 alone
    flat = idx.flatten().tolist()
    assert flat == sorted(flat)
    # Every frame up to the last one the VAE encodes appears, once (after frame 0); a clip of 1 + tf k frames
    # loses none, a longer one only the trailing (num_frames - 1) % tf frames, as the VAE itself does.
    assert flat[tf - 1:] == list(range(tf * (num_latent - 1) + 1))
    if (num_frames - 1) % tf == 0:
        assert max(flat) == num_frames - 1


@FAST
@given(st.integers(1, 12), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_packing_puts_each_covered_frame_on_its_own_channel_block(num_frames, tf, h, w):
    ray_map = torch.arange(num_frames * h * w * 6, dtype=torch.float64).reshape(num_frames, h, w, 6)  # all distinct
    packed = G.pack_to_latent_frames(ray_map, tf)
    idx = G.latent_frame_indices(num_frames, tf)
    assert packed.shape == (6 * tf, idx.shape[0], h, w)
    for k in range(idx.shape[0]):
        for j in range(tf):
            expected = ray_map[idx[k, j]].permute(2, 0, 1)  # frame idx[k, j] as (6, h, w)
            torch.testing.assert_close(packed[6 * j:6 * (j + 1), k], expected, atol=0, rtol=0)
