"""The simulated-cost runner: play a searcher against the table under a budget, for many seeds.

Cost model: training a candidate costs its recorded training seconds, scoring it with a proxy its
proxy seconds (see :class:`~hytasbench.nas.problem.SearchProblem` for where those come from).
Every query is charged, repeats included: remembering results is the algorithm's job. An evaluation
that would end after the time budget is cut off at the budget and its result is never told, so
the simulated time of a run never exceeds the budget. The incumbent is the best *trained*
candidate so far; regret is the best OA among all candidates minus the incumbent's OA.
"""
from __future__ import annotations

import heapq
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..arguments import check_seed, check_seed_count, check_seeds, is_integer
from ..errors import ArchitectureNotInTableError, InvalidBudgetError, MissingCostError
from .interface import TRAIN, Query, Searcher
from .problem import SearchProblem

DEFAULT_MAX_STEPS = 1_000_000


def _positive(name: str, value: Any, integral: bool) -> None:
    if value is None:
        return
    ok_type = isinstance(value, (int, np.integer)) if integral else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not math.isfinite(float(value)) or value <= 0:
        kind = "a positive integer" if integral else "a positive, finite number of simulated seconds"
        raise InvalidBudgetError(f"budget {name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class Budget:
    """When a run stops: whichever limit is reached first.

    ``seconds``: simulated seconds (training plus proxy time); ``trainings``: number of trained
    evaluations; ``evaluations``: number of evaluations of any kind (trainings plus proxy scores).
    """

    seconds: Optional[float] = None
    trainings: Optional[int] = None
    evaluations: Optional[int] = None

    def __post_init__(self) -> None:
        _positive("seconds", self.seconds, integral=False)
        _positive("trainings", self.trainings, integral=True)
        _positive("evaluations", self.evaluations, integral=True)
        if self.seconds is None and self.trainings is None and self.evaluations is None:
            raise InvalidBudgetError("a budget needs seconds, trainings or evaluations (none was given)")

    def __str__(self) -> str:
        parts = [f"{v:g} {k}" for k, v in (("s", self.seconds), ("trainings", self.trainings),
                                           ("evaluations", self.evaluations)) if v is not None]
        return " / ".join(parts)


@dataclass
class Trajectory:
    """One run: one entry per completed evaluation, in order, plus why the run stopped."""

    seed: int
    kind: np.ndarray          # "train" or "score"
    index: np.ndarray         # candidate position
    proxy: np.ndarray         # proxy name, None for trainings
    value: np.ndarray         # OA (fraction) or raw proxy score
    cost: np.ndarray          # simulated seconds of this evaluation
    elapsed: np.ndarray       # simulated wall-clock seconds when it finished
    best_index: np.ndarray    # incumbent position after it (-1 before the first training)
    best_oa: np.ndarray       # incumbent OA after it (NaN before the first training)
    stop: str                 # "budget", "searcher" (ask returned None) or "max_steps"
    end_seconds: float        # simulated time at the end, cut-off evaluation included
    start: Optional[np.ndarray] = None  # simulated seconds when it started (parallel workers overlap)


def _resolve(problem: SearchProblem, index: Any) -> int:
    space = problem.space
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        i = operator.index(index)
        if 0 <= i < len(space):
            return i
        raise ArchitectureNotInTableError(f"position {i}", problem.dataset, problem.source,
                                          f"candidate positions are 0..{len(space) - 1}")
    return space.index(index)


def _check_workers(n_workers: Any) -> None:
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise InvalidBudgetError(f"n_workers must be a positive integer, got {n_workers!r}")


def run_search(searcher: Searcher, problem: SearchProblem, budget: Budget, seed: int = 0,
               max_steps: int = DEFAULT_MAX_STEPS, n_workers: int = 1, synchronous: bool = False) -> Trajectory:
    """Run one seed of ``searcher`` against ``problem`` and return its trajectory.

    ``n_workers`` evaluations run in parallel in simulated time. Asynchronous (the default), as
    syne-tune's simulator backend: whenever a worker is free the searcher is asked for the next
    evaluation, which starts at the current simulated time; results are told in order of
    simulated finish time (ties: in the order asked). ``synchronous=True`` runs batches instead:
    ask ``n_workers`` evaluations, start them together, and ask again only when all have finished.
    With one worker both are the sequential runner. ``ask()`` returning None while evaluations
    are in flight means "wait for a result"; with none in flight it ends the run. A time budget
    cuts off every evaluation that would finish after it; a count budget stops at the completion
    that reaches it (evaluations still in flight are abandoned, never told).
    ``max_steps`` (number of asks) guards against searchers that never stop asking for free (0 s)
    evaluations.
    """
    if not isinstance(budget, Budget):
        raise InvalidBudgetError(f"budget must be a hytasbench.nas.Budget, got {type(budget).__name__}")
    seed = check_seed(seed)
    _check_workers(n_workers)
    searcher.check_params()
    problem.check_proxies(searcher.required_proxies())
    searcher.reset(problem.space, np.random.default_rng(seed))
    evaluate = problem.oracle()
    space = problem.space
    seconds = math.inf if budget.seconds is None else float(budget.seconds)
    max_train = budget.trainings or math.inf
    max_eval = budget.evaluations or math.inf
    kinds: List[str] = []
    indices: List[int] = []
    proxies: List[Optional[str]] = []
    values: List[float] = []
    costs: List[float] = []
    starts: List[float] = []
    times: List[float] = []
    best_idx: List[int] = []
    best_val: List[float] = []
    flight: List[Tuple[float, int, float, float, float, Query]] = []  # heap: finish, order, start, value, cost
    now, n_train, best, best_i, asks, stop = 0.0, 0, -math.inf, -1, 0, "max_steps"
    while True:
        waiting = False
        if not synchronous or not flight:
            while len(flight) < n_workers and asks < max_steps:
                query = searcher.ask()
                asks += 1
                if query is None:
                    waiting = True
                    break
                kind, index, proxy = query
                if type(index) is int and 0 <= index < len(space):
                    i = index
                else:
                    i = _resolve(problem, index)
                    query = Query(kind, i, proxy)  # searchers are always told positions
                value, cost = evaluate(kind, i, proxy)
                if not cost >= 0:
                    what = "training" if kind == TRAIN else f"proxy {proxy!r}"
                    raise MissingCostError(f"no recorded {what} time for {space.strings[i]} on {problem.dataset!r}; "
                                           "the runner charges every evaluation its recorded time and never invents one")
                heapq.heappush(flight, (now + cost, asks, now, value, cost, query))
        if not flight:
            stop = "searcher" if waiting else "max_steps"
            break
        finish, _, start, value, cost, query = heapq.heappop(flight)
        if finish > seconds:
            now, stop = seconds, "budget"
            break
        now = finish
        kind, i, proxy = query
        if kind == TRAIN:
            n_train += 1
            if value > best:
                best, best_i = value, i
        kinds.append(kind)
        indices.append(i)
        proxies.append(proxy)
        values.append(value)
        costs.append(cost)
        starts.append(start)
        times.append(now)
        best_idx.append(best_i)
        best_val.append(best)
        searcher.tell(query, value)
        if n_train >= max_train or len(kinds) >= max_eval:
            stop = "budget"
            break
    best_arr = np.asarray(best_val, dtype=float)
    best_arr[np.isneginf(best_arr)] = np.nan
    return Trajectory(seed, np.asarray(kinds, dtype=object), np.asarray(indices, dtype=np.int64),
                      np.asarray(proxies, dtype=object), np.asarray(values, dtype=float),
                      np.asarray(costs, dtype=float), np.asarray(times, dtype=float),
                      np.asarray(best_idx, dtype=np.int64), best_arr, stop, now, np.asarray(starts, dtype=float))


@dataclass
class SearchResults:
    """Trajectories of many seeds of one algorithm on one problem, with DataFrame views."""

    algorithm: str
    problem: SearchProblem
    budget: Budget
    trajectories: List[Trajectory]
    params: Dict[str, Any] = field(default_factory=dict)

    @property
    def frame(self):
        """One row per evaluation: algorithm, seed, step, kind, arch, proxy, value, cost, start, elapsed,
        trainings so far, incumbent arch and OA, regret (NaN before the first training)."""
        import pandas as pd

        t = self.trajectories
        strings = self.problem.space.strings
        best_index = np.concatenate([x.best_index for x in t]) if t else np.zeros(0, np.int64)
        best_oa = np.concatenate([x.best_oa for x in t]) if t else np.zeros(0)
        kind = np.concatenate([x.kind for x in t]) if t else np.zeros(0, object)
        index = np.concatenate([x.index for x in t]) if t else np.zeros(0, np.int64)
        return pd.DataFrame({
            "algorithm": self.algorithm,
            "seed": np.repeat([x.seed for x in t], [len(x.index) for x in t]),
            "step": np.concatenate([np.arange(len(x.index)) for x in t]) if t else np.zeros(0, np.int64),
            "kind": kind,
            "arch": strings[index],
            "proxy": np.concatenate([x.proxy for x in t]) if t else np.zeros(0, object),
            "value": np.concatenate([x.value for x in t]) if t else np.zeros(0),
            "cost": np.concatenate([x.cost for x in t]) if t else np.zeros(0),
            "start": np.concatenate([x.start for x in t]) if t else np.zeros(0),
            "elapsed": np.concatenate([x.elapsed for x in t]) if t else np.zeros(0),
            "trainings": np.concatenate([np.cumsum(x.kind == TRAIN) for x in t]) if t else np.zeros(0, np.int64),
            "best_arch": np.where(best_index >= 0, strings[np.maximum(best_index, 0)], None),
            "best_oa": best_oa,
            "regret": self.problem.best_oa - best_oa,
        })

    @property
    def runs(self):
        """One row per seed: final incumbent, its OA and regret, time spent, counts, stop reason."""
        import pandas as pd

        rows = []
        for x in self.trajectories:
            final = x.best_oa[-1] if len(x.best_oa) else np.nan
            rows.append({"algorithm": self.algorithm, "seed": x.seed,
                         "best_arch": (self.problem.space.strings[x.best_index[-1]]
                                       if len(x.best_index) and x.best_index[-1] >= 0 else None),
                         "best_oa": final, "regret": self.problem.best_oa - final,
                         "seconds": x.end_seconds, "trainings": int(np.sum(x.kind == TRAIN)),
                         "evaluations": len(x.kind), "stop": x.stop})
        return pd.DataFrame(rows)


def run_many(searcher: Searcher, problem: SearchProblem, budget: Budget,
             seeds: Union[int, Iterable[int]] = 10, name: Optional[str] = None,
             max_steps: int = DEFAULT_MAX_STEPS, n_workers: int = 1, synchronous: bool = False) -> SearchResults:
    """Run ``searcher`` once per seed (``seeds`` = a count n means seeds 0..n-1); workers as in :func:`run_search`."""
    seed_list: Sequence[int] = (range(check_seed_count(seeds)) if is_integer(seeds)
                                else check_seeds(seeds))
    trajectories = [run_search(searcher, problem, budget, s, max_steps, n_workers, synchronous) for s in seed_list]
    return SearchResults(name or type(searcher).__name__, problem, budget, trajectories, searcher.get_params())
