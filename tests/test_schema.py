"""The clip schema: inputs hide ground truth; validation names the clip and the field."""

import numpy as np
import pytest

from benchmark.cameras import intrinsics_from_fov, look_at
from benchmark.schema import ClipValidationError, ExoEgoClip, ExoEgoInputs, check_generated_video


def make_clip(V=2, T=5, H=16, W=16, He=16, We=24, clip_id="c0"):
    rng = np.random.default_rng(0)
    exo_T = np.stack([look_at(np.array([2.0 * np.cos(a), 2.0 * np.sin(a), 1.5]), np.zeros(3))
                      for a in np.linspace(0, np.pi, V)])
    ego_T = np.stack([look_at(np.array([0.0, -0.3, 1.6]), np.array([0.0, 0.3 + 0.01 * t, 0.8])) for t in range(T)])
    return ExoEgoClip(
        clip_id=clip_id, category="pick-place", fps=8.0, text="a person",
        exo_video=rng.integers(0, 256, (V, T, He, We, 3), dtype=np.uint8), exo_cam_ids=[f"cam{i + 1:02d}" for i in range(V)],
        exo_K=np.stack([intrinsics_from_fov(He, We, 90.0)] * V), exo_T_world_cam=exo_T,
        ego_K=intrinsics_from_fov(H, W, 90.0), ego_T_world_cam=ego_T,
        ego_video=rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8),
    )


def test_inputs_carry_no_ground_truth_in_the_default_track():
    inputs = make_clip().validate().inputs()
    assert isinstance(inputs, ExoEgoInputs)
    assert not hasattr(inputs, "ego_video") and inputs.ego_first_frame is None
    assert (inputs.num_frames, inputs.ego_height, inputs.ego_width) == (5, 16, 16)


def test_first_frame_track_adds_only_the_first_ego_frame():
    clip = make_clip()
    inputs = clip.inputs("first-frame")
    np.testing.assert_array_equal(inputs.ego_first_frame, clip.ego_video[0])


def test_unknown_track_is_rejected():
    with pytest.raises(ValueError, match="unknown track"):
        make_clip().inputs("oracle")


def test_validation_names_clip_and_field():
    clip = make_clip(clip_id="broken-7")
    bad = ExoEgoClip(**{**clip.__dict__, "ego_T_world_cam": clip.ego_T_world_cam[:3]})
    with pytest.raises(ClipValidationError, match=r"clip 'broken-7': ego_T_world_cam must have shape \(5, 4, 4\)"):
        bad.validate()
    short = ExoEgoClip(**{**clip.__dict__, "exo_video": clip.exo_video[:, :4]})
    with pytest.raises(ClipValidationError, match="exo_video has 4 frames but ego_video has 5"):
        short.validate()


def test_select_views_keeps_fields_consistent():
    inputs = make_clip(V=3).inputs().select_views([2, 0])
    assert inputs.num_views == 2 and inputs.exo_cam_ids == ["cam03", "cam01"]
    assert inputs.exo_K.shape == (2, 3, 3) and inputs.exo_T_world_cam.shape == (2, 4, 4)


@pytest.mark.parametrize("video, message", [
    (np.zeros((5, 16, 16, 3), np.float32), "expected dtype uint8"),
    (np.full((5, 16, 16, 3), np.nan, np.float32), "NaN"),
    (np.zeros((4, 16, 16, 3), np.uint8), r"expected shape \(T, H, W, 3\) = \(5, 16, 16, 3\)"),
    ([[0]], "expected a uint8 numpy array"),
])
def test_generated_video_checks_name_method_clip_and_expectation(video, message):
    inputs = make_clip(clip_id="c9").inputs()
    with pytest.raises(ClipValidationError, match=message) as info:
        check_generated_video(video, inputs, "my-method")
    assert "method 'my-method' on clip 'c9'" in str(info.value)


def test_closest_exo_view_compares_viewing_directions():
    clip = make_clip(V=3)  # exo cameras on a half circle, all looking at the origin
    inputs = clip.inputs()
    ego_dir = clip.ego_T_world_cam[:, :3, 2].mean(0)
    cos = [T[:3, 2] @ ego_dir / np.linalg.norm(ego_dir) for T in clip.exo_T_world_cam]
    assert inputs.closest_exo_view() == int(np.argmax(cos))
    assert inputs.closest_exo_view(frame=0) == int(np.argmax([T[:3, 2] @ clip.ego_T_world_cam[0, :3, 2]
                                                             for T in clip.exo_T_world_cam]))
