"""The ask/tell interface every search algorithm implements, built-in or the user's own.

A searcher never sees accuracies or proxy scores except through :meth:`Searcher.tell`: it asks
for one evaluation at a time, the runner charges the simulated cost and answers. Constructors
only store parameters (sklearn style), so one configured searcher can be run for many seeds;
:meth:`Searcher.reset` starts a fresh run.
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..space import ArchLike
from .space_view import TabulatedSpace

TRAIN = "train"
SCORE = "score"


class Query(NamedTuple):
    """One evaluation request: train candidate ``index``, or score it with ``proxy``.

    ``index`` is a position in the :class:`TabulatedSpace` (0..n-1, *not* a HyTAS-2000 id);
    an :class:`~hytasbench.space.Arch`, canonical string or dict is accepted too and looked up.
    """

    kind: str
    index: Union[int, ArchLike]
    proxy: Optional[str] = None


def train(index: Union[int, ArchLike]) -> Query:
    """Ask for the trained OA of a candidate (costs its recorded training time)."""
    return Query(TRAIN, index)


def score(index: Union[int, ArchLike], proxy: str) -> Query:
    """Ask for a candidate's raw proxy score (costs its proxy compute time)."""
    return Query(SCORE, index, proxy)


class Searcher(ABC):
    """Base class of search algorithms.

    Subclasses store their parameters in ``__init__`` under the same names (so
    :meth:`get_params` and ``repr`` work) and implement :meth:`reset`, :meth:`ask` and
    :meth:`tell`. ``ask`` returns ``None`` when the algorithm has nothing more to evaluate.
    Proxy scores are told raw, as in the table; ``space.orientation(proxy)`` gives the sign
    that makes higher better.
    """

    @abstractmethod
    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        """Start a new run over ``space``; all randomness must come from ``rng``."""

    @abstractmethod
    def ask(self) -> Optional[Query]:
        """The next evaluation to perform, or None to stop."""

    @abstractmethod
    def tell(self, query: Query, value: float) -> None:
        """The result of the last query (OA as a fraction, or the raw proxy score)."""

    def check_params(self) -> None:
        """Raise InvalidSettingError for a bad parameter. Constructors only store parameters
        (scikit-learn style): :func:`~hytasbench.nas.run_search` calls this before anything else
        (call it yourself before ``reset`` when driving a searcher by hand)."""

    def required_proxies(self) -> Tuple[str, ...]:
        """Proxies this searcher will ask for, so the runner can check costs before starting."""
        return ()

    def get_params(self) -> Dict[str, Any]:
        """Constructor parameters and their current values."""
        params = inspect.signature(type(self).__init__).parameters.values()
        return {p.name: getattr(self, p.name) for p in params
                if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
