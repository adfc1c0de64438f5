"""The converter's resampler: the float reference ``projection.undistort`` up to 1/32 px quantization, the same
bits whatever OpenCV's optimizations and threads, and a box prefilter against aliasing in strong downscales.

Tolerances: smooth images differ from the reference by at most 2 grey levels (sub-pixel positions are rounded
to 1/32 px, so a gradient g grey levels / px moves a value by at most about g / 32); on random images a
position error of 1/64 px per axis with neighbours up to 255 apart bounds the difference by 255 / 64 * 2 + 1."""

import contextlib

import cv2
import numpy as np
import pytest

from benchmark.data.egoexo4d import projection as proj
from benchmark.data.egoexo4d.resample import Resampler, box_factor, box_reduce, rot90_maps, sampling_step

# realistic magnitudes: a GoPro at 3840x2160 (gopro_calibs.csv) and the Aria RGB camera at 2880x2880
GOPRO_PARAMS = np.array([1790.0, 1788.2, 1925.3, 1071.9, 0.0396, 0.0081, -0.0047, 0.0005])
ARIA_PARAMS = np.array([1216.3, 1457.9, 1431.2, 0.40, -0.45, -0.10, 0.60, -0.40, 0.10,
                        4.5e-4, -2.7e-4, -8.6e-4, 1.1e-4, 5.3e-4, -1.4e-4])
EXO_OUT, EGO_OUT = (480, 270), (256, 256)


def _exo_maps(video_size):
    """Kannala-Brandt undistortion of a GoPro video of ``video_size`` to the protocol's 480x270 pinhole."""
    K_out = proj.scale_to_size(proj.kb_K_dist(GOPRO_PARAMS)[0], (3840, 2160), EXO_OUT)
    return proj.undistort_maps(proj.KB3, proj.kb_rescale(GOPRO_PARAMS, (3840, 2160), video_size), K_out, EXO_OUT)


def _aria_maps(side):
    """Fisheye624 undistortion of the landscape Aria image of ``side`` (1408 recording or a downscale) to 256x256,
    f = 75."""
    p1408 = proj.fisheye624_rescale(ARIA_PARAMS, 1408 / (2880 - 64), (32, 32))
    p = proj.fisheye624_rescale(p1408, side / 1408)
    return proj.undistort_maps(proj.FISHEYE624, p, proj.pinhole_K(75, EGO_OUT), EGO_OUT)


