"""Random search, and the closed-form expectation of its result (the baseline every curve needs).

Random search trains candidates in a uniformly random order without repeats. After ``n``
trainings its incumbent is the maximum of a size-``n`` sample drawn without replacement from the
candidates' OAs, whose distribution is an order statistic of the table: no simulation needed.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
from scipy.special import gammaln

from ..arguments import check_int
from ..errors import InvalidArgumentError, short_repr
from .interface import Query, Searcher, train
from .space_view import TabulatedSpace


class RandomSearch(Searcher):
    """Train candidates in random order, each at most once; stop when all are trained."""

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        self._order = rng.permutation(space.n).tolist()
        self._next = 0

    def ask(self) -> Optional[Query]:
        if self._next >= len(self._order):
            return None
        self._next += 1
        return train(self._order[self._next - 1])

    def tell(self, query: Query, value: float) -> None:
        pass


class OrderStatistic(NamedTuple):
    mean: float
    std: float


def expected_best_of_n(values: np.ndarray, n: int) -> OrderStatistic:
    """Mean and standard deviation of the best of ``n`` values drawn without replacement.

    With the values sorted ascending, v_(j) is the best exactly when it is drawn and the other
    n-1 draws come from the j-1 values below it: P = C(j-1, n-1) / C(N, n). Ties need no special
    care because tied values are equal whichever of them is "the" maximum.
    """
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"values must be a sequence of numbers, got {short_repr(values)}") from None
    if v.ndim != 1:
        raise InvalidArgumentError(f"values must be one-dimensional, got shape {v.shape}")
    v = np.sort(v)
    size = len(v)
    if not np.isfinite(v).all():
        raise InvalidArgumentError("values must be finite numbers (leave untrained architectures out)")
    if size == 0:
        raise InvalidArgumentError("values must hold at least one number")
    n = check_int(n, "n", minimum=1, maximum=size)
    j = np.arange(n, size + 1)
    log_p = (gammaln(j) - gammaln(n) - gammaln(j - n + 1)
             - (gammaln(size + 1) - gammaln(n + 1) - gammaln(size - n + 1)))
    p = np.exp(log_p)
    p /= p.sum()  # remove rounding drift; the weights sum to 1 exactly in theory
    top = v[n - 1:]
    mean = float(p @ top)
    return OrderStatistic(mean, float(np.sqrt(max(p @ (top - mean) ** 2, 0.0))))
