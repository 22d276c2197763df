"""The on-disk table format: one Parquet file per dataset plus a manifest with checksums.

A table set is a folder holding ``manifest.json`` and ``<dataset>-<sha12>.parquet`` files.
Data files are content-addressed and the manifest is replaced atomically last, so a crash at any
moment leaves either the old or the new set, never a mix; writers of one folder take turns (a lock
file) and each write removes what a killed one left. Opening verifies every file's sha256 before
anything is returned; a table's content is validated (hytasbench.validate) the first time it is
used, once per file digest: the verdict lives in the derived query index, itself bound to that
digest and to its own. Torch- and pandas-free; pyarrow is imported only when a Parquet file is
written or parsed.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import marshal
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import StaleTableSetError, TableError
from .schema import INTEGER_TYPES, KEY_COLUMNS, MANIFEST, SCHEMA_VERSION, is_orientation
from .validate import VALIDATION_VERSION, validate_columns

LOCK = ".lock"  # writers of one table-set folder take turns on this file
#: manifest key: protocol name -> the same source's results under that other training protocol: a
#: table set whose manifest is inline in the entry and whose Parquet files lie in this folder's
#: ``protocols/<folder>`` (never mixed into this set's rows)
PROTOCOL_SETS = "protocol_sets"
PROTOCOLS_DIR = "protocols"

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
    from a derived index in the cache so that queries need neither pyarrow nor numpy; the index
    is only written after the table passed content validation and is used only while its header
    names this file's sha256, the current validation version and its own payload's sha256, so a
    missing, stale or edited index is rebuilt from the verified Parquet file.
    """

    def __init__(self, path: Path, manifest: Dict[str, Any], files: Dict[str, Tuple[Path, Dict[str, Any]]]):
        self.path = path
        self.manifest = manifest
        self.files = files
        self._tables: Dict[str, Any] = {}
        self._columns: Dict[str, Dict[str, list]] = {}
        #: protocol name -> the set of this source's results under it (read_table_set(protocol_sets=True))
        self.protocol_sets: Dict[str, "TableSet"] = {}

    @property
    def source(self) -> str:
        return self.manifest["source"]

    @property
    def datasets(self) -> List[str]:
        return list(self.files)

    @property
    def tables(self) -> Dict[str, Any]:
        """Every dataset's pyarrow Table (parses and validates all files)."""
        return {ds: self.table(ds) for ds in self.files}

    def table(self, dataset: str):
        """The dataset's pyarrow Table, content-validated."""
        table = self._parsed(dataset)
        self.columns(dataset)
        return table

    def _parsed(self, dataset: str):
        if dataset not in self._tables:
            fpath, meta = self.files[dataset]
            try:
                blob = fpath.read_bytes()
            except FileNotFoundError:
                raise StaleTableSetError(fpath, self._replaced()) from None
            except OSError as exc:
                raise TableError(fpath, f"unreadable ({exc.strerror or exc})") from None
            if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
                raise TableError(fpath, "changed since the table set was opened (checksum mismatch): "
                                        "the file is corrupt, or " + self._replaced())
            self._tables[dataset] = _parse(fpath, blob, meta)
        return self._tables[dataset]

    def _replaced(self) -> str:
        return (f"the table set in {self.path} was replaced after it was opened (a re-import or rebuild): "
                "open it again, e.g. Benchmark(...) anew")

    def columns(self, dataset: str) -> Dict[str, list]:
        """Column name -> Python list of values, in the file's column order (content-validated)."""
        if dataset not in self._columns:
            fpath, meta = self.files[dataset]
            source, protocol = self.manifest["source"], self.manifest.get("protocol")
            claim = _claim(dataset, source, protocol)
            cached = _read_index(meta, claim)
            if cached is None:
                table = self._parsed(dataset)
                # to_pylist, not to_numpy: pyarrow's to_numpy imports pandas
                cached = {c: table.column(c).to_pylist() for c in table.column_names}
                validate_columns(cached, fpath, dataset, source, protocol, _types(table))
                _write_index(meta, claim, cached)
            self._columns[dataset] = cached
        return self._columns[dataset]


