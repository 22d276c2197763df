"""Offline NAS algorithm evaluation against the table, with simulated cost.

``SearchProblem.from_benchmark(bench, dataset)`` extracts the oracle once; ``run_many(searcher,
problem, Budget(seconds=...), seeds=50)`` plays a searcher (built-in or your own
:class:`Searcher`) for many seeds; :mod:`hytasbench.nas.regret` turns the results into regret
curves and tables. See docs/nas.md.
"""
from __future__ import annotations

from .evolution import ProxyWarmStartEvolution, RegularizedEvolution
from .full_space import FullSpace, SurrogateProblem
from .interface import SCORE, TRAIN, Query, Searcher, score, train
from .local_search import LocalSearch
from .problem import SearchProblem
from .random_search import RandomSearch, expected_best_of_n
from .registry import ALGORITHMS, make_searcher
from .runner import Budget, SearchResults, Trajectory, run_many, run_search
from .space_view import TabulatedSpace
from .surrogate import SurrogateSearch
from .zero_cost import ZeroCostRanking

__all__ = ["ALGORITHMS", "SCORE", "TRAIN", "Budget", "FullSpace", "LocalSearch", "ProxyWarmStartEvolution", "Query",
           "RandomSearch", "RegularizedEvolution", "SearchProblem", "SearchResults", "Searcher", "SurrogateProblem", "SurrogateSearch",
           "TabulatedSpace", "Trajectory", "ZeroCostRanking", "expected_best_of_n", "make_searcher", "run_many",
           "run_search", "score", "train"]
