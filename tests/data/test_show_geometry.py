"""The geometry `data show` draws to check cameras by eye: the ego frustum and line of sight in the exo views."""

import numpy as np
import pytest

from benchmark.cameras import intrinsics_from_fov, look_at
from benchmark.data.show import (FRUSTUM_DEPTH_M, SIGHT_DISTANCES_M, ego_check_points, ego_overlay, project_check,
                                 show_clip)
from benchmark.schema import ExoEgoClip

K_EXO = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])  # 100 x 80 image
EXO_SIZE = (80, 100)  # (H, W)
EGO_SIZE = (48, 64)


def _clip(ego_eye, ego_target, exo_eyes, exo_target, T=2) -> ExoEgoClip:
    """A clip with known cameras (images black): the ego camera at ego_eye looking at ego_target."""
    V = len(exo_eyes)
    T_ego = np.repeat(look_at(ego_eye, ego_target)[None], T, axis=0)
    T_exo = np.stack([look_at(e, exo_target) for e in exo_eyes])
    return ExoEgoClip(
        clip_id="geometry", category="test", fps=8.0, text="", exo_cam_ids=[f"cam{v}" for v in range(V)],
        exo_video=np.zeros((V, T, *EXO_SIZE, 3), np.uint8), exo_K=np.repeat(K_EXO[None], V, axis=0),
        exo_T_world_cam=T_exo, ego_K=intrinsics_from_fov(*EGO_SIZE, 90.0), ego_T_world_cam=T_ego,
        ego_video=np.zeros((T, *EGO_SIZE, 3), np.uint8))


def test_points_project_where_the_pinhole_model_says():
    T = np.eye(4)  # camera at the origin looking along +z
    points = np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0]])
    uv, in_front, in_view = project_check(K_EXO, T, EXO_SIZE, points)
    # u = fx x / z + cx, v = fy y / z + cy
    assert np.allclose(uv, [[100 * 0.05 + 50, 100 * -0.1 + 40], [50, 40]], atol=1e-12)
    assert in_front.all() and in_view.all()


def test_a_point_behind_the_camera_or_outside_its_image_is_not_drawn():
    T = look_at([0.0, 0.0, 0.0], [1.0, 0.0, 0.0])  # looking along +x
    points = np.array([[-2.0, 0.0, 0.0],   # behind
                       [2.0, 0.0, 0.0],    # straight ahead: the principal point
                       [1.0, -5.0, 0.0]])  # in front, far to the side: outside the image
    uv, in_front, in_view = project_check(K_EXO, T, EXO_SIZE, points)
    assert in_front.tolist() == [False, True, True]
    assert in_view.tolist() == [False, True, False]
    assert np.allclose(uv[1], [50, 40])


def test_frustum_corners_and_sight_points_project_back_onto_the_ego_image():
    K = np.array([[70.0, 0.0, 30.0], [0.0, 65.0, 25.0], [0.0, 0.0, 1.0]])  # principal point off the image centre
    T = look_at([1.0, 2.0, 1.6], [3.0, 0.5, 0.9])
    H, W = EGO_SIZE
    pts = ego_check_points(K, T, EGO_SIZE)
    assert pts.image_centre == ((W - 1) / 2, (H - 1) / 2)
    uv, in_front, _ = project_check(K, T, EGO_SIZE, pts.corners)
    assert in_front.all()
    assert np.allclose(uv, [[-0.5, -0.5], [W - 0.5, -0.5], [W - 0.5, H - 0.5], [-0.5, H - 0.5]], atol=1e-9)
    depth = (pts.corners - pts.centre) @ T[:3, 2]  # along the optical axis
    assert np.allclose(depth, FRUSTUM_DEPTH_M)
    uv, _, in_view = project_check(K, T, EGO_SIZE, pts.sight)
    assert in_view.all() and np.allclose(uv, pts.image_centre, atol=1e-9)
    assert np.allclose(np.linalg.norm(pts.sight - pts.centre, axis=1), SIGHT_DISTANCES_M)


