"""Is the log path writable? (The seed lost its logs to a permission problem.)"""

from __future__ import annotations

import os
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
    return None
