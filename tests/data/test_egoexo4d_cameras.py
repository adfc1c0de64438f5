"""Ego-Exo4D cameras: the readers give camera-to-world poses in our convention, the fisheye models invert, and
undistortion / resizing / rotation keep every 3D point on the pixel that shows it.

Tolerances: model round trips 1e-9 (unit directions) / 1e-6 px; undistortion maps against the Newton inverse
1e-6 px; the image test compares interior pixels of a smooth pattern (bilinear interpolation error only)."""

import contextlib
import json
import math

import numpy as np
import pytest

from benchmark.cameras import look_at, project_points
from benchmark.data.egoexo4d import cameras as cam
from benchmark.data.egoexo4d import projection as proj
from benchmark.data.egoexo4d import protocol as P
from benchmark.errors import UsageError

# realistic magnitudes: a GoPro at 3840x2160 (gopro_calibs.csv) and the Aria RGB camera at 2880x2880
GOPRO_K = np.array([[1790.0, 0.0, 1925.3], [0.0, 1788.2, 1071.9], [0.0, 0.0, 1.0]])
GOPRO_DIST = np.array([0.0396, 0.0081, -0.0047, 0.0005])
ARIA_PARAMS = np.array([1216.3, 1457.9, 1431.2, 0.40, -0.45, -0.10, 0.60, -0.40, 0.10,
                        4.5e-4, -2.7e-4, -8.6e-4, 1.1e-4, 5.3e-4, -1.4e-4])
RNG = np.random.default_rng(0)


def _directions(n, max_theta, rng=RNG):
    theta = rng.uniform(0.0, max_theta, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)


