"""Property-based tests (hypothesis) of the clip schema: what validation accepts, what it rejects and how it says so.

* ``ExoEgoClip.validate`` accepts every well-formed clip of any size (views, frames, resolutions, static or
  per-frame exo poses, with or without depth) and returns it unchanged;
* each kind of malformed field is rejected with a ``ClipValidationError`` whose message names the clip and the
  field, whatever the clip's sizes;
* ``check_generated_video`` passes exactly the uint8 (T, H, W, 3) outputs of the clip's size and rejects every
  other dtype, shape or type naming the method and the clip.
"""

import dataclasses
import string

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmark.schema import ClipValidationError, ExoEgoClip, check_generated_video

# derandomize: the same examples on every run and machine; no example database written into the checkout.
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)

clip_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=16)
side = st.integers(1, 6)


def _rotation(q):
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@st.composite
def poses(draw, *shape):
    """Rigid camera-to-world poses of the given leading shape, float64 (..., 4, 4)."""
    n = int(np.prod(shape)) if shape else 1
    q = draw(hnp.arrays(np.float64, (n, 4), elements=st.floats(-1, 1)).filter(
        lambda q: np.all(np.linalg.norm(q, axis=1) > 0.1)))
    t = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(-10, 10)))
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = [_rotation(x) for x in q]
    T[:, :3, 3] = t
    return T.reshape(*shape, 4, 4)


@st.composite
def intrinsics(draw, n=None):
    """Pinhole K (3, 3) (or (n, 3, 3)) with positive focal lengths."""
    def one():
        f = draw(st.floats(5.0, 500.0))
        return np.array([[f, 0.0, draw(st.floats(0.0, 8.0))], [0.0, f, draw(st.floats(0.0, 8.0))], [0.0, 0.0, 1.0]])
    return one() if n is None else np.stack([one() for _ in range(n)])


def videos(*shape):
    return hnp.arrays(np.uint8, shape, elements=st.integers(0, 255))


@st.composite
def clips(draw):
    """A well-formed ExoEgoClip with random sizes: V views, T frames, ego H x W, exo He x We."""
    V, T, H, W, He, We = (draw(side) for _ in range(6))
    V, T = min(V, 3), min(T, 4)
    static = draw(st.booleans())
    return ExoEgoClip(
        clip_id=draw(clip_ids), category=draw(st.sampled_from(["pick-place", "stack", "pour"])),
        fps=draw(st.floats(1.0, 60.0)), text=draw(st.text(alphabet=string.printable, max_size=20)),
        exo_video=draw(videos(V, T, He, We, 3)), exo_cam_ids=[f"cam{i + 1:02d}" for i in range(V)],
        exo_K=draw(intrinsics(V)), exo_T_world_cam=draw(poses(V) if static else poses(V, T)),
        ego_K=draw(intrinsics()), ego_T_world_cam=draw(poses(T)), ego_video=draw(videos(T, H, W, 3)),
        exo_depth=draw(st.none() | hnp.arrays(np.float32, (V, T, He, We), elements=st.floats(0, 20, width=32))),
        ego_depth=draw(st.none() | hnp.arrays(np.float32, (T, H, W), elements=st.floats(0, 20, width=32))),
    )


@FAST
@given(clips())
def test_every_well_formed_clip_validates_and_is_returned_unchanged(clip):
    assert clip.validate() is clip
    inputs = clip.inputs()
    assert (inputs.num_frames, inputs.ego_height, inputs.ego_width) == clip.ego_video.shape[:3]
    assert inputs.num_views == clip.num_views and inputs.exo_T_world_cam_per_frame().shape == (
        clip.num_views, clip.num_frames, 4, 4)


@FAST
@given(clips(), st.sampled_from(["exo-only", "first-frame"]))
def test_inputs_never_carry_ground_truth_beyond_the_tracks_first_frame(clip, track):
    inputs = clip.inputs(track)
    assert not hasattr(inputs, "ego_video") and not hasattr(inputs, "ego_depth")
    if track == "first-frame":
        np.testing.assert_array_equal(inputs.ego_first_frame, clip.ego_video[0])
        assert not np.shares_memory(inputs.ego_first_frame, clip.ego_video)  # a copy: editing it cannot touch GT
    else:
        assert inputs.ego_first_frame is None


