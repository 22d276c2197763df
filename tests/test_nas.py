"""hytasbench.nas on small synthetic tables: moves, runner, budgets, determinism, errors, regret."""
from __future__ import annotations

import itertools
import math
import random
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hytasbench.errors import (ArchitectureNotInTableError, HytasError, InvalidArgumentError, InvalidBudgetError,
                               InvalidSettingError, MissingCostError, NoAccuracyError, UnknownAlgorithmError,
                               UnknownFieldError)
from hytasbench.nas import (ALGORITHMS, TRAIN, Budget, Query, RandomSearch, RegularizedEvolution, SearchProblem,
                            Searcher, TabulatedSpace, expected_best_of_n, make_searcher, run_many, run_search, train)
from hytasbench.nas.cli import main as search_main
from hytasbench.nas.cli import parse_budget
from hytasbench.nas.regret import regret_curve, regret_matrix, regret_table
from hytasbench.space import distance, hytas2000, mutate, parse

import smallset

# Small parameters so that every algorithm does all of its phases within the synthetic budgets.
FAST = {"zero_cost": {"n_candidates": 40}, "zero_cost_evolution": {"n_candidates": 40},
        "surrogate": {"pool_size": 60, "n_init": 5, "batch_size": 5, "n_estimators": 5}}


def synthetic_frame(n: int = 300, seed: int = 0, oa: bool = True) -> pd.DataFrame:
    """Columns as in the reference tables; OA grows with size plus noise, training time with size."""
    rng = np.random.default_rng(seed)
    archs = hytas2000()[:n]
    size = np.array([a.embed_dim * sum(a.mlp_ratio) for a in archs], dtype=float)
    frame = pd.DataFrame({"arch": [str(a) for a in archs],
                          "metric_train_seconds": 30 + 200 * size / size.max(),
                          "cost_params": size * 100, "cost_flops": size * 5000,
                          "proxy_snip": np.log(size) + rng.normal(0, 0.5, n),
                          "proxy_snip__seconds": rng.uniform(0.1, 0.3, n),
                          "proxy_grasp": -np.log(size) + rng.normal(0, 0.5, n)})
    if oa:
        frame.insert(1, "metric_oa", 0.5 + 0.3 * size / size.max() + rng.normal(0, 0.03, n))
    return frame


@pytest.fixture(scope="module")
def problem() -> SearchProblem:
    return SearchProblem(synthetic_frame(), dataset="synthetic", source="test", proxy_seconds={"grasp": 0.5})


def searchers():
    return [(name, make_searcher(name, **FAST.get(name, {}))) for name in ALGORITHMS]


# ---- the tabulated space -------------------------------------------------------------------------

def test_neighbourhoods_follow_space_distance(problem):
    """The vectorised distance matrix must agree with space.distance: same k nearest, same ties."""
    space = problem.space
    for i in random.Random(1).sample(range(space.n), 15):
        brute = np.array([distance(space.archs[i], a) if k != i else np.inf for k, a in enumerate(space.archs)])
        expected = np.argsort(brute, kind="stable")[:space.k]
        assert space.neighbours(i) == expected.tolist()
        assert space.neighbour_distance[i].tolist() == brute[expected].tolist()


def test_moves_stay_in_the_table(problem):
    space = problem.space
    rng = random.Random(0)
    for i in range(space.n):
        assert i not in space.neighbours(i) and len(space.neighbours(i)) == space.k
        assert space.mutate(i, rng) in space.neighbours(i)


def test_snap_is_the_nearest_tabulated_architecture(problem):
    space = problem.space
    rng = random.Random(3)
    for i in range(20):
        assert space.snap(space.archs[i]) == i == space.index(str(space.archs[i]))
        child = mutate(space.archs[i], rng)
        snapped = space.snap(child)
        assert distance(child, space.archs[snapped]) == min(distance(child, a) for a in space.archs)
    outside = hytas2000()[-1]  # in HyTAS-2000 but not in this 300-architecture table
    with pytest.raises(ArchitectureNotInTableError, match="snap"):
        space.index(outside)