def _hamilton(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


def _rotate_by_quaternion(q, v):
    """v' = q v q* with Hamilton products: the ground truth the matrix formula must reproduce."""
    conj = np.array([-q[0], -q[1], -q[2], q[3]])
    return _hamilton(_hamilton(q, np.array([*v, 0.0])), conj)[:3]


def _random_quaternion(rng=RNG):
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


# ---------------------------------------------------------------------------------------------------------------
# quaternions


def test_quaternion_known_rotations_hamilton_xyzw():
    s = math.sqrt(0.5)
    np.testing.assert_allclose(cam.quaternion_to_rotation([0, 0, 0, 1]), np.eye(3))
    # +90 degrees about z takes x to y (Hamilton, right-handed); a JPL or wxyz reading would not
    np.testing.assert_allclose(cam.quaternion_to_rotation([0, 0, s, s]), [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
                               atol=1e-15)
    np.testing.assert_allclose(cam.quaternion_to_rotation([1, 0, 0, 0]), np.diag([1.0, -1, -1]), atol=1e-15)
    np.testing.assert_allclose(cam.quaternion_to_rotation([0, s, 0, s]) @ [0, 0, 1], [1, 0, 0], atol=1e-15)


def test_quaternion_matrix_matches_quaternion_rotation_and_product():
    for _ in range(20):
        q1, q2 = _random_quaternion(), _random_quaternion()
        R1 = cam.quaternion_to_rotation(q1)
        for v in np.eye(3):
            np.testing.assert_allclose(R1 @ v, _rotate_by_quaternion(q1, v), atol=1e-14)
        np.testing.assert_allclose(cam.quaternion_to_rotation(_hamilton(q1, q2)), R1 @ cam.quaternion_to_rotation(q2),
                                   atol=1e-14)
        np.testing.assert_allclose(cam.quaternion_to_rotation(-q1), R1, atol=1e-15)  # q and -q: same rotation


def test_non_unit_quaternion_rejected_and_near_unit_normalized():
    with pytest.raises(ValueError, match="unit quaternion"):
        cam.quaternion_to_rotation([1.0, 1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="unit quaternion"):
        cam.quaternion_to_rotation([0.0, 0.0, 0.0, 1.0 + 2 * cam.QUATERNION_UNIT_TOLERANCE])
    R = cam.quaternion_to_rotation([0.0, 0.0, 0.0, 1.0 + 0.5 * cam.QUATERNION_UNIT_TOLERANCE])
    np.testing.assert_allclose(R, np.eye(3), atol=1e-15)


# ---------------------------------------------------------------------------------------------------------------
# camera models


def test_kb_unproject_inverts_kb_project_up_to_100_degrees_off_axis():
    d = _directions(2000, math.radians(100))
    for depth in (0.3, 7.0):
        uv = proj.kb_project(d * depth, GOPRO_K, GOPRO_DIST)
        np.testing.assert_allclose(proj.kb_unproject(uv, GOPRO_K, GOPRO_DIST), d, atol=1e-9)


def test_kb_project_matches_the_opencv_fisheye_formula():
    x, y, z = 0.4, -0.3, 1.2
    a, b = x / z, y / z
    r = math.hypot(a, b)
    th = math.atan(r)
    k1, k2, k3, k4 = GOPRO_DIST
    thd = th * (1 + k1 * th ** 2 + k2 * th ** 4 + k3 * th ** 6 + k4 * th ** 8)
    expected = [GOPRO_K[0, 0] * a * thd / r + GOPRO_K[0, 2], GOPRO_K[1, 1] * b * thd / r + GOPRO_K[1, 2]]
    np.testing.assert_allclose(proj.kb_project([x, y, z], GOPRO_K, GOPRO_DIST), expected, rtol=0, atol=1e-9)
    # on the optical axis the model is the pinhole
    np.testing.assert_allclose(proj.kb_project([0, 0, 2.0], GOPRO_K, GOPRO_DIST), GOPRO_K[:2, 2])


def test_fisheye624_unproject_inverts_project():
    d = _directions(2000, 1.2)
    uv = proj.fisheye624_project(d * 2.5, ARIA_PARAMS)
    np.testing.assert_allclose(proj.fisheye624_unproject(uv, ARIA_PARAMS), d, atol=1e-9)


def test_fisheye624_terms_follow_parameter_order():
    """Each block of the 15 parameters acts where the projectaria-tools formula says: radial along the ray,
    p0 / s0..s1 on u, p1 / s2..s3 on v."""
    base = np.array([500.0, 700.0, 690.0] + [0.0] * 12)
    p = np.array([0.3, 0.1, 1.0])
    th = math.atan(math.hypot(0.3, 0.1))
    xr, yr = 0.3 * th / math.hypot(0.3, 0.1), 0.1 * th / math.hypot(0.3, 0.1)
    np.testing.assert_allclose(proj.fisheye624_project(p, base), [700 + 500 * xr, 690 + 500 * yr], atol=1e-9)
    rd2 = xr * xr + yr * yr
    cases = {9: [(2 * xr * xr + rd2), 2 * xr * yr], 10: [2 * xr * yr, (2 * yr * yr + rd2)],
             11: [rd2, 0], 12: [rd2 * rd2, 0], 13: [0, rd2], 14: [0, rd2 * rd2]}
    for index, (du, dv) in cases.items():
        params = base.copy()
        params[index] = 1e-3
        expected = [700 + 500 * (xr + 1e-3 * du), 690 + 500 * (yr + 1e-3 * dv)]
        np.testing.assert_allclose(proj.fisheye624_project(p, params), expected, atol=1e-9, err_msg=str(index))
    radial = base.copy()
    radial[3] = 0.2  # k0 scales theta by (1 + k0 theta^2)
    np.testing.assert_allclose(proj.fisheye624_project(p, radial),
                               [700 + 500 * xr * (1 + 0.2 * th * th), 690 + 500 * yr * (1 + 0.2 * th * th)], atol=1e-9)


@pytest.mark.parametrize("model, params, out_K, out_size, max_theta", [
    ("KANNALABRANDTK3", proj.kb_params(GOPRO_K, GOPRO_DIST),
     np.array([[300.0, 0, 479.5], [0, 300.0, 269.5], [0, 0, 1]]), (960, 540), 1.0),
    ("FisheyeRadTanThinPrism", ARIA_PARAMS, proj.pinhole_K(150.0, (512, 512)), (512, 512), 1.0),
])
def test_undistortion_is_the_inverse_of_the_model(model, params, out_K, out_size, max_theta):
    points = _directions(500, max_theta) * RNG.uniform(0.5, 8.0, (500, 1))
    distorted = proj.distorted_project(model, params, points)
    pinhole = points[:, :2] / points[:, 2:] @ out_K[:2, :2].T + out_K[:2, 2]
    # distorted pixel -> undistorted pixel (Newton inverse) lands on the pinhole projection
    np.testing.assert_allclose(proj.undistort_points(model, params, distorted, out_K), pinhole, atol=1e-6)
    # the map (forward model at output pixel centres) and the Newton inverse agree on every sampled pixel
    maps = proj.undistort_maps(model, params, out_K, out_size)
    rows = RNG.integers(0, out_size[1], 300)
    cols = RNG.integers(0, out_size[0], 300)
    source = maps[rows, cols]
    inside = np.all(np.isfinite(source), axis=1)
    assert inside.mean() > 0.9
    back = proj.undistort_points(model, params, source[inside], out_K)
    np.testing.assert_allclose(back, np.stack([cols, rows], 1)[inside], atol=1e-6)


def _pattern(uv, period=16.0):
    """A smooth grid-like image (values 0..255) defined on pinhole pixel coordinates."""
    u, v = uv[..., 0], uv[..., 1]
    lines = np.cos(np.pi * u / period) ** 4 + np.cos(np.pi * v / period) ** 4
    return 255.0 * np.clip(lines, 0, 1)


@pytest.mark.parametrize("model", ["kb", "fisheye624"])
def test_grid_distorted_by_the_model_is_straightened_by_undistortion(model):
    if model == "kb":
        src_size = (480, 270)
        params = proj.kb_rescale(proj.kb_params(GOPRO_K, GOPRO_DIST), (3840, 2160), src_size)
        out_K = np.array([[150.0, 0, 239.5], [0, 150.0, 134.5], [0, 0, 1]])
        out_size = (480, 270)
        wrong = proj.kb_rescale(proj.kb_params(GOPRO_K, np.zeros(4)), (3840, 2160), src_size)
        model_name = proj.KB3
    else:
        src_size = (352, 352)
        params = proj.fisheye624_rescale(ARIA_PARAMS, 352 / 2880)
        out_K = proj.pinhole_K(150.0 * 160 / 512, (160, 160))
        out_size = (160, 160)
        wrong = params.copy()
        wrong[3:] = 0
        model_name = proj.FISHEYE624
    # render the distorted image: each distorted pixel shows the pattern at its pinhole position
    v, u = np.meshgrid(np.arange(src_size[1], dtype=float), np.arange(src_size[0], dtype=float), indexing="ij")
    where = proj.undistort_points(model_name, params, np.stack([u, v], -1), out_K)
    distorted = np.nan_to_num(_pattern(where))[..., None]
    v, u = np.meshgrid(np.arange(out_size[1], dtype=float), np.arange(out_size[0], dtype=float), indexing="ij")
    truth = _pattern(np.stack([u, v], -1))

    maps = proj.undistort_maps(model_name, params, out_K, out_size)
    out = proj.undistort(distorted, maps, fill=np.nan)[..., 0]
    interior = np.isfinite(out)
    interior[:3], interior[-3:], interior[:, :3], interior[:, -3:] = False, False, False, False
    assert interior.mean() > 0.5
    err = np.abs(out - truth)[interior]
    # what is left is bilinear interpolation error (largest near the border, where the fisheye image is sampled
    # more coarsely than the pinhole output); measured: mean 2.5 / 0.6, 99th percentile 16 / 5.3 (kb / fisheye624)
    assert err.mean() < 3.5 and np.percentile(err, 99) < 25, (err.mean(), np.percentile(err, 99))
    # negative control: ignoring the distortion leaves the grid bent
    bad = proj.undistort(distorted, proj.undistort_maps(model_name, wrong, out_K, out_size), fill=np.nan)[..., 0]
    ok = interior & np.isfinite(bad)
    assert np.abs(bad - truth)[ok].mean() > 3 * err.mean()


def test_undistort_uint8_bilinear_and_fill():
    img = np.arange(12, dtype=np.uint8).reshape(1, 3, 4, 1) * 10
    maps = np.array([[[0.5, 0.0], [1.0, 1.5], [3.5, 2.5], [4.0, 0.0], [np.nan, 1.0]]])  # (1, 5, 2)
    out = proj.undistort(img, maps, fill=7)
    assert out.dtype == np.uint8 and out.shape == (1, 1, 5, 1)
    # (0.5, 0) -> 5; (1, 1.5) -> mean(50, 90) = 70; (3.5, 2.5) -> clamped to the corner pixel 110; beyond / NaN -> fill
    assert out[0, 0, :, 0].tolist() == [5, 70, 110, 7, 7]


# ---------------------------------------------------------------------------------------------------------------
# resizing and rotation


def test_rescaled_models_project_to_the_resized_pixel():
    points = _directions(200, 0.9) * 3.0
    u = proj.kb_project(points, GOPRO_K, GOPRO_DIST)
    small = proj.kb_K_dist(proj.kb_rescale(proj.kb_params(GOPRO_K, GOPRO_DIST), (3840, 2160), (796, 448)))
    sx, sy = 796 / 3840, 448 / 2160
    np.testing.assert_allclose(proj.kb_project(points, *small), (u + 0.5) * [sx, sy] - 0.5, atol=1e-9)
    # Aria 2880 -> 1408: crop 32 px each side, then halve (f/2, (c - 32.5)/2)
    a = proj.fisheye624_project(points, ARIA_PARAMS)
    p1408 = proj.fisheye624_rescale(ARIA_PARAMS, 0.5, (32, 32))
    np.testing.assert_allclose(p1408[:3], [ARIA_PARAMS[0] / 2, (ARIA_PARAMS[1] - 32.5) / 2,
                                           (ARIA_PARAMS[2] - 32.5) / 2])
    np.testing.assert_allclose(proj.fisheye624_project(points, p1408), (a - 32 + 0.5) * 0.5 - 0.5, atol=1e-9)
    K448 = proj.scale_to_size(GOPRO_K, (3840, 2160), (796, 448))
    np.testing.assert_allclose(K448[:2, 2], (GOPRO_K[:2, 2] + 0.5) * [sx, sy] - 0.5)


@pytest.mark.parametrize("k", [1, -1, 2, 3])
def test_rot90_of_image_and_camera_keeps_points_on_their_content(k):
    size = (64, 48)
    K = np.array([[40.0, 0, 30.2], [0, 44.0, 21.7], [0, 0, 1]])
    T = look_at([1.0, -2.0, 1.5], [0.1, 0.3, 0.9])
    world = T[:3, :3] @ (_directions(50, 0.5) * 3.0).T + T[:3, 3:4]
    uv, _ = project_points(K, T, world.T)
    K2, T2, size2 = proj.rot90_camera(K, T, size, k)
    uv2, z2 = project_points(K2, T2, world.T)
    assert size2 == ((size[1], size[0]) if k % 2 else size)
    assert np.all(z2 > 0)
    np.testing.assert_allclose(uv2, proj.rot90_pixels(uv, size, k), atol=1e-9)
    np.testing.assert_allclose(T2[:3, 3], T[:3, 3])  # same camera centre, turned about its optical axis
    # the image content follows: a lit pixel at a projected point is found at the new projection
    img = np.zeros((size[1], size[0], 1), dtype=np.uint8)
    px = np.round(uv[0]).astype(int)
    img[px[1], px[0]] = 255
    rotated = proj.rot90_image(img, k)
    assert rotated.shape[:2] == (size2[1], size2[0])
    row, col = np.argwhere(rotated[..., 0] == 255)[0]
    np.testing.assert_allclose([col, row], proj.rot90_pixels(px.astype(float), size, k), atol=0)
    np.testing.assert_allclose([col, row], uv2[0], atol=0.71)  # the lit pixel is the one nearest the point


def test_rot90_minus_one_undoes_rot90():
    K = np.array([[40.0, 0, 30.2], [0, 44.0, 21.7], [0, 0, 1]])
    T = look_at([1.0, -2.0, 1.5], [0.1, 0.3, 0.9])
    K2, T2, s2 = proj.rot90_camera(*proj.rot90_camera(K, T, (64, 48), 1), -1)
    np.testing.assert_allclose(K2, K)
    np.testing.assert_allclose(T2, T, atol=1e-15)
    assert s2 == (64, 48)


# ---------------------------------------------------------------------------------------------------------------
# readers: written files give back the poses they were written from


def _pose(rng=RNG):
    q = _random_quaternion(rng)
    t = rng.uniform(-3, 3, 3)
    R = np.stack([_rotate_by_quaternion(q, e) for e in np.eye(3)], axis=1)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return q, t, T


def _write_gopro(path, rows, extra=None):
    cols = list(cam.GOPRO_COLUMNS[:1]) + ["graph_uid"] + list(cam.GOPRO_COLUMNS[1:]) + ["quality"]
    lines = [",".join(cols)]
    for r in rows:
        r = {**r, **(extra or {})}
        lines.append(",".join(str(r[c]) for c in cols))
    path.write_text("\n".join(lines) + "\n")


def _gopro_row(name, q, t, quality=1.0):
    row = {"cam_uid": name, "graph_uid": "g0", "image_width": 3840, "image_height": 2160,
           "intrinsics_type": "KANNALABRANDTK3", "start_frame_idx": -1, "end_frame_idx": -1, "quality": quality}
    row.update({f"t{a}_world_cam": repr(float(v)) for a, v in zip("xyz", t)})
    row.update({f"q{a}_world_cam": repr(float(v)) for a, v in zip("xyzw", q)})
    row.update({f"intrinsics_{i}": repr(float(v)) for i, v in enumerate(proj.kb_params(GOPRO_K, GOPRO_DIST))})
    return row


def test_gopro_calibs_round_trip_camera_to_world(tmp_path):
    poses = {f"gp0{i}": _pose() for i in range(1, 4)}
    rows = [_gopro_row(n, q, t) for n, (q, t, _) in poses.items()]
    rows[1].update(start_frame_idx=10, end_frame_idx=900, quality=0.0)
    _write_gopro(tmp_path / "gopro_calibs.csv", rows)
    calibs = cam.read_gopro_calibs(tmp_path / "gopro_calibs.csv")
    assert list(calibs) == ["gp01", "gp02", "gp03"]
    for name, (_, t, T) in poses.items():
        c = calibs[name]
        np.testing.assert_allclose(c.T_world_cam, T, atol=1e-14)
        np.testing.assert_allclose(c.T_world_cam[:3, 3], t)  # the translation is the camera centre
        np.testing.assert_allclose(c.K_raw, GOPRO_K)
        np.testing.assert_allclose(c.dist, GOPRO_DIST)
        np.testing.assert_allclose(c.kb_params, proj.kb_params(GOPRO_K, GOPRO_DIST))
        assert c.size == (3840, 2160)
    assert (calibs["gp02"].start_frame_idx, calibs["gp02"].end_frame_idx, calibs["gp02"].quality) == (10, 900, 0.0)
    assert calibs["gp01"].start_frame_idx is None and calibs["gp01"].quality == 1.0


def test_ego_pose_json_world_to_camera_is_inverted(tmp_path):
    exo_T = look_at([3.0, 1.0, 1.6], [0.0, 0.0, 0.9])
    aria_T = [look_at([0.2 * i, -0.5, 1.6], [0.3, 1.0, 1.0]) for i in range(3)]
    K_exo = np.array([[1200.0, 0, 1919.5], [0, 1200.0, 1079.5], [0, 0, 1]])
    K_aria = [[150, 0, 255.5], [0, 150, 255.5], [0, 0, 1]]

    def w2c(T):
        R, c = T[:3, :3], T[:3, 3]
        return np.concatenate([R.T, (-R.T @ c)[:, None]], 1).tolist()

    doc = {"metadata": {"take_name": "iiith_cooking_01_1", "take_uid": "abc"},
           "cam01": {"camera_intrinsics": K_exo.tolist(), "camera_extrinsics": w2c(exo_T),
                     "distortion_coeffs": GOPRO_DIST.tolist()},
           "aria01": {"camera_intrinsics": K_aria,
                      "camera_extrinsics": {"7": w2c(aria_T[2]), "0": w2c(aria_T[0]), "3": w2c(aria_T[1])}}}
    path = tmp_path / "abc.json"
    path.write_text(json.dumps(doc))
    cams = cam.read_ego_pose_cameras(path)
    assert (cams.take_uid, cams.take_name) == ("abc", "iiith_cooking_01_1")
    np.testing.assert_allclose(cams.exo["cam01"].T_world_cam, exo_T, atol=1e-12)
    np.testing.assert_allclose(cams.exo["cam01"].dist, GOPRO_DIST)
    aria = cams.aria["aria01"]
    assert aria.frame_indices.tolist() == [0, 3, 7] and aria.size == (512, 512)
    assert aria.frame_keys == ("7", "0", "3")
    np.testing.assert_allclose(aria.T_world_cam, np.stack(aria_T), atol=1e-12)
    # the file's own projection K [R|t] X and ours agree on a world point
    X = np.array([0.4, 0.2, 1.0])
    E = np.asarray(doc["cam01"]["camera_extrinsics"])
    h = K_exo @ (E[:, :3] @ X + E[:, 3])
    uv, _ = project_points(cams.exo["cam01"].K, cams.exo["cam01"].T_world_cam, X[None])
    np.testing.assert_allclose(uv[0], h[:2] / h[2], atol=1e-9)


def _online_record(ts, q_xyzw, t, params=ARIA_PARAMS, label="camera-rgb"):
    q = [float(q_xyzw[3]), [float(x) for x in q_xyzw[:3]]]
    other = {"Label": "camera-slam-left", "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": [1.0] * 15},
             "T_Device_Camera": {"Translation": [0, 0, 0], "UnitQuaternion": [1, [0, 0, 0]]}}
    rgb = {"Label": label, "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": list(map(float, params))},
           "T_Device_Camera": {"Translation": [float(x) for x in t], "UnitQuaternion": q}}
    return json.dumps({"tracking_timestamp_us": ts, "utc_timestamp_ns": 0, "CameraCalibrations": [other, rgb],
                       "ImuCalibrations": []})


def _write_trajectory(path, ts, poses):
    cols = ["graph_uid", "tracking_timestamp_us", "utc_timestamp_ns", "tx_world_device", "ty_world_device",
            "tz_world_device", "qx_world_device", "qy_world_device", "qz_world_device", "qw_world_device",
            "quality_score"]
    lines = [",".join(cols)]
    for stamp, (q, t, _) in zip(ts, poses):
        lines.append(",".join(["g", str(stamp), "0"] + [repr(float(x)) for x in (*t, *q)] + ["1.0"]))
    path.write_text("\n".join(lines) + "\n")


def test_aria_online_calibration_and_trajectory_give_T_world_rgb(tmp_path):
    q_dc, t_dc, T_device_rgb = _pose()
    (tmp_path / "online_calibration.jsonl").write_text(
        _online_record(2000, q_dc, t_dc) + "\n" + _online_record(1000, [0, 0, 0, 1], [0, 0, 0]) + "\n")
    calibs = cam.read_online_calibration_rgb(tmp_path / "online_calibration.jsonl")
    assert [c.tracking_timestamp_us for c in calibs] == [1000, 2000]
    rgb = cam.nearest_calibration(calibs, 1900)
    np.testing.assert_allclose(rgb.T_device_cam, T_device_rgb, atol=1e-14)
    np.testing.assert_allclose(rgb.params, ARIA_PARAMS)
    assert rgb.size == (2880, 2880)

    poses = [_pose() for _ in range(3)]
    _write_trajectory(tmp_path / "closed_loop_trajectory.csv", [0, 1000, 2000], poses)
    traj = cam.read_closed_loop_trajectory(tmp_path / "closed_loop_trajectory.csv")
    idx, _ = traj.nearest([-300, 400, 500, 600, 1999, 2400])
    assert idx.tolist() == [0, 0, 0, 1, 2, 2]  # a tie goes to the earlier sample
    T_world_rgb = cam.aria_rgb_poses(traj, rgb.T_device_cam, [1100, 2050])
    np.testing.assert_allclose(T_world_rgb[0], poses[1][2] @ T_device_rgb, atol=1e-12)
    np.testing.assert_allclose(T_world_rgb[1], poses[2][2] @ T_device_rgb, atol=1e-12)
    # a point fixed in the RGB camera frame lands where device pose and extrinsics put it
    p_rgb = np.array([0.1, -0.2, 1.5, 1.0])
    np.testing.assert_allclose(T_world_rgb[0] @ p_rgb, poses[1][2] @ (T_device_rgb @ p_rgb), atol=1e-12)
    with pytest.raises(UsageError, match="no pose within 1000 us"):
        cam.aria_rgb_poses(traj, rgb.T_device_cam, [3500])


def test_online_calibration_legacy_string_records(tmp_path):
    q, t, T = _pose()
    rgb = {"Label": "camera-rgb", "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": ARIA_PARAMS.tolist()},
           "T_Device_Camera": {"Translation": t.tolist(), "UnitQuaternion": [float(q[3]), q[:3].tolist()]},
           "Valid": True}
    record = {"tracking_timestamp_us": "5", "CameraCalibrations": repr([rgb]), "ImuCalibrations": "[]"}
    (tmp_path / "online_calibration.jsonl").write_text(json.dumps(record) + "\n")
    (calib,) = cam.read_online_calibration_rgb(tmp_path / "online_calibration.jsonl")
    np.testing.assert_allclose(calib.T_device_cam, T, atol=1e-14)


