"""Content validation of one table: what a checksum cannot catch.

A sha256 proves a file is the one the manifest lists, not that the manifest's writer wrote sense:
anyone who edits a value and recomputes the digest gets through it. ``validate_columns`` checks what
every table of our format must satisfy (docs/table_format.md, "Validation") and raises
TableContentError naming file, row and column at the first violation. It runs once per verified
file: TableSet stores the verdict in the derived query index, bound to the file's sha256.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, Mapping, Optional

from .errors import HytasError, TableContentError, short_repr
from .datasets.specs import DATASETS
from .protocols import SYNTHETIC_SUFFIX
from .schema import ARCH_COLUMNS, INTEGER_TYPES, PROXY_PREFIX, arch_columns, is_score_column, scored_layer_count
from .space import parse

#: Bump when a rule changes: cached verdicts of an older version are recomputed.
VALIDATION_VERSION = 3

#: column -> (low, high), inclusive. Kappa may be negative (worse than chance, see metrics.py).
_RANGES: Dict[str, tuple] = {
    "metric_oa": (0.0, 1.0), "metric_aa": (0.0, 1.0), "metric_oa_best": (0.0, 1.0), "metric_kappa": (-1.0, 1.0),
}
_POSITIVE = ("cost_params", "cost_flops", "cost_model_size")
_COUNTS = ("cost_params", "cost_flops")  # whole numbers
#: Arrow types (as ``str(pyarrow type)`` names them) an integer column may have: a float column
#: that merely holds whole numbers is refused for its type, the real problem. ``null``: no value at all.
_INTEGER_TYPE = re.compile(r"u?int(8|16|32|64)|null")
_INTEGER_LIST_TYPE = re.compile(r"(large_)?list<[^:]*: u?int(8|16|32|64)( not null)?>|null")
_INTEGER_LISTS = ("num_heads", "mlp_ratio")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


#: Why a NaN is refused wherever it stands: it would read as absent, with a reason that is not true.
_NAN = ("NaN; an absent value is stored as null (its reason in absent_reason, the proxy's __error or the "
        "manifest's 'absent'), never as NaN")
_PLAIN = {int, float}


def _nan_at(values: list) -> Optional[tuple]:
    """(row, list position or None) of the first NaN in a column no other rule checks, or None."""
    for i, v in enumerate(values):
        if _is_nan(v):
            return i, None
        if isinstance(v, list):
            for j, x in enumerate(v):
                if _is_nan(x):
                    return i, j
    return None


def _check_numbers(values: list, col: str, ok: Callable[[Any], bool], what: str, fail) -> None:
    """Each value null or a number (never a bool) passing ``ok``; a NaN is refused as such."""
    for i, v in enumerate(values):
        if v is not None and not (_is_number(v) and ok(v)):
            fail(i, col, _NAN if _is_nan(v) else f"{short_repr(v)} is not {what}")


def _list_problem(v: Any, length: int, ok: Callable[[Any], bool], what: str) -> Optional[str]:
    """Why a list cell is refused, or None: ``length`` entries, each null or a number passing
    ``ok`` (a NaN named as such). The first test is the common case, run in C: per-layer lists
    are most of a table's values."""
    if type(v) is list and len(v) == length and set(map(type, v)) <= _PLAIN and all(map(ok, v)):
        return None
    if not isinstance(v, list) or len(v) != length:
        return f"{short_repr(v)} is not {what}"
    for j, x in enumerate(v):
        if x is not None and not (_is_number(x) and ok(x)):
            return f"{_NAN} (list position {j})" if _is_nan(x) else f"entry {j}, {short_repr(x)}, does not fit {what}"
    return None


