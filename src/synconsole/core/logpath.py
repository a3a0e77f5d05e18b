"""Is the log path writable? (The seed lost its logs to a permission problem.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def writable_problem(path: Path) -> str | None:
    """Why ``path`` cannot be appended to, or None if it can. Creates missing parent folders."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        return f"cannot create folder {path.parent} (permission denied)"
    except OSError as exc:
        return f"cannot create folder {path.parent} ({exc.strerror or exc})"
    if path.is_dir():
        return f"{path} is a directory"
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except PermissionError:
        return f"cannot write {path} (permission denied)"
    except OSError as exc:
        return f"cannot write {path} ({exc.strerror or exc})"
    if not os.access(path, os.W_OK):
        return f"cannot write {path} (permission denied)"
    return _full_problem(path)


def _full_problem(path: Path) -> str | None:
    """A file that opens but takes no bytes: a full disk, or a device like /dev/full."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            fs = os.statvfs(path)
            if fs.f_bavail == 0 and fs.f_blocks > 0:
                return f"cannot write {path} (No space left on device)"
            return None
        if stat.S_ISCHR(mode):  # a device: an empty line is the smallest write that tells
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
            try:
                os.write(fd, b"\n")
            finally:
                os.close(fd)
            return None
        return f"cannot write {path} (not a regular file)"
    except BlockingIOError:
        return None
    except OSError as exc:
        return f"cannot write {path} ({exc.strerror or exc})"
