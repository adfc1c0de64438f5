"""``from-folder``: score videos produced elsewhere, read from ``<root>/<clip_id>.mp4``.

This is how a method that only has output videos (someone else's code, a closed model, an earlier run)
is scored exactly like every other row. Files may be ``.mp4`` or ``.mkv``; each must hold exactly the
clip's number of frames at the clip's ego resolution, otherwise the clip fails with an error naming the
file and what was expected (pass ``resize=True`` to resize frames of another size, recorded in results).

Two guarantees about what gets scored:

* **Nothing outside the folder.** A video file must lie inside ``root`` once symbolic links are followed: a
  link pointing elsewhere (for instance at the dataset's ground-truth ``ego.mp4``, which would score a perfect
  PSNR) is refused, naming the link and its target. Every candidate file is checked when the method is built,
  so the run stops before doing any work (a usage error), and again when each clip is read.
* **No stale copy.** The runner stores each video it made beside its :meth:`FromFolder.source_fingerprint`, the
  sha256 of the source file, and a rerun reuses the run's copy only while the source still has that sha256:
  a source replaced by another video is read again, a deleted one makes its clip fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.errors import UsageError
from benchmark.generator import Generator
from benchmark.hashing import sha256_file
from benchmark.schema import ExoEgoInputs
from benchmark.video_io import VideoReadError, read_video
from benchmark.video_ops import resize_video


class FromFolder(Generator):
    tracks = ("exo-only", "first-frame")

    def __init__(self, root: str | None = None, resize: bool = False, extensions=(".mp4", ".mkv")):
        if root is None:
            raise UsageError("method 'from-folder' needs the folder of videos: pass --method-arg root=DIR "
                             "(files named <clip_id>.mp4)")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise UsageError(f"method 'from-folder': folder {self.root} does not exist")
        self.resize = bool(resize) if not isinstance(resize, str) else resize.lower() in ("1", "true", "yes")
        self.extensions = tuple(extensions)
        self._real_root = self.root.resolve()
        escaping = [p for p in sorted(self.root.iterdir()) if p.suffix in self.extensions and not self._inside(p)]
        if escaping:
            raise UsageError(self._escape_message(escaping[0]) + (
                f" ({len(escaping) - 1} more such file(s) in the folder)" if len(escaping) > 1 else ""))

    def config(self) -> dict:
        return {"root": str(self._real_root), "resize": self.resize}

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self._real_root)

    def _escape_message(self, path: Path) -> str:
        return (f"method 'from-folder': {path} resolves to {path.resolve()}, outside the folder {self._real_root}; "
                "refused, so that no file outside the folder (such as the dataset's ground truth) is scored as the "
                "method's output. Copy the video into the folder instead of linking to it.")

    def source_path(self, clip_id: str) -> Path | None:
        """The clip's video in the folder (``<clip_id>.mp4``, else ``.mkv``), or None when there is none.

        Raises ``UsageError`` when the file (or the clip id itself) leads outside the folder.
        """
        for ext in self.extensions:
            path = self.root / f"{clip_id}{ext}"
            if path.is_file():
                if not self._inside(path):
                    raise UsageError(self._escape_message(path))
                return path
        return None

    def source_fingerprint(self, clip_id: str) -> str:
        """``"sha256:<hex>"`` of the clip's source file, or ``"missing"``: a changed value makes the runner redo it."""
        path = self.source_path(clip_id)
        return "missing" if path is None else f"sha256:{sha256_file(path)}"

    def generate(self, inputs: ExoEgoInputs, *, seed: int) -> np.ndarray:
        path = self.source_path(inputs.clip_id)
        if path is None:
            raise VideoReadError(f"clip {inputs.clip_id!r}: no video {inputs.clip_id}.mp4 (or .mkv) in {self.root}")
        video = read_video(path, expected_frames=inputs.num_frames,
                           expected_size=None if self.resize else (inputs.ego_height, inputs.ego_width))
        if self.resize:
            video = resize_video(video, inputs.ego_height, inputs.ego_width, crop=True)
        return video
