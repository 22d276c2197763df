"""The oracle of a simulated search: what each evaluation returns and what it costs.

Built once from a table frame (one row per architecture) into plain numpy arrays, so that the
runner never touches pandas or the Benchmark per query. Architectures without a recorded OA
(Houston: 34 of 2000, PaviaU: 1) cannot be "trained" in simulation; they are left out of the
candidate set, and a warning says how many.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import ensembles
from ..errors import InvalidArgumentError, MissingCostError, NoAccuracyError, UnknownFieldError, short_repr
from ..schema import SIZE_PROXIES, cost_column, metric_column, orientation, proxy_column, score_names
from ..space import parse
from .features import encode
from .interface import SCORE, TRAIN
from .space_view import DEFAULT_NEIGHBOURS, TabulatedSpace

# Proxies computed analytically from the architecture, no GPU pass: charged 0 simulated seconds.
ANALYTIC_PROXIES: Tuple[str, ...] = SIZE_PROXIES


def _proxy_columns(frame) -> Dict[str, str]:
    """Query name (``snip``, ``dss__attn``) -> column, for numeric score columns only."""
    out: Dict[str, str] = {}
    for name in score_names(frame.columns):
        if np.issubdtype(frame[proxy_column(name)].dtype, np.number):
            out[name] = proxy_column(name)
    for name in ANALYTIC_PROXIES:
        if name not in out and cost_column(name) in frame.columns:
            out[name] = cost_column(name)
    return out


class SearchProblem:
    """Accuracy, training time and proxy scores/times of the candidate architectures of one dataset.

    ``space`` is the free, public part a searcher sees; the arrays here are the oracle the runner
    charges for. ``best_oa`` is the best OA among the candidates, the zero of regret.
    """

    def __init__(self, frame, *, dataset: str = "", source: str = "",
                 proxy_seconds: Optional[Mapping[str, float]] = None,
                 published_proxy_seconds: Optional[Callable[[str], Optional[float]]] = None,
                 neighbours: int = DEFAULT_NEIGHBOURS):
        oa_col = metric_column("oa")
        if oa_col not in frame.columns or not frame[oa_col].notna().any():
            raise NoAccuracyError(
                f"the {source or 'given'} table for {dataset or 'this dataset'!r} holds no trained accuracy "
                f"({oa_col}); OA-based search needs a table with trained architectures")
        repeated = frame["arch"].duplicated()
        if repeated.any():
            raise InvalidArgumentError(f"the frame repeats {int(repeated.sum())} architectures (e.g. "
                             f"{frame.loc[repeated, 'arch'].iloc[0]}); a search needs one row per architecture, "
                             "as Benchmark.frame(dataset) gives (the headline run)")
        has_oa = frame[oa_col].notna().to_numpy()
        self.excluded: Tuple[str, ...] = tuple(frame.loc[~has_oa, "arch"].astype(str))
        if self.excluded:
            warnings.warn(f"{dataset}: {len(self.excluded)} of {len(frame)} architectures have no recorded OA "
                          "and are left out of the search's candidate set", UserWarning, stacklevel=2)
        frame = frame.loc[has_oa]
        self.dataset, self.source = dataset, source
        self.oa = frame[oa_col].to_numpy(dtype=float)
        train = metric_column("train_seconds")
        self.train_seconds = (frame[train].to_numpy(dtype=float) if train in frame.columns
                              else np.full(len(frame), np.nan))
        self.best_oa = float(self.oa.max())
        columns = _proxy_columns(frame)
        self._proxy_values = {name: frame[col].to_numpy(dtype=float) for name, col in columns.items()}
        self._proxy_seconds: Dict[str, Optional[np.ndarray]] = {}
        self._cost_source: Dict[str, str] = {}
        if proxy_seconds is not None and not isinstance(proxy_seconds, Mapping):
            raise InvalidArgumentError(f"proxy_seconds must be a mapping of proxy name to seconds, "
                                       f"got {short_repr(proxy_seconds)}")
        given = dict(proxy_seconds or {})
        for name, value in given.items():
            if name not in columns:
                raise UnknownFieldError(name, sorted(columns), kind="proxy (in proxy_seconds)")
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise MissingCostError(f"proxy_seconds[{name!r}] must be a finite number >= 0 (not a bool), "
                                       f"got {short_repr(value)}")
        for name in columns:
            self._proxy_seconds[name] = self._resolve_cost(frame, name, given, published_proxy_seconds)
        archs = [parse(a) for a in frame["arch"]]
        params = frame[cost_column("params")].to_numpy(float) if cost_column("params") in frame.columns else None
        flops = frame[cost_column("flops")].to_numpy(float) if cost_column("flops") in frame.columns else None
        features, names = encode(archs, params, flops)
        self.space = TabulatedSpace(archs, features, names, neighbours=neighbours, proxies=tuple(columns),
                                    orientation={name: orientation(name) for name in columns})

    def _resolve_cost(self, frame, name: str, given: Mapping[str, float],
                      published: Optional[Callable[[str], Optional[float]]]) -> Optional[np.ndarray]:
        """Per-candidate seconds of one proxy: explicit > per-architecture column > analytic > published mean."""
        n = len(frame)
        base = name.partition("__")[0]
        if name in given or base in given:
            self._cost_source[name] = "given"
            return np.full(n, float(given.get(name, given.get(base))))
        column = proxy_column(base, "seconds")
        if column in frame.columns and frame[column].notna().any():
            self._cost_source[name] = f"column {column}"
            return frame[column].to_numpy(dtype=float)
        if name in ANALYTIC_PROXIES:
            self._cost_source[name] = "analytic (0 s)"
            return np.zeros(n)
        mean = published(base) if published is not None else None
        if mean is not None:
            self._cost_source[name] = "published mean per architecture"
            return np.full(n, float(mean))
        return None

    # ---- what the runner asks ----------------------------------------------------------------

    @property
    def proxies(self) -> Tuple[str, ...]:
        return tuple(self._proxy_values)

    def cost_source(self, proxy: str) -> Optional[str]:
        """Where a proxy's simulated cost comes from, or None when it has none."""
        self.check_proxies([proxy], need_cost=False)
        return self._cost_source.get(proxy)

    def check_proxies(self, names: Sequence[str], need_cost: bool = True) -> None:
        """Raise unless every proxy exists and (optionally) has a simulated cost."""
        for name in names:
            if name not in self._proxy_values and ensembles.is_ensemble(name):
                self._add_ensemble(name)
            if name not in self._proxy_values:
                raise UnknownFieldError(name, sorted(self._proxy_values), kind=f"proxy for {self.dataset!r}")
            if need_cost and self._proxy_seconds[name] is None:
                raise MissingCostError(
                    f"the {self.source or 'given'} table for {self.dataset!r} records no compute time for proxy "
                    f"{name!r}, and no published time exists; pass its cost explicitly, e.g. "
                    f"proxy_seconds={{{name!r}: 0.2}} (CLI: --proxy-seconds {name}=0.2). No cost is ever invented.")

    def _add_ensemble(self, name: str) -> None:
        """An ensemble of this problem's proxies (hytasbench.ensembles), ranked over its candidates;
        one evaluation costs the sum of its members' (their passes are not assumed shared)."""
        _, members = ensembles.parse(name)
        self.check_proxies(members, need_cost=False)
        n = len(self.oa)
        values, _ = ensembles.compute(name, lambda m: self._proxy_values[m].tolist(), [0] * n,
                                      lambda m, row: "no score")
        self._proxy_values[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        costs = [self._proxy_seconds[m] for m in members]
        self._proxy_seconds[name] = None if any(c is None for c in costs) else np.sum(costs, axis=0)
        self._cost_source[name] = "sum of " + ", ".join(f"{m} ({self._cost_source.get(m)})" for m in members)
        self.space.add_proxy(name, 1)

    def proxy_values(self, name: str) -> np.ndarray:
        """Raw scores of one proxy for every candidate (for analysis and tests, not for searchers)."""
        self.check_proxies([name], need_cost=False)
        return self._proxy_values[name]

    def proxy_seconds(self, name: str) -> np.ndarray:
        """Simulated seconds of one proxy evaluation for every candidate; raises if unknown."""
        self.check_proxies([name])
        return self._proxy_seconds[name]  # type: ignore[return-value]

    def oracle(self) -> Callable[[str, int, Optional[str]], Tuple[float, float]]:
        """``evaluate(kind, i, proxy) -> (value, simulated seconds)`` for the runner (Python lists: fast per item)."""
        oa, train_seconds = self.oa.tolist(), self.train_seconds.tolist()
        proxy_lists: Dict[str, Tuple[list, list]] = {}

        def evaluate(kind: str, i: int, proxy: Optional[str]) -> Tuple[float, float]:
            if kind == TRAIN:
                return oa[i], train_seconds[i]
            if kind == SCORE:
                if proxy not in proxy_lists:
                    proxy_lists[proxy] = (self.proxy_values(proxy).tolist(), self.proxy_seconds(proxy).tolist())
                values, seconds = proxy_lists[proxy]
                return values[i], seconds[i]
            raise InvalidArgumentError(f"query kind must be {TRAIN!r} or {SCORE!r}, got {kind!r}")
        return evaluate

    @classmethod
    def from_benchmark(cls, bench, dataset: str, *, source: Optional[str] = None,
                       proxy_seconds: Optional[Mapping[str, float]] = None,
                       neighbours: int = DEFAULT_NEIGHBOURS) -> "SearchProblem":
        """Extract one dataset's frame from a Benchmark; published proxy times fill missing costs."""
        name = source or bench.default_source
        frame = bench.frame(dataset, source=name)
        return cls(frame, dataset=dataset, source=name, proxy_seconds=proxy_seconds,
                   published_proxy_seconds=lambda proxy: bench.proxy_seconds(dataset, proxy, source=name),
                   neighbours=neighbours)
