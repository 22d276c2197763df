"""hytasbench.surrogate on a table made here with a known OA function; full-space search; errors."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from hytasbench import Benchmark
from hytasbench.errors import (InvalidArchitectureError, MissingCostError, NoAccuracyError, UnknownDatasetError,
                               UnknownFieldError, UnknownSourceError)
from hytasbench.nas import TRAIN, Budget, make_searcher, run_many, run_search
from hytasbench.nas.full_space import SurrogateProblem
from hytasbench.space import Arch, hytas2000, parse, sample
from hytasbench.surrogate import Prediction, surrogate_for
from hytasbench.surrogate import fitted as fitted_module
from hytasbench.tables import write_table_set

REPO = Path(__file__).resolve().parents[1]


def true_oa(a: Arch) -> float:
    """A known function of the architecture: width and the first layers' ratios help, depth saturates."""
    return 0.45 + 0.0012 * a.embed_dim + 0.012 * min(a.depth, 7) + 0.01 * a.mlp_ratio[0] - 0.004 * a.num_heads[1]


def true_seconds(a: Arch) -> float:
    return 60.0 + 0.02 * a.embed_dim * sum(a.mlp_ratio)


def _write(folder: Path, n: int = 250, oa: bool = True, name: str = "made") -> Path:
    archs = hytas2000()[:n]
    frame = pd.DataFrame({"arch": [str(a) for a in archs], "dataset": "indian_pines", "source": name, "run": 0,
                          "metric_train_seconds": [true_seconds(a) for a in archs]})
    if oa:
        frame["metric_oa"] = [true_oa(a) for a in archs]
    write_table_set(folder, {"indian_pines": frame}, source=name, protocol="test", description="known function")
    return folder


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    """A private cache for this module (the surrogate's JSON calibration and the table index land
    there), shared by its tests so that a table's calibration is computed once."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYTASBENCH_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("made") / "made")


@pytest.fixture(scope="module")
def bench(made) -> Benchmark:
    return Benchmark(source=made)


def fresh_archs(n: int, seed: int = 7):
    rng, table = random.Random(seed), set(hytas2000()[:250])
    out = []
    while len(out) < n:
        a = sample(rng)
        if a not in table:
            out.append(a)
    return out


def test_surrogate_recovers_a_known_function_on_unseen_architectures(bench):
    sur = surrogate_for(bench, "indian_pines")
    archs = fresh_archs(300)
    pred = sur.predict_arrays(archs)
    truth = np.array([true_oa(a) for a in archs])
    oa, half = pred["oa"]
    assert spearmanr(oa, truth)[0] > 0.9
    assert np.sqrt(np.mean((oa - truth) ** 2)) < 0.25 * truth.std()
    assert np.mean(np.abs(oa - truth) <= half) >= 0.8  # the 90 % interval holds most unseen truths
    secs, _ = pred["train_seconds"]
    assert spearmanr(secs, [true_seconds(a) for a in archs])[0] > 0.95
    assert sur.cv()["oa"]["spearman"] > 0.9 and 0.8 <= sur.cv()["oa"]["coverage"] <= 1.0


def test_predict_returns_a_labelled_prediction_never_a_record(bench, made):
    from hytasbench.record import Record

    outside = fresh_archs(1)[0]
    p = bench.predict(outside, "indian_pines")
    assert isinstance(p, Prediction) and not isinstance(p, Record)
    assert p.is_prediction and p.kind == "prediction" and p.model == "extra_trees" and p.source == "made"
    manifest = json.loads((made / "manifest.json").read_text())
    assert p.table_sha256 == next(iter(manifest["files"].values()))["sha256"]
    assert p.oa_interval[0] < p.oa < p.oa_interval[1] and p.level == 0.9
    assert p.train_seconds_interval[0] < p.train_seconds < p.train_seconds_interval[1]
    assert not p.tabulated and p.n_train == 250
    inside = bench.predict(1, "indian_pines")
    assert inside.tabulated and inside.arch == parse(1)
    assert bench.query(1, "indian_pines").oa == pytest.approx(true_oa(parse(1)))  # the table is untouched
    assert json.loads(json.dumps(p.to_dict()))["kind"] == "prediction"


def test_extrapolation_is_flagged_where_the_table_has_no_depth_width_support(tmp_path):
    narrow = [a for a in hytas2000() if a.embed_dim <= 96][:120]
    frame = pd.DataFrame({"arch": [str(a) for a in narrow], "dataset": "indian_pines", "source": "narrow", "run": 0,
                          "metric_oa": [true_oa(a) for a in narrow],
                          "metric_train_seconds": [true_seconds(a) for a in narrow]})
    write_table_set(tmp_path / "narrow", {"indian_pines": frame}, source="narrow", protocol="t", description="")
    b = Benchmark(source=tmp_path / "narrow")
    wide = b.predict("e240-h3333-r6666", "indian_pines")
    assert wide.support == 0 and wide.extrapolated
    assert b.predict(narrow[0], "indian_pines").support > 0


def test_same_table_same_surrogate(bench, made, tmp_path):
    """Refitting from scratch (memory cleared, JSON calibration reused or not) and a copy of the table
    give identical predictions."""
    archs = fresh_archs(50)
    first = surrogate_for(bench, "indian_pines").predict_arrays(archs)
    fitted_module._FITTED.clear()
    again = surrogate_for(bench, "indian_pines").predict_arrays(archs)
    copy = _write(tmp_path / "copy", name="made")
    fitted_module._FITTED.clear()
    other = surrogate_for(Benchmark(source=copy), "indian_pines").predict_arrays(archs)
    for target in ("oa", "train_seconds"):
        for pair in (again, other):
            np.testing.assert_array_equal(first[target][0], pair[target][0])
            np.testing.assert_array_equal(first[target][1], pair[target][1])


@pytest.mark.slow
def test_calibration_cache_is_json_bound_to_the_digest(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))  # empty: this test's fit writes the file
    fitted_module._FITTED.clear()
    sur = surrogate_for(bench, "indian_pines")
    files = list((tmp_path / "cache" / "surrogate").glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith(sur.table_sha256[:32])
    data = json.loads(files[0].read_text())
    assert data["key"][0] == sur.table_sha256 and data["targets"]["oa"]["quantile"] == sur.targets["oa"].quantile
    files[0].write_text("{not json")  # a damaged cache is recomputed, never trusted
    fitted_module._FITTED.clear()
    assert surrogate_for(bench, "indian_pines").targets["oa"].quantile == sur.targets["oa"].quantile
    assert json.loads(files[0].read_text())["key"][0] == sur.table_sha256



def _tamper(change):
    """An edit of the parsed calibration file (``change(data)`` edits in place or returns a new one)."""
    def edit(data):
        out = change(data)
        return data if out is None else out
    return edit


CACHE_TAMPER = {
    "negative quantile": _tamper(lambda d: d["targets"]["oa"].update(quantile=-5)),
    "huge quantile": _tamper(lambda d: d["targets"]["oa"].update(quantile=1e6)),
    "quantile text": _tamper(lambda d: d["targets"]["oa"].update(quantile="x")),
    "quantile bool": _tamper(lambda d: d["targets"]["oa"].update(quantile=True)),
    "quantile infinite": _tamper(lambda d: d["targets"]["oa"].update(quantile=float("inf"))),
    "quantile NaN": _tamper(lambda d: d["targets"]["oa"].update(quantile=float("nan"))),
    "quantile missing": _tamper(lambda d: d["targets"]["oa"].pop("quantile")),
    "coverage above 1": _tamper(lambda d: d["targets"]["train_seconds"].update(coverage=1.5)),
    "targets a list": _tamper(lambda d: d.update(targets=[d["targets"]["oa"], d["targets"]["train_seconds"]])),
    "a target missing": _tamper(lambda d: d["targets"].pop("train_seconds")),
    "another table": _tamper(lambda d: d["key"].__setitem__(0, "0" * 64)),
    "another row count": _tamper(lambda d: d.update(n=d["n"] + 1)),
    "row count a bool": _tamper(lambda d: d.update(n=True)),
    "not an object": _tamper(lambda d: [d]),
}


@pytest.fixture(scope="module")
def small_calibrated(tmp_path_factory):
    """A 60-architecture table (quick to calibrate), its Benchmark, and the surrogate fitted once."""
    b = Benchmark(source=_write(tmp_path_factory.mktemp("calib") / "calib", n=60, name="calib"))
    return b, surrogate_for(b, "indian_pines")


def _calibration_inputs(b, sur):
    """What the surrogate checks a cache file against: its key, row count and largest quantiles."""
    from hytasbench.surrogate.fitted import training_rows
    from hytasbench.surrogate.model import features

    archs, ys = training_rows(b, "indian_pines")
    x, _ = features(archs, "indian_pines")
    key = (sur.table_sha256, "indian_pines", "extra_trees")
    return key, len(x), {t: fitted_module._max_quantile(sur.targets[t].regressor, x, y) for t, y in ys.items()}


@pytest.mark.parametrize("case", list(CACHE_TAMPER))
def test_a_tampered_calibration_is_not_valid(small_calibrated, case):
    b, sur = small_calibrated
    key, n, max_quantile = _calibration_inputs(b, sur)
    good = json.loads(fitted_module._cache_path(key).read_text())
    assert fitted_module._cached_calibration(good, key, n, max_quantile) == good["targets"]
    assert fitted_module._cached_calibration(CACHE_TAMPER[case](good), key, n, max_quantile) is None


@pytest.mark.parametrize("case", ["huge quantile", "quantile text"])
def test_a_tampered_calibration_cache_is_recomputed_never_served(small_calibrated, monkeypatch, case):
    b, first = small_calibrated
    path = fitted_module._cache_path((first.table_sha256, "indian_pines", "extra_trees"))
    good = path.read_text()
    path.write_text(json.dumps(CACHE_TAMPER[case](json.loads(good))))
    calls = []
    real = fitted_module.out_of_fold
    monkeypatch.setattr(fitted_module, "out_of_fold", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(fitted_module, "_FITTED", {})
    again = surrogate_for(b, "indian_pines")
    assert calls, "the tampered file was served"
    for target in ("oa", "train_seconds"):
        assert again.targets[target].quantile == first.targets[target].quantile
    assert json.loads(path.read_text()) == json.loads(good)  # and the file is rewritten
    lo, hi = again.predict(1).oa_interval
    assert lo < hi and hi - lo < 1


def test_a_valid_calibration_cache_is_served(small_calibrated, monkeypatch):
    b, first = small_calibrated
    monkeypatch.setattr(fitted_module, "out_of_fold", lambda *a, **k: pytest.fail("recomputed a valid cache"))
    monkeypatch.setattr(fitted_module, "_FITTED", {})
    assert surrogate_for(b, "indian_pines").targets["oa"].quantile == first.targets["oa"].quantile


def test_errors_are_typed(bench, tmp_path):
    with pytest.raises(UnknownDatasetError):
        bench.predict(1, "mars")
    with pytest.raises(UnknownSourceError):
        bench.predict(1, "salinas")  # a dataset this source has no table for
    with pytest.raises(UnknownFieldError, match="surrogate model"):
        bench.predict(1, "indian_pines", model="oracle")
    no_oa = Benchmark(source=_write(tmp_path / "no_oa", oa=False, name="no_oa"))
    with pytest.raises(NoAccuracyError, match="trained OA"):
        no_oa.predict(1, "indian_pines")
    tiny = Benchmark(source=_write(tmp_path / "tiny", n=10, name="tiny"))
    with pytest.raises(NoAccuracyError, match="at least"):
        tiny.predict(1, "indian_pines")
    # the architecture is the first thing checked: its error, not the table's, whatever the table
    with pytest.raises(InvalidArchitectureError, match="embed_dim"):
        tiny.predict("e99-h3333-r6666", "indian_pines")


def test_querying_the_surrogate_imports_no_torch(bench, made, _cache):
    surrogate_for(bench, "indian_pines")  # the calibration is in the cache: the subprocess fits the forest only
    code = ("import sys; from hytasbench import Benchmark; "
            f"p = Benchmark(source={str(made)!r}).predict('e240-h3333-r6666', 'indian_pines'); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(p.oa)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "HYTASBENCH_CACHE": str(_cache), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert 0 < float(out.stdout) < 1


# ---- search over the whole space ---------------------------------------------------------------

@pytest.fixture(scope="module")
def full(bench) -> SurrogateProblem:
    return SurrogateProblem.from_benchmark(bench, "indian_pines", pool=500, proxy_seconds={"snip": 0.25})


def test_existing_searchers_run_on_the_full_space(full):
    table = set(hytas2000()[:250])
    for name in ("random_search", "regularized_evolution", "local_search"):
        t = run_search(make_searcher(name), full, Budget(trainings=30), seed=0, n_workers=4)
        archs = [full.space.archs[i] for i in t.index]
        assert len(archs) == 30 and all(0 <= v <= 1 for v in t.value)
        assert any(a not in table for a in archs)
    evo = run_search(make_searcher("regularized_evolution", population_size=10), full, Budget(trainings=40), seed=1)
    assert max(evo.index) >= full.space.n  # mutation reached architectures outside the random pool


def test_full_space_values_are_seeded_noise_around_the_surrogate(bench, full):
    t = run_search(make_searcher("random_search"), full, Budget(trainings=200), seed=0)
    archs = [full.space.archs[i] for i in t.index]
    mean, half = full.surrogate.predict_arrays(archs)["oa"]
    z = (t.value - mean) / (half / 1.645)
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.3  # noise drawn from the predictive distribution
    again = SurrogateProblem.from_benchmark(bench, "indian_pines", pool=500)
    t2 = run_search(make_searcher("random_search"), again, Budget(trainings=200), seed=0)
    assert [str(again.space.archs[i]) for i in t2.index] == [str(a) for a in archs]
    np.testing.assert_array_equal(t.value, t2.value)
    other = SurrogateProblem.from_benchmark(bench, "indian_pines", pool=500, noise_seed=1)
    t3 = run_search(make_searcher("random_search"), other, Budget(trainings=200), seed=0)
    assert not np.array_equal(t.value, t3.value)


def test_same_seed_same_full_space_trajectory(bench, full):
    """The trajectory (as architectures) does not depend on what earlier runs added to the space."""
    a = run_many(make_searcher("regularized_evolution"), full, Budget(trainings=30), seeds=[2], n_workers=4)
    fresh = SurrogateProblem.from_benchmark(bench, "indian_pines", pool=500)
    b = run_many(make_searcher("regularized_evolution"), fresh, Budget(trainings=30), seeds=[2], n_workers=4)
    pd.testing.assert_frame_equal(a.frame.drop(columns=[]), b.frame)


def test_analytic_proxies_are_free_and_exact(full):
    from hytasbench.costs import analytic_params

    t = run_search(make_searcher("zero_cost", proxy="params", n_candidates=30, top_k=5), full,
                   Budget(evaluations=35), seed=0)
    scored = t.kind != TRAIN
    assert scored.sum() == 30 and np.all(t.cost[scored] == 0)
    i = int(t.index[scored][0])
    assert t.value[scored][0] == analytic_params(full.space.archs[i], 200, 16, 3)


def test_full_space_proxy_errors(full, bench):
    with pytest.raises(UnknownFieldError):
        full.check_proxies(["telepathy"])
    bare = SurrogateProblem.from_benchmark(bench, "indian_pines", pool=100)  # the made table records no proxy time
    with pytest.raises(MissingCostError, match="proxy_seconds"):
        run_search(make_searcher("zero_cost", proxy="naswot"), bare, Budget(trainings=3))


@pytest.mark.slow
def test_live_proxy_through_the_real_kernels(full, shared_datasets, monkeypatch):
    """A searcher's score query runs the real kernel, charged the given cost."""
    pytest.importorskip("torch")
    monkeypatch.setenv("HYTASBENCH_DATA", str(shared_datasets))
    from hytasbench.live import score

    t = run_search(make_searcher("zero_cost", proxy="snip", n_candidates=1, top_k=1), full,
                   Budget(evaluations=1), seed=0)
    arch = full.space.archs[int(t.index[0])]
    assert t.kind[0] == "score" and t.cost[0] == 0.25
    expected = score(arch, "indian_pines", ["snip"], data_root=str(shared_datasets))["snip"]
    assert t.value[0] == pytest.approx(expected, rel=1e-6)


def test_cli_predict_and_full_space_search(made, capsys):
    from hytasbench.cli import main

    assert main(["predict", "e240-h3333-r6666", "indian_pines", "--source", str(made), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "prediction" and out["source"] == "made"
    assert main(["predict", "e240-h3333-r6666", "mars", "--source", str(made)]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["search", "--space", "full", "--workers", "8", "--algo", "random_search", "regularized_evolution",
                 "--dataset", "indian_pines", "--budget", "40trainings", "--seeds", "2", "--pool", "300",
                 "--source", str(made), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["space"] == "full" and summary["workers"] == 8
    assert {row["algorithm"] for row in summary["final"]} == {"random_search", "regularized_evolution"}


@pytest.mark.slow
def test_reference_surrogate_beats_the_best_single_proxy(reference_bench):
    """On the authors' Indian Pines table, cross-validated Spearman beats the best proxy's 0.71."""
    fitted_module._FITTED.clear()
    sur = surrogate_for(reference_bench, "indian_pines")
    assert sur.cv()["oa"]["spearman"] > 0.8 and abs(sur.cv()["oa"]["coverage"] - 0.9) < 0.03
