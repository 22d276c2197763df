"""Training results made outside a build (``python -m hytasbench.train --out r.json``, e.g. the
full-protocol validation runs) -> finished train units of a work directory.

A result becomes the unit its content says it is (dataset, architecture, seed, protocol), so it
merges exactly like a unit the builder ran; nothing is taken from the file name. Results of
architectures outside the space (the SpectralFormer reference) have no table row and are skipped,
as is JSON that is not a training result; a folder's other files (checkpoints, logs) are ignored.

Every file is checked before any is stored, and BuildError names the file that cannot become a
unit: a path that does not exist, JSON that does not parse (the trainer writes atomically, so that
is never a result being written), or a value no table may hold (hytasbench.validate's rules), which
would otherwise sit in the work directory as a finished unit and fail every later merge.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

from hytasbench import space
from hytasbench.arguments import check_seed
from hytasbench.errors import BuildError, InvalidArchitectureError, TableContentError, short_repr
from hytasbench.schema import SIZE_PROXIES, TRAIN_METRICS, cost_column, metric_column
from hytasbench.tables import atomic_write_bytes, sha256_file
from hytasbench.validate import validate_columns

from .units import Unit, protocol_tag, train_columns
from .workdir import WorkDir

_NEEDED = ("arch", "dataset", "seed", "protocol", *TRAIN_METRICS, *SIZE_PROXIES, "device")
#: field of a result -> the table column it becomes (train_columns), whose validation rule it must pass
_COLUMNS = {**{m: metric_column(m) for m in TRAIN_METRICS}, **{c: cost_column(c) for c in SIZE_PROXIES}}


def result_files(paths: Iterable[str]) -> List[Path]:
    """The files named, and the ``*.json`` files found (not recursively) in the folders named.
    BuildError for a path that does not exist: a typo must not pass as "nothing to ingest"."""
    files: List[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif not p.exists():
            raise BuildError(f"--ingest {p}: no such file or folder; give training-result JSON files or folders")
        else:  # a file named on purpose is read whatever its suffix
            files.append(p)
    return files


def _as_stored(value: Any) -> Any:
    """A result's value as the merge stores it, so that exactly that is validated: a NaN recall in
    ``class_acc`` (a class without test pixels; results before null was written for it) becomes
    null, and a whole-number float cost (703868.0) the integer ``train_columns`` keeps."""
    if isinstance(value, list):
        return [None if isinstance(v, float) and math.isnan(v) else v for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_result(doc: Dict[str, Any], arch: str, path: Path) -> None:
    """BuildError naming the file and field of a value that cannot become a unit and a table row:
    a seed as a build takes it, strings where the unit's key and provenance need them, and the
    metrics and costs by the rules every table is validated by."""
    where = f"--ingest {path}: field"
    check_seed(doc["seed"], f"{where} 'seed'", BuildError)
    for name, kind in (("dataset", str), ("protocol", str), ("device", str), ("synthetic", bool)):
        value = doc.get(name, False)  # synthetic: False when absent, as before the field existed
        if not isinstance(value, kind):
            raise BuildError(f"{where} {name!r}: {short_repr(value)} is not a {kind.__name__}")
    try:
        validate_columns({"arch": [arch], "run": [0], **{col: [_as_stored(doc[f])] for f, col in _COLUMNS.items()}},
                         path, doc["dataset"], source="")
    except TableContentError as exc:
        field = next((f for f, col in _COLUMNS.items() if col == exc.column), exc.column)
        raise BuildError(f"{where} {field!r}: {exc.problem}") from None


def read_results(paths: Iterable[str]) -> Tuple[List[Tuple[Unit, Dict[str, Any]]], List[str]]:
    """(unit, record to store) of every training result, all checked before any is stored; and why
    each skipped file was skipped."""
    skipped: List[str] = []
    results: List[Tuple[Unit, Dict[str, Any]]] = []
    for path in result_files(paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:  # a UnicodeDecodeError is a ValueError
            raise BuildError(f"--ingest {path}: not a readable JSON file ({exc}); python -m hytasbench.train "
                             "writes its results whole, so this is none of them") from None
        missing = [k for k in _NEEDED if not isinstance(doc, dict) or k not in doc]
        if missing:
            skipped.append(f"{path}: not a training result (lacks {missing[:4]})")
            continue
        try:
            arch = str(space.parse(doc["arch"]))
        except InvalidArchitectureError:
            skipped.append(f"{path}: architecture {doc['arch']!r} is outside the search space")
            continue
        check_result(doc, arch, path)
        unit = Unit("train", doc["dataset"], arch, doc["seed"], protocol_tag(doc["protocol"]),
                    doc.get("synthetic", False))
        results.append((unit, {
            "key": unit.key, "unit": unit.to_dict(), "columns": train_columns(doc), "seconds": doc["train_seconds"],
            "device": doc["device"], "host": None, "finished": None, "library_version": doc.get("library_version"),
            "torch_version": doc.get("torch_version"), "ingested_from": str(path),
            "ingested_sha256": sha256_file(path)}))
    return results, skipped


def store(results: List[Tuple[Unit, Dict[str, Any]]], wd: WorkDir) -> List[Unit]:
    """Store checked results as finished units (a unit already finished is kept); return their units."""
    for unit, record in results:
        if not wd.is_done(unit.key):
            atomic_write_bytes(wd.done_path(unit.key), json.dumps(record).encode())
    return [unit for unit, _ in results]


def ingest(paths: Iterable[str], wd: WorkDir) -> Tuple[List[Unit], List[str]]:
    """Store each training result as a finished unit, none when any file is refused; return
    (units, why each skipped file was skipped)."""
    results, skipped = read_results(paths)
    return store(results, wd), skipped
