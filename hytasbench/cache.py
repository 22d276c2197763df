"""Where user-side files live (imported reference tables, downloaded datasets)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_CACHE = "HYTASBENCH_CACHE"


def cache_dir() -> Path:
    """``$HYTASBENCH_CACHE``, else the platform's per-user cache folder + ``hytasbench``.

    Written out rather than taken from platformdirs: three rules, and the query path stays free
    of dependencies beyond the standard library and pyarrow."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        return base / "hytasbench" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "hytasbench"
    return Path(os.environ.get("XDG_CACHE_HOME", home / ".cache")) / "hytasbench"


def tables_dir(source: str) -> Path:
    """Folder of an imported or user-built table set in the cache."""
    return cache_dir() / "tables" / source
