"""A miniature Ego-Exo4D download, rendered with known cameras, for testing the ExoEgo4D converter (issue 8).

:func:`write_fixture` writes, under ``root``, the files of the real download's layout (see
``shared/refs/egoexo4d.md`` and the readers in ``benchmark.data.egoexo4d.cameras``) for a few short takes::

    takes.json  captures.json  annotations/splits.json
    annotations/keystep_train.json  annotations/keystep_val.json        only with ``keysteps=``
    annotations/ego_pose/<split>/camera_pose/<take_uid>.json           route 1 (world-to-camera, undistorted K)
    captures/<capture_name>/timesync.csv                                take frame i <-> row start_idx + 1 + i
    takes/<take_name>/frame_aligned_videos/cam01.mp4 .. cam04.mp4       exo, Kannala-Brandt distorted
    takes/<take_name>/frame_aligned_videos/aria01_214-1.mp4             ego, Fisheye624 distorted, stored upright
    takes/<take_name>/trajectory/gopro_calibs.csv                       route 2, exo (camera-to-world, KB3 raw)
    takes/<take_name>/trajectory/closed_loop_trajectory.csv             route 2, Aria device poses at 1 kHz
    takes/<take_name>/trajectory/online_calibration.jsonl               route 2, Aria camera-rgb calibration

The content comes from the SynthEgoExo scene and activity generator (``benchmark.data.synth.scene``) and its
ray caster (``raycast.cast``), which accepts arbitrary rays: every pixel of a distorted frame is rendered along
the ray its camera model gives it (``projection.kb_unproject`` / ``fisheye624_unproject``), supersampled
``supersample x supersample`` times per pixel, so the videos *are* the images of the written calibrations.

Sizes are small stand-ins for the real ones: the exo videos are ``exo_size`` (default 96x54) standing for
3840x2160 and the calibration in ``gopro_calibs.csv`` is at 3840x2160 (rescale it with
``projection.kb_rescale``); the Aria video is ``ego_size`` square standing for 1408x1408, and the online
calibration is for the 2880x2880 sensor (the 1408 image is ``fisheye624_rescale(p, 0.5, (32, 32))``, the video
a further ``fisheye624_rescale(p1408, ego_size / 1408)``). The Aria video is stored upright:
``rot90_image(landscape, 3)``; a converter rotates it back with ``rot90_image(upright, 1)``.

Time: the videos are 30 fps; take frame ``i`` of every exo camera shows instant ``i``; the Aria frame ``i``
shows instant ``i - ego_lag_frames``. Instant ``j`` is at Aria device time ``T0 + round(j * 1e6 / 30)``
microseconds (whole microseconds: ns -> us is exact, and the nearest 1 kHz trajectory sample is never a tie) and
at global time ``G0 + j / 30`` seconds. The world is z up, metres, gravity along -z.

:class:`Hazards` injects, per take, the defects the converter must detect and report. :class:`FixtureTruth`
holds the true cameras, a few known static 3D points with their true pixels in every view, each take's intervals
(keystep segments or task range) with the candidate clip windows they give (:func:`candidate_window_starts`),
and :func:`render_pinhole` re-renders any take with any pinhole camera (the reference for undistortion).
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benchmark import portable_math as pm
from benchmark.errors import UsageError
from benchmark.threads import torch_threads
from benchmark.video_io import write_video

from ..synth.raycast import SceneTensors, cast, shade
from ..synth.scene import CATEGORIES, EGO_HIDDEN_SPHERES, EXO_CAM_IDS, clip_rng, make_clip, sample_scene
from . import projection as proj

FPS = 30
EXO_CALIB_SIZE = (3840, 2160)  # (W, H) of gopro_calibs.csv and of the route-1 undistorted exo intrinsics
ARIA_SENSOR_SIZE = 2880  # the online calibration's RGB image (square)
ARIA_VIDEO_SIZE = 1408  # the frame-aligned Aria RGB video (square)
ARIA_CROP = 32.0  # pixels cropped on each side of the sensor image before halving it to 1408
ARIA_PINHOLE_SIZE = (512, 512)  # route-1 undistorted Aria image (landscape)
ARIA_PINHOLE_FOCAL = 150.0
ARIA_RGB_STREAM = "214-1"
ARIA_VIDEO_NAME = f"aria01_{ARIA_RGB_STREAM}.mp4"
NEW_K_BALANCE = 0.8  # OpenCV fisheye estimateNewCameraMatrixForUndistortRectify balance of the ego-pose files
TRAJECTORY_MARGIN_MS = 20  # trajectory samples before the first and after the last used instant
ONLINE_CALIB_PERIOD_US = 100_000
SPLIT_CYCLE = ("train", "test", "val")
GRAVITY_WORLD = (0.0, 0.0, -9.81)
CLIP_SPAN_FRAMES = 65  # protocol 1.0: 17 frames every 4th source frame (restated here: the truth is independent)
KEYSTEP_FILES = {"train": "keystep_train.json", "val": "keystep_val.json"}  # test takes have no public keysteps

# (parent_task_name, parent_task_id, task_name, task_id, short name): real Ego-Exo4D scenario ids
SCENARIOS = (
    ("Bike Repair", 4000, "Fix a Flat Tire - Replace a Bike Tube", 4001, "bike"),
    ("Health", 2000, "Covid-19 Rapid Antigen Test", 2001, "covid"),  # Covid test and CPR are tasks of Health
    ("Health", 2000, "First Aid - CPR", 2005, "cpr"),
    ("Basketball", 6000, "Basketball Drills - Mid-Range Jump Shooting", 6001, "basketball"),
    ("Cooking", 1000, "Cooking Tomato & Eggs", 1001, "cooking"),
)

GOPRO_HEADER = ("cam_uid", "graph_uid", "tx_world_cam", "ty_world_cam", "tz_world_cam", "qx_world_cam",
                "qy_world_cam", "qz_world_cam", "qw_world_cam", "image_width", "image_height", "intrinsics_type",
                *(f"intrinsics_{i}" for i in range(8)), "start_frame_idx", "end_frame_idx", "quality")
TRAJECTORY_HEADER = ("graph_uid", "tracking_timestamp_us", "utc_timestamp_ns", "tx_world_device", "ty_world_device",
                     "tz_world_device", "qx_world_device", "qy_world_device", "qz_world_device", "qw_world_device",
                     "device_linear_velocity_x_device", "device_linear_velocity_y_device",
                     "device_linear_velocity_z_device", "angular_velocity_x_device", "angular_velocity_y_device",
                     "angular_velocity_z_device", "gravity_x_world", "gravity_y_world", "gravity_z_world",
                     "quality_score")


class FixtureError(UsageError):
    """A fixture option is invalid; the message names the option and what was expected."""


@dataclass(frozen=True)
class Hazards:
    """Defects to inject into one take (all off by default).

    Attributes:
        calibrated_exo: how many exo cameras get a calibration (gopro_calibs.csv rows and route-1 entries);
            the videos of all four are still written, as when a camera's calibration failed.
        bad_quality_cam: this camera's gopro_calibs.csv row gets ``quality`` 0.0 and a wrong pose (rotated
            ``BAD_CALIB_DEG`` degrees and moved ``BAD_CALIB_M`` metres); route 1 keeps the true pose.
        missing_trajectory: the take's ``trajectory/`` folder is not written (route 1 is, but without the lens
            calibrations of that folder neither route can resample the take's pixels).
        short_video: ``(cam_id, n)``: that camera's video lacks its last ``n`` frames, while takes.json, the
            timesync rows and the other videos say ``n_frames``.
        ego_lag_frames: the Aria stream lags the exo streams: Aria frame i shows instant ``i - lag``. Its own
            cameras stay right (route 1, and route 2 via the timesync Aria timestamps); the timesync row of
            take frame i has ``aria01_214-1_global_time`` ``lag / 30`` s behind the exo ``camNN_global_time``.
        frame_index_offset: the route-1 Aria ``camera_extrinsics`` keys start at this value (key ``i + offset``
            holds take frame i), as when annotations index frames of the capture rather than of the take.
        missing_pose_frames: take frames without an Aria pose: their route-1 keys are left out and the
            trajectory samples within ``MISSING_POSE_GAP_MS`` ms of their timestamps are removed.
    """

    calibrated_exo: int = 4
    bad_quality_cam: str | None = None
    missing_trajectory: bool = False
    short_video: tuple[str, int] | None = None
    ego_lag_frames: int = 0
    frame_index_offset: int = 0
    missing_pose_frames: tuple[int, ...] = ()


BAD_CALIB_DEG = 5.0
BAD_CALIB_M = 0.05
MISSING_POSE_GAP_MS = 3
POINT_SPACING_M = 0.25  # minimum distance between the known points of a take


@dataclass
class ExoTruth:
    """One GoPro. ``T_world_cam`` (4, 4) true camera-to-world; ``kb_params_calib`` (8,) ``fx, fy, cx, cy,
    k1..k4`` at 3840x2160 and ``kb_params`` (8,) at the video's ``size`` (W, H); ``K_undistorted_calib`` (3, 3)
    the route-1 pinhole at 3840x2160 and ``K`` (3, 3) the same scaled to ``size``; ``calibrated`` whether it has
    a calibration; ``written_T_world_cam`` (4, 4) what gopro_calibs.csv holds (differs for a bad camera);
    ``quality`` the written quality; ``n_video_frames`` frames in its video."""

    cam_id: str
    T_world_cam: np.ndarray
    kb_params_calib: np.ndarray
    kb_params: np.ndarray
    K_undistorted_calib: np.ndarray
    K: np.ndarray
    size: tuple[int, int]
    calibrated: bool
    written_T_world_cam: np.ndarray
    quality: float
    n_video_frames: int


@dataclass
class EgoTruth:
    """The Aria RGB camera over the take's frames (T).

    ``T_world_cam`` (T, 4, 4) the landscape sensor camera (route 1 / route 2 pose); ``T_world_cam_upright``
    (T, 4, 4) the camera of the stored upright image; ``K`` (3, 3) the route-1 512x512 f=150 landscape pinhole
    scaled to ``size`` and ``K_upright`` its upright counterpart; ``params_calib`` (15,) Fisheye624 at
    2880x2880, ``params_1408`` at 1408x1408, ``params`` (15,) at the landscape video ``size``;
    ``T_device_rgb`` (4, 4); ``timestamps_ns`` (T,) Aria capture times; ``T_world_device`` (T, 4, 4);
    ``instants`` (T,) which instant each frame shows (``i - ego_lag_frames``)."""

    T_world_cam: np.ndarray
    T_world_cam_upright: np.ndarray
    K: np.ndarray
    K_upright: np.ndarray
    params_calib: np.ndarray
    params_1408: np.ndarray
    params: np.ndarray
    size: tuple[int, int]
    T_device_rgb: np.ndarray
    timestamps_ns: np.ndarray
    T_world_device: np.ndarray
    instants: np.ndarray


@dataclass
class PointTruth:
    """``xyz`` (N, 3) static world points (on the room or furniture, picked through pixel centres of cam01).

    ``exo_pixels[cam]`` (N, 2) distorted pixel in that camera's video, ``exo_pixels_undistorted[cam]`` (N, 2)
    pixel under the undistorted ``ExoTruth.K``, ``exo_visible[cam]`` (T, N) unoccluded and inside the image;
    ``ego_pixels`` (T, N, 2) distorted pixel in the *upright* Aria video, ``ego_pixels_undistorted`` (T, N, 2)
    under ``EgoTruth.K_upright``, ``ego_visible`` (T, N)."""

    xyz: np.ndarray
    exo_pixels: dict
    exo_pixels_undistorted: dict
    exo_visible: dict
    ego_pixels: np.ndarray
    ego_pixels_undistorted: np.ndarray
    ego_visible: np.ndarray


@dataclass
class TakeTruth:
    take_uid: str
    take_name: str
    split: str
    scenario: str
    capture_name: str
    take_dir: Path
    n_frames: int
    timesync_start_idx: int
    exo: dict  # cam_id -> ExoTruth
    ego: EgoTruth
    points: PointTruth
    hazards: Hazards
    tensors_exo: SceneTensors = field(repr=False)  # the scene at the exo frames' instants (T frames)
    tensors_ego: SceneTensors = field(repr=False)  # the scene at the Aria frames' instants
    # where clips may be cut: the keystep segments written for the take (seconds), or the take's task interval
    intervals: list = field(default_factory=list)
    interval_source: str = "task"  # "keystep" when the keystep files list the take
    # start frames of the protocol's candidate windows (65 frames tiled back to back inside the intervals, see
    # candidate_window_starts), before the pose and head-motion rules
    candidate_starts: list = field(default_factory=list)


@dataclass
class FixtureTruth:
    root: Path
    takes: list
    exo_size: tuple[int, int]
    ego_size: int
    fps: int = FPS

    def take(self, take_uid_or_index) -> TakeTruth:
        if isinstance(take_uid_or_index, int):
            return self.takes[take_uid_or_index]
        return next(t for t in self.takes if t.take_uid == take_uid_or_index)


# ----------------------------------------------------------------------------------------------------------------
# Rotations


def rotation_to_quaternion(R) -> np.ndarray:
    """Hamilton unit quaternion ``(x, y, z, w)`` (4,) with ``w >= 0`` of a rotation matrix (3, 3)."""
    R = np.asarray(R, dtype=np.float64)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    # branch on the largest of (w, x, y, z) so the square root is well away from zero
    if trace > max(R[0, 0], R[1, 1], R[2, 2]):
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] >= R[1, 1] and R[0, 0] >= R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] >= R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q = q / math.sqrt(float(q @ q))
    return -q if q[3] < 0 else q


def _axis_angle(axis, angle: float) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64)
    a = a / math.sqrt(float(a @ a))
    K = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(angle) * K + (1.0 - math.cos(angle)) * (K @ K)


def _invert(T) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    out = np.zeros_like(T)
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -pm.matmul(Rt, T[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def _transform(T, points) -> np.ndarray:
    """``T`` (..., 4, 4) applied to points (..., N, 3)."""
    T = np.asarray(T, dtype=np.float64)
    return pm.matmul(np.asarray(points, dtype=np.float64), np.swapaxes(T[..., :3, :3], -1, -2)) + T[..., None, :3, 3]


# ----------------------------------------------------------------------------------------------------------------
# Cameras


def fisheye_new_K(K, dist, size, balance: float = NEW_K_BALANCE) -> np.ndarray:
    """The pinhole K (3, 3) that OpenCV's ``fisheye.estimateNewCameraMatrixForUndistortRectify(K, D, size, I,
    balance)`` gives (what the ego-pose ``camera_intrinsics`` of exo cameras hold): the edge midpoints of the
    raw image are undistorted, and the focal length blends the one that keeps all of them in view
    (``balance`` 1) with the one that crops to the narrowest (``balance`` 0)."""
    K = np.asarray(K, dtype=np.float64)
    w, h = float(size[0]), float(size[1])
    edges = np.array([[w / 2, 0.0], [w, h / 2], [w / 2, h], [0.0, h / 2]])
    rays = proj.kb_unproject(edges, K, dist)
    pts = rays[:, :2] / rays[:, 2:3]
    aspect = K[0, 0] / K[1, 1]
    pts[:, 1] *= aspect
    centre = pts.mean(axis=0)
    fs = [w / 2 / (centre[0] - pts[:, 0].min()), w / 2 / (pts[:, 0].max() - centre[0]),
          h / 2 * aspect / (centre[1] - pts[:, 1].min()), h / 2 * aspect / (pts[:, 1].max() - centre[1])]
    f = balance * min(fs) + (1.0 - balance) * max(fs)
    cx, cy = -centre[0] * f + w / 2, -centre[1] * f + h / 2 * aspect
    return np.array([[f, 0.0, cx], [0.0, f / aspect, cy / aspect], [0.0, 0.0, 1.0]])


def _gopro_params(rng) -> np.ndarray:
    """A GoPro's Kannala-Brandt ``fx, fy, cx, cy, k1..k4`` at 3840x2160 (magnitudes of real gopro_calibs.csv)."""
    fx = rng.uniform(1760.0, 1820.0)
    return np.array([fx, fx * (1 + rng.uniform(-0.002, 0.002)), 1919.5 + rng.uniform(-15, 15),
                     1079.5 + rng.uniform(-15, 15), rng.uniform(0.03, 0.045), rng.uniform(0.0, 0.012),
                     rng.uniform(-0.006, -0.002), rng.uniform(0.0, 0.001)])


