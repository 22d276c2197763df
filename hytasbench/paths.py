"""Output paths checked before long work starts, so that a search or an import never runs for
minutes only to fail writing its result."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from .errors import UnwritablePathError

PathLike = Union[str, os.PathLike]


def writable_dir(path: PathLike, what: str) -> Path:
    """Create ``path`` if needed and return it; UnwritablePathError when it cannot be written."""
    if str(path).strip() == "":
        raise UnwritablePathError(f"{what}: an empty path; give a folder")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritablePathError(f"{what} {folder}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UnwritablePathError(f"{what} {folder}: the folder is not writable")
    return folder


def writable_file(path: PathLike, what: str) -> Path:
    """Check that ``path`` can be created or overwritten (its folder is created if needed)."""
    if str(path).strip() == "":
        raise UnwritablePathError(f"{what}: an empty path; give a file name")
    target = Path(path)
    if target.is_dir():
        raise UnwritablePathError(f"{what} {target}: is a folder; give a file name")
    writable_dir(target.parent if str(target.parent) else ".", what)
    if target.exists() and not os.access(target, os.W_OK):
        raise UnwritablePathError(f"{what} {target}: the file exists and is not writable")
    return target
