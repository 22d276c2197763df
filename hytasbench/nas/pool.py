"""Bookkeeping shared by the built-in searchers: a random order of not-yet-trained candidates."""
from __future__ import annotations

from typing import Optional, Set

import numpy as np


class UnseenPool:
    """Hands out candidates in a fixed random order, skipping those already trained.

    ``seen`` is shared with the searcher, so candidates trained by other moves (mutation,
    neighbourhood steps) are skipped too; each call is amortised O(1).
    """

    def __init__(self, n: int, rng: np.random.Generator, seen: Set[int]):
        self._order = rng.permutation(n).tolist()
        self._next = 0
        self.seen = seen

    def draw(self) -> Optional[int]:
        """The next untrained candidate, or None when every candidate has been trained."""
        order, seen = self._order, self.seen
        while self._next < len(order):
            i = order[self._next]
            self._next += 1
            if i not in seen:
                return i
        return None
