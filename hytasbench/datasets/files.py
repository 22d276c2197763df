"""Where dataset files live, checking them, and fetching the ones with a public URL.

Layout: ``<root>/<dataset name>/<file name>``; the root is the ``root`` argument, else
``$HYTASBENCH_DATA``, else ``<cache>/datasets`` (``hytasbench.cache.cache_dir()``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..errors import DatasetFilesError, DownloadError
from .specs import DataFile, DatasetSpec

ENV_DATA = "HYTASBENCH_DATA"
PathLike = Union[str, Path]


def data_root(root: Optional[PathLike] = None) -> Path:
    """The folder that holds one sub-folder per dataset."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    from ..cache import cache_dir
    return cache_dir() / "datasets"


def digests(path: PathLike) -> Dict[str, str]:
    """sha256 and git blob id (sha1 of b'blob <size>\\0' + content) of a file, in one read."""
    path = Path(path)
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha256.update(chunk)
            blob.update(chunk)
    return {"sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}


def checksum_problem(path: Path, f: DataFile) -> Optional[str]:
    """None when the file matches its published checksum (or none is published), else why not."""
    if not (f.sha256 or f.git_blob):
        return None
    got = digests(path)
    for kind in ("sha256", "git_blob"):
        want = getattr(f, kind)
        if want and got[kind] != want:
            return f"{kind} is {got[kind]}, expected {want}"
    return None


def describe(f: DataFile, folder: Path) -> str:
    """One line of a 'which file goes where' message."""
    check = f"sha256 {f.sha256}" if f.sha256 else (f"git blob {f.git_blob}" if f.git_blob else "no published checksum")
    source = f"download: {f.url}" if f.url else f.where
    return f"  - {folder / f.name} ({f.role}; {check}); {source}"


def missing_message(spec: DatasetSpec, folder: Path, files: Sequence[DataFile], problem: str) -> str:
    lines = [f"{spec.title}: {problem} in {folder}:"] + [describe(f, folder) for f in files]
    if any(f.url for f in files):
        lines.append("Files with a URL are fetched by load_dataset(..., download=True) "
                     "(or python -m hytasbench.datasets --download NAME).")
    lines.append(f"The data root is the root= argument, else ${ENV_DATA}, else <cache>/datasets; "
                 f"each dataset in its own folder ({spec.name}/).")
    return "\n".join(lines)


def locate(spec: DatasetSpec, root: Optional[PathLike] = None, roles: Sequence[str] = ("cube", "gt", "train", "test"),
           download: bool = False, verify: bool = True) -> Dict[str, Path]:
    """Paths of the spec's files with the given roles, verified; raise DatasetFilesError listing
    every missing or wrong file and where to get it. A present raw cube stands in for the cube."""
    folder = data_root(root) / spec.name
    cube, raw = spec.file("cube"), spec.file("raw_cube")
    use_raw = (raw is not None and cube is not None and "cube" in roles
               and not (folder / cube.name).exists() and (folder / raw.name).exists())
    wanted = [raw if use_raw and f.role == "cube" else f for f in spec.required_files if f.role in roles]
    if download:
        for f in wanted:
            if f.url and not (folder / f.name).exists():
                fetch(f, folder / f.name)
    missing = [f for f in wanted if not (folder / f.name).is_file()]
    if missing:
        raise DatasetFilesError(missing_message(spec, folder, missing, "missing files"))
    if verify:
        bad = [(f, why) for f in wanted for why in [checksum_problem(folder / f.name, f)] if why]
        if bad:
            msg = missing_message(spec, folder, [f for f, _ in bad], "files with the wrong checksum")
            raise DatasetFilesError(msg + "\n" + "\n".join(f"  {f.name}: {why}" for f, why in bad))
    return {"cube" if f.role == "raw_cube" else f.role: folder / f.name for f in wanted}


def fetch(f: DataFile, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``f.url`` to ``dest`` (atomically), verifying its checksum; progress bar if tqdm is there."""
    import requests

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with requests.get(f.url, stream=True, timeout=timeout) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length") or 0) or None
            bar = _progress(total, f.name)
            with open(part, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    fh.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            if bar is not None:
                bar.close()
    except requests.RequestException as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"could not download {f.url} to {dest}: {exc}") from exc
    why = checksum_problem(part, f)
    if why:
        part.unlink(missing_ok=True)
        raise DownloadError(f"downloaded {f.url} but {why}; nothing was written to {dest}")
    part.replace(dest)
    return dest


def _progress(total: Optional[int], name: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False)


def download(spec: DatasetSpec, root: Optional[PathLike] = None) -> List[Path]:
    """Fetch every missing file of the dataset that has a public URL; return the paths now present."""
    folder = data_root(root) / spec.name
    got = []
    for f in spec.required_files:
        if f.url and not (folder / f.name).exists():
            fetch(f, folder / f.name)
        if (folder / f.name).exists():
            got.append(folder / f.name)
    return got