# ---- the runner --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,searcher", searchers())
def test_same_seed_same_trajectory(problem, name, searcher):
    budget = Budget(seconds=3000)
    a = run_many(searcher, problem, budget, seeds=[4, 5]).frame
    b = run_many(searcher, problem, budget, seeds=[4, 5]).frame
    pd.testing.assert_frame_equal(a, b)
    other = run_many(searcher, problem, budget, seeds=[6]).frame
    assert not a[a.seed == 4]["arch"].reset_index(drop=True).equals(other["arch"]), "seeds must matter"


@pytest.mark.parametrize("name,searcher", searchers())
@pytest.mark.parametrize("budget", [Budget(seconds=1000), Budget(seconds=59.5), Budget(trainings=7),
                                    Budget(evaluations=45), Budget(seconds=5000, trainings=12)])
def test_budget_is_never_exceeded(problem, name, searcher, budget):
    for t in run_many(searcher, problem, budget, seeds=3).trajectories:
        assert budget.seconds is None or t.end_seconds <= budget.seconds
        assert budget.seconds is None or (len(t.elapsed) == 0 or t.elapsed[-1] <= budget.seconds)
        assert budget.trainings is None or int(np.sum(t.kind == TRAIN)) <= budget.trainings
        assert budget.evaluations is None or len(t.kind) <= budget.evaluations
        assert np.allclose(np.cumsum(t.cost), t.elapsed)
        assert t.stop in ("budget", "searcher")


@settings(max_examples=40, deadline=None)
@given(seconds=st.floats(min_value=1.0, max_value=20000.0), seed=st.integers(0, 2 ** 32 - 1))
def test_budget_never_exceeded_property(problem, seconds, seed):
    t = run_search(RegularizedEvolution(5, 2), problem, Budget(seconds=seconds), seed=seed)
    assert t.end_seconds <= seconds and (len(t.elapsed) == 0 or t.elapsed[-1] <= seconds)
    # the evaluation that did not fit was cut off at the budget, not performed
    if t.stop == "budget":
        assert t.end_seconds == seconds


def test_budget_too_small_for_one_training(problem):
    t = run_search(RandomSearch(), problem, Budget(seconds=1.0))
    assert len(t.kind) == 0 and t.stop == "budget" and t.end_seconds == 1.0


def test_trajectory_records_cost_and_incumbent(problem):
    res = run_many(make_searcher("zero_cost", n_candidates=30), problem, Budget(seconds=800), seeds=2)
    f = res.frame
    scored = f[f.kind == "score"]
    assert len(scored) == 60 and (scored.proxy == "snip").all()
    trained = f[f.kind == TRAIN]
    assert np.allclose(trained.value, [problem.oa[problem.space.index(a)] for a in trained.arch])
    assert scored.regret.isna().all()  # no incumbent before the first training
    for _, g in trained.groupby("seed"):
        assert (np.diff(g.best_oa) >= 0).all() and np.allclose(g.best_oa, np.maximum.accumulate(g.value))
    runs = res.runs
    assert list(runs.seed) == [0, 1] and (runs.regret >= 0).all()


def test_every_seed_of_random_search_trains_each_candidate_once(problem):
    t = run_search(RandomSearch(), problem, Budget(trainings=10 ** 6))
    assert sorted(t.index.tolist()) == list(range(problem.space.n)) and t.stop == "searcher"
    assert t.best_oa[-1] == problem.best_oa


# ---- a user's algorithm ------------------------------------------------------------------------

class SmallestFirst(Searcher):
    """A user algorithm: train architectures in order of FLOPs (a free feature), using Arch objects."""

    def __init__(self, limit: int = 10):
        self.limit = limit

    def reset(self, space: TabulatedSpace, rng: np.random.Generator) -> None:
        flops = space.features[:, space.feature_names.index("log_flops")]
        self._todo = [space.archs[i] for i in np.argsort(flops)[:self.limit][::-1]]
        self.told = []

    def ask(self):
        return train(self._todo.pop()) if self._todo else None

    def tell(self, query: Query, value: float) -> None:
        self.told.append((query.index, value))