@FAST
@given(clips(), st.data())
def test_select_views_keeps_every_per_view_field_aligned(clip, data):
    V = clip.num_views
    idx = data.draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=V, unique=True))
    sub = clip.inputs().select_views(idx)
    assert sub.num_views == len(idx) and sub.exo_cam_ids == [clip.exo_cam_ids[i] for i in idx]
    for j, i in enumerate(idx):
        np.testing.assert_array_equal(sub.exo_video[j], clip.exo_video[i])
        np.testing.assert_array_equal(sub.exo_K[j], clip.exo_K[i])
        np.testing.assert_array_equal(sub.exo_T_world_cam[j], clip.exo_T_world_cam[i])
        if clip.exo_depth is not None:
            np.testing.assert_array_equal(sub.exo_depth[j], clip.exo_depth[i])


@FAST
@given(clips(), poses(), st.sampled_from([None, 0]))
def test_closest_exo_view_does_not_depend_on_the_world_frame(clip, G, frame):
    inputs = clip.inputs()
    ego_z = inputs.ego_T_world_cam[:, :3, 2]
    exo_z = inputs.exo_T_world_cam_per_frame()[..., :3, 2]
    if frame is None:
        ego_dir, exo_dirs = ego_z.mean(0), exo_z.mean(1)
    else:
        ego_dir, exo_dirs = ego_z[frame], exo_z[:, frame]
    assume(np.linalg.norm(ego_dir) > 1e-3 and np.all(np.linalg.norm(exo_dirs, axis=-1) > 1e-3))
    cos = np.sort(exo_dirs @ ego_dir / np.linalg.norm(exo_dirs, axis=-1) / np.linalg.norm(ego_dir))
    assume(len(cos) == 1 or cos[-1] - cos[-2] > 1e-6)  # a tie may go either way after rounding
    moved = dataclasses.replace(inputs, ego_T_world_cam=G @ inputs.ego_T_world_cam,
                                exo_T_world_cam=G @ inputs.exo_T_world_cam)
    assert moved.closest_exo_view(frame) == inputs.closest_exo_view(frame)


# --- malformed clips -----------------------------------------------------------------------------------------------

def _wrong_dtype(x, dtype):
    return x.astype(dtype)


def _malformations(clip):
    """(field named in the error, the broken clip) for each kind of mistake, built for this clip's sizes."""
    V, T = clip.num_views, clip.num_frames
    ev, xv = clip.ego_video, clip.exo_video
    He, We = xv.shape[2:4]
    H, W = ev.shape[1:3]
    r = dataclasses.replace
    cases = [
        ("ego_video", r(clip, ego_video=_wrong_dtype(ev, np.float32))),
        ("ego_video", r(clip, ego_video=_wrong_dtype(ev, np.uint16))),
        ("ego_video", r(clip, ego_video=ev[0])),  # (H, W, 3): one frame, not a video
        ("ego_video", r(clip, ego_video=np.concatenate([ev, ev[..., :1]], axis=-1))),  # RGBA
        ("ego_video", r(clip, ego_video=ev.tolist())),
        ("exo_video", r(clip, exo_video=_wrong_dtype(xv, np.float64))),
        ("exo_video", r(clip, exo_video=xv[0])),  # one view without its view axis
        ("exo_video", r(clip, exo_video=xv[..., :1])),  # grey
        ("exo_video", r(clip, exo_video=xv[:0], exo_cam_ids=[], exo_K=clip.exo_K[:0],
                        exo_T_world_cam=clip.exo_T_world_cam[:0], exo_depth=None)),  # no views
        ("exo_video", r(clip, exo_video=np.concatenate([xv, xv[:, :1]], axis=1))),  # one frame more than the ego
        ("exo_cam_ids", r(clip, exo_cam_ids=list(clip.exo_cam_ids) + ["extra"])),
        ("exo_K", r(clip, exo_K=np.concatenate([clip.exo_K, clip.exo_K[:1]]))),
        ("exo_K", r(clip, exo_K=clip.exo_K[0])),
        ("exo_T_world_cam", r(clip, exo_T_world_cam=np.concatenate([clip.exo_T_world_cam, clip.exo_T_world_cam[:1]]))),
        ("exo_T_world_cam", r(clip, exo_T_world_cam=np.zeros((V, T + 1, 4, 4)))),
        ("exo_T_world_cam", r(clip, exo_T_world_cam=clip.exo_T_world_cam[..., :3, :])),
        ("ego_K", r(clip, ego_K=clip.ego_K[None])),
        ("ego_K", r(clip, ego_K=clip.ego_K[:2])),
        ("ego_T_world_cam", r(clip, ego_T_world_cam=np.concatenate([clip.ego_T_world_cam, clip.ego_T_world_cam[:1]]))),
        ("ego_T_world_cam", r(clip, ego_T_world_cam=clip.ego_T_world_cam[0])),
        ("ego_T_world_cam", r(clip, ego_T_world_cam=clip.ego_T_world_cam[:, :3])),
        ("exo_depth", r(clip, exo_depth=np.zeros((V, T, He + 1, We), np.float32))),
        ("exo_depth", r(clip, exo_depth=np.zeros((V, T, He, We, 1), np.float32))),
        ("ego_depth", r(clip, ego_depth=np.zeros((T, H, W + 1), np.float32))),
        ("ego_depth", r(clip, ego_depth=np.zeros((T + 1, H, W), np.float32))),
    ]
    if T > 1:
        cases.append(("exo_video", r(clip, exo_video=xv[:, :-1])))
        cases.append(("ego_T_world_cam", r(clip, ego_T_world_cam=clip.ego_T_world_cam[:-1])))
    return cases


