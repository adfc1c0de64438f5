"""The SynthEgoExo renderer: determinism, geometry end to end, the ego camera, splits and activities."""

import numpy as np
import pytest
import torch

from benchmark.cameras import (camera_centre, intrinsics_from_fov, invert_se3, look_at, project_points,
                               transform_points, unproject_depth)
from benchmark.data.synth.raycast import Materials, SceneTensors, render_camera
from benchmark.data.synth.render import SynthConfig, render_clip
from benchmark.data.synth.scene import CATEGORIES, HEAD_R, sample_scene

TINY = SynthConfig(num_frames=9, ego_size=(32, 32), exo_size=(32, 48))
DEPTH_CHECK = SynthConfig(num_frames=9)  # default resolution: depth discretisation stays below 3 cm


def _arrays(clip):
    return [clip.exo_video, clip.ego_video, clip.exo_depth, clip.ego_depth, clip.exo_K, clip.exo_T_world_cam,
            clip.ego_K, clip.ego_T_world_cam]


def test_same_seed_renders_identical_arrays():
    a, b = render_clip("test", 1, seed=3, config=TINY), render_clip("test", 1, seed=3, config=TINY)
    for x, y in zip(_arrays(a), _arrays(b)):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert a.text == b.text and a.category == b.category


def test_different_seed_renders_a_different_clip():
    a, b = render_clip("test", 1, seed=3, config=TINY), render_clip("test", 1, seed=4, config=TINY)
    assert not np.array_equal(a.exo_video, b.exo_video)
    assert not np.array_equal(a.ego_T_world_cam, b.ego_T_world_cam)


def test_rendering_does_not_depend_on_thread_count():
    a = render_clip("val", 0, config=TINY, threads=1)
    b = render_clip("val", 0, config=TINY, threads=2)
    assert np.array_equal(a.exo_video, b.exo_video) and np.array_equal(a.ego_video, b.ego_video)
    assert np.array_equal(a.ego_depth, b.ego_depth)


def test_rendering_restores_the_callers_thread_count():
    old = torch.get_num_threads()
    render_clip("val", 0, config=TINY, threads=2 if old == 1 else 1)
    assert torch.get_num_threads() == old


def test_clip_has_schema_shapes_and_depth_everywhere():
    clip = render_clip("train", 0, config=TINY)
    assert clip.exo_video.shape == (4, 9, 32, 48, 3) and clip.ego_video.shape == (9, 32, 32, 3)
    assert clip.exo_depth.dtype == np.float32 and clip.exo_depth.shape == (4, 9, 32, 48)
    assert clip.ego_depth.dtype == np.float32 and clip.ego_depth.shape == (9, 32, 32)
    assert clip.exo_T_world_cam.shape == (4, 4, 4) and clip.ego_T_world_cam.shape == (9, 4, 4)
    assert (clip.exo_depth > 0).all() and (clip.ego_depth > 0).all()  # the room is closed
    assert clip.extra["scene_id"] == "train-scene-000" and clip.extra["split"] == "train"


def test_ego_depth_reprojects_onto_exo_depth():
    """Lift every ego pixel to the world with its depth, K and pose, project it into each exo camera: the
    exo camera must see a surface at that depth (within 3 cm, allowing one pixel of discretisation) for
    most points, and never see *through* a point (its depth never exceeds the point's; that would mean
    the two cameras disagree on where things are). A vertically flipped ego depth map fails this."""
    clip = render_clip("val", 2, config=DEPTH_CHECK)
    T = clip.num_frames
    He, We = clip.exo_depth.shape[2:]

    def agreement(ego_depth):
        pts = unproject_depth(clip.ego_K, clip.ego_T_world_cam, ego_depth).reshape(T, -1, 3)
        agree, see_through = [], []
        for v in range(clip.num_views):
            uv, z = project_points(clip.exo_K[v], clip.exo_T_world_cam[v], pts)
            u, w = np.round(uv[..., 0]).astype(int), np.round(uv[..., 1]).astype(int)
            inside = (z > 0) & (u >= 1) & (u < We - 1) & (w >= 1) & (w < He - 1)
            t = np.broadcast_to(np.arange(T)[:, None], inside.shape)[inside]
            near = np.stack([clip.exo_depth[v][t, w[inside] + a, u[inside] + b] for a in (-1, 0, 1) for b in (-1, 0, 1)])
            agree.append(np.abs(near - z[inside]).min(0) < 0.03)
            see_through.append(near.min(0) > z[inside] + 0.03)
        return np.concatenate(agree).mean(), np.concatenate(see_through).mean()

    agree, see_through = agreement(clip.ego_depth)
    assert agree > 0.5, agree
    assert see_through < 0.01, see_through
    assert agreement(clip.ego_depth[:, ::-1])[0] < 0.25  # the check can tell a wrong convention