_INDEX_VERSION = 3
_INDEX_MAGIC = b"HYTASIDX"
# magic, Parquet sha256, validation version, claim digest, payload sha256 (ASCII, fixed width)
_INDEX_HEADER = len(_INDEX_MAGIC) + 64 + 4 + 64 + 64


def _index_path(meta: Dict[str, Any]) -> Path:
    from .cache import cache_dir

    return cache_dir() / "index" / f"{meta['sha256']}.v{_INDEX_VERSION}.marshal"


def _read_index(meta: Dict[str, Any], claim: bytes) -> Optional[Dict[str, list]]:
    """The cached, validated columns of a file, or None when missing, stale, not intact, or
    validated as another dataset, source or protocol than ``claim`` (_claim) says."""
    try:
        blob = _index_path(meta).read_bytes()
    except (OSError, TypeError, KeyError):
        return None
    head, payload = blob[:_INDEX_HEADER], blob[_INDEX_HEADER:]
    if head != _index_header(meta, claim, payload):
        return None
    try:
        data = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or list(data) != list(meta.get("columns", [])):
        return None
    if any(not isinstance(v, list) or len(v) != meta.get("rows") for v in data.values()):
        return None
    return data


def _claim(dataset: str, source: str, protocol: Optional[str]) -> bytes:
    """What a manifest says a file holds, as the digest the index's verdict is bound to: the same
    bytes listed under another dataset, source or protocol are validated again (and refused)."""
    return hashlib.sha256(json.dumps([dataset, source, protocol]).encode()).hexdigest().encode()


def _index_header(meta: Dict[str, Any], claim: bytes, payload: bytes) -> bytes:
    return (_INDEX_MAGIC + str(meta.get("sha256", "")).encode()[:64].ljust(64, b"?")
            + b"%04d" % VALIDATION_VERSION + claim + hashlib.sha256(payload).hexdigest().encode())


def _write_index(meta: Dict[str, Any], claim: bytes, columns: Dict[str, list]) -> None:
    payload = marshal.dumps(columns)
    try:
        atomic_write_bytes(_index_path(meta), _index_header(meta, claim, payload) + payload)
    except (OSError, ValueError):
        pass  # a read-only cache only costs speed: the table is then validated once per process


def _types(table) -> Dict[str, str]:
    """Column -> its Arrow type's name, for validate_columns (which stays pyarrow-free)."""
    return {field.name: str(field.type) for field in table.schema}


def _to_arrow(data: Any, dataset: str):
    """The table as Arrow with the schema's integer types (INTEGER_TYPES) and no pandas metadata."""
    import pyarrow as pa

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    for col, kind in INTEGER_TYPES.items():
        if col in table.column_names and table.schema.field(col).type != kind:
            held = table.schema.field(col).type
            if not (pa.types.is_integer(held) or pa.types.is_floating(held) or pa.types.is_null(held)):
                raise TableError(dataset, f"column {col!r} must hold integers ({kind}), not {held} values")
            try:
                cast = table.column(col).cast(kind)  # safe: a fraction or an overflow raises
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise TableError(dataset, f"column {col!r} must hold integers ({kind}): {exc}") from None
            table = table.set_column(table.column_names.index(col), col, cast)
    return table.replace_schema_metadata(None)  # plain Arrow types: readable without pandas


