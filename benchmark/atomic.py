"""Atomic file writes: write to a temporary file in the target's folder, then rename it into place.

A crash, an exception or a ``SIGKILL`` never leaves a half-written file under the final name (``os.replace`` is
atomic on one filesystem, local or NFS), so a rerun can trust that a file which exists is complete. What a
kill can leave behind is the temporary file itself, named ``.<name>.<random><suffix>`` next to the target:
readers never look at such names, and :func:`remove_stale_temps` deletes the ones a killed process left.

Permissions: ``tempfile.mkstemp`` creates files ``0600``, which would make every result unreadable to the rest
of a team on a shared server. The temporary file is given the mode a plain ``open(path, "w")`` would have
given a new file, ``0o666 & ~umask`` (``0644`` under the usual umask ``022``), before it is renamed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux ``/proc``), else set and restored."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it; restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """Mode that ``open()`` (``0o666``) or ``mkdir`` (``0o777``) would give a new file or folder under the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def temp_prefix(path) -> str:
    """Prefix of the temporary files :func:`atomic_path` makes for ``path`` (``.<name>.``)."""
    return f".{Path(path).name}."


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None, *, fsync: bool = True):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    ``suffix`` defaults to the target's extension (muxers such as FFmpeg pick the format from it), or ``.tmp``. The writer
    opens and closes the temporary path itself. Before the rename the file gets the umask's mode (see the module
    docstring) and, with ``fsync``, its bytes are flushed to disk, so a power cut cannot leave a renamed but
    empty file either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=(path.suffix or ".tmp") if suffix is None else suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    with atomic_path(path, suffix=".tmp") as tmp:
        Path(tmp).write_bytes(data)
    return path


def write_text_atomic(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` through a temporary file and ``os.replace``."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _temp_target(name: str):
    """Target name of a temporary file ``.<target>.<random><suffix>`` (suffix ``.mp4``, ``.tmp``...), else None."""
    if not name.startswith(".") or name.count(".") < 3:
        return None
    return name[1:].rsplit(".", 2)[0]


def remove_stale_temps(folder, names=None, *, older_than: float | None = None) -> list:
    """Delete temporary files that :func:`atomic_path` left in ``folder`` (not recursive); returns their paths.

    ``names``: only the temporaries of these target names (e.g. ``{"results.json"}``); ``None`` means all of
    them. ``older_than``: only files last modified before this ``time.time()`` value, so that a process never
    deletes the temporary file another process is writing right now (pass :func:`process_start_time`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = None if names is None else set(names)
    removed = []
    for entry in os.scandir(folder):
        target = _temp_target(entry.name)
        if target is None or (names is not None and target not in names):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if older_than is not None and entry.stat(follow_symlinks=False).st_mtime >= older_than:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:  # another process removed or renamed it first
            pass
    return removed


def process_start_time() -> float:
    """``time.time()`` at which this module was imported: a safe ``older_than`` for :func:`remove_stale_temps`."""
    return _IMPORTED_AT


_IMPORTED_AT = time.time()
