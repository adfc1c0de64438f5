r"""Fisheye camera models of Ego-Exo4D, undistortion to pinhole, and resizing / rotating a camera with its image.

Both models map a point ``p = (x, y, z)`` in camera coordinates (OpenCV axes) to a pixel, with the pixel centre
convention of ``benchmark.cameras`` (centre of the top-left pixel at (0, 0)).

**Kannala-Brandt K3** (the GoPro exo cameras, ``gopro_calibs.csv`` ``KANNALABRANDTK3``; OpenCV's ``fisheye``
model; projectaria-tools ``KannalaBrandtK3``, parameters ``fx, fy, cx, cy, k1..k4``):

.. math::
    \theta = \operatorname{atan2}(\sqrt{x^2+y^2}, z),\quad
    \theta_d = \theta (1 + k_1\theta^2 + k_2\theta^4 + k_3\theta^6 + k_4\theta^8),\quad
    (u, v) = K\,[\theta_d\,x/\rho,\ \theta_d\,y/\rho,\ 1]^T,\ \rho = \sqrt{x^2+y^2}.

**Fisheye624** (the Aria RGB camera, ``online_calibration.jsonl`` ``FisheyeRadTanThinPrism``; 15 parameters
``f, cx, cy, k0..k5, p0, p1, s0..s3``, one focal length): with ``a = x/z, b = y/z, r = |(a, b)|``,
``th = atan(r)``,

.. math::
    (x_r, y_r) = \tfrac{th}{r}\,(1 + \textstyle\sum_{i=0}^{5} k_i\,th^{2i+2})\,(a, b),\quad r_d^2 = x_r^2 + y_r^2,\\
    u_d = x_r + (2x_r^2 + r_d^2)p_0 + 2x_r y_r p_1 + s_0 r_d^2 + s_1 r_d^4,\\
    v_d = y_r + (2y_r^2 + r_d^2)p_1 + 2x_r y_r p_0 + s_2 r_d^2 + s_3 r_d^4,\quad
    (u, v) = f\,(u_d, v_d) + (c_x, c_y).

Unprojection inverts both with Newton iterations (``NEWTON_TOLERANCE``, ``NEWTON_MAX_ITERATIONS``); a pixel
whose iteration does not converge, or that maps outside the model's monotonic range, unprojects to NaN.

Transcendental functions go through ``benchmark.portable_math`` (the C library's scalar ``atan2``, ``sin``,
``cos``, ``tan``), and all other arithmetic is elementwise IEEE, so undistortion maps, and therefore the
undistorted frames, have the same bits on every CPU (issue 7: numpy's SIMD kernels differ between CPUs).

Sizes are ``(width, height)``; images are arrays ``(..., H, W, C)``.
"""

from __future__ import annotations

import numpy as np

from benchmark import portable_math as pm
from benchmark.cameras import scale_intrinsics

NEWTON_TOLERANCE = 1e-12  # |step| of the last Newton iteration (radians for theta, normalized image units)
NEWTON_MAX_ITERATIONS = 50
KB3 = "kannala_brandt_k3"
FISHEYE624 = "fisheye624"
MODEL_ALIASES = {KB3: KB3, "KANNALABRANDTK3": KB3, "KannalaBrandtK3": KB3,
                 FISHEYE624: FISHEYE624, "FisheyeRadTanThinPrism": FISHEYE624, "Fisheye624": FISHEYE624}
N_PARAMS = {KB3: 8, FISHEYE624: 15}