# ---------------------------------------------------------------------------------------------------------------
# malformed files


@contextlib.contextmanager
def _expect(path, *fragments):
    """The block raises a UsageError whose message names ``path`` and contains every fragment."""
    with pytest.raises(UsageError) as info:
        yield
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_malformed_gopro_calibs_name_file_and_field(tmp_path):
    path = tmp_path / "gopro_calibs.csv"
    q, t, _ = _pose()
    _write_gopro(path, [_gopro_row("cam01", q, t)], extra={"intrinsics_3": "abc"})
    with _expect(path, "line 2", "intrinsics_3", "'abc'"):
        cam.read_gopro_calibs(path)
    _write_gopro(path, [_gopro_row("cam01", [0.5, 0.5, 0.5, 0.9], t)])
    with _expect(path, "line 2", "qx..qw_world_cam", "unit quaternion"):
        cam.read_gopro_calibs(path)
    _write_gopro(path, [_gopro_row("cam01", q, t)], extra={"intrinsics_type": "PINHOLE"})
    with _expect(path, "intrinsics_type", "KANNALABRANDTK3"):
        cam.read_gopro_calibs(path)
    _write_gopro(path, [_gopro_row("cam01", q, t), _gopro_row("cam01", q, t)])
    with _expect(path, "line 3", "appears twice"):
        cam.read_gopro_calibs(path)
    _write_gopro(path, [_gopro_row("cam01", q, t)], extra={"start_frame_idx": 50, "end_frame_idx": 10})
    with _expect(path, "start_frame_idx"):
        cam.read_gopro_calibs(path)
    path.write_text("cam_uid,tx_world_cam\ncam01,1\n")
    with _expect(path, "header", "qw_world_cam"):
        cam.read_gopro_calibs(path)
    with _expect(tmp_path / "missing.csv", "file not found"):
        cam.read_gopro_calibs(tmp_path / "missing.csv")


