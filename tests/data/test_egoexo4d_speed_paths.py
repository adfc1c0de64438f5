"""The ExoEgo4D converter's fast paths give exactly what their slow references give.

* ``closed_loop_trajectory.csv`` (1 kHz, ~300k rows a real take): pyarrow's columns and one vectorised pose
  computation equal the row-by-row reader bit for bit, and every file the fast path does not vouch for is read
  by the row-by-row reader, with its error (file, line, column) for malformed input;
* ``timesync.csv`` columns: Python ``float`` of each cell from the take's first row on, empty cells NaN,
  columns that are not numbers left out, whichever path reads the file;
* lockstep decoding with FFmpeg's frame threading gives the same frames as without;
* the lossless check of written clip videos catches a lossy file and a lost frame.

No timing is asserted here: speed is measured by ``benchmarks/convert_throughput.py``.
"""

from __future__ import annotations

import csv
import math

import av
import numpy as np
import pytest

from benchmark.data.egoexo4d import cameras as cam
from benchmark.data.egoexo4d import convert as C
from benchmark.data.egoexo4d.fixture import write_fixture
from benchmark.errors import UsageError
from benchmark.video_io import write_video

TRAJ_HEADER = ["graph_uid", "tracking_timestamp_us", "utc_timestamp_ns", "tx_world_device", "ty_world_device",
               "tz_world_device", "qx_world_device", "qy_world_device", "qz_world_device", "qw_world_device",
               "gravity_z_world", "quality_score"]


def _number_text(x: float, k: int) -> str:
    """Decimal spellings a CSV writer may use; Python's float and pyarrow must read each to the same double."""
    return [repr(x), f"{x:.20g}", f"{x:.6e}", f"{x:.9E}", f"{x:.25f}", f"{x:.12f}"][k % 6]


