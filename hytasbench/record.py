"""One row of a table as a small read-only record with attribute and mapping access.

Short names resolve by kind: ``rec.oa`` is ``metric_oa``, ``rec.params`` is ``cost_params``,
``rec.snip`` / ``rec["dss__attn"]`` are proxies. A value the source lacks is None, and
``rec.reason(name)`` says why; a name no table of this kind could have raises UnknownFieldError.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Mapping, Optional

from .errors import UnknownFieldError
from .schema import COST_PREFIX, METRIC_PREFIX, metric_column, proxy_column, score_names

if TYPE_CHECKING:  # pragma: no cover
    from .space import Arch
    from .view import TableView


def _field_getter(name: str) -> Callable[["Record"], Any]:
    """``rec.<name>`` for a name already resolved once: the cached column, inline."""
    def get(self: "Record") -> Any:
        col = self._view.resolved.get(name)
        if col is None:  # not resolved in this record's table yet, or not a column of it
            try:
                return self[name]
            except UnknownFieldError as exc:
                raise AttributeError(str(exc)) from None
        value = self._view.data[col][self._row]
        return None if value != value else value

    return get


class Record(Mapping[str, Any]):
    """Read-only view of one (architecture, dataset, source, run) row: a mapping over the full
    column names that also takes short names, and attribute access to them (``rec.oa``)."""

    __slots__ = ("_view", "_row")

    def __init__(self, view: "TableView", row: int):
        self._view = view
        self._row = row

    # -- mapping protocol over the full column names ------------------------------------------
    def __getitem__(self, key: str) -> Any:
        view = self._view
        try:  # the view's resolved-name cache, inline: this is every query's hot path
            col = view.resolved[key]
        except (KeyError, TypeError):
            col = None
        if col is None:
            col = view.field_column(key)  # an unknown name raises
            if col is None:
                return None
        value = view.data[col][self._row]
        return None if value != value else value  # NaN means absent, like null

    def __iter__(self) -> Iterator[str]:
        return iter(self._view.columns)

    def __len__(self) -> int:
        return len(self._view.columns)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = self[name]
        except UnknownFieldError as exc:
            raise AttributeError(str(exc)) from None
        # Python reaches __getattr__ only after a failed lookup, which costs about a microsecond;
        # a field name read once becomes a class property, so the next read is a plain lookup.
        if name.isidentifier():
            setattr(Record, name, property(_field_getter(name)))
        return value

    def __repr__(self) -> str:
        oa = self.get(metric_column("oa"))
        return (f"Record({self._view.value('arch', self._row)}, {self._view.dataset}, source={self._view.source!r}, "
                f"run={self._view.value('run', self._row)}, oa={oa})")

    def available(self, name: str) -> bool:
        """True when the value exists (not absent, not null); like ``Benchmark.has``, a name no
        table could have raises UnknownFieldError (a typo must not read as a missing value)."""
        return self[name] is not None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except UnknownFieldError:
            return default
        return default if value is None else value

    # -- grouped views -------------------------------------------------------------------------
    def _group(self, prefix: str) -> Dict[str, Any]:
        return {c[len(prefix):]: self[c] for c in self._view.columns if c.startswith(prefix)}

    @property
    def metrics(self) -> Dict[str, Any]:
        return self._group(METRIC_PREFIX)

    @property
    def costs(self) -> Dict[str, Any]:
        return self._group(COST_PREFIX)

    @property
    def proxies(self) -> Dict[str, Any]:
        """Every proxy score and variant, without the per-layer lists, timings and error flags."""
        return {name: self[proxy_column(name)] for name in score_names(self._view.columns)}

    @property
    def arch(self) -> "Arch":
        from .space import parse

        return parse(self._view.value("arch", self._row))


    @property
    def provenance(self) -> Dict[str, Any]:
        from .schema import PROVENANCE_COLUMNS

        from .protocols import describe

        out = {c: self[c] for c in PROVENANCE_COLUMNS if c in self._view.columns}
        protocol = out.get("protocol") or self._view.manifest.get("protocol")
        # what the row's protocol name means (ours, an emulation, or the authors' published rows)
        out["protocol_description"] = (describe(protocol) if isinstance(protocol, str) else None) \
            or self._view.manifest.get("protocol_description")
        out["table_description"] = self._view.manifest.get("description")
        return out


    def reason(self, name: str) -> Optional[str]:
        """Why a value is absent; for a present value None, unless it came from a file that differs
        from the pinned upstream one (an import with --allow-modified), which the reason then says."""
        col = self._view.field_column(name)  # an unknown name raises
        if col is not None and self[col] is not None:
            return self._view.modified.get(col)
        return self._view.absent_reason(name, col, self._row)

    def to_dict(self) -> Dict[str, Any]:
        return {c: self[c] for c in self._view.columns}
