"""Resizing generator outputs and inputs: aspect-preserving crop, exact pass-through, leading dimensions."""

import numpy as np

from benchmark.video_ops import resize_video


def test_crop_keeps_the_centre_of_a_wide_frame():
    video = np.zeros((2, 4, 8, 3), np.uint8)
    video[:, :, 2:6] = 200  # the centred 4x4 square
    out = resize_video(video, 4, 4, crop=True)
    assert out.shape == (2, 4, 4, 3) and np.all(out == 200)


def test_same_size_is_returned_unchanged():
    video = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_video(video, 8, 8), video)


def test_leading_dimensions_are_kept():
    video = np.full((2, 3, 16, 16, 3), 7, np.uint8)
    out = resize_video(video, 8, 8)
    assert out.shape == (2, 3, 8, 8, 3) and np.all(out == 7)
