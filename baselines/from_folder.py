"""``from-folder``: score videos produced elsewhere, read from ``<root>/<clip_id>.mp4``.

This is how a method that only has output videos (someone else's code, a closed model, an earlier run)
is scored exactly like every other row. Files may be ``.mp4`` or ``.mkv``; each must hold exactly the
clip's number of frames at the clip's ego resolution, otherwise the clip fails with an error naming the
file and what was expected (pass ``resize=True`` to resize frames of another size, recorded in results).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.generator import Generator
from benchmark.schema import ExoEgoInputs
from benchmark.video_io import VideoReadError, read_video
from benchmark.video_ops import resize_video


class FromFolder(Generator):
    tracks = ("exo-only", "first-frame")

    def __init__(self, root: str | None = None, resize: bool = False, extensions=(".mp4", ".mkv")):
        if root is None:
            raise ValueError("method 'from-folder' needs the folder of videos: pass --method-arg root=DIR "
                             "(files named <clip_id>.mp4)")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"method 'from-folder': folder {self.root} does not exist")
        self.resize = bool(resize) if not isinstance(resize, str) else resize.lower() in ("1", "true", "yes")
        self.extensions = tuple(extensions)

    def config(self) -> dict:
        return {"root": str(self.root.resolve()), "resize": self.resize}

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        for ext in self.extensions:
            path = self.root / f"{inputs.clip_id}{ext}"
            if path.is_file():
                break
        else:
            raise VideoReadError(f"clip {inputs.clip_id!r}: no video {inputs.clip_id}.mp4 (or .mkv) in {self.root}")
        video = read_video(path, expected_frames=inputs.num_frames,
                           expected_size=None if self.resize else (inputs.ego_height, inputs.ego_width))
        if self.resize:
            video = resize_video(video, inputs.ego_height, inputs.ego_width, crop=True)
        return video
