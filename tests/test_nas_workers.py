"""Parallel workers in the simulated runner: event order against hand-worked examples, budgets, determinism."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import pandas as pd
import pytest

from hytasbench.errors import InvalidBudgetError
from hytasbench.nas import (TRAIN, Budget, Query, SearchProblem, Searcher, make_searcher, run_many, run_search,
                            train)
from hytasbench.space import hytas2000

# Six candidates with hand-picked training times and OAs.
SECONDS = [5.0, 3.0, 4.0, 1.0, 2.0, 10.0]
OA = [0.50, 0.60, 0.55, 0.70, 0.65, 0.80]


@pytest.fixture(scope="module")
def six() -> SearchProblem:
    frame = pd.DataFrame({"arch": [str(a) for a in hytas2000()[:6]], "metric_oa": OA, "metric_train_seconds": SECONDS})
    return SearchProblem(frame, dataset="hand", source="test", neighbours=2)


class InOrder(Searcher):
    """Asks for candidates 0, 1, 2, ... and records every tell in order."""

    def reset(self, space, rng) -> None:
        self._next, self.told = 0, []

    def ask(self) -> Optional[Query]:
        if self._next >= 6:
            return None
        self._next += 1
        return train(self._next - 1)

    def tell(self, query: Query, value: float) -> None:
        self.told.append(query.index)


def _run(problem, workers: int, synchronous: bool = False, budget: Budget = Budget(seconds=100.0)):
    searcher = InOrder()
    t = run_search(searcher, problem, budget, n_workers=workers, synchronous=synchronous)
    return searcher, t


def test_three_async_workers_follow_the_hand_worked_schedule(six):
    # t=0: start 0 (ends 5), 1 (ends 3), 2 (ends 4).  t=3: 1 ends, start 3 (ends 4).
    # t=4: 2 and 3 end (2 first: asked earlier); start 4 (ends 6) after 2, start 5 (ends 14) after 3.
    # t=5: 0 ends (nothing left to ask); t=6: 4 ends; t=14: 5 ends.
    searcher, t = _run(six, 3)
    assert t.index.tolist() == [1, 2, 3, 0, 4, 5]
    assert searcher.told == [1, 2, 3, 0, 4, 5]
    assert t.elapsed.tolist() == [3.0, 4.0, 4.0, 5.0, 6.0, 14.0]
    assert t.start.tolist() == [0.0, 0.0, 3.0, 0.0, 4.0, 4.0]
    assert t.best_oa.tolist() == [0.60, 0.60, 0.70, 0.70, 0.70, 0.80]
    assert (t.stop, t.end_seconds) == ("searcher", 14.0)


def test_three_synchronous_workers_wait_for_the_whole_batch(six):
    # batch {0,1,2} from 0: ends 3, 4, 5; batch {3,4,5} from 5: ends 6, 7, 15.
    searcher, t = _run(six, 3, synchronous=True)
    assert t.index.tolist() == [1, 2, 0, 3, 4, 5]
    assert t.elapsed.tolist() == [3.0, 4.0, 5.0, 6.0, 7.0, 15.0]
    assert t.start.tolist() == [0.0, 0.0, 0.0, 5.0, 5.0, 5.0]


def test_one_worker_is_sequential(six):
    _, t = _run(six, 1)
    assert t.index.tolist() == [0, 1, 2, 3, 4, 5]
    assert t.elapsed.tolist() == np.cumsum(SECONDS).tolist()
    assert t.start.tolist() == [0.0] + np.cumsum(SECONDS)[:-1].tolist()


def test_time_budget_cuts_off_evaluations_in_flight(six):
    # with three workers the completions are at 3, 4, 4, 5, 6, 14: a 5.5 s budget keeps four
    searcher, t = _run(six, 3, budget=Budget(seconds=5.5))
    assert t.index.tolist() == [1, 2, 3, 0]
    assert (t.stop, t.end_seconds) == ("budget", 5.5)
    assert searcher.told == [1, 2, 3, 0]  # the ones cut off are never told


def test_trainings_budget_counts_completions(six):
    _, t = _run(six, 3, budget=Budget(trainings=2))
    assert t.index.tolist() == [1, 2] and t.stop == "budget" and t.end_seconds == 4.0


class WaitsForResults(InOrder):
    """Asks for 0 and 1, then nothing until both results are in, then for 2: None means 'wait'."""

    def ask(self) -> Optional[Query]:
        if self._next == 2 and len(self.told) < 2:
            return None
        return super().ask() if self._next < 3 else None


def test_none_while_evaluations_are_in_flight_means_wait(six):
    searcher = WaitsForResults()
    t = run_search(searcher, six, Budget(seconds=100.0), n_workers=3)
    assert t.index.tolist() == [1, 0, 2]
    assert t.start.tolist() == [0.0, 0.0, 5.0]  # 2 starts when both results are in
    assert t.stop == "searcher"


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    archs = hytas2000()[:n]
    size = np.array([a.embed_dim * sum(a.mlp_ratio) for a in archs], dtype=float)
    return pd.DataFrame({"arch": [str(a) for a in archs],
                         "metric_oa": 0.5 + 0.3 * size / size.max() + rng.normal(0, 0.03, n),
                         "metric_train_seconds": 30 + 200 * size / size.max(),
                         "proxy_snip": np.log(size) + rng.normal(0, 0.5, n),
                         "proxy_snip__seconds": rng.uniform(0.1, 0.3, n)})


@pytest.fixture(scope="module")
def problem() -> SearchProblem:
    return SearchProblem(_frame(), dataset="synthetic", source="test")


FAST = {"zero_cost": {"n_candidates": 40}, "zero_cost_evolution": {"n_candidates": 40},
        "surrogate": {"pool_size": 60, "n_init": 5, "batch_size": 5, "n_estimators": 5}}
ALGOS: List[str] = ["random_search", "regularized_evolution", "local_search", "zero_cost", "zero_cost_evolution",
                    "surrogate"]


@pytest.mark.parametrize("name", ALGOS)
@pytest.mark.parametrize("synchronous", [False, True])
def test_built_in_searchers_never_train_twice_with_parallel_workers(problem, name, synchronous):
    searcher = make_searcher(name, **FAST.get(name, {}))
    for seed in range(3):
        t = run_search(searcher, problem, Budget(trainings=50), seed=seed, n_workers=8, synchronous=synchronous)
        trained = t.index[t.kind == TRAIN]
        assert len(set(trained.tolist())) == len(trained)
        assert len(trained) == (40 if name == "zero_cost" else 50)  # zero_cost trains its 40 scored ones, then stops


@pytest.mark.parametrize("workers", [1, 4, 16])
def test_same_seed_same_trajectory(problem, workers):
    a = run_many(make_searcher("regularized_evolution"), problem, Budget(seconds=20000), seeds=[3], n_workers=workers)
    b = run_many(make_searcher("regularized_evolution"), problem, Budget(seconds=20000), seeds=[3], n_workers=workers)
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_more_workers_finish_the_same_trainings_sooner(problem):
    """Random search's order is fixed by the seed: 16 workers complete 64 of its first 64 + 15 candidates
    (the 15 others are still in flight) in under a quarter of the sequential wall-clock."""
    one = run_search(make_searcher("random_search"), problem, Budget(trainings=64 + 15), seed=0, n_workers=1)
    many = run_search(make_searcher("random_search"), problem, Budget(trainings=64), seed=0, n_workers=16)
    assert len(many.index) == 64 and set(many.index.tolist()) <= set(one.index.tolist())
    assert many.end_seconds < one.elapsed[63] / 4
    assert np.all(np.diff(many.elapsed) >= 0)  # told in order of finish time


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_bad_worker_counts_are_typed_errors(problem, bad):
    with pytest.raises(InvalidBudgetError, match="n_workers"):
        run_search(make_searcher("random_search"), problem, Budget(trainings=3), n_workers=bad)
