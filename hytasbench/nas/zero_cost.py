"""Zero-cost ranking: score many candidates with a cheap proxy, then train the best-scored ones.

The simulated cost makes the trade-off visible: on Indian Pines a proxy evaluation costs about
0.2 s against about 3 minutes of training, so scoring all 2000 candidates costs about as much as
two or three trainings.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..arguments import check_int
from ..errors import InvalidSettingError
from .interface import SCORE, Query, Searcher, score, train
from .space_view import TabulatedSpace

DEFAULT_PROXY = "snip"
DEFAULT_CANDIDATES = 100


class ProxyScreen:
    """Score ``n`` random candidates with one proxy, then rank them (best first).

    Ranking uses the proxy's orientation; a NaN score ranks last; ties keep the random order.
    """

    def __init__(self, space: TabulatedSpace, rng: np.random.Generator, proxy: str, n: Optional[int]):
        n = check_int(n, "n_candidates (None: all)", minimum=1, error=InvalidSettingError, optional=True)
        self.proxy = proxy
        self._sign = space.orientation(proxy)
        self._pending = rng.permutation(space.n)[:n].tolist()
        self._next = 0
        self._scores: Dict[int, float] = {}

    @property
    def done(self) -> bool:
        return self._next >= len(self._pending)

    @property
    def complete(self) -> bool:
        """Every candidate asked for has been scored (differs from ``done`` only with parallel workers)."""
        return self.done and len(self._scores) >= len(self._pending)

    def next_query(self) -> Query:
        self._next += 1
        return score(self._pending[self._next - 1], self.proxy)

    def record(self, index: int, value: float) -> None:
        self._scores[index] = value

    def ranking(self) -> List[int]:
        """Scored candidates, best oriented score first."""
        def key(pair: Tuple[int, int]) -> Tuple[float, int]:
            position, i = pair
            s = self._scores.get(i, math.nan)
            return (math.inf if math.isnan(s) else -self._sign * s, position)

        return [i for _, i in sorted(enumerate(self._pending), key=key)]


class ZeroCostRanking(Searcher):
    """Score ``n_candidates`` random candidates (None: all) with ``proxy``, train the top ``top_k``.

    ``top_k=None`` trains down the whole ranking. The search stops when the ranking is used up,
    even with budget left: that is the algorithm, not a bug (raise ``n_candidates`` for long
    budgets). With ``n_candidates=None`` the ranking, hence the result, is the same for every seed.
    """

    def __init__(self, proxy: str = DEFAULT_PROXY, n_candidates: Optional[int] = DEFAULT_CANDIDATES,
                 top_k: Optional[int] = None):
        self.proxy = proxy
        self.n_candidates = n_candidates
        self.top_k = top_k

    def required_proxies(self) -> Tuple[str, ...]:
        return (self.proxy,)

    def check_params(self) -> None:
        check_int(self.n_candidates, "n_candidates (None: all)", minimum=1, error=InvalidSettingError, optional=True)
        check_int(self.top_k, "top_k", minimum=1, error=InvalidSettingError, optional=True)

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        self._screen = ProxyScreen(space, rng, self.proxy, self.n_candidates)
        self._ranked: Optional[List[int]] = None

    def ask(self) -> Optional[Query]:
        if not self._screen.done:
            return self._screen.next_query()
        if self._ranked is None:
            if not self._screen.complete:
                return None  # parallel workers: wait for the last scores before ranking
            self._ranked = self._screen.ranking()[:self.top_k]
            self._ranked.reverse()  # pop() from the end = best first
        return train(self._ranked.pop()) if self._ranked else None

    def tell(self, query: Query, value: float) -> None:
        if query.kind == SCORE:
            self._screen.record(query.index, value)
