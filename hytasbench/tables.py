"""The on-disk table format: one Parquet file per dataset plus a manifest with checksums.

A table set is a folder holding ``manifest.json`` and ``<dataset>-<sha12>.parquet`` files.
Data files are content-addressed and the manifest is replaced atomically last, so a crash at any
moment leaves either the old or the new set, never a mix. Reading verifies every checksum before
anything is returned: a corrupt or truncated file raises TableError naming it, and nothing is
half-loaded. Torch- and pandas-free; pyarrow is imported only when a Parquet file is written or parsed.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import TableError
from .schema import KEY_COLUMNS, MANIFEST, SCHEMA_VERSION

SUPPORTED_SCHEMAS = (1,)


def sha256_file(path: os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; tables are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class TableSet:
    """A verified table set: its manifest and, loaded on first use, one table per dataset.

    Opening checks every file's sha256 (hashlib only, so cheap and torch/numpy-free); the
    Parquet itself is parsed when a dataset is first used. ``columns()`` serves the query path
    from a derived index in the cache (keyed by the file's sha256) so that queries need neither
    pyarrow nor numpy; the index is rebuilt from the Parquet file whenever it is missing or odd.
    """

    def __init__(self, path: Path, manifest: Dict[str, Any], files: Dict[str, Tuple[Path, Dict[str, Any]]]):
        self.path = path
        self.manifest = manifest
        self.files = files
        self._tables: Dict[str, Any] = {}
        self._columns: Dict[str, Dict[str, list]] = {}

    @property
    def source(self) -> str:
        return self.manifest["source"]

    @property
    def datasets(self) -> List[str]:
        return list(self.files)

    @property
    def tables(self) -> Dict[str, Any]:
        """Every dataset's pyarrow Table (parses all files)."""
        return {ds: self.table(ds) for ds in self.files}

    def absent(self, dataset: str) -> Dict[str, str]:
        """Column -> reason for columns this source lacks for a dataset."""
        return dict(self.manifest.get("absent", {}).get(dataset, {}))

    def table(self, dataset: str):
        if dataset not in self._tables:
            fpath, meta = self.files[dataset]
            self._tables[dataset] = _parse(fpath, fpath.read_bytes(), meta)
        return self._tables[dataset]

    def columns(self, dataset: str) -> Dict[str, list]:
        """Column name -> Python list of values, in the file's column order."""
        if dataset not in self._columns:
            fpath, meta = self.files[dataset]
            cached = _read_index(meta)
            if cached is None:
                table = self.table(dataset)
                # to_pylist, not to_numpy: pyarrow's to_numpy imports pandas
                cached = {c: table.column(c).to_pylist() for c in table.column_names}
                _write_index(meta, cached)
            self._columns[dataset] = cached
        return self._columns[dataset]


_INDEX_VERSION = 1


def _index_path(meta: Dict[str, Any]) -> Path:
    from .cache import cache_dir

    return cache_dir() / "index" / f"{meta['sha256']}.v{_INDEX_VERSION}.marshal"


def _read_index(meta: Dict[str, Any]) -> Optional[Dict[str, list]]:
    try:
        data = marshal.loads(_index_path(meta).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or list(data) != list(meta.get("columns", [])):
        return None
    if any(not isinstance(v, list) or len(v) != meta.get("rows") for v in data.values()):
        return None
    return data


def _write_index(meta: Dict[str, Any], columns: Dict[str, list]) -> None:
    try:
        atomic_write_bytes(_index_path(meta), marshal.dumps(columns))
    except (OSError, ValueError):
        pass  # a read-only cache only costs speed


def _to_arrow(data: Any):
    import pyarrow as pa

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    return table.replace_schema_metadata(None)  # plain Arrow types: readable without pandas


def write_table_set(path: os.PathLike, tables: Mapping[str, Any], *, source: str, protocol: str,
                    description: str, build: Optional[Mapping[str, Any]] = None,
                    absent: Optional[Mapping[str, Mapping[str, str]]] = None,
                    notes: Iterable[str] = (), extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Write ``{dataset: DataFrame | pyarrow.Table}`` as a table set and return its manifest."""
    from . import __version__

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    files: Dict[str, Any] = {}
    for dataset, data in tables.items():
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = _to_arrow(data)
        missing = [c for c in KEY_COLUMNS if c not in table.column_names]
        if missing:
            raise TableError(dataset, f"table lacks the key columns {missing}")
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        blob = sink.getvalue().to_pybytes()
        digest = hashlib.sha256(blob).hexdigest()
        name = f"{dataset}-{digest[:12]}.parquet"
        atomic_write_bytes(root / name, blob)
        files[name] = {"dataset": dataset, "sha256": digest, "bytes": len(blob), "rows": table.num_rows,
                       "columns": table.column_names}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "protocol": protocol,
        "description": description,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "library_version": __version__,
        "build": dict(build or {}),
        "files": files,
        "absent": {k: dict(v) for k, v in (absent or {}).items()},
        "notes": list(notes),
        **dict(extra or {}),
    }
    previous = _referenced_files(root)
    atomic_write_bytes(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False).encode())
    for stale in previous - set(files):
        try:
            (root / stale).unlink()
        except FileNotFoundError:
            pass
    return manifest


def _referenced_files(root: Path) -> set:
    try:
        return set(json.loads((root / MANIFEST).read_text()).get("files", {}))
    except (OSError, ValueError, AttributeError):
        return set()


def read_manifest(path: os.PathLike) -> Dict[str, Any]:
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        raise TableError(mpath, "missing: not a hytasbench table set (expected manifest.json and Parquet files)")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as exc:
        raise TableError(mpath, f"unreadable or not JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) or "source" not in manifest:
        raise TableError(mpath, "not a table manifest (needs 'source' and 'files')")
    version = manifest.get("schema_version")
    if version not in SUPPORTED_SCHEMAS:
        raise TableError(mpath, f"schema_version {version!r} is not supported; this library reads {SUPPORTED_SCHEMAS}")
    return manifest


def _parse(fpath: Path, blob: bytes, meta: Dict[str, Any]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # without pandas metadata, so that reading never imports pandas
        table = pq.ParquetFile(pa.BufferReader(blob)).read(use_pandas_metadata=False)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise TableError(fpath, f"not a readable Parquet file ({exc})") from None
    if table.num_rows != meta.get("rows", table.num_rows):
        raise TableError(fpath, f"{table.num_rows} rows, manifest says {meta.get('rows')}")
    missing = [c for c in KEY_COLUMNS if c not in table.column_names]
    if missing:
        raise TableError(fpath, f"lacks the key columns {missing}")
    return table


def read_table_set(path: os.PathLike, verify: bool = True, parse: bool = True) -> TableSet:
    """Open a table set, checking every file's sha256 (``verify``) and parsing it (``parse``).

    Raises TableError naming the first bad file; nothing is returned half-loaded.
    """
    root = Path(path)
    manifest = read_manifest(root)
    files: Dict[str, Tuple[Path, Dict[str, Any]]] = {}
    parsed: Dict[str, Any] = {}
    for name, meta in manifest["files"].items():
        fpath = root / name
        if not fpath.is_file():
            raise TableError(fpath, "listed in the manifest but missing")
        if verify or parse:
            blob = fpath.read_bytes()  # hash and parse the very same bytes
            if verify:
                digest = hashlib.sha256(blob).hexdigest()
                if digest != meta.get("sha256"):
                    raise TableError(fpath, f"checksum mismatch (sha256 {digest[:16]}..., manifest says "
                                            f"{str(meta.get('sha256'))[:16]}...): the file is corrupt or truncated")
            if parse:
                parsed[meta["dataset"]] = _parse(fpath, blob, meta)
        files[meta["dataset"]] = (fpath, meta)
    _declare(root / MANIFEST, manifest)
    ts = TableSet(root, manifest, files)
    ts._tables.update(parsed)
    return ts


def _declare(mpath: Path, manifest: Dict[str, Any]) -> None:
    """Make the orientations of the proxies a manifest declares known to this process, so that a
    torch-free reader ranks a kernel it has never imported the right way up."""
    from .schema import declare_proxy

    declared = manifest.get("proxies") or {}
    if not isinstance(declared, dict):
        raise TableError(mpath, "'proxies' must map proxy names to their declarations")
    for name, decl in declared.items():
        try:
            declare_proxy(str(name), int(decl["orientation"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TableError(mpath, f"proxy declaration {name!r} is invalid ({exc})") from None
