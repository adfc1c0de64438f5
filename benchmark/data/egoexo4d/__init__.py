"""ExoEgo4D: the benchmark's conversion of the official Ego-Exo4D download (issue 8).

Modules:

* ``cameras``: readers of Ego-Exo4D's camera files (``gopro_calibs.csv``, the ego-pose ``camera_pose`` JSON,
  the Aria ``online_calibration.jsonl`` and ``closed_loop_trajectory.csv``) returning poses in the project's
  convention (camera-to-world ``T_world_cam``, OpenCV axes; see ``benchmark.cameras``).
* ``projection``: the fisheye camera models (Kannala-Brandt K3 of the GoPros, Fisheye624 of the Aria RGB
  camera), undistortion to pinhole and the resize / 90-degree rotation of images with their intrinsics.
* ``protocol``: split protocol v1 (categories, settings, clip length and stride, window and view rules, skip
  reasons, the manifest and its identity); in prose in ``docs/exoego4d-protocol.md``.
* ``fixture``: a miniature Ego-Exo4D download tree rendered with known cameras, for tests.
* ``convert``: the converter (``python -m benchmark data build exoego4d --root EGOEXO_DIR --out DIR``), a
  first slice: camera route 2 (trajectory files) only, task intervals only (no keysteps yet).

Only numpy is needed; nothing here imports torch, OpenCV or projectaria-tools.
"""