def test_user_algorithm_plugs_in(problem):
    user = SmallestFirst(limit=6)
    res = run_many(user, problem, Budget(seconds=10 ** 6), seeds=3, name="smallest-first")
    assert repr(user) == "SmallestFirst(limit=6)" and res.params == {"limit": 6}
    f = res.frame
    assert (f.algorithm == "smallest-first").all() and len(f) == 18
    assert [i for i, _ in user.told] == res.trajectories[-1].index.tolist()  # told positions, not Arch objects
    assert set(res.runs.stop) == {"searcher"}
    curve = regret_curve([res, run_many(RandomSearch(), problem, Budget(seconds=2000), seeds=3)])
    assert set(curve.algorithm) == {"smallest-first", "RandomSearch"}


def test_user_algorithm_asking_for_an_untabulated_architecture(problem):
    class Outside(SmallestFirst):
        def ask(self):
            return train(hytas2000()[-1])

    with pytest.raises(ArchitectureNotInTableError, match="not in"):
        run_search(Outside(), problem, Budget(seconds=100))
    with pytest.raises(ArchitectureNotInTableError, match="0..299"):
        run_search(type("Far", (SmallestFirst,), {"ask": lambda self: train(10 ** 6)})(), problem, Budget(seconds=100))


# ---- errors ------------------------------------------------------------------------------------

def test_unknown_algorithm():
    with pytest.raises(UnknownAlgorithmError, match="regularized_evolution") as info:
        make_searcher("genetic")
    assert isinstance(info.value, KeyError)
    with pytest.raises(InvalidSettingError, match="population_size"):
        make_searcher("regularized_evolution", populaton_size=3)
    with pytest.raises(InvalidSettingError, match="bogus"):
        make_searcher("random_search", bogus=1)


@pytest.mark.parametrize("kwargs", [{"seconds": -1}, {"seconds": 0}, {"seconds": math.nan}, {"seconds": math.inf},
                                    {"trainings": -5}, {"trainings": 2.5}, {"evaluations": True}, {}])
def test_bad_budgets(kwargs):
    with pytest.raises(InvalidBudgetError):
        Budget(**kwargs)


def test_budget_strings():
    assert parse_budget("3h") == Budget(seconds=10800)
    assert parse_budget("90m,100trainings") == Budget(seconds=5400, trainings=100)
    assert parse_budget("500e") == Budget(evaluations=500)
    for bad in ("-3h", "3 parsecs", "", "2.5trainings", "0s"):
        with pytest.raises(InvalidBudgetError):
            parse_budget(bad)


def test_dataset_without_accuracy():
    with pytest.raises(NoAccuracyError, match="no trained accuracy"):
        SearchProblem(synthetic_frame(oa=False), dataset="ksc", source="hytasbench")
    frame = synthetic_frame()
    frame["metric_oa"] = np.nan
    with pytest.raises(NoAccuracyError):
        SearchProblem(frame, dataset="ksc")


def test_missing_and_unknown_proxy_costs():
    p = SearchProblem(synthetic_frame(), dataset="synthetic")
    assert p.cost_source("snip") == "column proxy_snip__seconds" and p.cost_source("flops") == "analytic (0 s)"
    assert p.cost_source("grasp") is None
    with pytest.raises(MissingCostError, match="proxy_seconds"):
        run_search(make_searcher("zero_cost", proxy="grasp"), p, Budget(seconds=100))
    with pytest.raises(UnknownFieldError, match="snip"):
        run_search(make_searcher("zero_cost", proxy="snipp"), p, Budget(seconds=100))
    with pytest.raises(UnknownFieldError):
        SearchProblem(synthetic_frame(), proxy_seconds={"nope": 1.0})
    with pytest.raises(MissingCostError):
        SearchProblem(synthetic_frame(), proxy_seconds={"grasp": -1.0})


