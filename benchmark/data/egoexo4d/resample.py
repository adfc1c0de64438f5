"""Fast, bit-reproducible resampling of uint8 video frames through undistortion maps, with an anti-aliasing
prefilter for strong downscales.

:class:`Resampler` is built once per camera from the float64 maps of ``projection.undistort_maps`` (source
pixel ``(u, v)`` for every output pixel, pixel centres at integer coordinates) and then turns each decoded frame
(H, W, C) uint8 into the output image (H_out, W_out, C) uint8. It computes what ``projection.undistort`` (the
float64 reference) computes, up to the quantization below, about 40x faster.

Why fixed point: a float resampler may give different bits on different CPUs (vector kernels, fused
multiply-add, thread splits), and then the converted dataset's hashes would depend on the machine. Here the only
float step is the map computation, which is elementwise IEEE arithmetic in float64 (``projection``). The maps are
then quantized *by this module* to 1/32 pixel (OpenCV's ``INTER_TAB_SIZE``) and passed to ``cv2.remap`` in its
fixed-point form (an int16 integer position plus a 10-bit sub-pixel index); for uint8 images OpenCV's bilinear
path then uses only integer arithmetic (weights from a table of exact products of multiples of 1/32, scaled by
2^15, a rounded shift at the end), whose result is the same with or without SIMD and with any thread count.
The box prefilter is integer arithmetic in numpy.

Edges, as in ``projection.undistort``: a source position within half a pixel outside the outer pixel centres is
clamped onto the image (the coordinates are clamped here, and ``BORDER_REPLICATE`` covers the zero-weight
neighbour of the last column / row); positions farther out, or NaN, give ``fill`` (a mask precomputed from the
unquantized maps, so the filled pixels are exactly those of the reference).

Anti-aliasing: bilinear sampling reads only the 2x2 source pixels around each position, so when neighbouring
output pixels sample the source 2 or more pixels apart, most of the source is skipped and fine detail aliases
(moire). The rule, chosen once per camera from its maps: ``step`` = the median distance between the source
positions of horizontally and vertically neighbouring output pixels (:func:`sampling_step`); the box factor is
``k = max(1, floor(step + 1e-6))`` (:func:`box_factor`). With ``k >= 2`` each frame is first reduced by the exact mean
of ``k x k`` blocks (:func:`box_reduce`: cropped to a multiple of ``k``, summed in integers, rounded integer
division), and the maps are moved to the reduced image, ``u' = (u + 0.5) / k - 0.5`` (pixel centres aligned).
The median keeps one factor for the whole image even where a fisheye's sampling density varies; it is below 2,
so no prefilter, for the 448 downscales the protocol reads (exo 796x448 -> 480x270: about 1.4; Aria 448 ->
256x256, f = 75: about 1.6), and about 6.6 (exo 3840x2160) and 5.1 (Aria 1408) at full resolution.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import projection as proj

INTER_BITS = 5  # OpenCV's fixed-point remap resolves 2^5 = 32 sub-pixel positions per axis (INTER_TAB_SIZE)
INTER_TAB_SIZE = 1 << INTER_BITS
MAX_SOURCE_SIDE = 32767  # integer source positions are int16 in cv2.remap's fixed-point maps
# a sampling step this close below an integer counts as that integer: the maps' own rounding (a turned 8x scaling
# has steps of 7.999999999999998) must not lower the box factor
STEP_TOLERANCE = 1e-6


def _check_maps(maps) -> np.ndarray:
    m = np.asarray(maps)
    if m.ndim != 3 or m.shape[-1] != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise ValueError(f"maps: expected source pixels of shape (H_out, W_out, 2), got shape {m.shape}")
    if not (np.issubdtype(m.dtype, np.floating) or np.issubdtype(m.dtype, np.integer)):
        raise ValueError(f"maps: expected real numbers (float64), got dtype {m.dtype}")
    return m.astype(np.float64, copy=False)


def sampling_step(maps) -> float:
    """Median distance in source pixels between the source positions of horizontally and vertically neighbouring
    output pixels (both directions pooled; pairs with a NaN are left out); NaN when no pair is finite.

    Args:
        maps: (H_out, W_out, 2) source pixels ``(u, v)``.
    """
    m = _check_maps(maps)
    dx = m[:, 1:] - m[:, :-1]
    dy = m[1:] - m[:-1]
    # sqrt of products and sums (correctly rounded IEEE operations), not np.hypot (a C library call), so that the
    # chosen factor is the same on every machine
    d = np.concatenate([np.sqrt(dx[..., 0] * dx[..., 0] + dx[..., 1] * dx[..., 1]).reshape(-1),
                        np.sqrt(dy[..., 0] * dy[..., 0] + dy[..., 1] * dy[..., 1]).reshape(-1)])
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else math.nan


def box_factor(maps) -> int:
    """The box prefilter factor ``k = max(1, floor(sampling_step(maps) + STEP_TOLERANCE))`` (1: no prefilter).

    A factor of ``k >= 2`` means neighbouring output pixels sample the source at least 2 pixels apart (median
    over the image), where bilinear sampling alone would alias."""
    step = sampling_step(maps)
    return max(1, int(math.floor(step + STEP_TOLERANCE))) if math.isfinite(step) else 1


def box_reduce(frame, k: int) -> np.ndarray:
    """Mean of each ``k x k`` block of a uint8 image, exactly, in integers.

    Args:
        frame: (H, W, C) uint8. k: block side (>= 1).
    Returns:
        (H // k, W // k, C) uint8: ``floor((sum + k*k/2) / (k*k))`` of each block (the rounded mean, halves
        up), the image first cropped to ``(H // k * k, W // k * k)`` (the last ``H mod k`` rows / ``W mod k``
        columns are dropped).
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3:
        raise ValueError(f"frame: expected a uint8 image (H, W, C), got {frame.dtype} of shape {frame.shape}")
    k = int(k)
    h, w, c = frame.shape
    if k < 1 or k > min(h, w):
        raise ValueError(f"k: expected a block side in 1..{min(h, w)} for a {w}x{h} image, got {k}")
    if k == 1:
        return frame.copy()
    hk, wk = h // k, w // k
    # uint16 holds a block sum up to k = 16 (16 * 16 * 255 + 128 < 2^16) and halves the memory traffic of uint32
    acc = np.uint16 if k * k * 255 + k * k // 2 < 1 << 16 else np.uint32
    # sum the k rows of each block row (contiguous rows: fast adds), then the k columns of each block
    rows = frame[:hk * k, :wk * k].reshape(hk, k, wk * k * c)
    s = rows[:, 0].astype(acc)
    for i in range(1, k):
        np.add(s, rows[:, i], out=s)
    cols = s.reshape(hk, wk, k, c)
    t = cols[:, :, 0].copy()
    for i in range(1, k):
        np.add(t, cols[:, :, i], out=t)
    t += k * k // 2
    t //= k * k
    return t.astype(np.uint8)