def _aria_params(rng) -> np.ndarray:
    """Aria RGB Fisheye624 ``f, cx, cy, k0..k5, p0, p1, s0..s3`` at 2880x2880 (real magnitudes)."""
    k = np.array([0.40, -0.45, -0.10, 0.60, -0.40, 0.10]) * (1 + rng.uniform(-0.03, 0.03, 6))
    return np.concatenate([[rng.uniform(1210.0, 1225.0), 1439.5 + rng.uniform(-20, 20), 1439.5 + rng.uniform(-20, 20)],
                           k, rng.uniform(-5e-4, 5e-4, 2), rng.uniform(-1e-3, 1e-3, 4)])


def _T_device_rgb(rng) -> np.ndarray:
    """RGB camera to device (left SLAM camera): a few cm and a few tens of degrees, like the real glasses."""
    T = np.eye(4)
    T[:3, :3] = _axis_angle([0.35, 0.9, 0.25] + rng.uniform(-0.05, 0.05, 3), math.radians(38 + rng.uniform(-2, 2)))
    T[:3, 3] = np.array([-0.0041, -0.0124, -0.0052]) + rng.uniform(-1e-3, 1e-3, 3)
    return T


# ----------------------------------------------------------------------------------------------------------------
# Rendering along arbitrary rays


