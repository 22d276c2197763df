"""Search over the whole HyTAS space: moves over every architecture, OA and cost from the surrogate.

:class:`FullSpace` offers the same interface as :class:`~hytasbench.nas.space_view.TabulatedSpace`,
so the built-in searchers run on it unchanged. Positions ``0..n-1`` are a seeded uniform sample of
the space (what random draws and candidate pools come from); every other architecture gets a
position the first time a move reaches it: ``neighbours(i)`` is every one-edit neighbour
(:func:`hytasbench.space.neighbours`), ``mutate`` a one-edit mutation (:func:`hytasbench.space.mutate`),
``index``/``snap`` any architecture of the space.

:class:`SurrogateProblem` is the oracle: training returns the surrogate's OA plus noise drawn from
its predictive distribution and costs its predicted training seconds (also with noise), both
seeded per (noise seed, architecture) so that an architecture always returns the same value within
one problem. ``params`` and ``flops`` are exact and free; any other proxy is computed live by the
real kernels (torch and the dataset files needed) when a searcher asks, and charged the table's
measured mean seconds for that proxy.
"""
from __future__ import annotations

import math
import random
import zlib
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..arguments import check_int
from ..errors import InvalidArgumentError, InvalidSampleError, MissingCostError, UnknownFieldError, require
from ..schema import ORIENTATION, SIZE_PROXIES, orientation
from ..space import Arch, ArchLike, mutate, neighbours, parse, sample
from .interface import SCORE, TRAIN

DEFAULT_POOL = 10_000
ANALYTIC = SIZE_PROXIES  # computed from the architecture: no scoring time
_Z90 = 1.6448536269514722  # the normal's 95th percentile: a 90 % half-width is 1.645 sd


class FullSpace:
    """Every architecture of the space, positions handed out as searchers reach them."""

    def __init__(self, dataset: str, n: int = DEFAULT_POOL, seed: int = 0):
        self.dataset = dataset
        self.n = check_int(n, "the random pool's size", minimum=2, error=InvalidSampleError)
        self.proxies: Tuple[str, ...] = tuple(ORIENTATION)
        self.archs: List[Arch] = []
        self._index: Dict[Arch, int] = {}
        self._features: List[np.ndarray] = []
        self._matrix: Optional[np.ndarray] = None
        self.feature_names: Tuple[str, ...] = ()
        rng = random.Random(seed)
        while len(self.archs) < n:
            a = sample(rng)
            if a not in self._index:
                self._add(a)

    def _add(self, a: Arch) -> int:
        self._index[a] = len(self.archs)
        self.archs.append(a)
        self._matrix = None
        return self._index[a]

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def strings(self) -> np.ndarray:
        return np.array([str(a) for a in self.archs], dtype=object)

    @property
    def features(self) -> np.ndarray:
        """Features of every position handed out so far (computed in blocks as the space grows)."""
        from ..surrogate.model import features

        done = sum(len(block) for block in self._features)
        if done < len(self.archs):
            block, self.feature_names = features(self.archs[done:], self.dataset)
            self._features.append(block)
            self._matrix = None
        if self._matrix is None:
            self._matrix = np.vstack(self._features)
        return self._matrix

    def index(self, arch: ArchLike) -> int:
        """Position of any architecture of the space (a new one gets the next position)."""
        a = parse(arch)
        i = self._index.get(a)
        return self._add(a) if i is None else i

    snap = index

    def neighbours(self, i: int) -> List[int]:
        """Positions of every one-edit neighbour of position ``i``."""
        return [self.index(a) for a in neighbours(self.archs[i])]

    def mutate(self, i: int, rng: random.Random) -> int:
        """Position of a one-edit mutation of position ``i``."""
        return self.index(mutate(self.archs[i], rng))

    def orientation(self, proxy: str) -> int:
        return orientation(proxy)


def _normal(noise_seed: int, arch: Arch, stream: int) -> float:
    """A standard normal fixed by (noise seed, architecture, stream)."""
    return float(np.random.default_rng([noise_seed, stream, zlib.crc32(str(arch).encode())]).standard_normal())


