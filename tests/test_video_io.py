"""Video files: lossless round trip, atomic writes, clear errors on bad files."""

import numpy as np
import pytest

from benchmark.video_io import VideoReadError, read_video, write_video


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_written_video_decodes_to_the_exact_frames(tmp_path, ext):
    frames = np.random.default_rng(0).integers(0, 256, size=(9, 32, 48, 3), dtype=np.uint8)
    path = write_video(tmp_path / f"v{ext}", frames, fps=8)
    np.testing.assert_array_equal(read_video(path), frames)


def test_write_leaves_no_temporary_files(tmp_path):
    write_video(tmp_path / "v.mp4", np.zeros((5, 16, 16, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_wrong_frame_count_or_size_is_reported_with_the_file(tmp_path):
    path = write_video(tmp_path / "v.mp4", np.zeros((5, 16, 16, 3), np.uint8))
    with pytest.raises(VideoReadError, match=r"v\.mp4: expected 9 frames, decoded 5"):
        read_video(path, expected_frames=9)
    with pytest.raises(VideoReadError, match=r"expected frames of size"):
        read_video(path, expected_size=(32, 32))


def test_corrupt_and_missing_files_raise_video_read_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        read_video(bad)
    with pytest.raises(VideoReadError, match="not found"):
        read_video(tmp_path / "missing.mp4")


def test_write_rejects_float_frames(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "v.mp4", np.zeros((5, 16, 16, 3), np.float32))