def rot90_maps(maps, frame_size, k: int) -> np.ndarray:
    """Fold quarter turns into maps: resampling a frame with the result equals
    ``rot90_image(resample(rot90_image(frame, k), maps), -k)`` (``projection.rot90_image``).

    Used for the Aria video, which is stored upright while its camera model is that of the landscape sensor
    image: one remap of the upright frame replaces turning it, resampling, and turning the result back.

    Args:
        maps: (H_out, W_out, 2) source pixels in the turned frame ``rot90_image(frame, k)``.
        frame_size: ``(W, H)`` of the frame as it is resampled (before the turn). k: quarter turns.
    Returns:
        float64 source pixels in the frame, (H_out, W_out, 2) for even ``k``, (W_out, H_out, 2) for odd ``k``.
    """
    m = _check_maps(maps)
    w, h = int(frame_size[0]), int(frame_size[1])
    turned_size = (w, h) if k % 2 == 0 else (h, w)
    # output pixel layout turned back by -k; each source position moved from the turned frame to the frame
    return proj.rot90_pixels(proj.rot90_image(m, -k), turned_size, (-k) % 4)


class Resampler:
    """Resample uint8 frames of one camera through fixed undistortion maps (bilinear, bit-reproducible).

    Args:
        maps: (H_out, W_out, 2) float source pixels ``(u, v)`` per output pixel (``projection.undistort_maps``),
            NaN where nothing is seen.
        source_size: ``(W, H)`` of the frames that will be resampled (the maps' pixel units).
        fill: uint8 value of output pixels whose source is NaN or more than half a pixel outside the image.
        prefilter: apply the box prefilter when :func:`box_factor` of the maps is 2 or more (see the module
            docstring for the rule); False forces plain bilinear sampling of the full frame.
    Attributes:
        source_size, output_size: ``(W, H)``. box: the prefilter factor ``k`` (1: none).
    Call: ``resampler(frame)`` with ``frame`` (H, W, C) uint8, C in 1..4 -> (H_out, W_out, C) uint8.
    """

    def __init__(self, maps, source_size, *, fill: int = 0, prefilter: bool = True):
        m = _check_maps(maps)
        try:
            width, height = (int(s) for s in source_size)
        except (TypeError, ValueError):
            raise ValueError(f"source_size: expected (W, H), got {source_size!r}") from None
        if not (1 <= width <= MAX_SOURCE_SIDE and 1 <= height <= MAX_SOURCE_SIDE):
            raise ValueError(f"source_size: expected sides in 1..{MAX_SOURCE_SIDE}, got {width}x{height}")
        if not (isinstance(fill, (int, np.integer)) and 0 <= fill <= 255):
            raise ValueError(f"fill: expected an integer in 0..255 (uint8), got {fill!r}")
        self.source_size = (width, height)
        self.output_size = (m.shape[1], m.shape[0])
        self.fill = int(fill)
        self.box = min(box_factor(m), width, height) if prefilter else 1

        u, v = m[..., 0], m[..., 1]
        # the same test as projection.undistort, on the unquantized maps in full-frame pixels
        with np.errstate(invalid="ignore"):
            valid = (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
        self._invalid = np.flatnonzero(~valid)  # flat output pixels that get ``fill``
        k = self.box
        if k > 1:  # positions in the reduced image, pixel centres aligned
            u, v = (u + 0.5) / k - 0.5, (v + 0.5) / k - 0.5
        src_w, src_h = width // k, height // k
        u = np.clip(np.where(valid, u, 0.0), 0.0, src_w - 1.0)
        v = np.clip(np.where(valid, v, 0.0), 0.0, src_h - 1.0)
        # fixed point: multiplying by 32 is exact in binary floating point, and rint is exact, so these integers
        # are the same on every machine; cv2.convertMaps is not used because it rounds from float32
        qu = np.rint(u * INTER_TAB_SIZE).astype(np.int32)
        qv = np.rint(v * INTER_TAB_SIZE).astype(np.int32)
        # cv2.remap's CV_16SC2 + CV_16UC1 form: integer pixel (x, y), and the sub-pixel index fy * 32 + fx
        self._map_int = np.stack([qu >> INTER_BITS, qv >> INTER_BITS], axis=-1).astype(np.int16)
        self._map_frac = ((qv & (INTER_TAB_SIZE - 1)) * INTER_TAB_SIZE + (qu & (INTER_TAB_SIZE - 1))).astype(np.uint16)

    def __call__(self, frame) -> np.ndarray:
        """(H, W, C) uint8 frame of ``source_size`` -> (H_out, W_out, C) uint8."""
        frame = np.asarray(frame)
        width, height = self.source_size
        if frame.dtype != np.uint8 or frame.ndim != 3 or not 1 <= frame.shape[2] <= 4:
            raise ValueError(f"frame: expected a uint8 image (H, W, C) with C in 1..4, got {frame.dtype} of shape "
                             f"{frame.shape}")
        if frame.shape[:2] != (height, width):
            raise ValueError(f"frame: expected {width}x{height} (the resampler's source_size), got "
                             f"{frame.shape[1]}x{frame.shape[0]}")
        src = box_reduce(frame, self.box) if self.box > 1 else np.ascontiguousarray(frame)
        out = cv2.remap(src, self._map_int, self._map_frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = out.reshape(self.output_size[1], self.output_size[0], frame.shape[2])  # cv2 drops a channel axis of 1
        if self._invalid.size:
            out.reshape(-1, frame.shape[2])[self._invalid] = self.fill
        return out

    def __repr__(self) -> str:
        return (f"Resampler({self.source_size[0]}x{self.source_size[1]} -> {self.output_size[0]}x"
                f"{self.output_size[1]}, box {self.box}, {self._invalid.size} filled pixels)")
