"""Fast row lookup over one dataset's columns: the machinery behind Benchmark.query.

Columns are plain Python lists (see TableSet.columns), so a query is a couple of dictionary
lookups and a value read is a list index.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import ensembles
from .errors import UnknownFieldError
from .schema import (KIND_PREFIXES, PROVENANCE_COLUMNS, PROXY_PREFIX, error_reason, proxy_column, proxy_error_column,
                     short_names)



class TableView:
    def __init__(self, data: Dict[str, list], dataset: str, source: str, manifest: Dict[str, Any]):
        self.data = data
        self.dataset = dataset
        self.source = source
        self.manifest = manifest
        self.columns: List[str] = list(data)
        self._colset = set(self.columns)
        self._absent: Dict[str, str] = dict(manifest.get("absent", {}).get(dataset, {}))
        #: column -> why its values are suspect (came from a file that differs from upstream)
        self.modified: Dict[str, str] = dict(manifest.get("modified", {}).get(dataset, {}))
        #: name -> its column, or None where this table lacks it: filled by ``resolve`` and read
        #: directly by Record on every field access (the query hot path)
        self.resolved: Dict[str, Optional[str]] = {}
        self._derived_reasons: Dict[str, List[Optional[str]]] = {}  # ensemble column -> per-row reason
        self._numeric: Optional[List[str]] = None
        arch = data["arch"]
        runs = data["run"]
        self.by_str: Dict[str, List[int]] = {}
        for i, (a, r) in enumerate(zip(arch, runs)):
            rows = self.by_str.setdefault(a, [])
            rows.append(i)
        for a, rows in self.by_str.items():
            if len(rows) > 1:
                rows.sort(key=lambda i: runs[i])
        self.by_id: Dict[int, List[int]] = {}
        if "arch_id" in self._colset:
            for a, i in zip(arch, data["arch_id"]):
                if i is not None:
                    self.by_id[int(i)] = self.by_str[a]

    # -- values -------------------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return len(self.data["arch"])

    def column(self, col: str) -> list:
        return self.data[col]

    def value(self, col: str, row: int) -> Any:
        return self.data[col][row]

    def numeric_columns(self) -> List[str]:
        """Metric, cost and proxy columns holding single numbers (what ``best`` can rank by)."""
        if self._numeric is None:
            self._numeric = [c for c in self.columns if (c.startswith(KIND_PREFIXES) or c in self._derived_reasons)
                             and not c.endswith(("__layers", "__error"))
                             and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                     for v in self.data[c])]
        return self._numeric

    # -- names --------------------------------------------------------------------------------
    def resolve(self, name: str) -> Optional[str]:
        """Full column name for a full or short name, or None when this table lacks it."""
        try:
            return self.resolved[name]
        except (KeyError, TypeError):
            if not isinstance(name, str):
                return None
        found: Optional[str] = None
        if name in self._colset:
            found = name
        else:
            for p in KIND_PREFIXES:
                if p + name in self._colset:
                    found = p + name
                    break
            if found is None and ensembles.is_ensemble(name):
                found = self._ensemble(name)
        self.resolved[name] = found
        return found

    def field_column(self, name: str) -> Optional[str]:
        """The column of a full or short name; None for a name the schema knows that this table
        lacks (``known_absent``); UnknownFieldError for a name no table could have."""
        col = self.resolve(name)
        if col is None and not self.known_absent(name):
            if ensembles.is_ensemble(name):  # name the member no table could have, and what an ensemble takes
                member = next(m for m in ensembles.parse(name)[1]
                              if self.resolve(m) is None and not self.known_absent(m))
                raise UnknownFieldError(member, short_names(self.numeric_columns()).values(),
                                        kind=f"member of {name!r}:")
            raise UnknownFieldError(name, self.columns, kind="field")
        return col

    def _ensemble(self, name: str) -> Optional[str]:
        """Add an ensemble's column (hytasbench.ensembles) computed over this table; None when
        the table lacks a member."""
        _, members = ensembles.parse(name)
        cols = {m: self.resolve(m) for m in members}
        if any(c is None for c in cols.values()):
            return None
        values, reasons = ensembles.compute(name, lambda m: self.data[cols[m]], self.data["run"],
                                            lambda m, row: self.absent_reason(m, cols[m], row))
        self.data[name] = values
        self.columns.append(name)
        self._colset.add(name)
        self._derived_reasons[name] = reasons
        if self._numeric is not None:
            self._numeric.append(name)
        return name

    def known_absent(self, name: str) -> bool:
        """True for names the schema knows although this table does not carry them."""
        if not isinstance(name, str):
            return False
        if name in self._absent or any(p + name in self._absent for p in KIND_PREFIXES):
            return True
        if ensembles.is_ensemble(name):  # a documented alias (az_nas), or members this table could have
            return name in ensembles.ALIASES or all(self.resolve(m) is not None or self.known_absent(m)
                                                    for m in ensembles.parse(name)[1])
        from .schema import COSTS, METRICS, SCORE_VARIANTS, EXTRA_VARIANTS, proxy_names

        base = name
        for p in KIND_PREFIXES:
            if base.startswith(p):
                base = base[len(p):]
                break
        proxy, _, variant = base.partition("__")
        if variant and variant not in SCORE_VARIANTS + EXTRA_VARIANTS:
            return False
        return base in METRICS or base in COSTS or proxy in proxy_names() or name in PROVENANCE_COLUMNS

    def absent_reason(self, name: str, col: Optional[str], row: int) -> str:
        for key in ([col] if col else []) + [name] + [p + name for p in KIND_PREFIXES]:
            if key in self._absent:
                return self._absent[key]
        if col in self._derived_reasons:
            return self._derived_reasons[col][row] or f"no value for {col}"
        if col is None:
            flag = proxy_error_column(name if name.startswith(PROXY_PREFIX) else proxy_column(name))
            if flag in self._colset and self.value(flag, row):  # the proxy's unit says why it has no score
                return error_reason(self.value(flag, row))
            if ensembles.is_ensemble(name):
                lacking = [m for m in ensembles.parse(name)[1] if self.resolve(m) is None]
                return f"{name}: source {self.source!r} has no {lacking[0]} scores for {self.dataset}"
            return f"source {self.source!r} has no column {name!r} for {self.dataset}"
        flag = proxy_error_column(col)
        if flag in self._colset and self.value(flag, row):
            return error_reason(self.value(flag, row))
        if "absent_reason" in self._colset and self.value("absent_reason", row):
            return self.value("absent_reason", row)
        return f"no value recorded for {col} in source {self.source!r}"