def test_ego_pose_frame_keys_that_are_not_frame_indices_are_kept_for_the_protocol_check(tmp_path):
    """A key like "-2" or "1.5" is not a file error but a frame-origin problem (protocol reason
    frame_index_origin), so the reader keeps it in frame_keys and leaves it out of the poses."""
    path = tmp_path / "take.json"
    E = np.eye(4)[:3].tolist()
    path.write_text(json.dumps({"aria01": {"camera_intrinsics": GOPRO_K.tolist(),
                                           "camera_extrinsics": {"1": E, "-2": E, "1.5": E, "x1": E}}}))
    aria = cam.read_ego_pose_cameras(path).aria["aria01"]
    assert aria.frame_keys == ("1", "-2", "1.5", "x1") and aria.frame_indices.tolist() == [1]
    assert aria.T_world_cam.shape == (1, 4, 4)
    assert P.check_frame_index_origin(aria.frame_keys, 10) is P.SkipReason.FRAME_INDEX_ORIGIN
    assert P.check_frame_index_origin(aria.frame_indices.tolist(), 10) is None


def test_malformed_ego_pose_json_names_key(tmp_path):
    path = tmp_path / "take.json"
    good = {"camera_intrinsics": GOPRO_K.tolist(), "camera_extrinsics": np.eye(4)[:3].tolist(),
            "distortion_coeffs": [0, 0, 0, 0]}
    path.write_text(json.dumps({"cam01": {**good, "camera_extrinsics": np.eye(3).tolist()}}))
    with _expect(path, "cam01.camera_extrinsics", "3x4"):
        cam.read_ego_pose_cameras(path)
    skewed = np.eye(4)[:3]
    skewed[0, 1] = 0.3
    path.write_text(json.dumps({"cam01": {**good, "camera_extrinsics": skewed.tolist()}}))
    with _expect(path, "cam01.camera_extrinsics", "not orthonormal"):
        cam.read_ego_pose_cameras(path)
    reflect = np.diag([1.0, 1.0, -1.0, 1.0])[:3]
    path.write_text(json.dumps({"cam01": {**good, "camera_extrinsics": reflect.tolist()}}))
    with _expect(path, "cam01.camera_extrinsics", "reflection"):
        cam.read_ego_pose_cameras(path)
    path.write_text(json.dumps({"cam01": {**good, "distortion_coeffs": [0, 0]}}))
    with _expect(path, "cam01.distortion_coeffs", "4 finite numbers"):
        cam.read_ego_pose_cameras(path)
    path.write_text(json.dumps({"aria01": {"camera_intrinsics": GOPRO_K.tolist(), "camera_extrinsics": {}}}))
    with _expect(path, "aria01.camera_extrinsics", "at least one frame"):
        cam.read_ego_pose_cameras(path)
    path.write_text(json.dumps({"aria01": {"camera_intrinsics": GOPRO_K.tolist(),
                                           "camera_extrinsics": {"2": skewed.tolist()}}}))
    with _expect(path, "aria01.camera_extrinsics.2", "not orthonormal"):
        cam.read_ego_pose_cameras(path)
    path.write_text("{not json")
    with _expect(path, "not valid JSON"):
        cam.read_ego_pose_cameras(path)