def _subpixel_offsets(supersample: int) -> np.ndarray:
    s = (np.arange(supersample) + 0.5) / supersample - 0.5
    du, dv = np.meshgrid(s, s, indexing="xy")
    return np.stack([du.ravel(), dv.ravel()], -1)  # (S, 2)


def _pixel_samples(size, supersample: int) -> np.ndarray:
    """Sample positions (H, W, S, 2) ``(u, v)`` inside every pixel of a ``size = (W, H)`` image."""
    width, height = size
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    return np.stack([u, v], -1)[:, :, None, :] + _subpixel_offsets(supersample)[None, None]


def _cast_rays(tensors: SceneTensors, T_world_cam, dirs_cam, hidden=None, max_elements: int = 6_000_000):
    """Shade rays (N,) given in camera coordinates for every frame.

    Args:
        T_world_cam: (T, 4, 4). dirs_cam: (N, 3) directions (NaN rows: rays the camera model cannot form).
    Returns:
        colour float32 (T, N, 3) in [0, 1] (black for NaN rays), distance float64 (T, N) along the unit ray,
        hit ids (T, N).
    """
    dirs = np.asarray(dirs_cam, dtype=np.float64)
    valid = np.all(np.isfinite(dirs), axis=-1)
    d = np.where(valid[:, None], dirs, [0.0, 0.0, 1.0])
    d = d / np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])[:, None]
    T_wc = np.array(T_world_cam, dtype=np.float64)
    R = T_wc[:, :3, :3]
    dw = np.stack([R[:, None, i, 0] * d[:, 0] + R[:, None, i, 1] * d[:, 1] + R[:, None, i, 2] * d[:, 2]
                   for i in range(3)], -1)  # (T, N, 3)
    o = torch.as_tensor(T_wc[:, None, :3, 3], dtype=torch.float32)
    dw_t = torch.as_tensor(dw, dtype=torch.float32)
    n_frames, n_rays = dw.shape[:2]
    n_prims = 6 + tensors.spheres.shape[1] + tensors.boxes.shape[1] + tensors.cylinders.shape[1]
    step = max(1, max_elements // max(1, n_rays * n_prims * 3))
    colours, dists, ids = [], [], []
    for start in range(0, n_frames, step):
        sl = slice(start, min(n_frames, start + step))
        sub = tensors.frames(sl)
        t, hit, normal, albedo = cast(sub, o[sl], dw_t[sl], hidden)
        colours.append(shade(normal, albedo, sub))
        dists.append(t)
        ids.append(hit)
    colour = torch.cat(colours).numpy()
    colour[:, ~valid] = 0.0
    dist = torch.cat(dists).numpy().astype(np.float64)
    dist[:, ~valid] = np.nan
    return colour, dist, torch.cat(ids).numpy()


def _to_uint8(colour_samples: np.ndarray) -> np.ndarray:
    """Average sub-pixel samples (..., S, 3) in [0, 1] into uint8 pixels (..., 3), as the renderer rounds."""
    return np.floor(np.clip(colour_samples.mean(axis=-2), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _render_model(tensors, T_world_cam, size, unproject, supersample: int, hidden=None) -> np.ndarray:
    """uint8 (T, H, W, 3) images of a camera whose pixel -> ray map is ``unproject`` ((..., 2) -> (..., 3))."""
    samples = _pixel_samples(size, supersample)
    dirs = unproject(samples.reshape(-1, 2))
    colour, _, _ = _cast_rays(tensors, T_world_cam, dirs, hidden)
    width, height = size
    return _to_uint8(colour.reshape(colour.shape[0], height, width, supersample * supersample, 3))


def _hidden_for_ego(tensors: SceneTensors) -> np.ndarray:
    hidden = np.zeros(tensors.spheres.shape[1], dtype=bool)
    hidden[list(EGO_HIDDEN_SPHERES)] = True
    return hidden


def render_pinhole(take: TakeTruth, K, T_world_cam, size, *, ego: bool = False, supersample: int = 2) -> np.ndarray:
    """Re-render ``take`` with a pinhole camera: uint8 (T, H, W, 3).

    Args:
        K: (3, 3) zero-skew intrinsics; T_world_cam: (4, 4) static or (T, 4, 4); size: ``(W, H)``.
        ego: render the scene at the Aria frames' instants and without the wearer's head (as the Aria sees it).
        supersample: samples per pixel along each axis, as the fixture's videos use.
    """
    tensors = take.tensors_ego if ego else take.tensors_exo
    T = np.broadcast_to(np.asarray(T_world_cam, dtype=np.float64), (tensors.num_frames, 4, 4))
    K = np.asarray(K, dtype=np.float64)

    def unproject(uv):
        return np.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(uv))], -1)

    with torch_threads(1):
        return _render_model(tensors, T, size, unproject, supersample, _hidden_for_ego(tensors) if ego else None)