def _as_float(x, name: str, last: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 1 or a.shape[-1] != last:
        raise ValueError(f"{name}: expected shape (..., {last}), got {a.shape}")
    return a


def _check_K(K) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or K[2, 0] != 0 or K[2, 1] != 0 or K[1, 0] != 0 or K[2, 2] != 1:
        raise ValueError(f"K: expected an upper-triangular 3x3 pinhole matrix with K[2, 2] = 1, got {K.tolist()}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K: focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
    return K


def _check_dist(dist, n: int, name: str) -> np.ndarray:
    d = np.asarray(dist, dtype=np.float64).reshape(-1)
    if d.shape != (n,) or not np.all(np.isfinite(d)):
        raise ValueError(f"{name}: expected {n} finite coefficients, got {np.asarray(dist).tolist()}")
    return d


def _even_poly(theta2: np.ndarray, coeffs) -> tuple[np.ndarray, np.ndarray]:
    """``1 + sum_i c_i t^(i+1)`` and ``1 + sum_i (2i+3) c_i t^(i+1)`` for ``t = theta^2`` (Horner, elementwise)."""
    value = np.zeros_like(theta2)
    deriv = np.zeros_like(theta2)
    for i in range(len(coeffs) - 1, -1, -1):
        value = (value + coeffs[i]) * theta2
        deriv = (deriv + (2 * i + 3) * coeffs[i]) * theta2
    return value + 1.0, deriv + 1.0


def _solve_theta(theta_d: np.ndarray, coeffs) -> np.ndarray:
    """Newton on ``theta (1 + sum_i c_i theta^(2i+2)) = theta_d``; NaN where it does not converge."""
    theta = theta_d.copy()
    active = np.isfinite(theta)
    for _ in range(NEWTON_MAX_ITERATIONS):
        if not active.any():
            break
        t = theta[active]
        value, deriv = _even_poly(t * t, coeffs)
        step = (t * value - theta_d[active]) / deriv
        theta[active] = t - step
        done = np.abs(step) < NEWTON_TOLERANCE
        idx = np.flatnonzero(active)
        active[idx[done | ~np.isfinite(step)]] = False
        theta[idx[~np.isfinite(step)]] = np.nan
    theta[active] = np.nan  # not converged
    # a root on the decreasing branch of the polynomial is not the model's inverse
    _, deriv = _even_poly(theta * theta, coeffs)
    theta[~(deriv > 0)] = np.nan
    return theta


# ----------------------------------------------------------------------------------------------------------------
# Kannala-Brandt K3


def kb_project(points_cam, K, dist) -> np.ndarray:
    """Pixels (..., 2) of camera-frame points (..., 3) under Kannala-Brandt K3 with pinhole ``K`` (3, 3) and
    ``dist = (k1, k2, k3, k4)``. Points on the optical axis's far side (theta up to pi) are projected too."""
    p = _as_float(points_cam, "points_cam", 3)
    K = _check_K(K)
    k = _check_dist(dist, 4, "dist")
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    rho = np.sqrt(x * x + y * y)
    theta = pm.arctan2(rho, z)
    value, _ = _even_poly(theta * theta, k)
    theta_d = theta * value
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(rho > 0, theta_d / np.where(rho > 0, rho, 1.0), 1.0 / z)
    xd, yd = x * scale, y * scale
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=-1)


def kb_unproject(pixels, K, dist) -> np.ndarray:
    """Unit ray directions (..., 3) of pixels (..., 2) under Kannala-Brandt K3 (NaN where not invertible)."""
    uv = _as_float(pixels, "pixels", 2)
    K = _check_K(K)
    k = _check_dist(dist, 4, "dist")
    yd = (uv[..., 1] - K[1, 2]) / K[1, 1]
    xd = (uv[..., 0] - K[0, 2] - K[0, 1] * yd) / K[0, 0]
    theta_d = np.sqrt(xd * xd + yd * yd)
    theta = _solve_theta(theta_d.reshape(-1), k).reshape(theta_d.shape)
    theta[theta > np.pi] = np.nan
    return _direction(theta, xd, yd, theta_d)


def _direction(theta, xd, yd, norm_d) -> np.ndarray:
    sin_t, cos_t = pm.sin(theta), pm.cos(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        cx = np.where(norm_d > 0, xd / np.where(norm_d > 0, norm_d, 1.0), 0.0)
        cy = np.where(norm_d > 0, yd / np.where(norm_d > 0, norm_d, 1.0), 0.0)
    return np.stack([sin_t * cx, sin_t * cy, cos_t * np.ones_like(cx)], axis=-1)


def kb_params(K, dist) -> np.ndarray:
    """The 8-vector ``(fx, fy, cx, cy, k1, k2, k3, k4)`` (``gopro_calibs.csv`` ``intrinsics_0..7`` order)."""
    K = _check_K(K)
    if K[0, 1] != 0:
        raise ValueError("kb_params: K has a skew term, which the 8-parameter layout cannot hold")
    return np.concatenate([[K[0, 0], K[1, 1], K[0, 2], K[1, 2]], _check_dist(dist, 4, "dist")])


def kb_K_dist(params) -> tuple[np.ndarray, np.ndarray]:
    """``(K, dist)`` from the 8-vector ``(fx, fy, cx, cy, k1..k4)``."""
    p = _check_dist(params, 8, "Kannala-Brandt params")
    K = np.array([[p[0], 0.0, p[2]], [0.0, p[1], p[3]], [0.0, 0.0, 1.0]])
    return K, p[4:].copy()


# ----------------------------------------------------------------------------------------------------------------
# Fisheye624 (projectaria-tools FisheyeRadTanThinPrism<6, true, true, true>)


def _split624(params):
    p = _check_dist(params, 15, "Fisheye624 params")
    return p[0], p[1], p[2], p[3:9], p[9:11], p[11:15]


def _tangential_prism(xr, yr, pt, s):
    rd2 = xr * xr + yr * yr
    dot2 = 2.0 * (xr * pt[0] + yr * pt[1])
    u = xr + dot2 * xr + rd2 * pt[0] + s[0] * rd2 + s[1] * rd2 * rd2
    v = yr + dot2 * yr + rd2 * pt[1] + s[2] * rd2 + s[3] * rd2 * rd2
    return u, v


def fisheye624_project(points_cam, params) -> np.ndarray:
    """Pixels (..., 2) of camera-frame points (..., 3) under Fisheye624; NaN for points with ``z <= 0``."""
    p = _as_float(points_cam, "points_cam", 3)
    f, cx, cy, k, pt, s = _split624(params)
    z = np.where(p[..., 2] > 0, p[..., 2], np.nan)
    a, b = p[..., 0] / z, p[..., 1] / z
    r = np.sqrt(a * a + b * b)
    th = pm.arctan2(r, np.ones_like(r))
    value, _ = _even_poly(th * th, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        th_over_r = np.where(r > 0, th / np.where(r > 0, r, 1.0), 1.0)
    xr, yr = value * th_over_r * a, value * th_over_r * b
    ud, vd = _tangential_prism(xr, yr, pt, s)
    return np.stack([f * ud + cx, f * vd + cy], axis=-1)


def fisheye624_unproject(pixels, params) -> np.ndarray:
    """Unit ray directions (..., 3) of pixels (..., 2) under Fisheye624 (NaN where not invertible)."""
    uv = _as_float(pixels, "pixels", 2)
    f, cx, cy, k, pt, s = _split624(params)
    ud = ((uv[..., 0] - cx) / f).reshape(-1)
    vd = ((uv[..., 1] - cy) / f).reshape(-1)
    # Newton on (xr, yr) for the tangential and thin-prism terms (their Jacobian is close to the identity)
    xr, yr = ud.copy(), vd.copy()
    converged = np.zeros(ud.shape, dtype=bool)
    for _ in range(NEWTON_MAX_ITERATIONS):
        eu, ev = _tangential_prism(xr, yr, pt, s)
        eu, ev = ud - eu, vd - ev
        rd2 = xr * xr + yr * yr
        gs_x = 2.0 * s[0] + 4.0 * s[1] * rd2
        gs_y = 2.0 * s[2] + 4.0 * s[3] * rd2
        j00 = 1.0 + 6.0 * pt[0] * xr + 2.0 * pt[1] * yr + gs_x * xr
        j01 = 2.0 * (pt[1] * xr + pt[0] * yr) + gs_x * yr
        j10 = 2.0 * (pt[1] * xr + pt[0] * yr) + gs_y * xr
        j11 = 1.0 + 6.0 * pt[1] * yr + 2.0 * pt[0] * xr + gs_y * yr
        det = j00 * j11 - j01 * j10
        dx = (j11 * eu - j01 * ev) / det
        dy = (j00 * ev - j10 * eu) / det
        xr, yr = xr + dx, yr + dy
        converged = np.maximum(np.abs(dx), np.abs(dy)) < NEWTON_TOLERANCE
        if converged.all():
            break
    rd = np.sqrt(xr * xr + yr * yr)
    theta = _solve_theta(np.where(converged, rd, np.nan), k)
    theta[~(theta < np.pi / 2)] = np.nan
    return _direction(theta, xr, yr, rd).reshape(uv.shape[:-1] + (3,))


def fisheye624_rescale(params, scale: float, crop_offset=(0.0, 0.0)) -> np.ndarray:
    """Parameters for an image cropped by ``crop_offset`` pixels (left, top) and then resized by ``scale``.

    The crop moves the principal point; the resize keeps pixel centres aligned like
    ``benchmark.cameras.scale_intrinsics`` (``c' = (c + 0.5) s - 0.5``). The Aria RGB calibration is for
    2880x2880; the 1408x1408 recording is ``crop_offset=(32, 32), scale=0.5`` (projectaria-tools'
    ``rescale``), i.e. ``f/2`` and ``(c - 32.5)/2``.
    """
    p = _check_dist(params, 15, "Fisheye624 params").copy()
    p[0] *= scale
    p[1] = (p[1] - crop_offset[0] + 0.5) * scale - 0.5
    p[2] = (p[2] - crop_offset[1] + 0.5) * scale - 0.5
    return p


def kb_rescale(params, from_size, to_size) -> np.ndarray:
    """Kannala-Brandt 8-vector for the image resized from ``from_size`` to ``to_size`` ((W, H) each)."""
    K, dist = kb_K_dist(params)
    return kb_params(scale_to_size(K, from_size, to_size), dist)


# ----------------------------------------------------------------------------------------------------------------
# Undistortion


def _model(model: str) -> str:
    try:
        return MODEL_ALIASES[model]
    except KeyError:
        raise ValueError(f"unknown camera model {model!r}; expected one of {sorted(MODEL_ALIASES)}") from None


def distorted_project(model: str, params, points_cam) -> np.ndarray:
    """Pixels (..., 2) of points (..., 3) under ``model`` (``kannala_brandt_k3`` or ``fisheye624``)."""
    model = _model(model)
    if model == KB3:
        K, dist = kb_K_dist(params)
        return kb_project(points_cam, K, dist)
    return fisheye624_project(points_cam, params)


def distorted_unproject(model: str, params, pixels) -> np.ndarray:
    """Unit ray directions (..., 3) of distorted pixels (..., 2) under ``model``."""
    model = _model(model)
    if model == KB3:
        K, dist = kb_K_dist(params)
        return kb_unproject(pixels, K, dist)
    return fisheye624_unproject(pixels, params)


def pinhole_rays(K, size) -> np.ndarray:
    """Rays ``K^-1 [u, v, 1]`` (H, W, 3) through every pixel centre of a ``size = (W, H)`` pinhole image."""
    K = _check_K(K)
    width, height = int(size[0]), int(size[1])
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    yn = (v - K[1, 2]) / K[1, 1]
    xn = (u - K[0, 2] - K[0, 1] * yn) / K[0, 0]
    return np.stack([xn, yn, np.ones_like(xn)], axis=-1)


def undistort_maps(model: str, params, out_K, out_size) -> np.ndarray:
    """Where to sample the distorted image for every pixel centre of the pinhole output.

    Args:
        model: ``"kannala_brandt_k3"`` (8 params ``fx, fy, cx, cy, k1..k4``) or ``"fisheye624"`` (15 params);
            the file spellings ``KANNALABRANDTK3`` / ``FisheyeRadTanThinPrism`` are accepted.
        params: the distorted camera's parameters, in pixels of the image that will be sampled.
        out_K: (3, 3) pinhole intrinsics of the output, in output pixels. out_size: ``(W, H)`` of the output.
    Returns:
        (H, W, 2) float64 source pixel ``(u, v)`` per output pixel (NaN where the ray cannot be projected).
    """
    return distorted_project(model, params, pinhole_rays(out_K, out_size))


def undistort_points(model: str, params, pixels, out_K) -> np.ndarray:
    """Pinhole pixels (..., 2) under ``out_K`` of distorted pixels (..., 2) (the inverse of ``undistort_maps``)."""
    d = distorted_unproject(model, params, pixels)
    K = _check_K(out_K)
    z = np.where(d[..., 2] > 0, d[..., 2], np.nan)
    xn, yn = d[..., 0] / z, d[..., 1] / z
    return np.stack([K[0, 0] * xn + K[0, 1] * yn + K[0, 2], K[1, 1] * yn + K[1, 2]], axis=-1)


def undistort(frames, maps, fill=0, chunk: int = 8) -> np.ndarray:
    """Resample images at ``maps`` with bilinear interpolation.

    Args:
        frames: (..., H, W, C) images (uint8 or float). maps: (H_out, W_out, 2) source pixels from
            :func:`undistort_maps`. fill: value of output pixels whose source lies outside the image (more than
            half a pixel beyond the outer pixel centres) or is NaN. chunk: images processed at once (memory).
    Returns:
        (..., H_out, W_out, C) of the input dtype (uint8 is rounded to nearest and clipped).
    """
    frames = np.asarray(frames)
    maps = np.asarray(maps, dtype=np.float64)
    if frames.ndim < 3:
        raise ValueError(f"frames: expected (..., H, W, C), got shape {frames.shape}")
    if maps.ndim != 3 or maps.shape[-1] != 2:
        raise ValueError(f"maps: expected (H_out, W_out, 2), got shape {maps.shape}")
    height, width, channels = frames.shape[-3:]
    x, y = maps[..., 0], maps[..., 1]
    with np.errstate(invalid="ignore"):
        valid = (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
    xc = np.clip(np.where(valid, x, 0.0), 0, width - 1)
    yc = np.clip(np.where(valid, y, 0.0), 0, height - 1)
    x0 = np.minimum(np.floor(xc).astype(np.int64), max(width - 2, 0))
    y0 = np.minimum(np.floor(yc).astype(np.int64), max(height - 2, 0))
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    # gather from flattened pixels with precomputed indices (much cheaper than 2-D fancy indexing per frame)
    i00, i01 = (y0 * width + x0).reshape(-1), (y0 * width + x1).reshape(-1)
    i10, i11 = (y1 * width + x0).reshape(-1), (y1 * width + x1).reshape(-1)
    wx, wy = (xc - x0).reshape(-1, 1), (yc - y0).reshape(-1, 1)
    invalid = ~valid.reshape(-1)
    flat = frames.reshape((-1, height * width, channels))
    out = np.empty((flat.shape[0],) + maps.shape[:2] + (channels,), dtype=frames.dtype)
    for start in range(0, flat.shape[0], chunk):
        img = flat[start:start + chunk]
        top = img[:, i00] * (1 - wx) + img[:, i01] * wx
        bottom = img[:, i10] * (1 - wx) + img[:, i11] * wx
        val = top * (1 - wy) + bottom * wy
        val[:, invalid] = fill
        val = val.reshape((val.shape[0],) + maps.shape[:2] + (channels,))
        if np.issubdtype(frames.dtype, np.integer):
            info = np.iinfo(frames.dtype)
            val = np.clip(np.rint(val), info.min, info.max)
        out[start:start + chunk] = val.astype(frames.dtype)
    return out.reshape(frames.shape[:-3] + out.shape[1:])


# ----------------------------------------------------------------------------------------------------------------
# Resizing and 90-degree rotation of pinhole cameras


def scale_to_size(K, from_size, to_size) -> np.ndarray:
    """Intrinsics (3, 3) after resizing an image from ``from_size`` to ``to_size`` ((W, H) each), pixel centres
    aligned (``benchmark.cameras.scale_intrinsics``; x and y scale separately, e.g. 3840x2160 -> 796x448)."""
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    return scale_intrinsics(np.asarray(K, dtype=np.float64), sx, sy)


def pinhole_K(focal: float, size) -> np.ndarray:
    """Square-pixel pinhole K with the principal point at the image centre ``((W-1)/2, (H-1)/2)``
    (projectaria-tools ``get_linear_camera_calibration``; Aria's 512x512, f = 150 gives 255.5)."""
    return np.array([[focal, 0.0, (size[0] - 1) / 2], [0.0, focal, (size[1] - 1) / 2], [0.0, 0.0, 1.0]])


def rot90_image(frames, k: int = 1) -> np.ndarray:
    """``np.rot90`` of images (..., H, W, C) by ``k`` quarter turns counter-clockwise (as displayed)."""
    return np.rot90(np.asarray(frames), k, axes=(-3, -2))


def rot90_pixels(pixels, size, k: int = 1) -> np.ndarray:
    """Pixel coordinates (..., 2) in an image of ``size = (W, H)`` -> the same points after :func:`rot90_image`."""
    uv = _as_float(pixels, "pixels", 2)
    width, height = size
    for _ in range(k % 4):
        uv = np.stack([uv[..., 1], (width - 1) - uv[..., 0]], axis=-1)
        width, height = height, width
    return uv


# rotation taking camera coordinates to those of the camera whose image is rotated a quarter turn counter-clockwise
_R_QUARTER = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def rot90_camera(K, T_world_cam, size, k: int = 1):
    """The pinhole camera of an image rotated by :func:`rot90_image` (same ``k``).

    Args:
        K: (3, 3) zero-skew intrinsics. T_world_cam: (..., 4, 4) camera-to-world. size: ``(W, H)``.
    Returns:
        ``(K', T_world_cam', size')``: a world point projects under the new camera to the pixel where
        :func:`rot90_pixels` moves its old projection. Rotating the image about the optical axis swaps
        ``fx``/``fy`` and moves the principal point; the camera's x/y axes turn with it.
    """
    K = _check_K(K)
    if K[0, 1] != 0:
        raise ValueError("rot90_camera: K has a skew term; a quarter turn would make it lower-triangular")
    T = np.array(T_world_cam, dtype=np.float64, copy=True)
    width, height = size
    for _ in range(k % 4):
        K = np.array([[K[1, 1], 0.0, K[1, 2]], [0.0, K[0, 0], (width - 1) - K[0, 2]], [0.0, 0.0, 1.0]])
        # p_new = R p_old, so T_world_new = T_world_old @ [R^T, 0; 0, 1]
        T_old_new = np.eye(4)
        T_old_new[:3, :3] = _R_QUARTER.T
        T = pm.matmul(T, T_old_new)
        width, height = height, width
    return K, T, (width, height)