class SurrogateProblem:
    """The oracle of a full-space search: surrogate OA and cost with seeded noise, live proxies.

    ``best_oa`` (the zero of regret) is the best OA of the table the surrogate was fitted on, a
    reference point, not the optimum of the space: regret here can be negative.
    """

    def __init__(self, surrogate, *, pool: int = DEFAULT_POOL, space_seed: int = 0, noise_seed: int = 0,
                 proxy_seconds: Optional[Mapping[str, Optional[float]]] = None, best_oa: Optional[float] = None,
                 data_root: Optional[str] = None):
        self.surrogate = surrogate
        self.dataset, self.source = surrogate.dataset, f"surrogate:{surrogate.source}"
        self.space = FullSpace(surrogate.dataset, pool, space_seed)
        self.noise_seed = noise_seed
        self.best_oa = float(best_oa) if best_oa is not None else math.nan
        self.excluded: Tuple[str, ...] = ()
        self._proxy_seconds = {name: 0.0 for name in ANALYTIC}
        for name, value in (proxy_seconds or {}).items():
            if name not in ORIENTATION:
                raise UnknownFieldError(name, sorted(ORIENTATION), kind="proxy (in proxy_seconds)")
            if value is not None:
                if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                    raise MissingCostError(f"proxy_seconds[{name!r}] must be a finite number >= 0, got {value!r}")
                self._proxy_seconds.setdefault(name, float(value))
        self._data_root = data_root
        self._oa: List[float] = []
        self._seconds: List[float] = []
        self._scores: Dict[Tuple[int, str], float] = {}

    @classmethod
    def from_benchmark(cls, bench, dataset: str, *, source: Optional[str] = None, model: Optional[str] = None,
                       pool: int = DEFAULT_POOL, space_seed: int = 0, noise_seed: int = 0,
                       proxy_seconds: Optional[Mapping[str, float]] = None,
                       data_root: Optional[str] = None) -> "SurrogateProblem":
        """Fit (or reuse) the surrogate of ``dataset`` and charge proxies the table's measured mean seconds;
        ``data_root``: where live proxies find the dataset files (default: $HYTASBENCH_DATA, the cache)."""
        from ..surrogate import DEFAULT_MODEL, surrogate_for

        sur = surrogate_for(bench, dataset, source=source, model=DEFAULT_MODEL if model is None else model)
        name = bench._source_name(source)
        costs = {p: bench.proxy_seconds(sur.dataset, p, source=name) for p in ORIENTATION if p not in ANALYTIC}
        costs.update(proxy_seconds or {})
        best = float(np.nanmax(bench.frame(sur.dataset, source=name)["metric_oa"].to_numpy(float)))
        return cls(sur, pool=pool, space_seed=space_seed, noise_seed=noise_seed, proxy_seconds=costs, best_oa=best,
                   data_root=data_root)

    @property
    def proxies(self) -> Tuple[str, ...]:
        return self.space.proxies

    def check_proxies(self, names: Sequence[str], need_cost: bool = True) -> None:
        for name in names:
            if name not in ORIENTATION:
                raise UnknownFieldError(name, sorted(ORIENTATION), kind="proxy of the full space")
            if need_cost and name not in self._proxy_seconds:
                raise MissingCostError(f"no measured compute time for proxy {name!r} on {self.dataset!r}; pass one, "
                                       f"e.g. proxy_seconds={{{name!r}: 0.2}} (CLI: --proxy-seconds {name}=0.2)")

    def _extend(self) -> None:
        """Predict every position handed out since the last call, in one batch."""
        new = self.space.archs[len(self._oa):]
        if not new:
            return
        pred = self.surrogate.predict_arrays(new)
        (oa, oa_half), (secs, secs_half) = pred["oa"], pred["train_seconds"]
        for k, a in enumerate(new):
            self._oa.append(min(max(oa[k] + oa_half[k] / _Z90 * _normal(self.noise_seed, a, 0), 0.0), 1.0))
            self._seconds.append(max(secs[k] + secs_half[k] / _Z90 * _normal(self.noise_seed, a, 1), 1.0))

    def _live(self, i: int, proxy: str) -> float:
        key = (i, proxy)
        if key not in self._scores:
            a = self.space.archs[i]
            if proxy in SIZE_PROXIES:
                from ..costs import analytic_params, count_flops
                from ..datasets.specs import get_spec

                spec = get_spec(self.dataset)
                fn = analytic_params if proxy == "params" else count_flops
                self._scores[key] = float(fn(a, spec.bands, spec.num_classes, spec.band_patch))
            else:
                require("torch", "torch", "a full-space search scored by live proxies")
                from ..live import score  # torch only here, and only when a searcher asks

                self._scores[key] = float(score(a, self.dataset, [proxy], data_root=self._data_root)[proxy])
        return self._scores[key]

    def oracle(self):
        """``evaluate(kind, i, proxy) -> (value, simulated seconds)`` for the runner."""
        oa, seconds, costs = self._oa, self._seconds, self._proxy_seconds

        def evaluate(kind: str, i: int, proxy: Optional[str]) -> Tuple[float, float]:
            if kind == TRAIN:
                if i >= len(oa):
                    self._extend()
                return oa[i], seconds[i]
            if kind == SCORE:
                self.check_proxies([proxy])
                return self._live(i, proxy), costs[proxy]
            raise InvalidArgumentError(f"query kind must be {TRAIN!r} or {SCORE!r}, got {kind!r}")
        return evaluate

