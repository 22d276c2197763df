"""Regularised (aging) evolution, and a variant whose first population is chosen by a proxy.

Regularised evolution (Real et al., 2019): train a random population; then repeatedly pick the
best of a random sample (with replacement) of the population as parent, train one mutation of it, add the child and
remove the *oldest* member. Mutation is the tabulated one (:meth:`TabulatedSpace.mutate`: a
draw from the parent's nearest tabulated architectures), restricted to children not trained yet,
because retraining a tabulated architecture would only return the same table value at full cost;
when all of a parent's neighbours are trained, the child is a random untrained candidate.
"""
from __future__ import annotations

import math
import random
from collections import deque
from typing import Deque, Optional, Set, Tuple

import numpy as np

from ..arguments import check_int
from ..errors import InvalidSettingError
from .interface import SCORE, Query, Searcher, train
from .pool import UnseenPool
from .space_view import TabulatedSpace
from .zero_cost import DEFAULT_PROXY, ProxyScreen


class RegularizedEvolution(Searcher):
    """Aging evolution with tournament selection over the tabulated neighbourhood graph."""

    def __init__(self, population_size: int = 20, sample_size: int = 5):
        self.population_size = population_size
        self.sample_size = sample_size

    def check_params(self) -> None:
        check_int(self.population_size, "population_size", minimum=1, error=InvalidSettingError)
        check_int(self.sample_size, "sample_size", minimum=1, maximum=self.population_size, error=InvalidSettingError)

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        self._space = space
        self._rng = random.Random(int(rng.integers(2 ** 63)))  # fast scalar draws, seeded from rng
        self._seen: Set[int] = set()
        self._pool = UnseenPool(space.n, rng, self._seen)
        self._population: Deque[Tuple[int, float]] = deque()

    def _initial_query(self) -> Optional[Query]:
        """Next member of the first population: a random untrained candidate."""
        i = self._pool.draw()
        if i is None:
            return None
        self._seen.add(i)
        return train(i)

    def ask(self) -> Optional[Query]:
        if len(self._population) < self.population_size:
            return self._initial_query()
        population, draw = self._population, self._rng.random
        size = len(population)
        parent, best = -1, -math.inf
        for _ in range(self.sample_size):  # tournament, drawn with replacement as in Real et al.
            index, fitness = population[int(draw() * size)]
            if fitness > best:
                parent, best = index, fitness
        children = [j for j in self._space.neighbours(parent) if j not in self._seen]
        child = self._rng.choice(children) if children else self._pool.draw()
        if child is None:
            return None
        self._seen.add(child)  # at ask, so that parallel workers never get the same child twice
        return train(child)

    def tell(self, query: Query, value: float) -> None:
        self._seen.add(query.index)
        self._population.append((query.index, value))
        if len(self._population) > self.population_size:
            self._population.popleft()


class ProxyWarmStartEvolution(RegularizedEvolution):
    """Regularised evolution whose first population is the proxy's top ``population_size`` of
    ``n_candidates`` random candidates (None: all), instead of random ones."""

    def __init__(self, proxy: str = DEFAULT_PROXY, n_candidates: Optional[int] = 200,
                 population_size: int = 20, sample_size: int = 5):
        super().__init__(population_size, sample_size)
        self.proxy = proxy
        self.n_candidates = n_candidates

    def required_proxies(self) -> Tuple[str, ...]:
        return (self.proxy,)

    def check_params(self) -> None:
        super().check_params()
        check_int(self.n_candidates, "n_candidates (None: all)", minimum=1, error=InvalidSettingError, optional=True)

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        super().reset(space, rng)
        self._screen = ProxyScreen(space, rng, self.proxy, self.n_candidates)
        self._ranked: Optional[Deque[int]] = None

    def _initial_query(self) -> Optional[Query]:
        if not self._screen.done:
            return self._screen.next_query()
        if self._ranked is None:
            if not self._screen.complete:
                return None  # parallel workers: wait for the last scores before ranking
            self._ranked = deque(self._screen.ranking())
        while self._ranked:
            i = self._ranked.popleft()
            if i not in self._seen:
                self._seen.add(i)
                return train(i)
        return super()._initial_query()  # fewer scored candidates than the population needs

    def tell(self, query: Query, value: float) -> None:
        if query.kind == SCORE:
            self._screen.record(query.index, value)
        else:
            super().tell(query, value)
