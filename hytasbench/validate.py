"""Content validation of one table: what a checksum cannot catch.

A sha256 proves a file is the one the manifest lists, not that the manifest's writer wrote sense:
anyone who edits a value and recomputes the digest gets through it. ``validate_columns`` checks what
every table of our format must satisfy (docs/table_format.md, "Validation") and raises
TableContentError naming file, row and column at the first violation. It runs once per verified
file: TableSet stores the verdict in the derived query index, bound to the file's sha256.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from .errors import HytasError, TableContentError
from .datasets.specs import DATASETS
from .protocols import SYNTHETIC_SUFFIX
from .schema import ARCH_COLUMNS, arch_columns, is_score_column
from .space import parse

#: Bump when a rule changes: cached verdicts of an older version are recomputed.
VALIDATION_VERSION = 2

#: column -> (low, high), inclusive. Kappa may be negative (worse than chance, see metrics.py).
_RANGES: Dict[str, tuple] = {
    "metric_oa": (0.0, 1.0), "metric_aa": (0.0, 1.0), "metric_oa_best": (0.0, 1.0), "metric_kappa": (-1.0, 1.0),
}
_POSITIVE = ("cost_params", "cost_flops", "cost_model_size")
_COUNTS = ("cost_params", "cost_flops")  # whole numbers


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _absent(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def validate_columns(columns: Dict[str, list], path: object, dataset: str, source: str,
                     protocol: Optional[str] = None) -> None:
    """Raise TableContentError at the first impossible value; return None when the table is sound.
    ``dataset``, ``source`` and ``protocol`` are what the manifest says the file holds: every row
    must say the same (a synthetic-cube row its protocol with the synthetic suffix)."""
    def fail(row: Optional[int], col: str, problem: str) -> None:
        raise TableContentError(path, row, col, problem)

    if dataset not in DATASETS:
        fail(None, "dataset", f"{dataset!r} is not a dataset of the benchmark ({', '.join(DATASETS)})")
    n = len(columns.get("arch", []))
    for col, values in columns.items():
        if len(values) != n:
            fail(None, col, f"{len(values)} values for {n} rows")
    for col, values in columns.items():
        if col in _RANGES:
            lo, hi = _RANGES[col]
            for i, v in enumerate(values):
                if not _absent(v) and not (_is_number(v) and lo <= v <= hi):
                    fail(i, col, f"{v!r} is not a number in [{lo:g}, {hi:g}]")
        elif col == "metric_class_acc":
            classes = DATASETS[dataset].num_classes
            for i, v in enumerate(values):
                if v is not None and (not isinstance(v, list) or len(v) != classes
                                      or any(not _absent(x) and not (_is_number(x) and 0 <= x <= 1) for x in v)):
                    fail(i, col, f"{v!r} is not a list of {classes} per-class fractions in [0, 1]")
        elif col in _POSITIVE:
            for i, v in enumerate(values):
                if not _absent(v) and not (_is_number(v) and v > 0 and math.isfinite(v)
                                           and (col not in _COUNTS or isinstance(v, int))):
                    fail(i, col, f"{v!r} is not a positive {'whole ' if col in _COUNTS else ''}number")
        elif col == "metric_train_seconds" or col.endswith("__seconds"):
            for i, v in enumerate(values):
                if not _absent(v) and not (_is_number(v) and 0 <= v < math.inf):
                    fail(i, col, f"{v!r} is not a time in seconds >= 0")
        elif is_score_column(col):  # a build records a NaN or infinite score as absent, with its reason
            for i, v in enumerate(values):
                if not _absent(v) and not (_is_number(v) and math.isfinite(v)):
                    fail(i, col, f"{v!r} is not a finite number")
        elif col == "seed":
            for i, v in enumerate(values):
                if v is not None and not (type(v) is int and v >= 0):
                    fail(i, col, f"{v!r} is not a seed (an integer >= 0, or null where not recorded)")
        elif col == "absent_reason" or col.endswith("__error"):
            for i, v in enumerate(values):
                if v is not None and not isinstance(v, str):
                    fail(i, col, f"{v!r} is not a reason (a string, or null)")
    for col, want in (("dataset", {dataset}), ("source", {source}),
                      ("protocol", {protocol, protocol + SYNTHETIC_SUFFIX} if protocol is not None else None)):
        if want is not None and col in columns:
            for i, v in enumerate(columns[col]):
                if v not in want:
                    fail(i, col, f"{v!r}, but the manifest lists this file as {col} {sorted(want)[0]!r}")
    _validate_keys(columns, fail)


def _validate_keys(columns: Dict[str, list], fail) -> None:
    """Architecture columns agree with ``arch``; runs of an architecture are 0..k-1, each once."""
    runs = columns.get("run", [])
    parsed: Dict[Any, Any] = {}
    seen: Dict[Any, set] = {}
    extra = [c for c in ARCH_COLUMNS if c != "arch" and c in columns]
    for i, s in enumerate(columns.get("arch", [])):
        if s not in parsed:
            try:
                a = parse(s) if isinstance(s, str) else None
            except HytasError:
                a = None
            if a is None or str(a) != s:
                fail(i, "arch", f"{s!r} is not the canonical string of an architecture of the space")
            parsed[s] = arch_columns(a)
        want = parsed[s]
        for col in extra:
            v = columns[col][i]
            if v != want[col] or not _same_ints(v):
                fail(i, col, f"{v!r} disagrees with arch {s} ({col} {want[col]!r})")
        r = runs[i] if i < len(runs) else None
        if type(r) is not int or r < 0:
            fail(i, "run", f"{r!r} is not a run number (an integer >= 0)")
        if r in seen.setdefault(s, set()):
            fail(i, "run", f"architecture {s} has run {r} twice (repeats must have distinct run numbers)")
        seen[s].add(r)
    for s, rs in seen.items():
        if max(rs) != len(rs) - 1:
            fail(None, "run", f"architecture {s} has runs {sorted(rs)}; repeats must be numbered 0..{len(rs) - 1}")


def _same_ints(v: Any) -> bool:
    """An integer, a list of integers, or null: the types of the architecture columns (a float
    or bool that merely equals the right integer is refused)."""
    return v is None or type(v) is int or (isinstance(v, list) and all(type(x) is int for x in v))