# ----------------------------------------------------------------------------------------------------------------
# Writers


def _f(x) -> str:
    return repr(float(x))


def _write_csv(path: Path, header, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _pose_fields(T) -> list[str]:
    q = rotation_to_quaternion(T[:3, :3])
    return [_f(T[0, 3]), _f(T[1, 3]), _f(T[2, 3]), _f(q[0]), _f(q[1]), _f(q[2]), _f(q[3])]


def _se3_json(T) -> dict:
    q = rotation_to_quaternion(T[:3, :3])
    return {"Translation": [float(v) for v in T[:3, 3]], "UnitQuaternion": [float(q[3]), [float(v) for v in q[:3]]]}


def _world_to_cam(T_world_cam) -> list:
    return _invert(T_world_cam)[:3, :].tolist()


def _uid(rng) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _check_hazards(hazards: Hazards, n_frames: int, where: str) -> None:
    if not isinstance(hazards, Hazards):
        raise FixtureError(f"{where}: expected a Hazards instance, got {type(hazards).__name__}")
    if not 0 <= hazards.calibrated_exo <= len(EXO_CAM_IDS):
        raise FixtureError(f"{where}.calibrated_exo: expected 0..{len(EXO_CAM_IDS)}, got {hazards.calibrated_exo}")
    for name, cam in (("bad_quality_cam", hazards.bad_quality_cam),
                      ("short_video", hazards.short_video[0] if hazards.short_video else None)):
        if cam is not None and cam not in EXO_CAM_IDS:
            raise FixtureError(f"{where}.{name}: unknown camera {cam!r}; expected one of {list(EXO_CAM_IDS)}")
    if hazards.short_video and not 1 <= int(hazards.short_video[1]) < n_frames:
        raise FixtureError(f"{where}.short_video: expected 1..{n_frames - 1} missing frames, "
                           f"got {hazards.short_video[1]}")
    if not 0 <= hazards.ego_lag_frames < n_frames:
        raise FixtureError(f"{where}.ego_lag_frames: expected 0..{n_frames - 1}, got {hazards.ego_lag_frames}")
    if hazards.frame_index_offset < 0:
        raise FixtureError(f"{where}.frame_index_offset: expected >= 0, got {hazards.frame_index_offset}")
    bad = [i for i in hazards.missing_pose_frames if not 0 <= i < n_frames]
    if bad:
        raise FixtureError(f"{where}.missing_pose_frames: frames {bad} outside 0..{n_frames - 1}")


def write_fixture(root, *, n_takes: int = 2, n_frames: int = 8, seed: int = 0, exo_size=(96, 54),
                  ego_size: int = 64, supersample: int = 2, hazards: dict | None = None,
                  n_points: int = 4, keysteps: dict | None = None) -> FixtureTruth:
    """Write a miniature Ego-Exo4D download under ``root`` and return its ground truth.

    Args:
        root: folder to write into (created; existing fixture files are overwritten).
        n_takes: takes, one capture each; splits cycle train, test, val and scenarios through ``SCENARIOS``.
        n_frames: frames of every take (30 fps). seed: everything is a pure function of the arguments.
        exo_size: ``(W, H)`` of the exo videos (standing for 3840x2160). ego_size: side of the Aria video
            (standing for 1408). supersample: ray samples per pixel along each axis (anti-aliasing).
        hazards: ``{take_index: Hazards(...)}``: defects to inject (see :class:`Hazards`).
        n_points: known static 3D points per take (fewer if cam01 sees too few static surfaces).
        keysteps: ``{take_index: [(start_sec, end_sec), ...]}``: keystep segments of train / val takes. When
            given (even empty), ``annotations/keystep_train.json`` and ``keystep_val.json`` are written in the real
            layout (see ``protocol.read_keysteps``); when None, no keystep file is written.
    Returns:
        :class:`FixtureTruth`.
    """
    root = Path(root)
    hazards = dict(hazards or {})
    if n_takes < 1:
        raise FixtureError(f"n_takes: expected >= 1, got {n_takes}")
    if n_frames < 2:
        raise FixtureError(f"n_frames: expected >= 2, got {n_frames}")
    exo_size = (int(exo_size[0]), int(exo_size[1]))
    if min(exo_size) < 8 or ego_size < 8 or supersample < 1:
        raise FixtureError(f"exo_size {exo_size} / ego_size {ego_size}: expected sides >= 8, supersample >= 1")
    for k in hazards:
        if not (isinstance(k, int) and 0 <= k < n_takes):
            raise FixtureError(f"hazards: key {k!r} is not a take index 0..{n_takes - 1}")
        _check_hazards(hazards[k], n_frames, f"hazards[{k}]")
    segments = _check_keysteps(keysteps, n_takes)
    root.mkdir(parents=True, exist_ok=True)
    takes_json, captures_json, truths = [], [], []
    split_of, benchmark_of = {}, {}
    with torch_threads(1):
        for k in range(n_takes):
            take, entry, capture = _write_take(root, k, n_frames, seed, exo_size, ego_size, supersample,
                                               hazards.get(k, Hazards()), n_points)
            if segments.get(k):
                take.intervals, take.interval_source = list(segments[k]), "keystep"
            else:
                take.intervals = [(entry["task_start_sec"], entry["task_end_sec"])]
            take.candidate_starts = candidate_window_starts(take.intervals, n_frames)
            truths.append(take)
            takes_json.append(entry)
            captures_json.append(capture)
            split_of[take.take_uid] = take.split
            benchmark_of[take.take_uid] = ["egopose"]
    (root / "takes.json").write_text(json.dumps(takes_json, indent=1))
    (root / "captures.json").write_text(json.dumps(captures_json, indent=1))
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / "splits.json").write_text(
        json.dumps({"take_uid_to_split": split_of, "take_uid_to_benchmark": benchmark_of}, indent=1))
    if keysteps is not None:
        _write_keysteps(root / "annotations", truths, takes_json)
    return FixtureTruth(root=root, takes=truths, exo_size=exo_size, ego_size=ego_size)


