"""Continue a build from an existing table set (``--base DIR``): its rows become finished units.

The work directory of a build is scratch space; what lasts is the table set. A build on a fresh
machine (the shipped ``tables/``, an empty ``--work``) would otherwise recompute every unit, and a
merge from an empty work directory would write tables without the earlier rows. Seeding turns
every row of the base set (verified by its sha256 first) back into the unit results it was merged
from: cost (params, FLOPs), proxies (every score, variant, per-layer list, seconds and error, with
the kernel revisions the manifest records) and train (metrics, protocol, device). A unit that is
already finished in the work directory is never overwritten, so real results always win.

Merging a seeded unit gives back its row's values unchanged; kernels the base lacks are computed
for those units by ``--refresh-stale`` without recomputing the others.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from hytasbench.errors import BuildError, TableError
from hytasbench.protocols import SYNTHETIC_SUFFIX
from hytasbench.schema import (COST_PREFIX, METRIC_PREFIX, PROXY_PREFIX, SIZE_PROXIES, cost_column, is_score_column,
                               metric_column, proxy_column, proxy_error_column, split_proxy_column)
from hytasbench.tables import atomic_write_bytes, read_table_set

from .revisions import data_free_reason
from .units import DATA_FREE_TAG, Unit, protocol_tag
from .workdir import WorkDir

#: Manifests written before kernels declared their revisions (library 1e964fc and earlier) carry
#: none; the code that wrote them had CRoZe at revision 2 and every other kernel at 1, and merges
#: left older-revision scores out, so every score in such a table is at these revisions.
LEGACY_REVISIONS = {"croze": 2}


def _is_value(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _revisions(manifest: Dict[str, Any], names: Iterable[str]) -> Dict[str, int]:
    declared = manifest.get("proxies")
    if isinstance(declared, dict):
        return {n: int(declared.get(n, {}).get("revision", 1)) for n in names}
    return {n: LEGACY_REVISIONS.get(n, 1) for n in names}


def _rows(table: Any) -> List[Dict[str, Any]]:
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    return [{c: v[i] for c, v in cols.items()} for i in range(table.num_rows)]


def seed_from_tables(base: Path, wd: WorkDir) -> Tuple[List[Unit], Dict[str, int]]:
    """Write the base set's rows as finished units where the work directory has none; returns
    every unit the base holds (so that a merge keeps them) and how many of each kind were written
    (0 everywhere when all were already there)."""
    try:
        ts = read_table_set(base)
    except TableError as exc:
        raise BuildError(f"--base {base}: {exc}") from None
    coverage = (ts.manifest.get("build") or {}).get("coverage") or {}
    origin = {"base": str(Path(base).resolve()), "manifest_created": ts.manifest.get("created")}
    written = {"cost": 0, "proxies": 0, "train": 0}
    units: List[Unit] = []
    for dataset in ts.datasets:
        fpath, meta = ts.files[dataset]
        synthetic = bool((coverage.get(dataset) or {}).get("synthetic_cube", False))
        source = dict(origin, file=fpath.name, sha256=meta["sha256"])
        for row in _rows(ts.table(dataset)):
            for unit, columns, extra in _units_of(row, dataset, synthetic, ts.manifest):
                units.append(unit)
                if wd.is_done(unit.key):
                    continue
                doc = {"key": unit.key, "unit": unit.to_dict(), "columns": columns, "seconds": None,
                       "device": row.get("device"), "host": None, "finished": None,
                       "library_version": row.get("library_version"), "from_table": source, **extra}
                atomic_write_bytes(wd.done_path(unit.key), json.dumps(doc).encode())
                written[unit.kind] += 1
    return units, written


def _units_of(row: Dict[str, Any], dataset: str, synthetic: bool,
              manifest: Dict[str, Any]) -> List[Tuple[Unit, Dict[str, Any], Dict[str, Any]]]:
    arch, seed = row["arch"], row.get("seed")
    seed = 0 if seed is None else int(seed)
    out: List[Tuple[Unit, Dict[str, Any], Dict[str, Any]]] = []
    cost = {c: v for c, v in row.items() if c.startswith(COST_PREFIX) and _is_value(v)}
    if cost:
        out.append((Unit("cost", dataset, arch, None, "", synthetic), cost, {}))
    proxy = {c: v for c, v in row.items() if c.startswith(PROXY_PREFIX)}
    names = sorted({split_proxy_column(c)[0] for c, v in proxy.items() if is_score_column(c, False) and _is_value(v)})
    if names:
        kept = {c: v for c, v in proxy.items() if split_proxy_column(c)[0] in names}
        fidelity = DATA_FREE_TAG if _scored_data_free(proxy, names) else ""
        out.append((Unit("proxies", dataset, arch, seed, fidelity, synthetic), kept,
                     {"revisions": _revisions(manifest, names)}))
    metrics = {c: v for c, v in row.items() if c.startswith(METRIC_PREFIX)}
    if _is_value(metrics.get(metric_column("oa"))):
        protocol = str(row.get("protocol") or manifest.get("protocol") or "")
        if protocol.endswith(SYNTHETIC_SUFFIX):
            protocol = protocol[:-len(SYNTHETIC_SUFFIX)]
        cols = dict(metrics, protocol=protocol, device=row.get("device"))
        cols.update({cost_column(c): cost[cost_column(c)] for c in SIZE_PROXIES if cost_column(c) in cost})
        out.append((Unit("train", dataset, arch, seed, protocol_tag(protocol), synthetic), cols, {}))
    return out


def _scored_data_free(proxy: Dict[str, Any], names: List[str]) -> bool:
    """Whether the row's proxy unit was a --data-free one: its unscored kernels say so. The unit then
    keeps its data-free key, so a later --data-free build of the same selection finds it finished and a
    merge counts it once."""
    unscored = {split_proxy_column(c)[0] for c in proxy} - set(names)
    return any(proxy.get(proxy_error_column(proxy_column(n))) == data_free_reason(n) for n in unscored)


def base_folder(text: Optional[str]) -> Optional[Path]:
    """The ``--base`` folder, checked before any work starts."""
    if text is None:
        return None
    path = Path(text)
    if not (path / "manifest.json").is_file():
        raise BuildError(f"--base {text!r}: not a table set (no manifest.json there)")
    return path
