"""ExoEgo4D: the benchmark's conversion of the official Ego-Exo4D download (issue 8).

Modules:

* ``cameras``: readers of Ego-Exo4D's camera files (``gopro_calibs.csv``, the ego-pose ``camera_pose`` JSON,
  the Aria ``online_calibration.jsonl`` and ``closed_loop_trajectory.csv``) returning poses in the project's
  convention (camera-to-world ``T_world_cam``, OpenCV axes; see ``benchmark.cameras``).
* ``projection``: the fisheye camera models (Kannala-Brandt K3 of the GoPros, Fisheye624 of the Aria RGB
  camera), undistortion maps to pinhole (and a float reference resampler) and the resize / 90-degree rotation
  of images with their intrinsics.
* ``resample``: the converter's resampler: fixed-point bilinear (OpenCV ``remap``) with an exact integer box
  prefilter, the same bits on every CPU.
* ``protocol``: split protocol v1 (categories, settings, clip length and stride, window and view rules, keystep
  files, skip reasons, the manifest and its identity, outside clip lists); in prose in
  ``docs/exoego4d-protocol.md``.
* ``committed``: the committed manifests (``manifests/``) that every protocol build is compared with.
* ``fixture``: a miniature Ego-Exo4D download tree rendered with known cameras, for tests.
* ``convert``: the converter (``python -m benchmark data build exoego4d --root EGOEXO_DIR --out DIR``): camera
  route 2 (trajectory files) or route 1 (ego-pose camera files), keystep or task intervals, one setting per
  folder with a config per category, resumable by take, parallel over takes.

numpy and OpenCV (``opencv-python-headless``) are needed; nothing here imports torch or projectaria-tools
(the Kannala-Brandt model is tested against OpenCV's fisheye module; Fisheye624 against the formulas of
projectaria-tools' documentation).
"""