def _smooth_image(size, channels=3):
    """(H, W, C) uint8 of low-frequency waves (gradients of at most ~8 grey levels per pixel at 96 px)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    waves = [128 + 100 * np.sin(7 * x + 3 * y), 128 + 100 * np.cos(9 * y - 2 * x), 20 + 215 * x * (1 - y)]
    return np.stack(waves[:channels], -1).round().astype(np.uint8)


def _scale_maps(factor, out_size, angle_deg=0.0, centre=None):
    """Maps (H, W, 2) sampling a source ``factor`` times sparser than the output (pixel centres aligned), turned
    by ``angle_deg`` about the output's centre, which lands on source pixel ``centre`` (default: where the
    unturned scaling puts it, ``((factor * W - 1) / 2, (factor * H - 1) / 2)``)."""
    w, h = out_size
    j, i = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    a = np.radians(angle_deg)
    mx, my = (w * factor - 1) / 2, (h * factor - 1) / 2
    dx, dy = (j + 0.5) * factor - 0.5 - mx, (i + 0.5) * factor - 0.5 - my
    cx, cy = centre if centre is not None else (mx, my)
    return np.stack([cx + np.cos(a) * dx - np.sin(a) * dy, cy + np.sin(a) * dx + np.cos(a) * dy], -1)


@contextlib.contextmanager
def _opencv_settings(optimized: bool, threads: int):
    before = cv2.useOptimized(), cv2.getNumThreads()
    cv2.setUseOptimized(optimized)
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setUseOptimized(before[0])
        cv2.setNumThreads(before[1])


# ---------------------------------------------------------------------------------------------------------------
# agreement with the float reference


@pytest.mark.parametrize("case", ["exo 796x448", "aria 448"])
def test_matches_the_float_reference_on_smooth_images(case):
    maps, size = (_exo_maps((796, 448)), (796, 448)) if case == "exo 796x448" else (_aria_maps(448), (448, 448))
    img = _smooth_image(size)
    resample = Resampler(maps, size)
    assert resample.box == 1  # the protocol's 448 downscales are not prefiltered
    out, ref = resample(img), proj.undistort(img, maps)
    assert out.shape == ref.shape == (maps.shape[0], maps.shape[1], 3) and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - ref)
    assert diff.max() <= 2 and diff.mean() < 0.1, (diff.max(), diff.mean())


def test_matches_the_reference_on_random_images_with_nan_and_out_of_range_maps():
    rng = np.random.default_rng(1)
    w, h = 37, 23
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    maps = np.stack([rng.uniform(-3, w + 2, (40, 50)), rng.uniform(-3, h + 2, (40, 50))], -1)
    maps[rng.random((40, 50)) < 0.1] = np.nan
    maps[:2, :, 0] = np.nan  # NaN in one coordinate only
    maps[2, :10] = [[-0.5, -0.5], [w - 0.5, h - 0.5], [-0.51, 3], [w - 0.49, 3], [3, -0.51], [3, h - 0.49],
                    [-0.2, h - 0.7], [w - 0.8, -0.3], [0, 0], [w - 1, h - 1]]  # the clamped band and just beyond
    out = Resampler(maps, (w, h), fill=7, prefilter=False)(img)
    ref = proj.undistort(img, maps, fill=7)
    with np.errstate(invalid="ignore"):
        outside = ~((maps[..., 0] >= -0.5) & (maps[..., 0] <= w - 0.5) & (maps[..., 1] >= -0.5)
                    & (maps[..., 1] <= h - 0.5))
    assert outside[2, :10].tolist() == [False, False, True, True, True, True, False, False, False, False]
    assert (out[outside] == 7).all() and (ref[outside] == 7).all()
    diff = np.abs(out.astype(int) - ref)[~outside]
    assert diff.max() <= 9 and diff.mean() < 2, (diff.max(), diff.mean())
    # the band within half a pixel of the outer centres is clamped onto the image, as in the reference
    np.testing.assert_array_equal(out[2, [0, 1, 6, 7, 8, 9]], img[[0, h - 1, h - 1, 0, 0, h - 1],
                                                                [0, w - 1, 0, w - 1, 0, w - 1]])


def test_hand_computed_samples_and_fill():
    # positions on the 1/32 grid are sampled exactly: the reference's hand-computed values
    img = (np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 10)
    maps = np.array([[[0.5, 0.0], [1.0, 1.5], [3.5, 2.5], [4.0, 0.0], [np.nan, 1.0]]])
    resample = Resampler(maps, (4, 3), fill=7, prefilter=False)  # these 4 samples lie > 2 px apart: no box filter
    out = resample(img)
    assert out.shape == (1, 5, 1) and out[0, :, 0].tolist() == [5, 70, 110, 7, 7]


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_identity_maps_reproduce_the_image_exactly(channels):
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (31, 45, channels), dtype=np.uint8)
    v, u = np.mgrid[0:31, 0:45].astype(float)
    out = Resampler(np.stack([u, v], -1), (45, 31))(img)
    np.testing.assert_array_equal(out, img)


def test_bits_do_not_depend_on_opencv_optimizations_or_threads():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (448, 796, 3), dtype=np.uint8)
    maps = _exo_maps((796, 448))
    maps[:5] = np.nan
    for resample in (Resampler(maps, (796, 448), fill=3),
                     Resampler(_scale_maps(4.3, (150, 80), angle_deg=7), (796, 448))):  # prefiltered (box 4)
        default = resample(img)
        with _opencv_settings(optimized=False, threads=cv2.getNumThreads()):
            plain = resample(img)
        with _opencv_settings(optimized=True, threads=1):
            single = resample(img)
        with _opencv_settings(optimized=False, threads=1):
            both = resample(img)
        for other in (plain, single, both):
            np.testing.assert_array_equal(other, default)
    assert resample.box == 4


# ---------------------------------------------------------------------------------------------------------------
# the box prefilter


def test_box_factor_rule_on_realistic_and_scaled_maps():
    assert sampling_step(_scale_maps(8, (60, 40))) == pytest.approx(8.0)
    assert box_factor(_scale_maps(8, (60, 40))) == 8
    assert box_factor(_scale_maps(8, (60, 40), angle_deg=30)) == 8  # the spacing, not its axis-aligned parts
    assert box_factor(_scale_maps(1.99, (60, 40))) == 1 and box_factor(_scale_maps(0.2, (60, 40))) == 1
    # the protocol's 448 downscales (median step ~1.4 / ~1.6): none; full-resolution videos: about 6 / 5
    assert box_factor(_exo_maps((796, 448))) == 1
    assert box_factor(_aria_maps(448)) == 1
    assert box_factor(_exo_maps((3840, 2160))) == 6
    assert box_factor(_aria_maps(1408)) == 5
    # NaN samples are left out; all NaN: no prefilter
    maps = _scale_maps(3, (20, 10))
    maps[::2] = np.nan
    assert box_factor(maps) == 3
    assert box_factor(np.full((4, 4, 2), np.nan)) == 1


def test_box_reduce_is_the_exact_rounded_block_mean():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (53, 70, 3), dtype=np.uint8)
    for k in (1, 2, 3, 17):  # 17: block sums beyond uint16
        out = box_reduce(img, k)
        h, w = 53 // k, 70 // k
        sums = img[:h * k, :w * k].astype(np.int64).reshape(h, k, w, k, 3).sum(axis=(1, 3))
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, (2 * sums + k * k) // (2 * k * k))  # halves round up
    half = np.array([[1, 2], [1, 2]], dtype=np.uint8)[..., None]  # mean 1.5
    assert box_reduce(half, 2).tolist() == [[[2]]]


def test_prefilter_removes_the_aliasing_of_a_fine_checkerboard():
    # a checkerboard of period 2 source pixels has no detail that an 8x coarser image can show: mid-grey
    y, x = np.mgrid[0:384, 0:512]
    board = np.repeat((((x + y) % 2) * 255).astype(np.uint8)[..., None], 3, axis=-1)
    maps = _scale_maps(8, (48, 36), angle_deg=5, centre=(255.5, 191.5))
    filtered = Resampler(maps, (512, 384))
    assert filtered.box == 8 and filtered._invalid.size == 0
    out = filtered(board).astype(float)
    assert np.abs(out - 127.5).max() <= 1
    # negative control: plain bilinear sampling reads 2x2 pixels here and there and shows a moire pattern
    plain = Resampler(maps, (512, 384), prefilter=False)
    assert plain.box == 1
    aliased = plain(board).astype(float)
    assert np.abs(aliased - 127.5).max() > 60 and aliased.std() > 15
    reference = proj.undistort(board, maps)  # the float reference aliases the same way (to the quantization)
    assert np.abs(aliased - reference).max() <= 9


def test_prefilter_keeps_smooth_content_and_the_geometry():
    # a 1920x1080 exo video -> 480x270 (median step 3.3): the box mean of a smooth image is its value at the block
    # centre, so the prefiltered result stays close to plain bilinear sampling of the full frame
    maps = _exo_maps((1920, 1080))
    img = _smooth_image((1920, 1080))
    resample = Resampler(maps, (1920, 1080))
    assert resample.box == 3
    diff = np.abs(resample(img).astype(int) - proj.undistort(img, maps))
    assert diff.max() <= 2 and diff.mean() < 0.5, (diff.max(), diff.mean())


def test_prefilter_with_a_size_that_is_not_a_multiple_of_the_factor():
    # 100x75 sampled at step 3 (box 3 over 99x75): the cropped column is clamped like the image edge
    img = _smooth_image((100, 75))
    maps = _scale_maps(3, (33, 25))
    maps[0, -1] = [99.4, 0.0]  # within half a pixel of the last (cropped) column: clamped, not filled
    maps[0, -2] = [99.6, 0.0]  # beyond it: filled
    resample = Resampler(maps, (100, 75), fill=9)
    assert resample.box == 3
    out = resample(img)
    ref = proj.undistort(img, maps, fill=9)
    assert (out[0, -2] == 9).all() and (ref[0, -2] == 9).all() and (out[0, -1] != 9).any()
    # elsewhere the 3x3 means of a smooth image stay close to it (the clamped sample reads a block 2 px away)
    diff = np.abs(out.astype(int) - ref)
    diff[0, -1] = 0
    assert diff.max() <= 3, diff.max()


# ---------------------------------------------------------------------------------------------------------------
# quarter turns folded into the maps


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rot90_maps_equal_turning_the_frame_and_the_result(k):
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)  # (H, W) of the frame as stored
    turned = proj.rot90_image(frame, k)
    th, tw = turned.shape[:2]
    maps = np.stack([rng.uniform(-1, tw, (20, 30)), rng.uniform(-1, th, (20, 30))], -1)
    maps[0, :5] = np.nan
    # (random positions lie far apart: without prefilter, whose crop would fall on other sides of the frame)
    expected = proj.rot90_image(Resampler(maps, (tw, th), fill=5, prefilter=False)(np.ascontiguousarray(turned)), -k)
    folded = Resampler(rot90_maps(maps, (64, 40), k), (64, 40), fill=5, prefilter=False)
    np.testing.assert_array_equal(folded(frame), expected)


# ---------------------------------------------------------------------------------------------------------------
# bad input


def test_bad_input_names_the_argument():
    maps = np.zeros((4, 5, 2))
    with pytest.raises(ValueError, match="maps: expected .*\\(H_out, W_out, 2\\)"):
        Resampler(np.zeros((4, 5, 3)), (8, 8))
    with pytest.raises(ValueError, match="maps: expected real numbers"):
        Resampler(np.zeros((4, 5, 2), dtype=complex), (8, 8))
    with pytest.raises(ValueError, match="source_size"):
        Resampler(maps, 8)
    with pytest.raises(ValueError, match="source_size: expected sides"):
        Resampler(maps, (0, 8))
    with pytest.raises(ValueError, match="fill"):
        Resampler(maps, (8, 8), fill=300)
    resample = Resampler(maps, (8, 6))
    with pytest.raises(ValueError, match="frame: expected a uint8 image"):
        resample(np.zeros((6, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="frame: expected a uint8 image"):
        resample(np.zeros((6, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="frame: expected 8x6 .*got 6x8"):
        resample(np.zeros((8, 6, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="k: expected a block side"):
        box_reduce(np.zeros((6, 8, 3), dtype=np.uint8), 7)
