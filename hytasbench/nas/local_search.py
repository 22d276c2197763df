"""Local search (hill climbing with random restarts) over the tabulated neighbourhood graph.

Start at a random untrained candidate and train its neighbours (:meth:`TabulatedSpace.neighbours`,
its nearest tabulated architectures) in random order. First improvement (the default): move as
soon as a neighbour beats the current candidate. Best improvement: train the whole neighbourhood,
then move to the best neighbour if it beats the current one. With no improving neighbour (a local
optimum) restart at a random untrained candidate. Each move strictly improves, so a climb cannot
cycle.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Set

import numpy as np

from ..errors import InvalidSettingError, short_repr
from .interface import Query, Searcher, train
from .pool import UnseenPool
from .space_view import TabulatedSpace


class LocalSearch(Searcher):
    """Hill climbing with random restarts (first or best improvement)."""

    def __init__(self, first_improvement: bool = True):
        self.first_improvement = first_improvement

    def check_params(self) -> None:
        if not isinstance(self.first_improvement, bool):
            raise InvalidSettingError(f"first_improvement must be True or False, got {short_repr(self.first_improvement)}")

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        self._space = space
        self._rng = rng
        self._known: Dict[int, float] = {}
        self._seen: Set[int] = set()
        self._pool = UnseenPool(space.n, rng, self._seen)
        self._current: Optional[int] = None
        self._queue: List[int] = []

    def _climb_to(self, i: int) -> None:
        self._current = i
        self._queue = [j for j in self._space.neighbours(i) if j not in self._seen]
        self._rng.shuffle(self._queue)

    def _improve(self) -> bool:
        """Move to the best neighbour if it beats the current candidate."""
        if self._current is None:
            return False
        best = max(self._space.neighbours(self._current), key=lambda j: self._known.get(j, -np.inf))
        if self._known.get(best, -np.inf) > self._known[self._current]:
            self._climb_to(best)
            return True
        return False

    def ask(self) -> Optional[Query]:
        while not self._queue and self._improve():
            pass
        if self._queue:
            i = self._queue.pop()
        else:
            self._current = None
            i = self._pool.draw()
            if i is None:
                return None
        self._seen.add(i)  # at ask, so that parallel workers never get the same candidate twice
        return train(i)

    def tell(self, query: Query, value: float) -> None:
        self._known[query.index] = value
        self._seen.add(query.index)
        if self._current is None:
            self._climb_to(query.index)
        elif self.first_improvement and value > self._known[self._current]:
            self._climb_to(query.index)