def test_malformed_aria_files_name_line_and_key(tmp_path):
    path = tmp_path / "online_calibration.jsonl"
    path.write_text(_online_record(1, [0, 0, 0, 1], [0, 0, 0]) + "\n" + _online_record(2, [0, 0, 0, 1], [0, 0, 0],
                                                                                      params=ARIA_PARAMS[:14]) + "\n")
    with _expect(path, "line 2", "Projection.Params", "15 finite numbers"):
        cam.read_online_calibration_rgb(path)
    path.write_text(_online_record(1, [0, 0, 0, 1], [0, 0, 0], label="camera-rgb-x") + "\n")
    with _expect(path, "line 1", "camera-rgb"):
        cam.read_online_calibration_rgb(path)
    path.write_text(_online_record(1, [0, 0, 0, 2], [0, 0, 0]) + "\n")
    with _expect(path, "line 1", "T_Device_Camera.UnitQuaternion", "unit quaternion"):
        cam.read_online_calibration_rgb(path)
    traj = tmp_path / "closed_loop_trajectory.csv"
    _write_trajectory(traj, [0, 1000, 1000], [_pose() for _ in range(3)])
    with _expect(traj, "line 4", "tracking_timestamp_us", "strictly increasing"):
        cam.read_closed_loop_trajectory(traj)
    traj.write_text("tracking_timestamp_us,tx_world_device\n0,1\n")
    with _expect(traj, "missing column", "qw_world_device"):
        cam.read_closed_loop_trajectory(traj)