def _trajectory_rows(n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    t = rng.normal(size=(n, 3)) * 10.0 ** rng.integers(-9, 3, size=(n, 3))
    ts = 7_000_000 + np.cumsum(rng.integers(990, 1011, n))
    rows = []
    for i in range(n):
        cells = ["0a1b-c2d3", str(int(ts[i])), str(1_690_000_000_000_000_000 + 1000 * int(ts[i]))]
        cells += [_number_text(float(x), i + j) for j, x in enumerate(t[i])]
        cells += [_number_text(float(x), i + j) for j, x in enumerate(q[i]) if j < 4]
        cells.append(_number_text(-9.81 + 1e-3 * float(rng.normal()), i))
        cells.append("" if i % 97 == 5 else _number_text(float(rng.random()), i))  # some files leave it empty
        rows.append(cells)
    return rows


def _write(path, header, rows, newline="\n") -> None:
    path.write_text(newline.join([",".join(header), *(",".join(r) for r in rows)]) + newline)


def _outcome(read, path):
    """A reader's result as comparable bytes, or its error message."""
    try:
        traj = read(path)
    except UsageError as e:
        return ("error", str(e))
    return ("ok", traj.timestamps_us.dtype, traj.timestamps_us.tobytes(), traj.T_world_device.tobytes(),
            traj.quality.tobytes())


def test_trajectory_fast_path_equals_the_row_reader_bit_for_bit(tmp_path):
    path = tmp_path / "closed_loop_trajectory.csv"
    _write(path, TRAJ_HEADER, _trajectory_rows(3000), newline="\r\n")
    fast = cam._read_trajectory_fast(path)
    assert fast is not None, "a plain decimal file must take the fast path"
    assert fast.T_world_device.shape == (3000, 4, 4) and fast.timestamps_us.dtype == np.int64
    assert np.isnan(fast.quality[5]) and np.isfinite(fast.quality[6])
    assert _outcome(cam.read_closed_loop_trajectory, path) == _outcome(cam._read_trajectory_rows, path)


def test_trajectory_fast_path_on_the_fixture_files(tmp_path):
    truth = write_fixture(tmp_path / "egoexo", n_takes=1, n_frames=8, supersample=1)
    path = truth.takes[0].take_dir / "trajectory" / "closed_loop_trajectory.csv"
    assert cam._read_trajectory_fast(path) is not None
    assert _outcome(cam.read_closed_loop_trajectory, path) == _outcome(cam._read_trajectory_rows, path)


def _edit(rows, i, column, value):
    rows = [list(r) for r in rows]
    rows[i][TRAJ_HEADER.index(column)] = value
    return rows


BASE = _trajectory_rows(6, seed=1)
# (name, header, rows, newline, fast path used): the public reader must give what the row reader gives, result
# or error; the fast path must refuse every file it cannot vouch for
CASES = [
    ("blank lines, CRLF", TRAJ_HEADER, BASE[:3] + [[]] + BASE[3:], "\r\n", True),
    ("reordered columns", TRAJ_HEADER[::-1], [r[::-1] for r in BASE], "\n", True),
    ("hexadecimal timestamp", TRAJ_HEADER, _edit(BASE, 0, "tracking_timestamp_us", "0x10"), "\n", False),
    ("timestamp with _", TRAJ_HEADER, _edit(BASE, 0, "tracking_timestamp_us", "1_000"), "\n", False),
    ("float timestamp", TRAJ_HEADER, _edit(BASE, 2, "tracking_timestamp_us", "7000500.0"), "\n", False),
    ("spaces around a number", TRAJ_HEADER, _edit(BASE, 1, "tx_world_device", " 0.25 "), "\n", False),
    ("word in a number", TRAJ_HEADER, _edit(BASE, 3, "ty_world_device", "abc"), "\n", False),
    ("empty required cell", TRAJ_HEADER, _edit(BASE, 4, "qw_world_device", ""), "\n", False),
    ("nan quality", TRAJ_HEADER, _edit(BASE, 2, "quality_score", "nan"), "\n", False),
    ("inf position", TRAJ_HEADER, _edit(BASE, 2, "tz_world_device", "inf"), "\n", False),
    ("timestamps not increasing", TRAJ_HEADER, _edit(BASE, 3, "tracking_timestamp_us", BASE[2][1]), "\n", False),
    ("non-unit quaternion", TRAJ_HEADER, _edit(BASE, 5, "qw_world_device", "3.5"), "\n", False),
    ("quoted cell", TRAJ_HEADER, _edit(BASE, 1, "tx_world_device", '"0.5"'), "\n", False),
    ("non-ASCII text", TRAJ_HEADER, _edit(BASE, 1, "graph_uid", "caf\u00e9"), "\n", False),
    ("short row", TRAJ_HEADER, BASE[:2] + [BASE[2][:-3]] + BASE[3:], "\n", False),
    ("long row", TRAJ_HEADER, BASE[:2] + [BASE[2] + ["7"]] + BASE[3:], "\n", False),
    ("line of spaces", TRAJ_HEADER, BASE[:2] + [["  "]] + BASE[2:], "\n", False),
    ("repeated column", TRAJ_HEADER + ["tx_world_device"], [r + ["9.0"] for r in BASE], "\n", False),
    ("header only", TRAJ_HEADER, [], "\n", False),
    ("missing column", TRAJ_HEADER[:-3], [r[:-3] for r in BASE], "\n", False),
]


@pytest.mark.parametrize("name, header, rows, newline, fast", CASES, ids=[c[0] for c in CASES])
def test_trajectory_reader_reads_every_file_as_the_row_reader(tmp_path, name, header, rows, newline, fast):
    path = tmp_path / "closed_loop_trajectory.csv"
    _write(path, header, rows, newline)
    assert (cam._read_trajectory_fast(path) is not None) is fast
    expected = _outcome(cam._read_trajectory_rows, path)
    assert _outcome(cam.read_closed_loop_trajectory, path) == expected
    if expected[0] == "error":  # the message names the file and, for a bad cell, its line and column
        assert str(path) in expected[1]


def test_trajectory_errors_keep_line_and_column(tmp_path):
    path = tmp_path / "closed_loop_trajectory.csv"
    _write(path, TRAJ_HEADER, _edit(BASE, 3, "ty_world_device", "abc"))
    with pytest.raises(cam.CameraFileError, match=r"line 5, column 'ty_world_device'.*expected a number, got 'abc'"):
        cam.read_closed_loop_trajectory(path)


# ---------------------------------------------------------------------------------------------------------------
# timesync


def _timesync_reference(path, first: int) -> dict:
    """The specification: rows ``first``.. of csv.DictReader, each column Python float of its cells (empty:
    NaN), columns with a cell float() refuses left out."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))[first:]
    out = {}
    for key in rows[0]:
        try:
            out[key] = np.array([float(r[key]) if r[key] not in ("", None) else math.nan for r in rows])
        except ValueError:
            pass
    return out


def _timesync_file(tmp_path, quote: bool = False):
    rng = np.random.default_rng(3)
    header = ["cam01_global_time", "aria01_214-1_capture_timestamp_ns", "cam02_global_time", "note", "late_numbers",
              "odd_but_numbers", "gaps"]
    rows = []
    for r in range(40):
        t = 1000.0 + r / 30.0 + float(rng.normal()) * 1e-7
        rows.append([_number_text(t, r), str(12_345_678_901_234 + 33_333_333 * r), f"{t:.6f}",
                     "ok" if r % 3 else "", "x" if r < 4 else repr(t), [" 1.5", "nan", "-inf", "1_0", "2"][r % 5],
                     "" if r % 4 == 1 else repr(-t)])
    if quote:
        rows[-1][3] = '"quoted"'
    path = tmp_path / "captures" / "cap" / "timesync.csv"
    path.parent.mkdir(parents=True)
    _write(path, header, rows, newline="\r\n")
    return path


@pytest.mark.parametrize("quote", [False, True], ids=["fast path", "csv module path"])
def test_timesync_columns_are_python_floats_of_the_take_rows(tmp_path, quote):
    path = _timesync_file(tmp_path, quote)
    assert (cam.fast_csv_columns(path) is None) is quote
    take = {"timesync_start_idx": 5, "_capture": {"timesync_csv_path": "captures/cap/timesync.csv"}}
    cols, where = C._timesync(tmp_path, take)
    assert where == str(path)
    expected = _timesync_reference(path, 6)
    assert set(expected) == {"cam01_global_time", "aria01_214-1_capture_timestamp_ns", "cam02_global_time",
                             "late_numbers", "odd_but_numbers", "gaps"}  # "note" is text
    assert list(cols) == list(expected)
    for key, values in expected.items():
        assert cols[key].dtype == np.float64 and cols[key].tobytes() == values.tobytes(), key
    cols, why = C._timesync(tmp_path, dict(take, timesync_start_idx=39))
    assert cols is None and why == f"{path}: 40 rows, the take starts after row 40"


# ---------------------------------------------------------------------------------------------------------------
# decoding and the lossless check


def _lossy_video(path, frames, crf: int = 28) -> None:
    """H.264 4:2:0 (lossy, with B-frames), the kind of file a download holds."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "g": "8", "bf": "2"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))


def _moving_frames(n: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 256, (h, w, 3))
    return np.stack([((base + 3 * (xx + 2 * t)[..., None] + (yy * t)[..., None]) % 256).astype(np.uint8)
                     for t in range(n)])


def test_lockstep_decoding_with_frame_threads_gives_the_same_frames(tmp_path):
    paths = {"aria01": tmp_path / "aria.mp4", "cam01": tmp_path / "cam01.mp4"}
    _lossy_video(paths["aria01"], _moving_frames(24, 48, 48, 0))
    _lossy_video(paths["cam01"], _moving_frames(24, 36, 64, 1))
    decoded = {}
    for threads in (False, True):
        decoded[threads] = [(i, {c: C._to_rgb(f) for c, f in frames.items()})
                            for i, frames in C._decode_lockstep(paths, 20, threads=threads)]
    assert [i for i, _ in decoded[True]] == list(range(21))
    for (i, plain), (_, threaded) in zip(decoded[False], decoded[True]):
        for c in paths:
            assert plain[c].shape == threaded[c].shape and np.array_equal(plain[c], threaded[c]), (i, c)
    with pytest.raises(C._Skip, match="ended at frame 24"):
        list(C._decode_lockstep(paths, 30, threads=True))


def test_lossless_check_passes_lossless_files_and_catches_lossy_ones(tmp_path):
    frames = _moving_frames(6, 32, 48, 2)
    good = write_video(tmp_path / "good.mp4", frames)
    assert C._lossless_error(good, frames) == 0
    lossy = tmp_path / "lossy.mp4"
    _lossy_video(lossy, frames, crf=35)
    assert C._lossless_error(lossy, frames) > 0
    short = write_video(tmp_path / "short.mp4", frames[:5])
    with pytest.raises(RuntimeError, match=r"short\.mp4: lossless video check failed: 6 frames of 48x32 written, "
                                           r"5 of 48x32 decoded"):
        C._lossless_error(short, frames)