def _check_keysteps(keysteps, n_takes: int) -> dict:
    out = {}
    for k, segs in (keysteps or {}).items():
        if not (isinstance(k, int) and 0 <= k < n_takes):
            raise FixtureError(f"keysteps: key {k!r} is not a take index 0..{n_takes - 1}")
        if SPLIT_CYCLE[k % len(SPLIT_CYCLE)] not in KEYSTEP_FILES:
            raise FixtureError(f"keysteps[{k}]: take {k} is a test take; Ego-Exo4D publishes keysteps for train "
                               f"and val takes only")
        pairs = []
        for seg in segs:
            try:
                a, b = float(seg[0]), float(seg[1])
            except (TypeError, ValueError, IndexError):
                raise FixtureError(f"keysteps[{k}]: expected (start_sec, end_sec) pairs, got {seg!r}") from None
            if not 0 <= a < b:
                raise FixtureError(f"keysteps[{k}]: expected 0 <= start_sec < end_sec, got {seg!r}")
            pairs.append((a, b))
        out[k] = pairs
    return out


def candidate_window_starts(intervals, n_frames: int, span: int = CLIP_SPAN_FRAMES, fps: int = FPS) -> list:
    """Start frames of windows of ``span`` frames laid back to back from the first frame of each interval
    (``ceil(fps a) .. floor(fps b)``, clamped to the video), never overlapping an earlier one: the protocol's
    tiling, written out independently so that the truth does not come from the code under test."""
    starts, free = [], 0
    for a, b in sorted(intervals):
        first = max(math.ceil(a * fps - 1e-6), 0)
        last = min(math.floor(b * fps + 1e-6), n_frames - 1)
        s = max(first, free)
        while s + span - 1 <= last:
            starts.append(s)
            s += span
            free = s
    return starts


def _write_keysteps(folder: Path, truths: list, takes_json: list) -> None:
    """``keystep_train.json`` / ``keystep_val.json`` in the layout of Ego-Exo4D's keystep annotations."""
    entries = {t["take_uid"]: t for t in takes_json}
    for split, name in KEYSTEP_FILES.items():
        annotations = {}
        for t in truths:
            if t.split != split or t.interval_source != "keystep":
                continue
            annotations[t.take_uid] = {
                "take_uid": t.take_uid, "take_name": t.take_name, "scenario": entries[t.take_uid]["task_name"],
                "annotation_meta": {"annotation_uid": str(uuid.UUID(int=len(annotations) + 1)), "annotator_id": 1},
                "segments": [{"start_time": a, "end_time": b, "step_id": 2 + i, "step_unique_id": 800 + i,
                              "step_name": f"step {i}", "step_description": f"fixture step {i}",
                              "is_essential": True} for i, (a, b) in enumerate(t.intervals)]}
        doc = {"annotations": annotations,
               "taxonomy": {s[2]: {"0": {"id": 0, "is_leafnode": False, "name": s[2], "parent_id": None,
                                         "parent_name": None}} for s in SCENARIOS},
               "vocabulary": {str(800 + i): f"step {i}" for i in range(4)}}
        (folder / name).write_text(json.dumps(doc, indent=1))