def write_table_set(path: os.PathLike, tables: Mapping[str, Any], *, source: str, protocol: str,
                    description: str, build: Optional[Mapping[str, Any]] = None,
                    absent: Optional[Mapping[str, Mapping[str, str]]] = None,
                    notes: Iterable[str] = (), extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Write ``{dataset: DataFrame | pyarrow.Table}`` as a table set and return its manifest.

    Each table is content-validated before anything is written; writers of one folder take
    turns, and what a killed writer left (temporary and unreferenced files) is removed.
    """
    from filelock import FileLock  # writers only: the query path does not import it

    root = Path(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / LOCK)):  # an OS lock (flock, or msvcrt on Windows), released if we die
            return _write_locked(root, tables, source, protocol, description, build, absent, notes, extra)
    except PermissionError as exc:
        raise TableError(exc.filename or root, "cannot write the table set here (permission denied): "
                                               "choose another folder (--out) or fix its permissions") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise TableError(exc.filename or root, f"cannot write the table set ({exc.strerror})") from None
        raise TableError(exc.filename or root, f"cannot write the table set ({exc.strerror or exc})") from None


def _write_locked(root: Path, tables: Mapping[str, Any], source: str, protocol: str, description: str,
                  build: Optional[Mapping[str, Any]], absent: Optional[Mapping[str, Mapping[str, str]]],
                  notes: Iterable[str], extra: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    from . import __version__

    notes = list(notes)
    problem = _manifest_problem({"schema_version": SCHEMA_VERSION, "source": source, "protocol": protocol,
                                 "files": {}, "absent": absent or {}, "notes": notes, **dict(extra or {})})
    if problem:  # never write what loading would refuse
        raise TableError(root / MANIFEST, f"not written: {problem}")
    previous = _previous_manifest(root)
    carried = _carried_protocol_sets(root, previous, source, protocol, extra)
    blobs: Dict[str, Tuple[bytes, Dict[str, Any]]] = {}
    for dataset, data in tables.items():
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = _to_arrow(data, dataset)
        missing = [c for c in KEY_COLUMNS if c not in table.column_names]
        if missing:
            raise TableError(dataset, f"table lacks the key columns {missing}")
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        blob = sink.getvalue().to_pybytes()
        digest = hashlib.sha256(blob).hexdigest()
        name = f"{dataset}-{digest[:12]}.parquet"
        meta = {"dataset": dataset, "sha256": digest, "bytes": len(blob), "rows": table.num_rows,
                "columns": table.column_names}
        columns = {c: table.column(c).to_pylist() for c in table.column_names}
        # never write what loading would refuse
        validate_columns(columns, root / name, dataset, source, protocol, _types(table))
        _write_index(meta, _claim(dataset, source, protocol), columns)
        blobs[name] = (blob, meta)
    listed_before = previous.get("files")
    _clean_leftovers(root, keep=set(listed_before) if isinstance(listed_before, dict) else set())
    for name, (blob, _) in blobs.items():
        atomic_write_bytes(root / name, blob)
    files = {name: meta for name, (_, meta) in blobs.items()}
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
        "notes": notes,
        **dict(extra or {}),
    }
    if carried:
        manifest[PROTOCOL_SETS] = carried
    atomic_write_bytes(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False).encode())
    _clean_leftovers(root, keep=set(files))
    return manifest


def _clean_leftovers(root: Path, keep: set) -> None:
    """Remove temporary files and Parquet files the manifest does not list (a killed writer's)."""
    for f in root.iterdir():
        stray = f.name.startswith(".") and f.name.endswith(".tmp")
        orphan = f.suffix == ".parquet" and f.name not in keep
        if stray or orphan:
            try:
                f.unlink()
            except FileNotFoundError:
                pass


def _carried_protocol_sets(root: Path, previous: Dict[str, Any], source: str, protocol: str,
                           extra: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The protocol sets of the folder's current manifest, which stay listed when the set itself is
    rewritten (same source); refused if the rewrite gives the set one of their protocols."""
    from .protocols import same

    listed = previous.get(PROTOCOL_SETS)
    if not listed or previous.get("source") != source or PROTOCOL_SETS in (extra or {}):
        return None
    if not isinstance(listed, dict):
        raise TableError(root / MANIFEST, f"'{PROTOCOL_SETS}' must map protocol names to their sets; fix or "
                                          "remove it before rewriting the set")
    clash = [name for name in listed if same(name, protocol)]
    if clash:
        raise TableError(root / MANIFEST, f"lists results under protocol {clash[0]!r} beside the set's own; "
                                          f"the set cannot become {protocol!r} itself")
    return listed


def _previous_manifest(root: Path) -> Dict[str, Any]:
    """The folder's current manifest as far as it is readable ({} if none): what a rewrite keeps."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def read_manifest(path: os.PathLike) -> Dict[str, Any]:
    mpath = Path(path) / MANIFEST
    try:
        manifest = json.loads(mpath.read_bytes())
    except FileNotFoundError:
        raise TableError(mpath, "missing: not a hytasbench table set (expected manifest.json and Parquet files)") \
            from None
    except OSError as exc:
        raise TableError(mpath, f"unreadable ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:
        raise TableError(mpath, f"unreadable or not JSON ({exc})") from None
    return _checked_manifest(mpath, manifest)


def _checked_manifest(mpath: Path, manifest: Any) -> Dict[str, Any]:
    problem = _manifest_problem(manifest)
    if problem:
        raise TableError(mpath, problem)
    return manifest


def _manifest_problem(manifest: Any) -> Optional[str]:
    """What makes a parsed manifest unusable (the shape of every key a reader uses), or None."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) or "source" not in manifest:
        return "not a table manifest (needs 'source' and 'files')"
    version = manifest.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMAS:
        return f"schema_version {version!r} is not supported; this library reads {SUPPORTED_SCHEMAS}"
    for key in ("source", "protocol"):
        value = manifest.get(key)
        if (key in manifest or key == "source") and (not isinstance(value, str) or not value):
            return f"{key!r} is {value!r}; it must be a non-empty string (the {key}'s name)"
    for key, what in (("absent", "why a column is absent"), ("modified", "why a column's values are suspect")):
        if key in manifest and not _is_mapping_of(manifest[key], lambda v: _is_mapping_of(v, _is_str)):
            return f"{key!r} must map each dataset to {{column: {what}}} (strings)"
    if "proxy_seconds_mean" in manifest and not _is_mapping_of(
            manifest["proxy_seconds_mean"], lambda v: _is_mapping_of(v, _is_time)):
        return "'proxy_seconds_mean' must map each dataset to {proxy: seconds >= 0}"
    if not isinstance(manifest.get("notes", []), list) or not all(map(_is_str, manifest.get("notes", []))):
        return "'notes' must be a list of strings"
    if "proxies" in manifest and not _is_mapping_of(
            manifest["proxies"], lambda d: isinstance(d, dict) and is_orientation(d.get("orientation"))):
        return ("'proxies' must map proxy names to declarations whose orientation is the integer 1 (a higher "
                "raw score predicts higher accuracy) or -1")
    return None


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_time(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf")


def _is_mapping_of(value: Any, ok) -> bool:
    """A dict with string keys whose values all pass ``ok``."""
    return isinstance(value, dict) and all(isinstance(k, str) and ok(v) for k, v in value.items())


def _parse(fpath: Path, blob: bytes, meta: Dict[str, Any]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # without pandas metadata, so that reading never imports pandas
        table = pq.ParquetFile(pa.BufferReader(blob)).read(use_pandas_metadata=False)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise TableError(fpath, f"not a readable Parquet file ({exc})") from None
    if table.num_rows != meta["rows"]:
        raise TableError(fpath, f"{table.num_rows} rows, manifest says {meta['rows']}")
    names = table.column_names
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise TableError(fpath, f"has the columns {twice} more than once; a column name is unique")
    if names != meta["columns"]:
        raise TableError(fpath, f"has the columns {names}, manifest lists {meta['columns']}")
    missing = [c for c in KEY_COLUMNS if c not in table.column_names]
    if missing:
        raise TableError(fpath, f"lacks the key columns {missing}")
    return table


def read_table_set(path: os.PathLike, verify: bool = True, parse: bool = True,
                   protocol_sets: bool = False) -> TableSet:
    """Open a table set, checking every file's sha256 (``verify``), parsing and content-validating
    it (``parse``); with ``protocol_sets``, also every set of other protocols its manifest lists
    (``TableSet.protocol_sets``, files checked the same way, parsed at first use).

    Raises TableError naming the first bad file; nothing is returned half-loaded. A set replaced
    while it is being opened (a concurrent re-import or attach) is opened again from its new manifest.
    """
    root = Path(path)
    for attempt in range(3):
        manifest = read_manifest(root)
        try:
            ts = _open(root, manifest, verify, parse)
            if protocol_sets:
                ts.protocol_sets = _open_protocol_sets(ts, verify)
        except TableError:
            if attempt < 2 and _manifest_changed(root, manifest):
                continue
            raise
        return ts
    raise AssertionError("unreachable")  # pragma: no cover


def _manifest_changed(root: Path, manifest: Dict[str, Any]) -> bool:
    try:
        return read_manifest(root) != manifest
    except TableError:
        return False


def _open(root: Path, manifest: Dict[str, Any], verify: bool, parse: bool, mpath: Optional[Path] = None) -> TableSet:
    files: Dict[str, Tuple[Path, Dict[str, Any]]] = {}
    parsed: Dict[str, Any] = {}
    for name, meta in manifest["files"].items():
        problem = _file_entry_problem(name, meta)
        if problem is None and meta["dataset"] in files:
            problem = f"lists a second file for {meta['dataset']} (one table per dataset)"
        if problem:
            raise TableError(mpath or root / MANIFEST, f"entry {name!r} {problem}")
        fpath = root / name
        if verify or parse:
            try:
                blob = fpath.read_bytes()  # hash and parse the very same bytes
            except FileNotFoundError:
                raise TableError(fpath, "listed in the manifest but missing") from None
            except OSError as exc:
                raise TableError(fpath, f"unreadable ({exc.strerror or exc})") from None
            if verify:
                if meta.get("bytes", len(blob)) != len(blob):
                    raise TableError(fpath, f"{len(blob)} bytes, manifest says {meta['bytes']}")
                digest = hashlib.sha256(blob).hexdigest()
                if digest != meta.get("sha256"):
                    raise TableError(fpath, f"checksum mismatch (sha256 {digest[:16]}..., manifest says "
                                            f"{str(meta.get('sha256'))[:16]}...): the file is corrupt or truncated")
            if parse:
                parsed[meta["dataset"]] = _parse(fpath, blob, meta)
        elif not fpath.is_file():
            raise TableError(fpath, "listed in the manifest but missing")
        files[meta["dataset"]] = (fpath, meta)
    _declare(mpath or root / MANIFEST, manifest)
    ts = TableSet(root, manifest, files)
    ts._tables.update(parsed)
    for dataset in parsed:
        ts.columns(dataset)  # content validation (a cached verdict when the index is intact)
    return ts


def _file_entry_problem(name: str, meta: Any) -> Optional[str]:
    """What is wrong with one entry of a manifest's ``files``, or None."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        return "is not a file name of this folder"
    from .datasets.specs import DATASETS

    if not isinstance(meta, dict) or not isinstance(meta.get("dataset"), str):
        return "names no dataset"
    if meta["dataset"] not in DATASETS:
        return f"names dataset {meta['dataset']!r}; a table is one of {', '.join(DATASETS)} (these spellings)"
    if not isinstance(meta.get("sha256"), str):
        return "has no sha256"
    for key in ("rows", "bytes"):
        count = meta.get(key)
        if (key in meta or key == "rows") and (type(count) is not int or count < 0):
            return f"has {key} {count!r}, not a count"
    columns = meta.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return "has columns that are not a list of names"
    return None


def _declare(mpath: Path, manifest: Dict[str, Any]) -> None:
    """Make the orientations of the proxies a manifest declares known to this process, so that a
    torch-free reader ranks a kernel it has never imported the right way up."""
    from .schema import declare_proxy

    for name, decl in manifest.get("proxies", {}).items():  # shapes checked with the manifest
        try:
            declare_proxy(name, decl["orientation"])
        except ValueError as exc:  # an orientation contradicting the known one
            raise TableError(mpath, f"proxy declaration {name!r} is invalid ({exc})") from None


def protocol_folder(protocol: str) -> str:
    """Where a protocol set's files lie in its source's folder: ``protocols/`` and the name with
    every character but a-z, 0-9 and '-' written as '-' (two protocols of one source whose names
    map to the same folder cannot both be attached)."""
    return PROTOCOLS_DIR + "/" + re.sub(r"[^a-z0-9-]", "-", protocol.lower())


def attach_protocol_set(parent: os.PathLike, child: os.PathLike) -> Dict[str, Any]:
    """Copy the table set in ``child`` (a folder outside ``parent``) into ``parent`` as the parent
    source's results under another training protocol, list it in ``parent``'s manifest, and return
    the entry. Re-attaching a protocol replaces its entry.

    The child is read whole under its writers' lock (without it where it is read-only; every byte
    is checked against its manifest either way), verified and content-validated; it must call
    itself the parent's source, name a protocol that is not the parent's, hold at least one table
    and only rows of its protocol. Crash-safe like a write: the files are copied first under names
    made from their own sha256, the parent's manifest is replaced last and the files it no longer
    lists are removed after, so a kill at any moment leaves the old or the new listing, each with
    its files.
    """
    from filelock import FileLock

    from .protocols import describe, same

    proot, croot = Path(parent), Path(child)
    if croot.resolve() == proot.resolve() or croot.resolve().is_relative_to(proot.resolve()):
        raise TableError(croot, f"a protocol set is attached from a table set outside {proot} (attaching copies "
                                f"its files into {proot / PROTOCOLS_DIR}); build it elsewhere, e.g. --out work/...")
    read_manifest(croot)  # a typed error for a folder that is no table set, before a lock file is made in it
    try:
        try:
            lock = FileLock(str(croot / LOCK))
            lock.acquire()
        except OSError:  # a read-only set: read it unlocked; the checksums below catch a concurrent writer
            lock = None
        try:
            manifest, ts, blobs = _read_whole(croot)
        finally:
            if lock is not None:
                lock.release()
    except OSError as exc:
        raise TableError(exc.filename or croot, f"cannot read the set to attach ({exc.strerror or exc})") from None
    protocol = manifest.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise TableError(croot / MANIFEST, "names no protocol; a protocol set is one protocol's results")
    if not ts.files:
        raise TableError(croot / MANIFEST, "holds no table; there is nothing to attach")
    for dataset in ts.files:
        ts.columns(dataset)  # content validation: every row says the set's protocol
    # the copies are named by their own content, whatever the child called them
    files, copies = {}, {}
    for dataset, (fpath, meta) in ts.files.items():
        blob = blobs[fpath.name]
        name = f"{dataset}-{meta['sha256'][:12]}.parquet"
        files[name] = dict(meta, rows=len(ts.columns(dataset)["arch"]))
        copies[name] = blob
    inline = dict(manifest, files=files)
    folder = protocol_folder(protocol)
    target = proot.joinpath(*folder.split("/"))
    if not target.resolve().is_relative_to(proot.resolve()):
        raise TableError(target, f"leads outside {proot} (a link): a protocol set's files must lie in the set's "
                                 "own folder; replace the link by a folder")
    pmpath = proot / MANIFEST
    read_manifest(proot)  # as for the child: a typed error before the lock file is made
    try:
        with FileLock(str(proot / LOCK)):
            pmanifest = read_manifest(proot)
            if ts.source != pmanifest["source"]:
                raise TableError(croot / MANIFEST, f"source {ts.source!r} is not the source of {proot} "
                                                   f"({pmanifest['source']!r}); build it with --source "
                                                   f"{pmanifest['source']}")
            if same(protocol, pmanifest.get("protocol")):
                raise TableError(croot / MANIFEST, f"protocol {protocol!r} is the protocol of {proot} itself; its "
                                                   "rows belong in that set (build into it with --base), not beside it")
            listed = pmanifest.get(PROTOCOL_SETS, {})
            if not isinstance(listed, dict):
                raise TableError(pmpath, f"'{PROTOCOL_SETS}' must map protocol names to their sets; fix or remove "
                                         "it before attaching")
            replaced = {n: e for n, e in listed.items() if same(n, protocol)}
            kept = {n: e for n, e in listed.items() if n not in replaced}
            # the sets that stay listed must open as they are: never carry a broken entry along
            _open_protocol_sets(TableSet(proot, dict(pmanifest, **{PROTOCOL_SETS: kept}), {}), verify=False)
            clash = [n for n, e in kept.items() if e["path"] == folder]
            if clash:
                raise TableError(pmpath, f"protocol set {clash[0]!r} lies in {folder}, where {protocol!r} would go")
            listed_here = {n: m.get("sha256") for e in replaced.values() if e.get("path") == folder
                           for n, m in e["manifest"]["files"].items()}
            target.mkdir(parents=True, exist_ok=True)
            for name, blob in copies.items():
                dest = target / name
                if dest.is_file() and sha256_file(dest) == files[name]["sha256"]:
                    continue
                if listed_here.get(name, files[name]["sha256"]) != files[name]["sha256"]:
                    raise TableError(dest, "the listed version has another file under this name; remove that "
                                           "protocol set's entry first")
                atomic_write_bytes(dest, blob)  # new, or a damaged copy of the very same content
            entry = {"path": folder, "description": describe(protocol),
                     "rows": {meta["dataset"]: meta["rows"] for meta in files.values()},
                     "architectures": {ds: len(set(ts.columns(ds)["arch"])) for ds in ts.files},
                     "attached": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     "manifest": inline}
            pmanifest[PROTOCOL_SETS] = {**kept, protocol: entry}
            atomic_write_bytes(pmpath, json.dumps(pmanifest, indent=2, sort_keys=False).encode())
    except OSError as exc:
        raise TableError(exc.filename or proot, f"cannot attach the set here ({exc.strerror or exc})") from None
    # after the switch: what no listing needs any more (a failure here only leaves files for the next attach)
    try:
        _clean_leftovers(target, keep=set(files))
        for e in replaced.values():
            old = proot.joinpath(*str(e.get("path", "")).split("/")) if isinstance(e, dict) else None
            if old is not None and old != target and old.resolve().is_relative_to(proot.resolve()) and old.is_dir():
                _clean_leftovers(old, keep=set())
    except OSError:
        pass
    return entry


def _read_whole(root: Path) -> Tuple[Dict[str, Any], TableSet, Dict[str, bytes]]:
    """A table set's manifest, the set verified and content-validated, and each file's bytes,
    checked against the manifest (the bytes copied are the bytes verified)."""
    manifest = read_manifest(root)
    ts = _open(root, manifest, verify=True, parse=True)
    blobs = {}
    for name, meta in manifest["files"].items():
        blobs[name] = (root / name).read_bytes()
        if hashlib.sha256(blobs[name]).hexdigest() != meta["sha256"]:
            raise TableError(root / name, "changed while it was read (a writer that does not take the set's lock)")
    return manifest, ts, blobs


def _open_protocol_sets(ts: TableSet, verify: bool) -> Dict[str, TableSet]:
    """Each protocol set ``ts``'s manifest lists, opened from its inline manifest and its folder
    (every file's sha256 checked with ``verify``). An entry that is malformed, lies elsewhere than
    its protocol's folder (or outside the set, through a link), or is not what it says raises
    TableError: a listed set is never skipped."""
    from .protocols import same

    mpath = ts.path / MANIFEST
    listed = ts.manifest.get(PROTOCOL_SETS, {})
    if not isinstance(listed, dict):
        raise TableError(mpath, f"'{PROTOCOL_SETS}' must map protocol names to their sets")
    root = ts.path.resolve()
    out: Dict[str, TableSet] = {}
    for name, entry in listed.items():
        where = f"protocol set {name!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("manifest"), dict) \
                or not isinstance(entry.get("rows"), dict) or not isinstance(entry.get("path"), str):
            raise TableError(mpath, f"{where}: the entry needs 'path', 'rows' and the set's 'manifest'")
        if same(name, ts.manifest.get("protocol")):
            raise TableError(mpath, f"{where}: that is the set's own protocol, listed again as another")
        if entry["path"] != protocol_folder(name):
            raise TableError(mpath, f"{where}: path {entry['path']!r}; its files lie in {protocol_folder(name)!r}")
        folder = ts.path.joinpath(*entry["path"].split("/"))
        manifest = _checked_manifest(mpath, entry["manifest"])
        if manifest["source"] != ts.source or manifest.get("protocol") != name:
            raise TableError(mpath, f"{where}: its manifest says source {manifest['source']!r}, protocol "
                                    f"{manifest.get('protocol')!r}; listed as {ts.source!r} under {name!r}")
        try:
            child = _open(folder, manifest, verify, parse=False, mpath=mpath)
            outside = [p for p in [folder] + [f for f, _ in child.files.values()] if not p.resolve().is_relative_to(root)]
        except OSError as exc:
            raise TableError(exc.filename or folder, f"{where}: unreadable ({exc.strerror or exc})") from None
        if outside:
            raise TableError(outside[0], f"{where}: leads outside {ts.path} (a link); its files must lie in the "
                                         "set's own folder")
        rows = {ds: meta.get("rows") for ds, (_, meta) in child.files.items()}
        if rows != entry["rows"]:
            raise TableError(mpath, f"{where}: its manifest has rows {rows}, the entry says {entry['rows']}")
        out[name] = child
    return out