def _distance_to_polyline(p, segments) -> float:
    best = np.inf
    for a, b in segments:
        a, b = np.asarray(a), np.asarray(b)
        s = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
        best = min(best, float(np.linalg.norm(p - (a + s * (b - a)))))
    return best


def test_the_line_of_sight_passes_through_what_the_ego_camera_looks_at_in_every_exo_view():
    target = np.array([2.5, 0.3, 0.9])  # 2.6 m from the ego camera: between the 2 m and 4 m points
    exo_eyes = [[1.0, -3.0, 2.0], [4.5, 2.0, 2.2], [-1.0, 2.5, 1.8]]
    clip = _clip([0.0, 0.0, 1.6], target, exo_eyes, exo_target=[1.2, 0.2, 1.2])
    for v in range(len(exo_eyes)):
        overlay = ego_overlay(clip, v, 0)
        (uv_target,), _, in_view = project_check(K_EXO, clip.exo_T_world_cam[v], EXO_SIZE, target[None])
        assert in_view[0]
        assert len(overlay["sight_line"]) == len(SIGHT_DISTANCES_M)  # centre -> 0.5 m -> 1 -> 2 -> 4 m
        assert _distance_to_polyline(uv_target, overlay["sight_line"]) < 1e-6
        assert overlay["centre"] is not None and len(overlay["frustum"]) == 8

    # negative control: an ego camera turned about 20 degrees to the side looks elsewhere. One view may see the
    # turned line pass close to the target by chance (depth is ambiguous in one view), not every view does.
    turned = _clip([0.0, 0.0, 1.6], [2.5, 1.3, 0.9], exo_eyes, exo_target=[1.2, 0.2, 1.2])
    misses = []
    for v in range(len(exo_eyes)):
        (uv_target,), _, _ = project_check(K_EXO, turned.exo_T_world_cam[v], EXO_SIZE, target[None])
        misses.append(_distance_to_polyline(uv_target, ego_overlay(turned, v, 0)["sight_line"]))
    assert sum(m > 5.0 for m in misses) >= 2 and max(misses) > 20.0


def test_an_exo_camera_facing_away_draws_nothing_of_the_ego_camera():
    # the exo camera at x = 5 looks further along +x: the ego camera and everything it looks at are behind it
    clip = _clip([0.0, 0.0, 1.6], [2.0, 0.0, 1.0], [[5.0, 0.0, 1.5]], exo_target=[9.0, 0.0, 1.5])
    overlay = ego_overlay(clip, 0, 0)
    assert overlay["centre"] is None and overlay["corners"] == [None] * 4
    assert overlay["sight"] == [None] * len(SIGHT_DISTANCES_M)
    assert overlay["frustum"] == [] and overlay["sight_line"] == []


def test_points_that_leave_the_image_are_dropped_but_lines_to_them_are_kept_for_clipping():
    # the exo camera sees the ego camera, but the far sight points lie outside its image (to its right)
    clip = _clip([0.0, 0.0, 1.6], [0.0, 4.0, 1.6], [[1.5, 0.0, 1.6]], exo_target=[0.0, 0.3, 1.6])
    overlay = ego_overlay(clip, 0, 0)
    assert overlay["centre"] is not None
    drawn = [p is not None for p in overlay["sight"]]
    assert drawn[0] and not drawn[-1]
    assert len(overlay["sight_line"]) == len(SIGHT_DISTANCES_M)  # every end is in front of the camera


@pytest.mark.parametrize("per_frame", [False, True])
def test_show_clip_draws_the_overlay_for_static_and_moving_exo_cameras(tmp_path, per_frame):
    clip = _clip([0.0, 0.0, 1.6], [2.5, 0.3, 0.9], [[1.0, -3.0, 2.0]], exo_target=[1.2, 0.2, 1.2])
    if per_frame:
        clip = ExoEgoClip(**{**clip.__dict__,
                             "exo_T_world_cam": np.repeat(clip.exo_T_world_cam[:, None], clip.num_frames, axis=1)})
    out = show_clip(clip, tmp_path / "sheet.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
