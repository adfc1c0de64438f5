"""The Kannala-Brandt K3 model of the GoPros is OpenCV's fisheye model: our numpy implementation (used to build
the undistortion maps) agrees with ``cv2.fisheye`` on projection, unprojection and the ego-pose files' new K."""

from __future__ import annotations

import cv2
import numpy as np

from benchmark.data.egoexo4d import projection as proj
from benchmark.data.egoexo4d.fixture import fisheye_new_K

# a GoPro-like calibration at 3840 x 2160 (fx, fy, cx, cy, k1..k4), as gopro_calibs.csv stores them
K = np.array([[1790.0, 0.0, 1921.5], [0.0, 1788.0, 1079.0], [0.0, 0.0, 1.0]])
D = np.array([0.042, -0.011, 0.0031, -0.0007])


def _points(n=500, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, np.deg2rad(75), n)  # within the GoPro's field of view
    phi = rng.uniform(0, 2 * np.pi, n)
    r = rng.uniform(0.3, 5.0, n)
    return np.stack([r * np.sin(theta) * np.cos(phi), r * np.sin(theta) * np.sin(phi), r * np.cos(theta)], -1)


def test_projection_matches_cv2_fisheye():
    pts = _points()
    ours = proj.kb_project(pts, K, D)
    theirs, _ = cv2.fisheye.projectPoints(pts[:, None, :], np.zeros(3), np.zeros(3), K, D)
    assert np.abs(ours - theirs[:, 0]).max() < 1e-6  # px (OpenCV works in float64 too)


def test_undistorted_points_match_cv2_fisheye():
    pix = proj.kb_project(_points(seed=1), K, D)
    new_K = np.array([[900.0, 0.0, 1920.0], [0.0, 900.0, 1080.0], [0.0, 0.0, 1.0]])
    ours = proj.undistort_points(proj.KB3, proj.kb_params(K, D), pix, new_K)
    theirs = cv2.fisheye.undistortPoints(pix[:, None, :], K, D, P=new_K,
                                         criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-14))
    assert np.abs(ours - theirs[:, 0]).max() < 1e-5


def test_new_K_of_the_ego_pose_files_matches_opencv():
    ours = fisheye_new_K(K, D, (3840, 2160), balance=0.8)
    theirs = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(K, D, (3840, 2160), np.eye(3), balance=0.8)
    assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-6)
