"""ExoEgo4D: the benchmark's conversion of the official Ego-Exo4D download (issue 8).

Modules:

* ``cameras``: readers of Ego-Exo4D's camera files (``gopro_calibs.csv``, the ego-pose ``camera_pose`` JSON,
  the Aria ``online_calibration.jsonl`` and ``closed_loop_trajectory.csv``) returning poses in the project's
  convention (camera-to-world ``T_world_cam``, OpenCV axes; see ``benchmark.cameras``).
* ``projection``: the fisheye camera models (Kannala-Brandt K3 of the GoPros, Fisheye624 of the Aria RGB
  camera), undistortion to pinhole and the resize / 90-degree rotation of images with their intrinsics.

Only numpy is needed; nothing here imports torch, OpenCV or projectaria-tools.
"""
