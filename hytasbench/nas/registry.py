"""Names of the built-in search algorithms, for the command line and ``make_searcher``."""
from __future__ import annotations

from typing import Any, Dict, Type

from ..errors import InvalidSettingError, UnknownAlgorithmError
from .evolution import ProxyWarmStartEvolution, RegularizedEvolution
from .interface import Searcher
from .local_search import LocalSearch
from .random_search import RandomSearch
from .surrogate import SurrogateSearch
from .zero_cost import ZeroCostRanking

ALGORITHMS: Dict[str, Type[Searcher]] = {
    "random_search": RandomSearch,
    "regularized_evolution": RegularizedEvolution,
    "local_search": LocalSearch,
    "zero_cost": ZeroCostRanking,
    "zero_cost_evolution": ProxyWarmStartEvolution,
    "surrogate": SurrogateSearch,
}


def make_searcher(name: str, **params: Any) -> Searcher:
    """A built-in searcher by name; unknown names and parameters raise with what is allowed."""
    try:
        cls = ALGORITHMS[name]
    except (KeyError, TypeError):
        raise UnknownAlgorithmError(name, sorted(ALGORITHMS)) from None
    import inspect

    allowed = [p.name for p in inspect.signature(cls.__init__).parameters.values()
               if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise InvalidSettingError(f"{name} has no parameter {', '.join(map(repr, unknown))}; "
                                  f"its parameters are {allowed or 'none'}")
    return cls(**params)
