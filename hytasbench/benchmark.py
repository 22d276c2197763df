"""The query API: ``Benchmark().query(arch, dataset)`` over verified Parquet tables, torch-free."""
from __future__ import annotations

import operator
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from .cache import tables_dir
from .datasets.specs import DATASETS, canonical_name
from .ensembles import is_ensemble
from .errors import (ArchitectureNotInTableError, InvalidArgumentError, InvalidRunError,
                     NoMatchError, UnknownFieldError, UnknownProtocolError, UnknownSourceError, require, short_repr)
from .protocols import same as same_protocol
from .record import Record
from .schema import (COST_PREFIX, cost_column, orientation, proxy_column, proxy_names, score_names,
                     short_names as schema_short_names)
from .space import Arch, ArchLike, parse
from .tables import TableSet, read_table_set
from .view import TableView

SHIPPED = "hytasbench"
REFERENCE = "hytas"
ENV_TABLES = "HYTASBENCH_TABLES"
DEFAULT_ORDER = (REFERENCE, SHIPPED)


def shipped_tables_dir() -> Optional[Path]:
    """The tables that ship with the package: $HYTASBENCH_TABLES, the source checkout, or the install."""
    env = os.environ.get(ENV_TABLES)
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parent.parent / "tables",
                   Path(sys.prefix) / "share" / "hytasbench" / "tables"]
    for c in candidates:
        if (c / "manifest.json").is_file():
            return c
    return None


def _locate(source: Union[str, os.PathLike]) -> Path:
    if not isinstance(source, (str, os.PathLike)) or str(source).strip() == "":
        raise UnknownSourceError(source, DEFAULT_ORDER, "a source is a name or the path of a table-set folder")
    if isinstance(source, os.PathLike) or (isinstance(source, str) and os.sep in source):
        return Path(source)
    if source == SHIPPED:
        path = shipped_tables_dir()
        if path is None:
            raise UnknownSourceError(source, DEFAULT_ORDER, "no shipped tables were found (tables/manifest.json)")
        return path
    if source == REFERENCE or (tables_dir(str(source)) / "manifest.json").is_file():
        path = tables_dir(str(source))
        if not (path / "manifest.json").is_file():
            raise UnknownSourceError(source, DEFAULT_ORDER,
                                     f"the HyTAS reference is not imported yet ({path} is empty): run "
                                     "`python -m builders.import_hytas` (or `hytasbench import`)")
        return path
    if Path(source).is_dir():
        return Path(source)
    raise UnknownSourceError(source, DEFAULT_ORDER, "give a source name or the path of a table-set folder")