def _write_take(root: Path, k: int, n: int, seed: int, exo_size, ego_size: int, ss: int, hz: Hazards,
                n_points: int):
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(8, k)))
    split = SPLIT_CYCLE[k % len(SPLIT_CYCLE)]
    scen_name, scen_id, task_name, task_id, short = SCENARIOS[k % len(SCENARIOS)]
    university = "fixtureu"
    take_name = f"{university}_{short}_{k + 1:02d}_{k % 3 + 2}"
    capture_name = f"{university}_{short}_{k + 1:02d}"
    take_uid, capture_uid, setting_uid = _uid(rng), _uid(rng), _uid(rng)
    take_dir = root / "takes" / take_name

    # --- time: instants j (exo frame i shows j = i; Aria frame i shows j = i - lag) on whole microseconds
    lag = int(hz.ego_lag_frames)
    j_first = -lag
    instants = np.arange(j_first, n)
    t0_us = 1_000_000 * int(rng.integers(100, 1000))  # Aria device clock at instant 0
    inst_us = t0_us + np.rint(instants * 1e6 / FPS).astype(np.int64)
    traj_us = np.arange(inst_us[0] - 1000 * TRAJECTORY_MARGIN_MS, inst_us[-1] + 1000 * TRAJECTORY_MARGIN_MS + 1, 1000)
    # the trajectory sample nearest in time (what a reader's nearest-sample lookup returns; never a tie, since
    # round(j * 1e6 / 30) mod 1000 is 0, 333 or 667)
    sample_of_instant = {int(j): int(np.rint((t - traj_us[0]) / 1000)) for j, t in zip(instants, inst_us)}

    # --- content: one activity over the whole trajectory span, sampled at 1 kHz
    scene = sample_scene(seed, split, 100 + k)
    script = make_clip(scene, CATEGORIES[k % len(CATEGORIES)], clip_rng(seed, split, 100 + k, 0), len(traj_us))
    tensors = script.to_tensors()
    exo_idx = torch.as_tensor([sample_of_instant[i] for i in range(n)])
    ego_instants = np.arange(n) - lag
    ego_idx = torch.as_tensor([sample_of_instant[int(j)] for j in ego_instants])
    tensors_exo, tensors_ego = tensors.frames(exo_idx), tensors.frames(ego_idx)

    # --- exo cameras
    exo: dict[str, ExoTruth] = {}
    calibrated = EXO_CAM_IDS[:hz.calibrated_exo]
    videos = {}
    for v, cam in enumerate(EXO_CAM_IDS):
        params_calib = _gopro_params(rng)
        K_raw, dist = proj.kb_K_dist(params_calib)
        params = proj.kb_rescale(params_calib, EXO_CALIB_SIZE, exo_size)
        K_new = fisheye_new_K(K_raw, dist, EXO_CALIB_SIZE)
        T = scene.exo_T_world_cam[v].copy()
        written, quality = T, 1.0
        if cam == hz.bad_quality_cam:
            written = T.copy()
            written[:3, :3] = T[:3, :3] @ _axis_angle([1.0, 2.0, 0.5], math.radians(BAD_CALIB_DEG))
            written[:3, 3] = T[:3, 3] + BAD_CALIB_M * np.array([0.6, 0.0, 0.8])
            quality = 0.0
        n_video = n - int(hz.short_video[1]) if hz.short_video and hz.short_video[0] == cam else n
        Kp, dp = proj.kb_K_dist(params)
        frames = _render_model(tensors_exo, np.broadcast_to(T, (n, 4, 4)), exo_size,
                               lambda uv, Kp=Kp, dp=dp: proj.kb_unproject(uv, Kp, dp), ss)
        videos[cam] = frames[:n_video]
        exo[cam] = ExoTruth(cam_id=cam, T_world_cam=T, kb_params_calib=params_calib, kb_params=params,
                            K_undistorted_calib=K_new, K=proj.scale_to_size(K_new, EXO_CALIB_SIZE, exo_size),
                            size=exo_size, calibrated=cam in calibrated, written_T_world_cam=written,
                            quality=quality, n_video_frames=n_video)

    # --- ego: the script's head camera is upright; the sensor (landscape) camera is its quarter turn
    size_e = (ego_size, ego_size)
    T_traj_up = script.ego_T_world_cam  # (N_traj, 4, 4)
    _, T_traj_rgb, _ = proj.rot90_camera(np.eye(3), T_traj_up, size_e, k=1)
    T_device_rgb = _T_device_rgb(rng)
    T_traj_device = pm.matmul(T_traj_rgb, _invert(T_device_rgb))
    params_calib = _aria_params(rng)
    # 2880 -> 1408: crop 32 px on each side, then halve (projectaria-tools' rescale of the recording)
    params_1408 = proj.fisheye624_rescale(params_calib, ARIA_VIDEO_SIZE / (ARIA_SENSOR_SIZE - 2 * ARIA_CROP),
                                          (ARIA_CROP, ARIA_CROP))
    params_e = proj.fisheye624_rescale(params_1408, ego_size / ARIA_VIDEO_SIZE)
    K_land = proj.scale_to_size(proj.pinhole_K(ARIA_PINHOLE_FOCAL, ARIA_PINHOLE_SIZE), ARIA_PINHOLE_SIZE, size_e)
    ego_T = T_traj_rgb[ego_idx.numpy()]
    landscape = _render_model(tensors_ego, ego_T, size_e, lambda uv: proj.fisheye624_unproject(uv, params_e), ss,
                              _hidden_for_ego(tensors_ego))
    videos[ARIA_VIDEO_NAME[:-4]] = np.ascontiguousarray(proj.rot90_image(landscape, 3))
    K_up, T_up, _ = proj.rot90_camera(K_land, ego_T, size_e, k=3)
    ego_ts_ns = 1000 * inst_us[ego_instants - j_first]
    ego = EgoTruth(T_world_cam=ego_T, T_world_cam_upright=T_up, K=K_land, K_upright=K_up, params_calib=params_calib,
                   params_1408=params_1408, params=params_e, size=size_e, T_device_rgb=T_device_rgb,
                   timestamps_ns=ego_ts_ns, T_world_device=T_traj_device[ego_idx.numpy()], instants=ego_instants)

    points = _known_points(tensors_exo, tensors_ego, scene, exo, ego, n_points)

    # --- videos
    fav = take_dir / "frame_aligned_videos"
    fav.mkdir(parents=True, exist_ok=True)
    for name, frames in videos.items():
        write_video(fav / f"{name}.mp4", frames, fps=FPS)

    # --- trajectory (route 2)
    if not hz.missing_trajectory:
        traj = take_dir / "trajectory"
        graph_uid = _uid(rng)
        _write_csv(traj / "gopro_calibs.csv", GOPRO_HEADER, [
            [cam, graph_uid, *_pose_fields(e.written_T_world_cam), EXO_CALIB_SIZE[0], EXO_CALIB_SIZE[1],
             "KANNALABRANDTK3", *(_f(p) for p in e.kb_params_calib), 0, n - 1, _f(e.quality)]
            for cam, e in exo.items() if e.calibrated])
        keep = np.ones(len(traj_us), dtype=bool)
        for i in hz.missing_pose_frames:
            keep &= np.abs(traj_us - ego_ts_ns[i] // 1000) > 1000 * MISSING_POSE_GAP_MS
        _write_trajectory(traj / "closed_loop_trajectory.csv", graph_uid, traj_us, T_traj_device, keep,
                          utc0_ns=1_690_000_000_000_000_000 + int(rng.integers(0, 10 ** 12)) - 1000 * t0_us)
        _write_online_calibration(traj / "online_calibration.jsonl", traj_us, params_calib, T_device_rgb)

    # --- timesync: capture rows; take frame i is row start + 1 + i
    start_idx = 5 + 2 * k
    n_rows = start_idx + 1 + n + 4
    g0 = 1000.0 + 137.0 * k  # global time (s) of instant 0
    rows = []
    for r in range(n_rows):
        j = r - (start_idx + 1)
        ja = j - lag
        t_aria_ns = 1000 * (t0_us + int(np.rint(ja * 1e6 / FPS)))
        rows.append([*(f"{g0 + j / FPS:.6f}" for _ in EXO_CAM_IDS), t_aria_ns, f"{g0 + ja / FPS:.6f}"])
    _write_csv(root / "captures" / capture_name / "timesync.csv",
               [*(f"{c}_global_time" for c in EXO_CAM_IDS), f"aria01_{ARIA_RGB_STREAM}_capture_timestamp_ns",
                f"aria01_{ARIA_RGB_STREAM}_global_time"], rows)

    # --- route 1: ego-pose camera file
    doc = {"metadata": {"take_name": take_name, "take_uid": take_uid}}
    for cam, e in exo.items():
        if e.calibrated:
            doc[cam] = {"camera_intrinsics": e.K_undistorted_calib.tolist(),
                        "camera_extrinsics": _world_to_cam(e.T_world_cam),
                        "distortion_coeffs": e.kb_params_calib[4:].tolist()}
    missing = set(int(i) for i in hz.missing_pose_frames)
    doc["aria01"] = {"camera_intrinsics": proj.pinhole_K(ARIA_PINHOLE_FOCAL, ARIA_PINHOLE_SIZE).tolist(),
                     "camera_extrinsics": {str(i + hz.frame_index_offset): _world_to_cam(ego_T[i])
                                           for i in range(n) if i not in missing}}
    pose_dir = root / "annotations" / "ego_pose" / split / "camera_pose"
    pose_dir.mkdir(parents=True, exist_ok=True)
    (pose_dir / f"{take_uid}.json").write_text(json.dumps(doc))

    # --- metadata
    fav_meta = {cam: {"0": {"cam_id": cam, "stream_id": "0", "readable_stream_id": "0", "is_collage": False,
                            "relative_path": f"frame_aligned_videos/{cam}.mp4"}} for cam in EXO_CAM_IDS}
    fav_meta["aria01"] = {"rgb": {"cam_id": "aria01", "stream_id": ARIA_RGB_STREAM, "readable_stream_id": "rgb",
                                  "is_collage": False, "relative_path": f"frame_aligned_videos/{ARIA_VIDEO_NAME}"}}
    entry = {"take_uid": take_uid, "take_name": take_name, "root_dir": f"takes/{take_name}",
             "parent_task_name": scen_name, "parent_task_id": scen_id, "task_name": task_name, "task_id": task_id,
             "physical_setting_uid": setting_uid, "university_name": university,
             "best_exo": EXO_CAM_IDS[k % len(EXO_CAM_IDS)], "task_start_sec": 0.0, "task_end_sec": n / FPS,
             "duration_sec": n / FPS, "is_dropped": False, "validated": True, "timesync_start_idx": start_idx,
             "timesync_end_idx": start_idx + n, "capture_uid": capture_uid, "frame_aligned_videos": fav_meta}
    capture = {"capture_uid": capture_uid, "capture_name": capture_name, "university_name": university,
               "physical_setting_uid": setting_uid, "timesync_csv_path": f"captures/{capture_name}/timesync.csv",
               "cameras": [*({"cam_id": c, "device_type": "gopro", "is_ego": False} for c in EXO_CAM_IDS),
                           {"cam_id": "aria01", "device_type": "aria", "is_ego": True}]}
    truth = TakeTruth(take_uid=take_uid, take_name=take_name, split=split, scenario=scen_name,
                      capture_name=capture_name, take_dir=take_dir, n_frames=n, timesync_start_idx=start_idx,
                      exo=exo, ego=ego, points=points, hazards=hz, tensors_exo=tensors_exo, tensors_ego=tensors_ego)
    return truth, entry, capture


def _write_trajectory(path: Path, graph_uid: str, ts_us, T_world_device, keep, utc0_ns: int) -> None:
    """closed_loop_trajectory.csv rows (kept samples only); velocities are finite differences of the poses."""
    n = len(ts_us)
    dt = 1e-3
    p = T_world_device[:, :3, 3]
    R = T_world_device[:, :3, :3]
    v_world = np.gradient(p, dt, axis=0)
    v_dev = pm.matmul(np.swapaxes(R, -1, -2), v_world[..., None])[..., 0]
    # angular velocity in the device frame from R_k^T R_{k+1} (small angle: its skew part / dt)
    rel = pm.matmul(np.swapaxes(R[:-1], -1, -2), R[1:])
    w = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0], rel[:, 1, 0] - rel[:, 0, 1]], -1) / (2 * dt)
    w = np.concatenate([w, w[-1:]]) if n > 1 else np.zeros((n, 3))
    rows = []
    for i in np.flatnonzero(keep):
        rows.append([graph_uid, int(ts_us[i]), int(utc0_ns + 1000 * ts_us[i]), *_pose_fields(T_world_device[i]),
                     *(_f(x) for x in v_dev[i]), *(_f(x) for x in w[i]), *(_f(x) for x in GRAVITY_WORLD), "1.0"])
    _write_csv(path, TRAJECTORY_HEADER, rows)