def test_sphere_centre_projects_to_the_centroid_of_its_pixels():
    """A hand-built scene: one sphere off the optical axis, up and to the left of the camera's view. Its
    pixels' centroid is the projection of its centre (OpenCV axes and pixel centres), and its depth at
    the nearest point is the centre's z minus the radius."""
    room = torch.tensor([-5.0, 5.0, -5.0, 5.0, 0.0, 4.0])
    centre, radius = np.array([0.4, 1.5, 1.9]), 0.25
    mats = Materials(kind=torch.zeros(2, dtype=torch.long), color_a=torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]),
                     color_b=torch.zeros(2, 3), freq=torch.ones(2), axis=torch.eye(3)[:2], axis2=torch.eye(3)[:2])
    scene = SceneTensors(
        spheres=torch.tensor([[[*centre, radius]]], dtype=torch.float32), sphere_material=torch.tensor([1]),
        boxes=torch.zeros(1, 0, 8), box_material=torch.zeros(0, dtype=torch.long),
        cylinders=torch.zeros(1, 0, 5), cylinder_material=torch.zeros(0, dtype=torch.long),
        room=room, room_material=torch.zeros(6, dtype=torch.long), materials=mats,
        light_dirs=torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), light_weights=torch.tensor([1.0, 0.0, 0.0]))
    H, W = 96, 128
    K = intrinsics_from_fov(H, W, 70.0)
    T_wc = look_at(np.array([1.0, -2.0, 1.5]), np.array([1.2, 2.0, 1.2]))[None]
    rgb, depth, ids = render_camera(scene, K, T_wc, H, W)
    mask = ids[0] == 6  # sphere 0 has global id 6
    vs, us = np.nonzero(mask)
    (uv,), (z,) = project_points(K, T_wc[0], centre[None])
    assert uv[0] < (W - 1) / 2 and uv[1] < (H - 1) / 2  # up and to the left, as built
    assert abs(us.mean() - uv[0]) < 0.5 and abs(vs.mean() - uv[1]) < 0.5
    assert abs(depth[0][mask].min() - (z - radius)) < 0.01
    assert (rgb[0][mask][:, 1:] == 0).all() and (rgb[0][mask][:, 0] > 0).all()  # red sphere, grey room


def test_ego_camera_sits_in_the_head_and_never_sees_it():
    clip, debug = render_clip("test", 2, config=TINY, return_debug=True)
    head = debug["script"].head  # (T, 3)
    eye = camera_centre(clip.ego_T_world_cam)
    assert (np.linalg.norm(eye - head, axis=-1) < HEAD_R).all()
    head_in_ego = transform_points(invert_se3(clip.ego_T_world_cam), head[:, None])[:, 0]
    assert (head_in_ego[:, 2] < 0).all()  # the head centre is behind the camera: it faces out of the face
    head_ids = {6, 7}  # spheres 0 (head) and 1 (hair)
    assert not np.isin(debug["ego_ids"], list(head_ids)).any()
    assert np.isin(debug["exo_ids"], list(head_ids)).any()  # the exo cameras do see the head


def test_ego_camera_looks_down_at_the_table():
    clip = render_clip("test", 0, config=TINY)
    forward = clip.ego_T_world_cam[:, :3, 2]
    assert (forward[:, 2] < -0.2).all()  # pitched down (world z up)
    assert np.allclose(np.linalg.det(clip.ego_T_world_cam[:, :3, :3]), 1.0)


def test_test_and_val_scenes_never_occur_in_train():
    train = np.stack([sample_scene(0, "train", i).vector() for i in range(60)])
    for split, n in (("val", 6), ("test", 8)):
        other = np.stack([sample_scene(0, split, i).vector() for i in range(n)])
        dist = np.linalg.norm(train[:, None] - other[None], axis=-1)
        assert dist.min() > 0.5, (split, dist.min())
    assert sample_scene(0, "test", 0).scene_id == "test-scene-000"


def test_consecutive_clips_cover_every_activity():
    cats = [render_clip("train", i, config=TINY).category for i in range(len(CATEGORIES))]
    assert sorted(cats) == sorted(CATEGORIES)


@pytest.mark.parametrize("index", [0, 5])  # pick-place clips of two scenes
def test_carried_object_moves_with_the_hand(index):
    clip, debug = render_clip("train", index, config=TINY, return_debug=True)
    assert clip.category == "pick-place"
    script = debug["script"]
    moved = np.linalg.norm(script.object_pos[-1] - script.object_pos[0], axis=-1)
    n = int(np.argmax(moved))
    assert moved[n] > 0.1
    hand = script.hands[:, 0 if script.info["active_hand"] == "right" else 1]
    gap = np.linalg.norm(script.object_pos[:, n] - hand, axis=-1)
    carried = np.linalg.norm(np.diff(script.object_pos[:, n], axis=0), axis=-1) > 1e-6
    held = np.concatenate([carried, [False]]) | np.concatenate([[False], carried])
    assert np.ptp(gap[held]) < 1e-9  # rigidly attached while it moves
    assert script.info["object"] in clip.text