class Benchmark:
    """HyTAS as a tabular benchmark.

    ``Benchmark()`` loads every available source: the imported authors' results (``"hytas"``,
    in the cache) and the tables shipped in ``tables/`` (``"hytasbench"``); queries use the first
    in that order unless ``source=`` says otherwise. ``Benchmark(source=...)`` loads just one
    source (a name or a table-set folder); a list loads several in the given order.

    A source may hold results of other training protocols beside its own, in table sets its
    manifest lists (``protocols()``); ``protocol=`` picks one (like NATS-Bench's ``hp``), the
    source's own protocol is the default. Their rows are never mixed with the source's.
    """

    def __init__(self, source: Union[None, str, os.PathLike, Sequence[Union[str, os.PathLike]]] = None,
                 verify: bool = True):
        self._sets: Dict[str, TableSet] = {}
        self._views: Dict[tuple, TableView] = {}
        self._ds_names: Dict[Any, str] = {}
        #: (arch id or string as given, dataset as given, source) -> the run-0 record: the repeat
        #: query's one dictionary lookup (records are immutable and views never change once opened)
        self._heads: Dict[tuple, Record] = {}
        if source is None:
            for name in DEFAULT_ORDER:
                try:
                    self._add(_locate(name), verify)
                except UnknownSourceError:
                    continue
            if not self._sets:
                raise UnknownSourceError(None, DEFAULT_ORDER,
                                         "no tables found: import the authors' results with "
                                         "`python -m builders.import_hytas` or point HYTASBENCH_TABLES at a table set")
        else:
            several = source if isinstance(source, (list, tuple)) else [source]
            if not several:
                raise UnknownSourceError(source, DEFAULT_ORDER, "give at least one source (or None for every "
                                                                "available one)")
            for s in several:
                self._add(_locate(s), verify)
        self.default_source = next(iter(self._sets))

    def _add(self, path: Path, verify: bool) -> None:
        ts = read_table_set(path, verify=verify, parse=False, protocol_sets=True)
        name = ts.source
        if name in self._sets:
            raise UnknownSourceError(name, list(self._sets), f"two table sets both call themselves {name!r}")
        self._sets[name] = ts

    # -- what is loaded ---------------------------------------------------------------------------
    @property
    def sources(self) -> List[str]:
        return list(self._sets)

    def protocols(self, source: Optional[str] = None) -> List[str]:
        """Training protocols the source has results for: its own first, then those it lists."""
        ts = self._sets[self._source_name(source)]
        own = ts.manifest.get("protocol")
        return ([own] if isinstance(own, str) else []) + list(ts.protocol_sets)

    def manifest(self, source: Optional[str] = None, *, protocol: Optional[str] = None) -> Dict[str, Any]:
        return self._set(source, protocol).manifest

    def datasets(self, source: Optional[str] = None, *, protocol: Optional[str] = None) -> List[str]:
        return [d for d in DATASETS if d in self._set(source, protocol).files]

    def fields(self, dataset: str, source: Optional[str] = None, *, protocol: Optional[str] = None) -> List[str]:
        return list(self._view(dataset, source, protocol).columns)

    def proxy_names(self, dataset: str, source: Optional[str] = None) -> List[str]:
        """Proxy scores (variants included) this source holds for the dataset."""
        return score_names(self.fields(dataset, source))

    def proxy_seconds(self, dataset: str, proxy: str, source: Optional[str] = None) -> Optional[float]:
        """Mean compute seconds per architecture for a proxy, where the source publishes one (None
        for a proxy it has no time for); UnknownFieldError for a name that is no proxy."""
        ds = self._dataset(dataset)
        view = self._view(ds, source)
        col = proxy_column(proxy, "seconds") if isinstance(proxy, str) else None
        if col in view.columns:
            vals = [v for v in view.column(col) if v == v]
            return sum(vals) / len(vals) if vals else None
        published = self._set(source).manifest.get("proxy_seconds_mean", {}).get(ds, {})
        if not isinstance(proxy, str) or not (proxy in published or proxy in proxy_names() or is_ensemble(proxy)
                                              or proxy_column(proxy) in view.columns):
            allowed = dict.fromkeys(list(proxy_names()) + score_names(view.columns, variants=False))
            raise UnknownFieldError(proxy, allowed, kind="proxy")
        return published.get(proxy)

    def _source_name(self, source: Optional[str]) -> str:
        """The loaded source ``source`` names (None: the default); anything else (an empty
        string, a number, a list) is an UnknownSourceError, never the default."""
        if source is None:
            return self.default_source
        if not isinstance(source, str) or source not in self._sets:
            raise UnknownSourceError(source, list(self._sets), "" if isinstance(source, str) else
                                     "source= is the name of a loaded source (a str), or None for the default")
        return source

    def _protocol_name(self, source: str, protocol: Optional[str]) -> Optional[str]:
        """The listed protocol set ``protocol`` names (older spellings read), None for the source's own."""
        if protocol is None:
            return None
        if not isinstance(protocol, str):
            raise InvalidArgumentError(f"protocol must be a protocol name (str) or None, got {short_repr(protocol)}")
        own = self._sets[source].manifest.get("protocol")
        for name in [own] + list(self._sets[source].protocol_sets):
            if same_protocol(name, protocol):
                return None if name == own else name
        holders = [s for s in self._sets if s != source and any(same_protocol(n, protocol) for n in self.protocols(s))]
        raise UnknownProtocolError(protocol, source, self.protocols(source),
                                   f"source {holders[0]!r} has it: pass source={holders[0]!r}" if holders else
                                   "the source's own protocol is the default; others exist where its manifest "
                                   "lists their table sets (protocol_sets)")

    def _set(self, source: Optional[str], protocol: Optional[str] = None) -> TableSet:
        name = self._source_name(source)
        listed = self._protocol_name(name, protocol)
        return self._sets[name] if listed is None else self._sets[name].protocol_sets[listed]

    def _dataset(self, dataset: Any) -> str:
        try:
            return self._ds_names[dataset]
        except (KeyError, TypeError):
            name = canonical_name(dataset)
            if isinstance(dataset, str):
                self._ds_names[dataset] = name
            return name

    def _view(self, dataset: Any, source: Optional[str] = None, protocol: Optional[str] = None) -> TableView:
        ds = self._dataset(dataset)
        if protocol is not None and not isinstance(protocol, str):
            raise InvalidArgumentError(f"protocol must be a protocol name (str) or None, got {short_repr(protocol)}")
        # a name as given (a bad one misses and fails below); anything but a str or None fails here
        key = (ds, source if isinstance(source, str) else self._source_name(source), protocol)
        view = self._views.get(key)
        if view is None:
            name = self._source_name(source)
            listed = self._protocol_name(name, protocol)
            ts = self._set(name, listed)
            if ds not in ts.files and listed is not None:
                raise UnknownProtocolError(listed, name, [p for p in self.protocols(name) if ds in self._set(name, p).files],
                                           f"under {listed!r} it holds {sorted(ts.files)}", dataset=ds)
            if ds not in ts.files:
                hint = f"source {name!r} has no table for {ds}; it holds {sorted(ts.files)}"
                if REFERENCE not in self._sets:
                    hint += (". The authors' results for all five datasets come with `hytasbench import` "
                             "(then Benchmark() or --source hytas)")
                raise UnknownSourceError(name, list(self._sets), hint)
            view = self._views[key] = TableView(ts.columns(ds), ds, ts.source, ts.manifest)
        return view

    # -- queries ----------------------------------------------------------------------------------
    def _rows(self, view: TableView, arch: ArchLike) -> List[int]:
        if type(arch) is int:
            rows = view.by_id.get(arch)
        elif type(arch) is str:
            rows = view.by_str.get(arch)
        else:
            rows = None
        if rows is None:
            a = parse(arch)
            rows = view.by_str.get(str(a))
            if rows is None:
                raise ArchitectureNotInTableError(
                    a, view.dataset, view.source,
                    "it is a valid architecture of the space; in Python, Benchmark.query(..., recompute=True) "
                    "or Benchmark.score() computes its proxies live")
        return rows

    def query(self, arch: ArchLike, dataset: str, *, source: Optional[str] = None, run: int = 0,
              protocol: Optional[str] = None, recompute: bool = False, seed: Optional[int] = None,
              data_root: Optional[str] = None, device: Optional[str] = None) -> Record:
        """One record: metrics, costs, every proxy and provenance of ``arch`` on ``dataset``.

        ``run`` picks a repeat (0 is the headline run), ``protocol`` the training protocol (default:
        the source's own; see ``protocols()``). ``recompute=True`` scores the
        architecture live with the proxy kernels instead (needs torch and the dataset files), with
        ``seed`` (default 0), ``data_root`` and ``device`` (default "cpu"); a table ``source`` or
        ``run`` makes no sense there and is refused, as are the live options without it.
        """
        # a repeated plain query is one dictionary lookup; keys are only exact ints and strings,
        # because True and 1.0 hash like 1 and must not find id 1
        plain = recompute is False and seed is None and data_root is None and device is None \
            and type(run) is int and run == 0 and protocol is None
        key = (arch, dataset, source) if plain and (type(arch) is int or type(arch) is str) \
            and type(dataset) is str and (source is None or type(source) is str) else None
        if key is not None:
            record = self._heads.get(key)
            if record is not None:
                return record
        if recompute is not False:
            if recompute is not True:
                raise InvalidArgumentError(f"recompute must be True or False, got {recompute!r}")
            if source is not None or protocol is not None or not (type(run) is int and run == 0):
                raise InvalidArgumentError("query(..., recompute=True) scores the architecture live: it has no "
                                           "table source, training protocol or run; drop source=/protocol=/run=")
            require("torch", "torch", "query(..., recompute=True)")
            from .live import recompute_record  # torch only here

            return recompute_record(arch, dataset, seed=0 if seed is None else seed, data_root=data_root,
                                    device="cpu" if device is None else device)
        if seed is not None or data_root is not None or device is not None:
            raise InvalidArgumentError("seed=, data_root= and device= are options of a live recompute: "
                                       "pass recompute=True, or drop them to read the table")
        view = self._view(dataset, source, protocol)
        rows = self._rows(view, arch)
        if plain:
            record = Record(view, rows[0])
            if key is not None:
                self._heads[key] = record
            return record
        return Record(view, rows[_run_index(run, rows)])

    def query_many(self, archs: Iterable[ArchLike], dataset: str, *, source: Optional[str] = None,
                   protocol: Optional[str] = None) -> List[Record]:
        """Run-0 records of several architectures (a list, tuple, range or other non-string iterable)."""
        if isinstance(archs, (str, bytes, dict)) or not hasattr(archs, "__iter__"):
            raise InvalidArgumentError(f"query_many takes a list of architectures, got {type(archs).__name__} "
                                       f"{short_repr(archs)}; for one architecture use query()")
        view = self._view(dataset, source, protocol)
        return [Record(view, self._rows(view, a)[0]) for a in archs]

    def runs(self, arch: ArchLike, dataset: str, *, source: Optional[str] = None,
             protocol: Optional[str] = None) -> List[Record]:
        """Every training run (repeat) of one architecture."""
        view = self._view(dataset, source, protocol)
        return [Record(view, r) for r in self._rows(view, arch)]

    def score(self, arch: ArchLike, dataset: str, proxies: Optional[Sequence[str]] = None, **kwargs: Any):
        """Compute proxies live for any architecture of the space (needs torch and dataset files)."""
        require("torch", "torch", "Benchmark.score")
        from .live import score  # torch only here

        return score(arch, self._dataset(dataset), proxies=proxies, **kwargs)

    def predict(self, arch: ArchLike, dataset: str, *, source: Optional[str] = None, model: Optional[str] = None):
        """Surrogate prediction (OA, training seconds, 90 % intervals) for any architecture of the space.

        Returns a :class:`hytasbench.surrogate.Prediction`, never a table record; the surrogate is
        fitted to ``source``'s trained architectures at first use. See docs/surrogate.md.
        """
        from .surrogate import DEFAULT_MODEL, surrogate_for

        a = parse(arch)  # a bad architecture is reported before the (costly) fit, whatever the table
        return surrogate_for(self, dataset, source=source, model=DEFAULT_MODEL if model is None else model).predict(a)

    def has(self, arch: ArchLike, dataset: str, field: Optional[str] = None, *, source: Optional[str] = None,
            protocol: Optional[str] = None) -> bool:
        """Whether the table holds the architecture (and, given ``field``, a value for it). A field
        the schema knows but this source lacks is False; a name no table could have raises
        UnknownFieldError (whether or not the architecture is there)."""
        view = self._view(dataset, source, protocol)
        if field is not None:
            view.field_column(field)
        try:
            rows = self._rows(view, arch)
        except ArchitectureNotInTableError:
            return False
        return field is None or Record(view, rows[0])[field] is not None

    def num_rows(self, dataset: str, *, source: Optional[str] = None, protocol: Optional[str] = None) -> int:
        """Number of rows (architectures x runs) of a dataset's table."""
        return self._view(dataset, source, protocol).num_rows

    def rows(self, dataset: str, *, source: Optional[str] = None) -> int:
        """Deprecated name of :meth:`num_rows` (it returns a count, not rows)."""
        warnings.warn("Benchmark.rows() is deprecated: use num_rows(), which returns the same count",
                      DeprecationWarning, stacklevel=2)
        return self.num_rows(dataset, source=source)

    def archs(self, dataset: Optional[str] = None, *, source: Optional[str] = None,
              protocol: Optional[str] = None) -> List[Arch]:
        """Architectures of the table (of the first dataset when none is named), in table order.
        Each equals its canonical string, so ``"e48-h466533-r451343" in bench.archs()`` works."""
        if dataset is None:
            dataset = self.datasets(source, protocol=protocol)[0]
        return [parse(a) for a in self._view(dataset, source, protocol).by_str]

    def archs_list(self, dataset: Optional[str] = None, *, source: Optional[str] = None) -> List[str]:
        """Deprecated: the canonical strings of :meth:`archs` (``[str(a) for a in bench.archs()]``)."""
        warnings.warn("Benchmark.archs_list() is deprecated: use archs(), whose Arch objects equal their "
                      "canonical strings (or [str(a) for a in archs()])", DeprecationWarning, stacklevel=2)
        return [str(a) for a in self.archs(dataset, source=source)]

    def __iter__(self) -> Iterator[Arch]:
        return iter(self.archs())

    def __len__(self) -> int:
        return len(self._view(self.datasets()[0]).by_str)

    def frame(self, dataset: str, *, source: Optional[str] = None, runs: str = "first", short_names: bool = False,
              protocol: Optional[str] = None):
        """The dataset's table as a pandas DataFrame (``runs="all"`` keeps the repeats).
        ``short_names=True`` names the columns as records do (``oa``, ``params``, ``snip``,
        ``dss__attn``; docs/api.md) instead of the table's ``metric_oa``, ``cost_params``, ..."""
        if runs not in ("first", "all"):
            raise UnknownFieldError(runs, ["first", "all"], kind="runs option")
        if not isinstance(short_names, bool):
            raise InvalidArgumentError(f"short_names must be True or False, got {short_repr(short_names)}")
        ds = self._dataset(dataset)
        self._view(ds, source, protocol)  # same errors as a query
        df = self._set(source, protocol).table(ds).to_pandas()
        if runs == "first":
            df = df[df["run"] == 0].reset_index(drop=True)
        return df.rename(columns=schema_short_names(df.columns)) if short_names else df

    def best(self, dataset: str, metric: str = "oa", *, source: Optional[str] = None,
             maximize: Optional[bool] = None, max_params: Optional[float] = None,
             max_flops: Optional[float] = None, min_params: Optional[float] = None,
             min_flops: Optional[float] = None, protocol: Optional[str] = None) -> Record:
        """The headline-run record with the best value of ``metric`` under size constraints.

        ``maximize`` defaults to True, except for costs and times. Rows without the metric are
        skipped, never counted as zero.
        """
        view = self._view(dataset, source, protocol)
        col = view.resolve(metric) if isinstance(metric, str) else None
        numeric = view.numeric_columns()
        if col not in numeric:
            raise UnknownFieldError(metric, numeric, kind="numeric field to rank by")
        if maximize is None:
            maximize = not (col.startswith(COST_PREFIX) or col.endswith("seconds")) and orientation(col) > 0
        elif not isinstance(maximize, bool):
            raise InvalidArgumentError(f"maximize must be True, False or None (the field's own direction), "
                                       f"got {maximize!r}")
        bounds = {"min_params": min_params, "max_params": max_params, "min_flops": min_flops, "max_flops": max_flops}
        for name, bound in bounds.items():
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))
                                      or bound != bound):
                raise InvalidArgumentError(f"{name} must be a number or None, got {short_repr(bound)}")
        values = view.column(col)
        params, flops = (view.column(c) if c in view.columns else None
                         for c in (cost_column("params"), cost_column("flops")))
        runs = view.column("run")
        best_row, best_val = None, None
        for i, v in enumerate(values):
            if runs[i] != 0 or v is None or v != v:
                continue
            if not _within(params, i, min_params, max_params) or not _within(flops, i, min_flops, max_flops):
                continue
            if best_val is None or (v > best_val if maximize else v < best_val):
                best_row, best_val = i, v
        if best_row is None:
            given = ", ".join(f"{k}={v:g}" for k, v in bounds.items() if v is not None) or "none"
            raise NoMatchError(view.dataset, view.source, f"none has a value of {col} within the constraints ({given})")
        return Record(view, best_row)


def _run_index(run: Any, rows: List[int]) -> int:
    try:
        index = -1 if isinstance(run, bool) else operator.index(run)
    except TypeError:
        index = -1
    if index < 0:
        raise InvalidRunError(f"run must be an integer >= 0 (0 is the headline run), got {short_repr(run)}")
    if index >= len(rows):
        raise InvalidRunError(f"run {short_repr(run)} does not exist; this architecture has runs "
                              f"0..{len(rows) - 1}")
    return index


def _within(values: Optional[list], i: int, lo: Optional[float], hi: Optional[float]) -> bool:
    if lo is None and hi is None:
        return True
    if values is None or values[i] is None or values[i] != values[i]:
        return False
    return (lo is None or values[i] >= lo) and (hi is None or values[i] <= hi)