def _write_online_calibration(path: Path, ts_us, params_rgb, T_device_rgb) -> None:
    """One record every ONLINE_CALIB_PERIOD_US: the two SLAM cameras (640x480) and camera-rgb."""
    slam = [240.8, 320.1, 239.6, -0.028, 0.10, -0.065, 0.01, 0.0, 0.0, 1e-4, -2e-4, 3e-4, 1e-4, -1e-4, 2e-5]
    T_right = np.eye(4)
    T_right[:3, :3] = _axis_angle([0.0, 1.0, 0.0], math.radians(-65))
    T_right[:3, 3] = [-0.106, -0.001, -0.066]
    lines = []
    for t in range(int(ts_us[0]), int(ts_us[-1]) + 1, ONLINE_CALIB_PERIOD_US):
        cams = [{"Label": "camera-slam-left", "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": slam},
                 "T_Device_Camera": _se3_json(np.eye(4))},
                {"Label": "camera-slam-right", "Projection": {"Name": "FisheyeRadTanThinPrism", "Params": slam},
                 "T_Device_Camera": _se3_json(T_right)},
                {"Label": "camera-rgb", "Projection": {"Name": "FisheyeRadTanThinPrism",
                                                       "Params": [float(x) for x in params_rgb]},
                 "T_Device_Camera": _se3_json(T_device_rgb)}]
        lines.append(json.dumps({"tracking_timestamp_us": t, "utc_timestamp_ns": 0, "CameraCalibrations": cams}))
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# Known points