def test_orientation_is_applied(problem):
    """GraSP's raw value is negatively oriented: ranking by it must pick large (good) models."""
    by_grasp = run_search(make_searcher("zero_cost", proxy="grasp", n_candidates=None, top_k=5), problem,
                          Budget(seconds=10 ** 6))
    trained = by_grasp.index[by_grasp.kind == TRAIN]
    assert problem.oa[trained].mean() > np.quantile(problem.oa, 0.8)


def test_repeated_runs_are_refused():
    frame = synthetic_frame(n=50)
    with pytest.raises(InvalidArgumentError, match="one row per architecture"):
        SearchProblem(pd.concat([frame, frame.iloc[:2]]), dataset="houston2013")


def test_missing_oa_rows_are_excluded():
    frame = synthetic_frame()
    frame.loc[[3, 7], "metric_oa"] = np.nan
    with pytest.warns(UserWarning, match="2 of 300"):
        p = SearchProblem(frame, dataset="houston2013")
    assert p.space.n == 298 and p.excluded == (frame.arch[3], frame.arch[7])
    with pytest.raises(ArchitectureNotInTableError):
        p.space.index(frame.arch[3])


def test_problem_from_a_benchmark(small_bench):
    """from_benchmark takes the table's OA and training time, the manifest's mean proxy time where no
    per-row time exists, an explicit time over none, and invents no time for a dataset without one."""
    ip = SearchProblem.from_benchmark(small_bench, "indian_pines")
    frame = small_bench.frame("indian_pines")
    assert ip.space.n == len(frame) == smallset.N_ARCHS and ip.source == "small"
    np.testing.assert_array_equal(ip.oa, frame.metric_oa)
    np.testing.assert_array_equal(ip.train_seconds, frame.metric_train_seconds)
    assert ip.cost_source("snip") is not None and ip.cost_source("naswot") is None
    t = run_search(make_searcher("zero_cost", n_candidates=10, top_k=2), ip, Budget(seconds=10 ** 5))
    assert t.cost[:10].tolist() == [smallset.SNIP_SECONDS] * 10
    assert t.cost[10:].tolist() == ip.train_seconds[t.index[10:]].tolist()
    with pytest.raises(MissingCostError, match="naswot"):
        run_search(make_searcher("zero_cost", proxy="naswot"), ip, Budget(seconds=10 ** 5))
    explicit = SearchProblem.from_benchmark(small_bench, "indian_pines", proxy_seconds={"naswot": 0.75})
    t = run_search(make_searcher("zero_cost", proxy="naswot", n_candidates=5), explicit, Budget(seconds=10 ** 5))
    assert t.cost[:5].tolist() == [0.75] * 5
    with pytest.warns(UserWarning, match="no recorded OA"):
        ksc = SearchProblem.from_benchmark(small_bench, "ksc")
    assert ksc.space.n == smallset.N_ARCHS - 1 and np.isfinite(ksc.oa).all()
    with pytest.raises(ArchitectureNotInTableError):
        ksc.space.index(str(parse(smallset.UNTRAINED)))
    with pytest.raises(MissingCostError, match="ksc"):
        run_search(make_searcher("zero_cost"), ksc, Budget(seconds=10 ** 5))


# ---- the closed form and regret -----------------------------------------------------------------

def test_expected_best_of_n_against_enumeration():
    values = np.array([0.3, 0.9, 0.5, 0.5, 0.1, 0.7, 0.2])
    for n in range(1, len(values) + 1):
        maxima = [max(c) for c in itertools.combinations(values, n)]
        got = expected_best_of_n(values, n)
        assert got.mean == pytest.approx(np.mean(maxima)) and got.std == pytest.approx(np.std(maxima))
    with pytest.raises(ValueError):
        expected_best_of_n(values, 0)