@FAST
@given(clips())
def test_each_kind_of_malformed_field_is_rejected_naming_clip_and_field(clip):
    for field, broken in _malformations(clip):  # every kind on every drawn clip, not one kind per clip
        with pytest.raises(ClipValidationError) as info:
            broken.validate()
        message = str(info.value)
        assert f"clip {clip.clip_id!r}" in message and field in message, message


@FAST
@given(clips(), st.sampled_from(["exo_K", "exo_T_world_cam", "ego_K", "ego_T_world_cam"]),
       st.sampled_from([np.nan, np.inf, -np.inf]), st.data())
def test_a_single_non_finite_camera_value_is_rejected_naming_the_field(clip, field, bad, data):
    values = getattr(clip, field).copy()
    values.flat[data.draw(st.integers(0, values.size - 1), label="position")] = bad
    with pytest.raises(ClipValidationError, match=f"clip {clip.clip_id!r}: {field} has non-finite values"):
        dataclasses.replace(clip, **{field: values}).validate()


# --- generator outputs ---------------------------------------------------------------------------------------------

@FAST
@given(clips(), st.data())
def test_a_uint8_output_of_the_clips_size_passes_unchanged(clip, data):
    inputs = clip.inputs()
    video = data.draw(videos(*clip.ego_video.shape))
    assert check_generated_video(video, inputs, "m") is video
    as_tensor = check_generated_video(torch.from_numpy(video.copy()), inputs, "m")  # torch accepted, exactly
    assert isinstance(as_tensor, np.ndarray) and as_tensor.dtype == np.uint8
    np.testing.assert_array_equal(as_tensor, video)


@FAST
@given(clips(), st.sampled_from([np.float16, np.float32, np.float64, np.int16, np.int32, np.uint16, np.int8, np.bool_]))
def test_outputs_of_any_other_dtype_are_rejected_not_rescaled(clip, dtype):
    video = np.zeros(clip.ego_video.shape, dtype)
    with pytest.raises(ClipValidationError, match="expected dtype uint8") as info:
        check_generated_video(video, clip.inputs(), "my-method")
    assert f"method 'my-method' on clip {clip.clip_id!r}" in str(info.value)


@FAST
@given(clips(), st.sampled_from([np.nan, np.inf, -np.inf]), st.data())
def test_float_outputs_with_non_finite_values_are_reported_as_such(clip, bad, data):
    video = np.zeros(clip.ego_video.shape, np.float32)
    video.flat[data.draw(st.integers(0, video.size - 1), label="position")] = bad
    with pytest.raises(ClipValidationError, match="NaN or infinite"):
        check_generated_video(video, clip.inputs(), "m")


@FAST
@given(clips(), st.integers(0, 3), st.sampled_from([-1, 1]))
def test_outputs_of_any_other_shape_are_rejected_with_the_expected_shape(clip, axis, delta):
    shape = list(clip.ego_video.shape)
    shape[axis] += delta
    assume(shape[axis] >= 0)
    with pytest.raises(ClipValidationError, match=r"expected shape \(T, H, W, 3\) = " + str(clip.ego_video.shape)
                       .replace("(", r"\(").replace(")", r"\)")) as info:
        check_generated_video(np.zeros(shape, np.uint8), clip.inputs(), "m")
    assert f"clip {clip.clip_id!r}" in str(info.value)


@FAST
@given(clips(), st.sampled_from(["list", "none", "string", "frames-without-time"]))
def test_outputs_that_are_not_arrays_or_lack_an_axis_are_rejected(clip, kind):
    video = {"list": clip.ego_video.tolist(), "none": None, "string": "video.mp4",
             "frames-without-time": clip.ego_video[0]}[kind]
    with pytest.raises(ClipValidationError, match=f"method 'm' on clip {clip.clip_id!r}"):
        check_generated_video(video, clip.inputs(), "m")