def _visible(tensors, T_world_cam, xyz, hidden=None) -> np.ndarray:
    """(T, N) whether each point (N, 3) is the first hit along the ray from the camera centre (within 1 cm)."""
    centre = np.array(T_world_cam, dtype=np.float64)[:, :3, 3]  # (T, 3)
    d = np.asarray(xyz, dtype=np.float64)[None] - centre[:, None]  # (T, N, 3)
    dist = np.sqrt((d * d).sum(-1))
    o = torch.as_tensor(centre[:, None, :], dtype=torch.float32)
    t_hit, _, _, _ = cast(tensors, o, torch.as_tensor(d / dist[..., None], dtype=torch.float32), hidden)
    return np.abs(t_hit.numpy().astype(np.float64) - dist) < 0.01


def _known_points(tensors_exo, tensors_ego, scene, exo: dict, ego: EgoTruth, n_points: int) -> PointTruth:
    """Static surface points seen through pixel centres of cam01 (those seen by most views and by the Aria
    camera first, at least ``POINT_SPACING_M`` apart), and their true pixels in every view."""
    first = exo[EXO_CAM_IDS[0]]
    W, H = first.size
    v, u = np.meshgrid(np.arange(1, H - 1, 3), np.arange(1, W - 1, 3), indexing="ij")
    cand = np.stack([u.ravel(), v.ravel()], -1).astype(np.float64)
    Kp, dp = proj.kb_K_dist(first.kb_params)
    dirs = proj.kb_unproject(cand, Kp, dp)
    n = tensors_exo.num_frames
    _, t, ids = _cast_rays(tensors_exo, np.broadcast_to(first.T_world_cam, (n, 4, 4)), dirs)
    S, n_static = tensors_exo.spheres.shape[1], len(scene.static_boxes)
    static_ids = np.array(sorted(set(range(6)) | set(range(6 + S, 6 + S + n_static))))
    static = np.all(ids == ids[:1], 0) & np.isin(ids[0], static_ids) & (np.ptp(t, 0) < 1e-4)
    d = dirs[static] / np.linalg.norm(dirs[static], axis=-1, keepdims=True)
    cand_xyz = first.T_world_cam[:3, 3] + (t[0, static][:, None] * d) @ first.T_world_cam[:3, :3].T
    exo_px, exo_und, exo_vis = _exo_views(tensors_exo, exo, cand_xyz)
    ego_px, ego_und, ego_vis = _ego_view(tensors_ego, ego, cand_xyz)
    score = sum(vis.all(0).astype(float) for vis in exo_vis.values()) + 2.0 * ego_vis.mean(0)
    picked: list[int] = []
    for r in np.argsort(-score, kind="stable"):
        if all(np.linalg.norm(cand_xyz[r] - cand_xyz[q]) >= POINT_SPACING_M for q in picked):
            picked.append(int(r))
        if len(picked) == n_points:
            break
    return PointTruth(xyz=cand_xyz[picked], exo_pixels={c: p[picked] for c, p in exo_px.items()},
                      exo_pixels_undistorted={c: p[picked] for c, p in exo_und.items()},
                      exo_visible={c: p[:, picked] for c, p in exo_vis.items()},
                      ego_pixels=ego_px[:, picked], ego_pixels_undistorted=ego_und[:, picked],
                      ego_visible=ego_vis[:, picked])



def _exo_views(tensors, exo: dict, xyz):
    n = tensors.num_frames
    px, und, vis = {}, {}, {}
    for cam, e in exo.items():
        pc = _transform(_invert(e.T_world_cam), xyz)
        Kp, dp = proj.kb_K_dist(e.kb_params)
        px[cam] = proj.kb_project(pc, Kp, dp)
        with np.errstate(divide="ignore", invalid="ignore"):
            und[cam] = (pc[:, :2] / pc[:, 2:3]) * [e.K[0, 0], e.K[1, 1]] + [e.K[0, 2], e.K[1, 2]]
        inside = (pc[:, 2] > 0) & np.all((px[cam] >= -0.5) & (px[cam] <= np.array(e.size) - 0.5), -1)
        vis[cam] = _visible(tensors, np.broadcast_to(e.T_world_cam, (n, 4, 4)), xyz) & inside[None]
    return px, und, vis


def _ego_view(tensors, ego: EgoTruth, xyz):
    n = tensors.num_frames
    pts = np.broadcast_to(xyz, (n,) + xyz.shape)
    pc = _transform(_invert(ego.T_world_cam), pts)  # (T, N, 3)
    px = proj.rot90_pixels(proj.fisheye624_project(pc, ego.params), ego.size, 3)
    pcu = _transform(_invert(ego.T_world_cam_upright), pts)
    Ku = ego.K_upright
    with np.errstate(divide="ignore", invalid="ignore"):
        und = (pcu[..., :2] / pcu[..., 2:3]) * [Ku[0, 0], Ku[1, 1]] + [Ku[0, 2], Ku[1, 2]]
        inside = np.all(np.isfinite(px) & (px >= -0.5) & (px <= ego.size[0] - 0.5), -1)
    vis = _visible(tensors, ego.T_world_cam, xyz, _hidden_for_ego(tensors)) & inside
    return px, und, vis