def test_regret_matrix_and_table(problem):
    res = run_many(RegularizedEvolution(5, 2), problem, Budget(seconds=4000), seeds=4)
    grid = np.array([10.0, 500.0, 1000.0, 4000.0])
    m = regret_matrix(res, grid)
    t0 = res.trajectories[0]
    trained = t0.kind == TRAIN
    expected = [problem.best_oa - t0.best_oa[trained][t0.elapsed[trained] <= g][-1]
                if (t0.elapsed[trained] <= g).any() else np.nan for g in grid]
    np.testing.assert_allclose(m[0], expected)
    assert np.isnan(m[:, 0]).all() and (np.diff(m[:, 1:], axis=1) <= 0).all()
    table = regret_table(res, at=[1000.0, 4000.0])
    assert table.loc["RegularizedEvolution", ("n", 4000.0)] == 4
    by_count = regret_curve(res, x="trainings")
    assert by_count["trainings"].iloc[0] == 1 and (by_count["n"] == 4).all()


def test_plot_regret(problem, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from hytasbench.nas.regret import plot_regret

    res = run_many(RandomSearch(), problem, Budget(seconds=3000), seeds=3)
    ax = plot_regret(res, spread="iqr")
    assert [line.get_label() for line in ax.get_lines()] == ["RandomSearch"]
    ax.figure.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0


def test_parse_accepts_table_strings(problem):
    assert all(parse(s) == a for s, a in zip(problem.space.strings[:5], problem.space.archs[:5]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SearchProblem(synthetic_frame(n=50), dataset="small")  # no rows dropped, no warning


def test_search_command(small_tables, tmp_path, capsys):
    out, curve = tmp_path / "runs.csv", tmp_path / "curve.csv"
    code = search_main(["--algo", "random_search", "local_search", "--dataset", "indian_pines", "--budget", "2h",
                        "--seeds", "5", "--source", str(small_tables), "--out", str(out), "--curve", str(curve)])
    text = capsys.readouterr().out
    assert code == 0 and "local_search" in text and "random_search" in text and "test-set OA" in text
    assert out.stat().st_size > 0 and curve.stat().st_size > 0
    assert search_main(["--algo", "bogus", "--dataset", "indian_pines", "--budget", "2h",
                        "--source", str(small_tables)]) == 2
    assert "unknown search algorithm 'bogus'" in capsys.readouterr().err
    assert search_main(["--algo", "random_search", "--dataset", "indian_pines", "--budget=-2h",
                        "--source", str(small_tables)]) == 2
    assert search_main(["--algo", "zero_cost", "--param", "n_candidates=oops", "--dataset", "indian_pines",
                        "--budget", "2h", "--source", str(small_tables)]) == 2



# ---- bad arguments are typed errors that name the value and what is allowed -----------------------

@pytest.mark.parametrize("seed", [-1, 2 ** 32, "x", 1.5, True, None, np.float64(2.0)])
def test_bad_seeds_of_run_search(problem, seed):
    with pytest.raises(InvalidArgumentError, match="seed"):
        run_search(RandomSearch(), problem, Budget(trainings=2), seed=seed)


def test_numpy_integer_seeds_are_seeds(problem):
    a = run_search(RandomSearch(), problem, Budget(trainings=3), seed=np.int64(3))
    assert a.seed == 3 and type(a.seed) is int
    assert a.index.tolist() == run_search(RandomSearch(), problem, Budget(trainings=3), seed=3).index.tolist()


@pytest.mark.parametrize("seeds", [0, -2, [], "ab", [1.5], [True], ["1"], [-1], True, {"a": 1}, 2.0])
def test_bad_seeds_of_run_many(problem, seeds):
    with pytest.raises(InvalidArgumentError, match="seeds"):
        run_many(RandomSearch(), problem, Budget(trainings=2), seeds=seeds)


@pytest.mark.parametrize("values, n, match", [
    ([0.1, float("nan")], 1, "finite"), ([float("inf"), 1.0], 1, "finite"), ([[0.1, 0.2], [0.3, 0.4]], 1, "one-dim"),
    ([0.1, 0.2], 0, "n must"), ([0.1, 0.2], 3, "1..2"), ([0.1, 0.2], 1.0, "n must"),
    ([0.1, 0.2], True, "n must"), ([], 1, "at least one"), (["a"], 1, "numbers"), ([[0.1], [0.2, 0.3]], 1, "numbers")])
def test_expected_best_of_n_bad_arguments(values, n, match):
    with pytest.raises(InvalidArgumentError, match=match):
        expected_best_of_n(values, n)


def test_regret_of_something_that_is_not_results(problem):
    res = run_many(RandomSearch(), problem, Budget(trainings=3), seeds=2)
    for bad in (5, [1], [], None):
        with pytest.raises(InvalidArgumentError, match="SearchResults"):
            regret_table(bad, [1])
    for at in (["a"], [], [-1.0], [float("nan")], 5):
        with pytest.raises(InvalidArgumentError, match="budgets"):
            regret_table(res, at)
    with pytest.raises(InvalidSettingError, match="seconds"):
        regret_table(res, [100], x="hours")


@pytest.mark.parametrize("neighbours", [0, -1, True, 1.5, "3"])
def test_bad_neighbour_counts(small_bench, neighbours):
    with pytest.raises(InvalidSettingError, match="neighbours"):
        SearchProblem.from_benchmark(small_bench, "indian_pines", neighbours=neighbours)


def test_more_neighbours_than_the_table_holds_fail_only_a_move(small_bench):
    """A search without moves (random search) runs; the first move says why it cannot."""
    problem = SearchProblem.from_benchmark(small_bench, "indian_pines", neighbours=10 ** 6)
    run_search(RandomSearch(), problem, Budget(trainings=3))
    with pytest.raises(InvalidSettingError, match=r"the table has \d+ candidate architectures.*, got 1000000"):
        problem.space.neighbours(0)


@pytest.mark.parametrize("proxy_seconds, error", [
    ({"snip": True}, MissingCostError), ({"snip": "1"}, MissingCostError), ({"snip": float("inf")}, MissingCostError),
    ([("snip", 1.0)], InvalidArgumentError), ("snip", InvalidArgumentError)])
def test_bad_proxy_seconds(proxy_seconds, error):
    with pytest.raises(error, match="proxy_seconds"):
        SearchProblem(synthetic_frame(n=20), dataset="synthetic", proxy_seconds=proxy_seconds)


@pytest.mark.parametrize("seconds", [np.float32(0.25), np.float64(0.25), np.int64(1), 2])
def test_proxy_seconds_of_any_real_number_type(seconds):
    SearchProblem(synthetic_frame(n=20), dataset="synthetic", proxy_seconds={"snip": seconds})


@pytest.mark.parametrize("name, params, match", [
    ("regularized_evolution", {"population_size": 0}, "population_size"),
    ("regularized_evolution", {"population_size": True}, "population_size"),
    ("regularized_evolution", {"population_size": 2.0}, "population_size"),
    ("regularized_evolution", {"population_size": 3, "sample_size": 4}, "sample_size"),
    ("regularized_evolution", {"sample_size": 0}, "sample_size"),
    ("zero_cost_evolution", {"n_candidates": 0}, "n_candidates"),
    ("zero_cost", {"n_candidates": True}, "n_candidates"), ("zero_cost", {"top_k": 0}, "top_k"),
    ("surrogate", {"n_init": False}, "n_init"), ("surrogate", {"pool_size": -5}, "pool_size"),
    ("surrogate", {"proxies": "snip"}, "proxies"), ("local_search", {"first_improvement": "x"}, "first_improvement")])
def test_bad_searcher_parameters_fail_when_the_search_starts(problem, name, params, match):
    searcher = make_searcher(name, **params)  # constructors only store parameters (scikit-learn style)
    assert searcher.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises(InvalidSettingError, match=match) as info:
        run_search(searcher, problem, Budget(trainings=2))
    assert isinstance(info.value, HytasError)
