"""Surrogate-guided search: a random forest predicts OA from architecture features and proxies.

Score a pool of candidates with the chosen proxies; train ``n_init`` random pool members; then
repeatedly fit a random forest on everything trained so far (free architecture features of
:mod:`hytasbench.nas.features`, including log parameters and FLOPs, plus the proxy scores) and
train the ``batch_size`` untrained pool members it predicts best. Refitting per batch rather
than per training keeps 50-seed studies fast; the forest is seeded from the run's generator.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from ..arguments import check_int
from ..errors import InvalidSettingError
from .interface import SCORE, Query, Searcher, score, train
from .space_view import TabulatedSpace

DEFAULT_PROXIES: Tuple[str, ...] = ("snip",)


class SurrogateSearch(Searcher):
    """Random-forest-guided search over a proxy-scored pool (``pool_size=None``: all candidates)."""

    def __init__(self, proxies: Sequence[str] = DEFAULT_PROXIES, pool_size: Optional[int] = None,
                 n_init: int = 10, batch_size: int = 10, n_estimators: int = 50):
        self.proxies = proxies
        self.pool_size = pool_size
        self.n_init = n_init
        self.batch_size = batch_size
        self.n_estimators = n_estimators

    def required_proxies(self) -> Tuple[str, ...]:
        return tuple(self.proxies)

    def check_params(self) -> None:
        for name in ("n_init", "batch_size", "n_estimators"):
            check_int(getattr(self, name), name, minimum=1, error=InvalidSettingError)
        check_int(self.pool_size, "pool_size (None: all)", minimum=1, error=InvalidSettingError, optional=True)
        if isinstance(self.proxies, str) or not isinstance(self.proxies, (list, tuple)) or not self.proxies:
            raise InvalidSettingError(f"proxies must be a non-empty list of proxy names, got {self.proxies!r}")

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        self._space = space
        self._rng = rng
        self._pool = rng.permutation(space.n)[:self.pool_size]
        self._column = {p: c for c, p in enumerate(self.proxies)}
        self._scores = np.full((space.n, len(self.proxies)), np.nan)
        self._to_score: List[Tuple[int, str]] = [(int(i), p) for i in self._pool[::-1] for p in self.proxies[::-1]]
        self._queue: List[int] = [int(i) for i in self._pool[:self.n_init][::-1]]
        self._trained: Dict[int, float] = {}
        self._asked: Set[int] = set()  # trainings asked for, told or still in flight (parallel workers)

    def _next_batch(self) -> List[int]:
        """Fit the forest on the trained candidates; the best-predicted untrained ones, best last."""
        from sklearn.ensemble import RandomForestRegressor

        untrained = np.array([i for i in self._pool if i not in self._asked], dtype=np.int64)
        if len(untrained) == 0:
            return []
        trained = np.fromiter(self._trained, dtype=np.int64)
        x = self._design()
        forest = RandomForestRegressor(n_estimators=self.n_estimators, random_state=int(self._rng.integers(2 ** 31)),
                                       n_jobs=1)
        forest.fit(x[trained], np.fromiter(self._trained.values(), dtype=float))
        predicted = forest.predict(x[untrained])
        best = untrained[np.argsort(-predicted, kind="stable")[:self.batch_size]]
        return best[::-1].tolist()

    def _design(self) -> np.ndarray:
        """Features plus proxy scores; a missing (NaN) score becomes the column minimum minus 1."""
        scores = self._scores.copy()
        for c in range(scores.shape[1]):
            column = scores[:, c]
            if np.isnan(column).all():
                column[:] = 0.0
            else:
                column[np.isnan(column)] = np.nanmin(column) - 1.0
        return np.hstack([self._space.features, scores])

    def ask(self) -> Optional[Query]:
        if self._to_score:
            i, proxy = self._to_score.pop()
            return score(i, proxy)
        if not self._queue:
            if not self._trained:
                return None  # parallel workers: wait for a first result before fitting
            self._queue = self._next_batch()
        if not self._queue:
            return None
        i = self._queue.pop()
        self._asked.add(i)
        return train(i)

    def tell(self, query: Query, value: float) -> None:
        if query.kind == SCORE:
            self._scores[query.index, self._column[query.proxy]] = value
        else:
            self._trained[query.index] = value
