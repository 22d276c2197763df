"""hytasbench.nas on the imported HyTAS reference: costs, missing OA, the closed form, and the
comparison of every algorithm with random search on Indian Pines (50 seeds, 3 simulated hours)."""
from __future__ import annotations

import numpy as np
import pytest

from hytasbench.errors import ArchitectureNotInTableError, MissingCostError
from hytasbench.nas import (ALGORITHMS, Budget, RandomSearch, SearchProblem, expected_best_of_n, make_searcher,
                            run_many, run_search)

SEEDS = 50
BUDGET = Budget(seconds=3 * 3600.0)  # about 60 trainings of ~3 minutes: 3% of the table


@pytest.fixture(scope="module")
def indian(reference_bench) -> SearchProblem:
    return SearchProblem.from_benchmark(reference_bench, "indian_pines")


@pytest.fixture(scope="module")
def random_regret(indian) -> float:
    return float(run_many(RandomSearch(), indian, BUDGET, seeds=SEEDS).runs.regret.mean())


def test_costs_come_from_the_table(indian):
    assert indian.space.n == 2000 and indian.best_oa == pytest.approx(0.8504)
    assert np.isfinite(indian.train_seconds).all() and (indian.train_seconds > 0).all()
    assert indian.cost_source("snip") == "published mean per architecture"
    assert indian.proxy_seconds("snip")[0] == pytest.approx(0.12 * 3600 / 2000)  # times.txt: 0.12 h for 2000
    t = run_search(make_searcher("zero_cost", n_candidates=10, top_k=2), indian, Budget(seconds=10 ** 5))
    assert t.cost[:10] == pytest.approx([0.216] * 10)
    assert t.cost[10:].tolist() == indian.train_seconds[t.index[10:]].tolist()


def test_no_invented_proxy_cost(indian, reference_bench):
    """times.txt gives no readable NASWOT time and no time at all for Salinas (the same rules on a
    small table set: tests/test_nas.py::test_problem_from_a_benchmark)."""
    assert indian.cost_source("naswot") is None
    with pytest.raises(MissingCostError, match="naswot"):
        run_search(make_searcher("zero_cost", proxy="naswot"), indian, BUDGET)
    salinas = SearchProblem.from_benchmark(reference_bench, "salinas")
    with pytest.raises(MissingCostError, match="salinas"):
        run_search(make_searcher("zero_cost"), salinas, BUDGET)


def test_houston_without_oa_is_excluded(reference_bench):
    frame = reference_bench.frame("houston2013")
    missing = frame.loc[frame["metric_oa"].isna(), "arch"].tolist()
    with pytest.warns(UserWarning, match="no recorded OA"):
        houston = SearchProblem.from_benchmark(reference_bench, "houston2013")
    assert houston.space.n == 1966 == 2000 - len(missing) and np.isfinite(houston.oa).all()
    if missing:
        with pytest.raises(ArchitectureNotInTableError):
            houston.space.index(missing[0])


def test_random_search_matches_the_order_statistic(indian):
    """Mean best-of-n over many seeds agrees with the exact expectation within 4 standard errors."""
    seeds, n = 2000, 20
    found = run_many(RandomSearch(), indian, Budget(trainings=n), seeds=seeds).runs.best_oa.to_numpy()
    exact = expected_best_of_n(indian.oa, n)
    assert abs(found.mean() - exact.mean) < 4 * exact.std / np.sqrt(seeds)
    assert found.std() == pytest.approx(exact.std, rel=0.1)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "surrogate" else n
                                  for n in ALGORITHMS if n != "random_search"])
def test_beats_random_search_on_indian_pines(indian, random_regret, name):
    regret = run_many(make_searcher(name), indian, BUDGET, seeds=SEEDS).runs.regret.mean()
    assert regret < random_regret, f"{name}: mean regret {regret:.4f} vs random search {random_regret:.4f}"
