"""Training results made outside a build (``python -m hytasbench.train --out r.json``, e.g. the
full-protocol validation runs) -> finished train units of a work directory.

A result becomes the unit its content says it is (dataset, architecture, seed, protocol), so it
merges exactly like a unit the builder ran; nothing is taken from the file name. Results of
architectures outside the space (the SpectralFormer reference) have no table row and are skipped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, List, Tuple

from hytasbench import space
from hytasbench.errors import InvalidArchitectureError
from hytasbench.schema import SIZE_PROXIES, TRAIN_METRICS
from hytasbench.tables import atomic_write_bytes, sha256_file

from .units import Unit, protocol_tag, train_columns
from .workdir import WorkDir

_NEEDED = ("arch", "dataset", "seed", "protocol", *TRAIN_METRICS, *SIZE_PROXIES, "device")


def result_files(paths: Iterable[str]) -> List[Path]:
    """JSON files named directly or found (not recursively) in the given folders."""
    out: List[Path] = []
    for p in map(Path, paths):
        out += sorted(p.glob("*.json")) if p.is_dir() else [p]
    return out


def ingest(paths: Iterable[str], wd: WorkDir) -> Tuple[List[Unit], List[str]]:
    """Store each training result as a finished unit; return (units, why each skipped file was skipped)."""
    units: List[Unit] = []
    skipped: List[str] = []
    for path in result_files(paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            skipped.append(f"{path}: unreadable ({exc})")
            continue
        missing = [k for k in _NEEDED if not isinstance(doc, dict) or k not in doc]
        if missing:
            skipped.append(f"{path}: not a training result (lacks {missing[:4]})")
            continue
        try:
            arch = str(space.parse(doc["arch"]))
        except InvalidArchitectureError:
            skipped.append(f"{path}: architecture {doc['arch']!r} is outside the search space")
            continue
        unit = Unit("train", doc["dataset"], arch, int(doc["seed"]), protocol_tag(doc["protocol"]),
                    bool(doc.get("synthetic", False)))
        units.append(unit)
        if wd.is_done(unit.key):
            continue
        record = {"key": unit.key, "unit": unit.to_dict(), "columns": train_columns(doc),
                  "seconds": doc["train_seconds"], "device": doc["device"], "host": None, "finished": None,
                  "library_version": doc.get("library_version"), "torch_version": doc.get("torch_version"),
                  "ingested_from": str(path), "ingested_sha256": sha256_file(path)}
        atomic_write_bytes(wd.done_path(unit.key), json.dumps(record).encode())
    return units, skipped
