"""The converter's YUV -> RGB step gives the same bits on every CPU (OpenCV's fixed-point path) and the colours
libswscale gives, to within its rounding."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from benchmark.data.egoexo4d.convert import _to_rgb


def _decoded_frames(tmp_path, size=(96, 64), n=3, pix_fmt="yuv420p", color_range=None):
    """Encode ``n`` smooth colour frames as H.264 ``pix_fmt`` and decode them back as PyAV frames."""
    w, h = size
    path = tmp_path / f"clip_{pix_fmt}.mp4"
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if color_range is not None:
            s.codec_context.color_range = color_range
        for t in range(n):
            rgb = np.stack([(xx * 255 // w + 20 * t) % 256, yy * 255 // h, (xx + yy) % 256], -1).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(str(path)) as c:
        return [f for f in c.decode(video=0)]


def test_limited_range_420_goes_through_opencv_bit_exactly(tmp_path):
    frames = _decoded_frames(tmp_path)
    assert frames and all(f.format.name == "yuv420p" for f in frames)
    fast = [_to_rgb(f) for f in frames]
    was = cv2.useOptimized()
    try:
        cv2.setUseOptimized(False)  # OpenCV's plain C++ path: what a CPU without its SIMD kernels computes
        plain = [_to_rgb(f) for f in frames]
    finally:
        cv2.setUseOptimized(was)
    for a, b, f in zip(fast, plain, frames):
        assert a.shape == (f.height, f.width, 3) and a.dtype == np.uint8
        assert np.array_equal(a, b)
        assert np.array_equal(a, cv2.cvtColor(f.to_ndarray(), cv2.COLOR_YUV2RGB_I420))  # not libswscale's kernels
        # the same colours as libswscale, up to rounding
        sws = f.to_ndarray(format="rgb24")
        diff = np.abs(a.astype(np.int16) - sws.astype(np.int16))
        assert diff.max() <= 3 and diff.mean() < 1.5


def test_formats_opencv_does_not_cover_fall_back_to_libswscale(tmp_path):
    frames = _decoded_frames(tmp_path, pix_fmt="yuv444p")
    for f in frames:
        assert np.array_equal(_to_rgb(f), f.to_ndarray(format="rgb24"))


@pytest.mark.parametrize("size", [(95, 64), (96, 63)])
def test_odd_sizes_fall_back_to_libswscale(size):
    rgb = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    assert np.array_equal(_to_rgb(frame), frame.to_ndarray(format="rgb24"))