def validate_columns(columns: Dict[str, list], path: object, dataset: str, source: str,
                     protocol: Optional[str] = None, types: Optional[Mapping[str, str]] = None) -> None:
    """Raise TableContentError at the first impossible value; return None when the table is sound.
    ``dataset``, ``source`` and ``protocol`` are what the manifest says the file holds: every row
    must say the same (a synthetic-cube row its protocol with the synthetic suffix). ``types``
    (column -> Arrow type name, as the file declares it) lets an integer column of a float type be
    refused for its type rather than for a value that merely looks wrong."""
    def fail(row: Optional[int], col: str, problem: str) -> None:
        raise TableContentError(path, row, col, problem)

    if dataset not in DATASETS:
        fail(None, "dataset", f"{dataset!r} is not a dataset of the benchmark ({', '.join(DATASETS)})")
    n = len(columns.get("arch", []))
    for col, values in columns.items():
        if len(values) != n:
            fail(None, col, f"{len(values)} values for {n} rows")
    for col, kind in (types or {}).items():
        want = _INTEGER_TYPE if col in INTEGER_TYPES else _INTEGER_LIST_TYPE if col in _INTEGER_LISTS else None
        if want is not None and not want.fullmatch(kind):
            expected = f"an integer type ({INTEGER_TYPES[col]})" if col in INTEGER_TYPES else "a list of integers"
            fail(None, col, f"the column's type is {kind}; expected {expected}")
    for col, values in columns.items():
        if col in _RANGES:
            lo, hi = _RANGES[col]
            _check_numbers(values, col, lambda v: lo <= v <= hi, f"a number in [{lo:g}, {hi:g}]", fail)
        elif col == "metric_class_acc":
            classes = DATASETS[dataset].num_classes
            for i, v in enumerate(values):
                problem = v is not None and _list_problem(v, classes, lambda x: 0 <= x <= 1,
                                                          f"a list of {classes} per-class fractions in [0, 1]")
                if problem:
                    fail(i, col, problem)
        elif col in _POSITIVE:
            whole = col in _COUNTS
            _check_numbers(values, col, lambda v: v > 0 and math.isfinite(v) and (not whole or isinstance(v, int)),
                           f"a positive {'whole ' if whole else ''}number", fail)
        elif col == "metric_train_seconds" or col.endswith("__seconds"):
            _check_numbers(values, col, lambda v: 0 <= v < math.inf, "a time in seconds >= 0", fail)
        elif is_score_column(col):  # a build records a NaN or infinite score as null, with its reason
            _check_numbers(values, col, math.isfinite, "a finite number", fail)
        elif col == "seed":
            for i, v in enumerate(values):
                if v is not None and not (type(v) is int and v >= 0):
                    fail(i, col, f"{v!r} is not a seed (an integer >= 0, or null where not recorded)")
        elif col == "absent_reason" or col.endswith("__error"):
            for i, v in enumerate(values):
                if v is not None and not isinstance(v, str):
                    fail(i, col, f"{v!r} is not a reason (a string, or null)")
        elif not _is_layers(col):  # checked below, against each row's architecture
            nan = _nan_at(values)
            if nan is not None:
                fail(nan[0], col, _NAN + ("" if nan[1] is None else f" (list position {nan[1]})"))
    for col, want in (("dataset", {dataset}), ("source", {source}),
                      ("protocol", {protocol, protocol + SYNTHETIC_SUFFIX} if protocol is not None else None)):
        if want is not None and col in columns:
            for i, v in enumerate(columns[col]):
                if v not in want:
                    fail(i, col, f"{v!r}, but the manifest lists this file as {col} {sorted(want)[0]!r}")
    depths = _validate_keys(columns, fail)
    for col in filter(_is_layers, columns):
        for i, (v, s) in enumerate(zip(columns[col], columns["arch"])):
            want = scored_layer_count(depths[s])
            problem = v is not None and _list_problem(
                v, want, math.isfinite, f"a list of {want} per-layer scores, finite numbers or null (depth "
                                        f"{depths[s]}: {want} scored layers)")
            if problem:
                fail(i, col, problem)


def _is_layers(col: str) -> bool:
    """A proxy's per-layer score lists (``proxy_<name>__layers``)."""
    return col.startswith(PROXY_PREFIX) and col.endswith("__layers")


def _validate_keys(columns: Dict[str, list], fail) -> Dict[str, int]:
    """Architecture columns agree with ``arch``; runs of an architecture are 0..k-1, each once.
    Returns each architecture's depth."""
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
    return {s: cols["depth"] for s, cols in parsed.items()}


def _same_ints(v: Any) -> bool:
    """An integer, a list of integers, or null: the types of the architecture columns (a float
    or bool that merely equals the right integer is refused)."""
    return v is None or type(v) is int or (isinstance(v, list) and all(type(x) is int for x in v))
