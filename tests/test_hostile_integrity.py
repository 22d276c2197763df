"""Hostile input, as a new user and an adversary would give it: the API, every CLI subcommand and
builder flag, tampered copies of the authors' files, tampered table sets and query indexes,
kills during imports, concurrent imports and readers during re-imports. Each case must give a
typed error with a useful one-line message or the documented result (tests/hostile_tally.py
counts both; the session summary prints the totals)."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_tally import cli, correct, typed, typed_or_correct
from hytasbench import Benchmark, space
from hytasbench.cli import main as cli_main
from hytasbench.errors import (ArchitectureNotInTableError, InvalidArchitectureError, InvalidArgumentError,
                               InvalidRunError, NoMatchError, ReferenceFileError, StaleTableSetError,
                               TableContentError, TableError, UnknownDatasetError, UnknownFieldError,
                               UnknownSourceError, UnwritablePathError)
from hytasbench.schema import scored_layer_count
from hytasbench.tables import _INDEX_HEADER as HEADER
from hytasbench.tables import read_table_set, write_table_set

REPO = Path(__file__).resolve().parents[1]
ARCHS = [str(a) for a in space.hytas2000()[:6]]
HYPO = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---- tiny table sets built with the real writer ---------------------------------------------

def tiny_frames(offset: float = 0.0) -> dict:
    """Two datasets of five architectures; on ksc the second one has a repeat (run 1)."""
    out = {}
    for ds in ("indian_pines", "ksc"):
        archs = [space.parse(a) for a in ARCHS[:5]]
        rows = []
        for i, a in enumerate(archs):
            for run in ((0, 1) if ds == "ksc" and i == 1 else (0,)):
                rows.append({"arch": str(a), "arch_id": a.id, "depth": a.depth, "embed_dim": a.embed_dim,
                             "num_heads": list(a.num_heads), "mlp_ratio": list(a.mlp_ratio),
                             "metric_oa": offset + 0.5 + i / 20 + run / 100, "metric_aa": 0.4 + i / 20,
                             "metric_kappa": 0.3 + i / 20, "metric_oa_best": 0.6 + i / 20,
                             "metric_train_seconds": 100.0 + i, "cost_params": 1000 + i, "cost_flops": 5000 + i,
                             "proxy_snip": float(i), "proxy_grasp": float(i) - 2.0, "proxy_grasp__seconds": 0.5,
                             "dataset": ds, "source": "tiny", "protocol": "p", "run": run, "seed": 0,
                             "device": "cpu", "library_version": "t", "absent_reason": None})
        out[ds] = pd.DataFrame(rows)
    return out


def write_tiny(path: Path, offset: float = 0.0) -> Path:
    write_table_set(path, tiny_frames(offset), source="tiny", protocol="p", description="tiny")
    return path


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYTASBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("HYTASBENCH_TABLES", raising=False)
        yield


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="module")
def bench(tiny) -> Benchmark:
    return Benchmark(source=tiny)


# ---- the API: a table of named cases --------------------------------------------------------

API_TYPED = {
    "run -1": (lambda b: b.query(1, "ksc", run=-1), InvalidRunError, "run"),
    "run True": (lambda b: b.query(1, "ksc", run=True), InvalidRunError, "True"),
    "run False": (lambda b: b.query(1, "ksc", run=False), InvalidRunError, "False"),
    "run 1.0": (lambda b: b.query(1, "ksc", run=1.0), InvalidRunError, "1.0"),
    "run '0'": (lambda b: b.query(1, "ksc", run="0"), InvalidRunError, "'0'"),
    "run None": (lambda b: b.query(1, "ksc", run=None), InvalidRunError, "None"),
    "run [0]": (lambda b: b.query(1, "ksc", run=[0]), InvalidRunError, r"\[0\]"),
    "run 1 of a single run": (lambda b: b.query(1, "ksc", run=1), InvalidRunError, "0..0"),
    "run 2 of two runs": (lambda b: b.query(2, "ksc", run=2), InvalidRunError, "0..1"),
    "run 10**5000": (lambda b: b.query(1, "ksc", run=10 ** 5000), InvalidRunError, "does not exist"),
    "run is not an arch error": (lambda b: b.query(1, "ksc", run=-3), InvalidArgumentError, "run"),
    "5000-digit id string": (lambda b: b.query("9" * 5000, "ksc"), InvalidArchitectureError, "5000 digits"),
    "5000-digit id int": (lambda b: b.query(10 ** 5000, "ksc"), InvalidArchitectureError, "digits"),
    "negative huge id": (lambda b: b.query(-10 ** 5000, "ksc"), InvalidArchitectureError, "digits"),
    "id 0": (lambda b: b.query(0, "ksc"), InvalidArchitectureError, "1..2000"),
    "id 2001": (lambda b: b.query(2001, "ksc"), InvalidArchitectureError, "1..2000"),
    "id -1": (lambda b: b.query(-1, "ksc"), InvalidArchitectureError, "1..2000"),
    "id 6 not in table": (lambda b: b.query(6, "ksc"), ArchitectureNotInTableError, "not in"),
    "empty arch": (lambda b: b.query("", "ksc"), InvalidArchitectureError, "canonical"),
    "None arch": (lambda b: b.query(None, "ksc"), InvalidArchitectureError, "None"),
    "bytes arch": (lambda b: b.query(b"1", "ksc"), InvalidArchitectureError, "bytes"),
    "float arch": (lambda b: b.query(1.5, "ksc"), InvalidArchitectureError, "1.5"),
    "list arch": (lambda b: b.query([], "ksc"), InvalidArchitectureError, "list"),
    "half string": (lambda b: b.query("e48-h", "ksc"), InvalidArchitectureError, "canonical"),
    "unknown dataset": (lambda b: b.query(1, "mars"), UnknownDatasetError, "ksc"),
    "empty dataset": (lambda b: b.query(1, ""), UnknownDatasetError, "allowed"),
    "None dataset": (lambda b: b.query(1, None), UnknownDatasetError, "allowed"),
    "int dataset": (lambda b: b.query(1, 3), UnknownDatasetError, "allowed"),
    "list dataset": (lambda b: b.query(1, ["ksc"]), UnknownDatasetError, "allowed"),
    "dataset the source lacks": (lambda b: b.query(1, "salinas"), UnknownSourceError, "hytasbench import"),
    "unknown source name": (lambda b: b.query(1, "ksc", source="nope"), UnknownSourceError, "nope"),
    "query_many of a string": (lambda b: b.query_many("12", "ksc"), InvalidArgumentError, "list of arch"),
    "query_many of bytes": (lambda b: b.query_many(b"12", "ksc"), InvalidArgumentError, "bytes"),
    "query_many of an int": (lambda b: b.query_many(12, "ksc"), InvalidArgumentError, "int"),
    "query_many of None": (lambda b: b.query_many(None, "ksc"), InvalidArgumentError, "None"),
    "query_many of a dict": (lambda b: b.query_many({1: 2}, "ksc"), InvalidArgumentError, "dict"),
    "query_many with a bad member": (lambda b: b.query_many([1, 0], "ksc"), InvalidArchitectureError, "1..2000"),
    "best by arch": (lambda b: b.best("ksc", "arch"), UnknownFieldError, "numeric"),
    "best by num_heads": (lambda b: b.best("ksc", "num_heads"), UnknownFieldError, "numeric"),
    "best by dataset": (lambda b: b.best("ksc", "dataset"), UnknownFieldError, "numeric"),
    "best by run": (lambda b: b.best("ksc", "run"), UnknownFieldError, "numeric"),
    "best by unknown": (lambda b: b.best("ksc", "accuracy"), UnknownFieldError, "metric_oa"),
    "best by None": (lambda b: b.best("ksc", None), UnknownFieldError, "None"),
    "best by an int": (lambda b: b.best("ksc", 5), UnknownFieldError, "5"),
    "best maximize yes": (lambda b: b.best("ksc", "oa", maximize="yes"), InvalidArgumentError, "maximize"),
    "best maximize 1": (lambda b: b.best("ksc", "oa", maximize=1), InvalidArgumentError, "maximize"),
    "best max_params str": (lambda b: b.best("ksc", "oa", max_params="big"), InvalidArgumentError, "max_params"),
    "best max_params bool": (lambda b: b.best("ksc", "oa", max_params=True), InvalidArgumentError, "max_params"),
    "best max_params nan": (lambda b: b.best("ksc", "oa", max_params=math.nan), InvalidArgumentError, "max_params"),
    "best nothing matches": (lambda b: b.best("ksc", "oa", max_params=1), NoMatchError, "max_params=1"),
    "best min above max": (lambda b: b.best("ksc", "oa", min_flops=9e9), NoMatchError, "min_flops"),
    "frame runs option": (lambda b: b.frame("ksc", runs="some"), UnknownFieldError, "first"),
    "recompute with source": (lambda b: b.query(1, "ksc", recompute=True, source="tiny"), InvalidArgumentError,
                              "source"),
    "recompute with run": (lambda b: b.query(1, "ksc", recompute=True, run=1), InvalidArgumentError, "run"),
    "recompute yes": (lambda b: b.query(1, "ksc", recompute="yes"), InvalidArgumentError, "recompute"),
    "seed without recompute": (lambda b: b.query(1, "ksc", seed=3), InvalidArgumentError, "recompute=True"),
    "device without recompute": (lambda b: b.query(1, "ksc", device="cpu"), InvalidArgumentError, "recompute"),
    "data_root without recompute": (lambda b: b.query(1, "ksc", data_root="/x"), InvalidArgumentError,
                                    "recompute"),
    "has unknown field": (lambda b: b.has(1, "ksc", "nope"), UnknownFieldError, "metric_oa"),
    "proxy_seconds of an unknown proxy": (lambda b: b.proxy_seconds("ksc", "nope"), UnknownFieldError, "snip"),
    "empty source": (lambda b: b.query(1, "ksc", source=""), UnknownSourceError, "tiny"),
    "list source": (lambda b: b.query(1, "ksc", source=["tiny"]), UnknownSourceError, "tiny"),
    "float arch 1.0": (lambda b: b.query(1.0, "ksc"), InvalidArchitectureError, "1.0"),
    "rec[None]": (lambda b: b.query(1, "ksc")[None], UnknownFieldError, "None"),
    "rec[5]": (lambda b: b.query(1, "ksc")[5], UnknownFieldError, "5"),
    "rec[tuple]": (lambda b: b.query(1, "ksc")[("oa",)], UnknownFieldError, "oa"),
    "rec[list] unhashable": (lambda b: b.query(1, "ksc")[["oa"]], UnknownFieldError, "oa"),
    "rec['nope']": (lambda b: b.query(1, "ksc")["nope"], UnknownFieldError, "metric_oa"),
    "rec.reason(None)": (lambda b: b.query(1, "ksc").reason(None), UnknownFieldError, "None"),
    "rec.reason('nope')": (lambda b: b.query(1, "ksc").reason("nope"), UnknownFieldError, "nope"),
    "score seed -1": (lambda b: b.score(1, "ksc", seed=-1), InvalidArgumentError, "seed"),
    "score seed True": (lambda b: b.score(1, "ksc", seed=True), InvalidArgumentError, "seed"),
    "score seed str": (lambda b: b.score(1, "ksc", seed="1"), InvalidArgumentError, "seed"),
    "score seed huge": (lambda b: b.score(1, "ksc", seed=10 ** 5000), InvalidArgumentError, "seed"),
    "score device tpu": (lambda b: b.score(1, "ksc", device="tpu"), InvalidArgumentError, "device"),
    "score device None": (lambda b: b.score(1, "ksc", device=None), InvalidArgumentError, "device"),
    "score device cuda:x": (lambda b: b.score(1, "ksc", device="cuda:x"), InvalidArgumentError, "device"),
    "score bad arch": (lambda b: b.score(0, "ksc"), InvalidArchitectureError, "1..2000"),
    "score bad dataset": (lambda b: b.score(1, "mars"), UnknownDatasetError, "ksc"),
    "ensemble with an unknown member": (lambda b: b.query(1, "ksc")["ensemble:snip+bogus"], UnknownFieldError,
                                        r"member of 'ensemble:snip\+bogus': 'bogus'; allowed: .*snip"),
}


@pytest.mark.parametrize("name", list(API_TYPED))
def test_api_named_cases_are_typed(bench, name):
    fn, kind, pattern = API_TYPED[name]
    typed(lambda: fn(bench), pattern, kind=kind)


def test_score_on_cuda_without_cuda_is_typed(bench):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    typed(lambda: bench.score(1, "ksc", device="cuda"), "not available", kind=InvalidArgumentError)
    typed(lambda: bench.score(1, "ksc", device="cuda:3"), "not available", kind=InvalidArgumentError)


SOURCES_TYPED = {"empty list": [], "int": 123, "float": 1.5, "empty string": "", "blank": "   ", "bytes": b"x",
                 "list with None": [None], "missing folder": "/nonexistent/hytas/tables", "dict": {"a": 1},
                 "not a table set": "RELATIVE_TMP"}


@pytest.mark.parametrize("name", list(SOURCES_TYPED))
def test_benchmark_sources_are_typed(name, tmp_path):
    source = SOURCES_TYPED[name]
    if source == "RELATIVE_TMP":
        source = tmp_path  # an existing folder without a manifest
    typed(lambda: Benchmark(source=source), "source|table set|manifest")


def test_default_source_without_import_says_to_import(monkeypatch, tmp_path, small_tables):
    # shipped tables without Salinas (the small set holds Indian Pines and KSC), no reference imported
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HYTASBENCH_TABLES", str(small_tables))
    b = Benchmark()
    assert b.query(1, "ksc").arch.id == 1
    typed(lambda: b.query(1, "salinas"), "hytasbench import", "indian_pines", kind=UnknownSourceError)


API_RESULTS = {
    "run 0 is the headline": (lambda b: b.query(2, "ksc").oa, lambda v: v == pytest.approx(0.55)),
    "run 1 is the repeat": (lambda b: b.query(2, "ksc", run=1).oa, lambda v: v == pytest.approx(0.56)),
    "string id": (lambda b: b.query("3", "ksc").arch.id, lambda v: v == 3),
    "padded string id": (lambda b: b.query(" 3 ", "ksc").arch.id, lambda v: v == 3),
    "query_many list": (lambda b: [r.arch.id for r in b.query_many([1, 2], "ksc")], lambda v: v == [1, 2]),
    "query_many tuple": (lambda b: [r.arch.id for r in b.query_many((5, 4), "ksc")], lambda v: v == [5, 4]),
    "query_many range": (lambda b: [r.arch.id for r in b.query_many(range(1, 4), "ksc")], lambda v: v == [1, 2, 3]),
    "query_many generator": (lambda b: [r.arch.id for r in b.query_many((i for i in [4]), "ksc")],
                             lambda v: v == [4]),
    "query_many empty": (lambda b: b.query_many([], "ksc"), lambda v: v == []),
    "best oa": (lambda b: b.best("ksc", "oa").arch.id, lambda v: v == 5),
    "best grasp follows its orientation": (lambda b: b.best("ksc", "grasp").grasp, lambda v: v == -2.0),
    "best grasp maximize=True": (lambda b: b.best("ksc", "grasp", maximize=True).grasp, lambda v: v == 2.0),
    "best params is the smallest": (lambda b: b.best("ksc", "params").params, lambda v: v == 1000),
    "best seconds is the fastest": (lambda b: b.best("ksc", "train_seconds").arch.id, lambda v: v == 1),
    "best under a cap": (lambda b: b.best("ksc", "oa", max_params=1002).arch.id, lambda v: v == 3),
    "best with an int cap": (lambda b: b.best("ksc", "snip", min_flops=5003).arch.id, lambda v: v == 5),
    "has a known field the source lacks": (lambda b: b.has(1, "ksc", "zico"), lambda v: v is False),
    "has absent arch": (lambda b: b.has(6, "ksc"), lambda v: v is False),
    "rec.get default": (lambda b: b.query(1, "ksc").get(None, "d"), lambda v: v == "d"),
    "known-absent field is None": (lambda b: b.query(1, "ksc")["aa"], lambda v: v == pytest.approx(0.4)),
    "absent proxy has a reason": (lambda b: b.query(1, "ksc").reason("zico"), lambda v: isinstance(v, str)),
    "present value has no reason": (lambda b: b.query(1, "ksc").reason("oa"), lambda v: v is None),
}


@pytest.mark.parametrize("name", list(API_RESULTS))
def test_api_named_cases_give_the_documented_result(bench, name):
    fn, check = API_RESULTS[name]
    correct(lambda: fn(bench), check, name)


@HYPO
@given(st.one_of(st.integers(-5, 5), st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                 st.lists(st.integers(0, 2), max_size=2), st.integers(10 ** 20, 10 ** 30)))
def test_hypothesis_run_values(bench, run):
    rec = typed_or_correct(lambda: bench.query(2, "ksc", run=run), lambda r: r["run"] == run)
    if rec is not None:
        assert type(run) is int and 0 <= run <= 1


@HYPO
@given(st.one_of(st.text(max_size=20), st.none(), st.integers(), st.sampled_from(
    ["oa", "aa", "kappa", "arch", "num_heads", "run", "snip", "grasp", "params", "proxy_grasp__seconds", "seed"])),
    st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.integers(-1, 2)))
def test_hypothesis_best(bench, metric, maximize):
    frame = bench.frame("ksc")

    def check(rec) -> bool:
        col = bench._view("ksc", None).resolve(metric)
        values = frame[frame.run == 0][col]
        want = maximize if isinstance(maximize, bool) else None
        if want is None:
            from hytasbench.schema import orientation

            want = not (col.startswith("cost_") or col.endswith("seconds")) and orientation(col) > 0
        return rec[col] == (values.max() if want else values.min())

    typed_or_correct(lambda: bench.best("ksc", metric, maximize=maximize), check)


@HYPO
@given(st.one_of(st.text(max_size=12), st.none(), st.integers(), st.binary(max_size=4),
                 st.lists(st.text(max_size=3), max_size=2)))
def test_hypothesis_record_keys(bench, key):
    rec = bench.query(1, "ksc")
    typed_or_correct(lambda: rec[key], lambda v: isinstance(key, str))


LOOKALIKES = [True, False, 1.0, 2.0, "1", " 1", "01", 1 + 0j, -1, 0]


@pytest.mark.parametrize("arch", LOOKALIKES, ids=repr)
def test_repeat_query_cache_never_answers_for_a_lookalike(tiny, arch):
    """Query results are cached by (arch, dataset, source); True, 1.0 and 1+0j hash like 1, so
    a warm cache must give each exactly what a cold Benchmark gives, typed error or record."""
    def outcome(b: Benchmark):
        try:
            return ("record", b.query(arch, "ksc")["arch"])
        except Exception as exc:  # compared below, and the tally's cases check they are typed
            return ("error", type(exc).__name__)

    cold = outcome(Benchmark(source=tiny))
    warm_bench = Benchmark(source=tiny)
    for warm in (1, 2, ARCHS[0], ARCHS[1]):
        warm_bench.query(warm, "ksc")
    assert outcome(warm_bench) == cold
    assert outcome(warm_bench) == cold  # and again, once anything it caches is in the cache


def test_repeated_query_answers_each_dataset_and_source(tiny, tmp_path):
    other = tmp_path / "other"
    frames = {ds: f.assign(source="tiny2") for ds, f in tiny_frames(offset=0.01).items()}
    write_table_set(other, frames, source="tiny2", protocol="p", description="tiny, shifted")
    b = Benchmark(source=[tiny, other])
    for _ in range(3):
        assert b.query(1, "ksc")["dataset"] == "ksc" and b.query(1, "indian_pines")["dataset"] == "indian_pines"
        assert b.query(1, "KSC").oa == b.query(1, "ksc").oa
        assert b.query(1, "ksc", source="tiny2").oa == pytest.approx(b.query(1, "ksc").oa + 0.01)
        assert b.query(1, "ksc", source="tiny").oa == b.query(1, "ksc").oa


def test_field_attributes_stay_per_table():
    """Reading ``rec.name`` once makes ``name`` a fast class property; a table without that field
    must still answer AttributeError (and ``[]`` a typed error), never another table's value."""
    from hytasbench.record import Record
    from hytasbench.view import TableView

    arch = ARCHS[0]
    with_it = Record(TableView({"arch": [arch], "run": [0], "proxy_mine_only_here": [4.5]}, "ksc", "a", {}), 0)
    without = Record(TableView({"arch": [arch], "run": [0]}, "ksc", "b", {}), 0)
    for _ in range(2):
        assert with_it.mine_only_here == 4.5
        assert not hasattr(without, "mine_only_here")
        typed(lambda: without["mine_only_here"], "mine_only_here", kind=UnknownFieldError)


# ---- the CLI, in-process (same code path as the console script) -----------------------------

def _search(tiny, *extra):
    return ["search", "--algo", "random_search", "--dataset", "ksc", "--budget", "3trainings", "--seeds", "1",
            "--source", str(tiny), *extra]


CLI_TYPED = {
    "query --run -1": lambda t, p: ["query", "1", "ksc", "--run", "-1", "--source", t],
    "query --run 2": lambda t, p: ["query", "2", "ksc", "--run", "2", "--source", t],
    "query --run True": lambda t, p: ["query", "1", "ksc", "--run", "True", "--source", t],
    "query --run 1.5": lambda t, p: ["query", "1", "ksc", "--run", "1.5", "--source", t],
    "query 5000 digits": lambda t, p: ["query", "9" * 5000, "ksc", "--source", t],
    "query id 0": lambda t, p: ["query", "0", "ksc", "--source", t],
    "query garbage arch": lambda t, p: ["query", "e48-h", "ksc", "--source", t],
    "query unknown dataset": lambda t, p: ["query", "1", "mars", "--source", t],
    "query lacking dataset": lambda t, p: ["query", "1", "salinas", "--source", t],
    "query unknown field": lambda t, p: ["query", "1", "ksc", "--fields", "nope", "--source", t],
    "query empty source": lambda t, p: ["query", "1", "ksc", "--source", ""],
    "query missing source": lambda t, p: ["query", "1", "ksc", "--source", "/nonexistent/set"],
    "query no args": lambda t, p: ["query"],
    "info missing source": lambda t, p: ["info", "--source", "/nonexistent/set"],
    "info empty source": lambda t, p: ["info", "--source", ""],
    "unknown subcommand": lambda t, p: ["frobnicate"],
    "import --from ''": lambda t, p: ["import", "--from", ""],
    "import --from blank": lambda t, p: ["import", "--from", "  "],
    "import --from missing": lambda t, p: ["import", "--from", "/nonexistent/hytas", "--out", str(p / "o")],
    "import --from a table set": lambda t, p: ["import", "--from", t, "--out", str(p / "o")],
    "import --out ''": lambda t, p: ["import", "--from", "/x", "--out", ""],
    "import --out under a file": lambda t, p: ["import", "--from", "/x", "--out", str(p / "file" / "o")],
    "report --n-boot -1": lambda t, p: ["report", "--source", t, "--n-boot", "-1", "--out", str(p / "r")],
    "report --n-boot 0": lambda t, p: ["report", "--source", t, "--n-boot", "0", "--out", str(p / "r")],
    "report --jobs 0": lambda t, p: ["report", "--source", t, "--jobs", "0", "--out", str(p / "r")],
    "report lacking dataset": lambda t, p: ["report", "--source", t, "--datasets", "salinas", "--out", str(p / "r")],
    "report unknown dataset": lambda t, p: ["report", "--source", t, "--datasets", "mars", "--out", str(p / "r")],
    "report --out under a file": lambda t, p: ["report", "--source", t, "--out", str(p / "file" / "r")],
    "search --at -5": lambda t, p: _search(t, "--at", "-5"),
    "search --at 0": lambda t, p: _search(t, "--at", "0"),
    "search --at nan": lambda t, p: _search(t, "--at", "nan"),
    "search --seeds 0": lambda t, p: _search(t, "--seeds", "0"),
    "search --neighbours 0": lambda t, p: _search(t, "--neighbours", "0"),
    "search --out under a file": lambda t, p: _search(t, "--out", str(p / "file" / "x.csv")),
    "search --plot under a file": lambda t, p: _search(t, "--plot", str(p / "file" / "x.png")),
    "search --curve is a folder": lambda t, p: _search(t, "--curve", str(p)),
    "search --out ''": lambda t, p: _search(t, "--out", ""),
    "search budget -1": lambda t, p: _search(t)[:6] + ["-1", "--source", t],
    "search budget words": lambda t, p: _search(t)[:6] + ["lots", "--source", t],
    "search unknown algo": lambda t, p: ["search", "--algo", "nope", "--dataset", "ksc", "--budget", "3t",
                                         "--source", t],
    "search unknown dataset": lambda t, p: ["search", "--algo", "random_search", "--dataset", "mars", "--budget",
                                            "3t", "--source", t],
    "search bad --param": lambda t, p: _search(t, "--param", "novalue"),
    "search --plot of an unknown format": lambda t, p: _search(t, "--plot", str(p / "x.xyz")),
    "search --plot without a format": lambda t, p: _search(t, "--plot", str(p / "x")),
    "search --seeds 99999999999": lambda t, p: _search(t, "--seeds", "99999999999"),
    "report --trees 0 --no-rf": lambda t, p: ["report", "--source", t, "--trees", "0", "--no-rf", "--out",
                                              str(p / "r")],
}


def test_a_refused_plot_name_leaves_no_folder_behind(tiny, tmp_path, capsys):
    cli(cli_main, _search(str(tiny), "--plot", str(tmp_path / "new" / "x.xyz")), capsys)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", list(CLI_TYPED))
def test_cli_named_cases_fail_in_one_typed_line(tiny, tmp_path, capsys, name):
    (tmp_path / "file").write_text("a file, not a folder")
    argv = CLI_TYPED[name](str(tiny), tmp_path)
    cli(cli_main, argv, capsys)
    assert not (tmp_path / "o" / "manifest.json").exists()
    assert not (tmp_path / "r" / "report.md").exists()


def test_cli_query_and_json_results(tiny, capsys):
    assert correct(lambda: cli_main(["query", "2", "ksc", "--run", "1", "--json", "--source", str(tiny)]),
                   lambda c: c == 0) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"] == 1 and data["metric_oa"] == pytest.approx(0.56)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_cli_json_never_holds_nan(tiny, capsys):
    """One seed has no spread over seeds: its regret_std is absent (null), never a bare NaN."""
    assert cli_main(_search(tiny, "--json")) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=_no_constant)
    assert data["final"][0]["regret_std"] is None and data["final"][0]["regret"] is not None


def test_a_search_parameter_fails_only_the_algorithms_that_use_it(tiny, capsys):
    """The tiny ksc table holds 5 trained architectures, too few for 9 neighbours each: random
    search makes no move, so it runs; local search moves, and the error says why it cannot."""
    assert cli_main(_search(tiny, "--neighbours", "9")) == 0
    capsys.readouterr()
    argv = ["local_search" if a == "random_search" else a for a in _search(tiny, "--neighbours", "9")]
    cli(cli_main, argv, capsys, 2, "the table has 5 candidate architectures", "1..4, got 9")


def test_cli_hint_for_an_architecture_the_table_lacks_names_the_python_api(tiny, capsys):
    cli(cli_main, ["query", ARCHS[5], "ksc", "--source", str(tiny)], capsys, 2,
        r"not in the 'tiny' table", r"in Python, Benchmark\.query\(\.\.\., recompute=True\)")


def test_real_subprocess_exit_codes(tiny, tmp_path):
    """The console entry points as a user runs them: exit status and one error line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for argv, code in ((["-m", "hytasbench", "query", "1", "ksc", "--run", "-1", "--source", str(tiny)], 2),
                       (["-m", "hytasbench", "import", "--from", ""], 2),
                       (["-m", "hytasbench.datasets", "--root", str(tmp_path), "ksc"], 1),
                       (["-m", "hytasbench.datasets", "mars"], 2)):
        res = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=120)
        assert "Traceback" not in res.stderr
        correct(lambda: res.returncode, lambda c: c == code, f"{argv}: {res.stderr}")


# ---- builder flags: refused before the work directory exists --------------------------------

BUILD_TYPED = {
    "--proxies nope": ["--device", "cpu", "--proxies", "nope"],
    "--proxies empty": ["--device", "cpu", "--proxies", ""],
    "--proxies one bad": ["--device", "cpu", "--proxies", "snip,nope"],
    "--workers 0": ["--device", "cpu", "--workers", "0"],
    "--workers -2": ["--device", "cpu", "--workers", "-2"],
    "--threads 0": ["--device", "cpu", "--threads", "0"],
    "--ray-cpus 0": ["--device", "cpu", "--ray-cpus", "0"],
    "--retries -1": ["--device", "cpu", "--retries", "-1"],
    "--grace -1": ["--device", "cpu", "--grace", "-1"],
    "--grace nan": ["--device", "cpu", "--grace", "nan"],
    "--stale-after 0": ["--device", "cpu", "--stale-after", "0"],
    "--merge-only --no-merge": ["--device", "cpu", "--merge-only", "--no-merge"],
    "--merge-only --refresh-stale": ["--device", "cpu", "--merge-only", "--refresh-stale"],
    "--device cpu --gpu 0": ["--device", "cpu", "--gpu", "0"],
    "--device cuda --gpu 99": ["--device", "cuda", "--gpu", "99"],
    "--gpu x": ["--device", "cuda", "--gpu", "x"],
    "--device tpu": ["--device", "tpu"],
    "--time-limit soon": ["--device", "cpu", "--time-limit", "soon"],
    "--shard 0/2": ["--device", "cpu", "--shard", "0/2"],
    "--shard 3/2": ["--device", "cpu", "--shard", "3/2"],
    "--kind everything": ["--device", "cpu", "--kind", "everything"],
    "--datasets mars": ["--device", "cpu", "--datasets", "mars"],
    "--archs 0": ["--device", "cpu", "--archs", "0"],
    "--archs garbage": ["--device", "cpu", "--archs", "e48-h"],
    "--seeds x": ["--device", "cpu", "--seeds", "x"],
    "--seeds -1": ["--device", "cpu", "--seeds", "-1"],
    "--epochs 0": ["--device", "cpu", "--epochs", "0"],
    "--test-subset 0": ["--device", "cpu", "--test-subset", "0"],
    "--workers x": ["--device", "cpu", "--workers", "x"],
}


@pytest.mark.parametrize("name", list(BUILD_TYPED))
def test_builder_flags_are_refused_before_any_work(tmp_path, capsys, name):
    pytest.importorskip("torch")
    from builders.build import main as build_main

    work = tmp_path / "work"
    cli(build_main, BUILD_TYPED[name] + ["--work", str(work), "--out", str(tmp_path / "out")], capsys)
    assert not work.exists(), "the work directory was created before the options were checked"


def test_deterministic_unit_errors_are_not_retried(tmp_path):
    """A unit whose dataset files are missing fails once, not max_attempts times."""
    pytest.importorskip("torch")
    from builders.build import main as build_main

    work = tmp_path / "work"
    code = build_main(["--device", "cpu", "--datasets", "ksc", "--archs", "1", "--kind", "proxies",
                       "--proxies", "snip", "--data-root", str(tmp_path / "no-data"), "--work", str(work),
                       "--out", str(tmp_path / "out"), "--quiet", "--no-merge"])
    failures = list((work / "failed").rglob("*"))
    assert code == 1
    correct(lambda: len([f for f in failures if f.is_file()]), lambda n: n >= 1)
    logs = "".join(f.read_text() for f in (work / "logs").glob("*.log"))
    assert logs.count("DatasetFilesError") <= 2, "the same missing files were tried again"


# ---- tampered copies of the authors' files --------------------------------------------------

def _pinned():
    from builders.import_hytas import CHECKSUMS

    return CHECKSUMS


def copy_reference(reference_dir: Path, dest: Path) -> Path:
    """Symlinks to the pinned files (fast); a file is made a real copy before it is tampered with."""
    for rel in _pinned():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(reference_dir / rel)
    return dest


def _own(path: Path) -> Path:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    return path


def _truncate(f: Path) -> None:
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:min(1000, len(lines) // 2)]) + "\n")


TAMPER = {
    "truncate": lambda f: _truncate(f),
    "delete": lambda f: f.unlink(),
    "empty": lambda f: f.write_bytes(b""),
    "append a byte": lambda f: f.write_bytes(f.read_bytes() + b"\n"),
    "flip a digit": lambda f: f.write_text(f.read_text().replace("0.", "7.", 1)),
    "replace by a folder": lambda f: (f.unlink(), f.mkdir()),
}
FILES = ["outputs/ksc/retrain_results_2000_new_5.csv", "outputs/indian/search_results_snip.csv",
         "results/ksc_2000_new_all.csv", "outputs/indian/times.txt", "outputs/houston/test/search_results_snip_msa.csv",
         "outputs/houston/search_results_grasp.csv"]


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> Path:
    """A table set already in the destination: a failed import must leave it as it was."""
    return write_tiny(tmp_path_factory.mktemp("prev") / "hytas")


@pytest.mark.parametrize("tamper", list(TAMPER))
@pytest.mark.parametrize("rel", FILES)
def test_tampered_reference_files_stop_the_import(reference_dir, tmp_path, previous, rel, tamper):
    from builders.import_hytas import import_reference

    copy = copy_reference(reference_dir, tmp_path / "copy")
    TAMPER[tamper](_own(copy / rel))
    before = (previous / "manifest.json").read_bytes()
    exc = typed(lambda: import_reference(copy, previous), rel.split("/")[-1], _pinned()[rel], kind=ReferenceFileError)
    assert exc.expected == _pinned()[rel]
    if tamper in ("delete", "replace by a folder"):
        assert exc.actual is None and "missing" in str(exc)
    else:
        assert exc.actual in str(exc) and exc.actual != exc.expected
    assert (previous / "manifest.json").read_bytes() == before


def test_tampered_copy_cli_exits_2_with_one_line(reference_dir, tmp_path, capsys):
    copy = copy_reference(reference_dir, tmp_path / "copy")
    f = _own(copy / FILES[0])
    f.write_text("\n".join(f.read_text().splitlines()[:1000]) + "\n")
    line = cli(cli_main, ["import", "--from", str(copy), "--out", str(tmp_path / "o")], capsys, 2,
               "retrain_results_2000_new_5.csv", _pinned()[FILES[0]])
    assert line.startswith("error:") and not (tmp_path / "o" / "manifest.json").exists()


def test_allow_modified_records_it_and_every_value_says_so(reference_dir, tmp_path):
    """One KSC OA edited to a plausible 0.75 and the Indian Pines snip file deleted, imported anyway."""
    from builders.import_hytas import import_reference

    copy = copy_reference(reference_dir, tmp_path / "copy")
    retrain = _own(copy / FILES[0])
    frame = pd.read_csv(retrain)
    frame.loc[0, "OA"] = 0.75
    frame.iloc[:1000].to_csv(retrain, index=False)  # and truncated
    (copy / FILES[1]).unlink()
    out = correct(lambda: import_reference(copy, tmp_path / "o", allow_modified=True), lambda p: p.is_dir())
    b = Benchmark(source=out)
    m = b.manifest()
    assert m["build"]["allow_modified"] is True and set(m["build"]["modified_files"]) == {FILES[0], FILES[1]}
    rec = b.query(1, "ksc")
    assert "differs from the pinned upstream file" in rec.reason("oa")
    assert "differs from the pinned upstream file" in rec.reason("params")
    assert rec.reason("snip") is None  # KSC's snip file is pristine
    assert "missing from the local copy" in b.query(1, "indian").reason("snip")
    untrained = [r for r in (b.query(i, "ksc") for i in range(1, 2001)) if r.oa is None]
    assert untrained and all("not published upstream" not in r.reason("oa") for r in untrained)


@pytest.mark.slow  # a whole import; the fast run covers CSV value checks through the recorded-copy case
def test_allow_modified_still_refuses_impossible_values(reference_dir, tmp_path):
    from builders.import_hytas import import_reference

    copy = copy_reference(reference_dir, tmp_path / "copy")
    retrain = _own(copy / FILES[0])
    frame = pd.read_csv(retrain)
    frame.loc[4, "OA"] = 7.5
    frame.to_csv(retrain, index=False)
    typed(lambda: import_reference(copy, tmp_path / "o", allow_modified=True), "row 6", "OA", "7.5",
          kind=TableContentError)
    assert not (tmp_path / "o" / "manifest.json").exists()


# ---- tampered table sets (digest recomputed: caught by content validation) ------------------

def tamper_set(src: Path, dst: Path, dataset: str, edit) -> Path:
    """Copy a table set, edit one dataset's table and recompute its digest in the manifest."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    name = next(n for n, m in manifest["files"].items() if m["dataset"] == dataset)
    table = pq.read_table(dst / name)
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    edit(cols)
    new = pa.Table.from_pydict(cols) if all(len(v) == len(cols["arch"]) for v in cols.values()) else None
    new = new if new is not None else pa.table({c: pa.array(v) for c, v in cols.items()})
    pq.write_table(new, dst / name)
    import hashlib

    blob = (dst / name).read_bytes()
    manifest["files"][name].update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob), rows=new.num_rows,
                                   columns=new.column_names)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def _set(col, row, value):
    def edit(cols):
        cols[col][row] = value
    return edit


def _layers(make):
    """A ``proxy_snip__layers`` column: ``make(n)`` in row 0, n the scored layers of its architecture."""
    def edit(cols):
        n = scored_layer_count(cols["depth"][0])
        cols["proxy_snip__layers"] = [make(n)] + [None] * (len(cols["arch"]) - 1)
    return edit


def _dup_row(cols):
    for c in cols:
        cols[c].append(cols[c][0])


CONTENT = {
    "oa 7.5": (_set("metric_oa", 2, 7.5), 2, "metric_oa"),
    "oa -0.1": (_set("metric_oa", 0, -0.1), 0, "metric_oa"),
    "oa inf": (_set("metric_oa", 1, math.inf), 1, "metric_oa"),
    "aa 2": (_set("metric_aa", 3, 2.0), 3, "metric_aa"),
    "kappa 1.5": (_set("metric_kappa", 4, 1.5), 4, "metric_kappa"),
    "kappa -3": (_set("metric_kappa", 4, -3.0), 4, "metric_kappa"),
    "oa_best 100": (_set("metric_oa_best", 0, 100.0), 0, "metric_oa_best"),
    "params 0": (_set("cost_params", 1, 0), 1, "cost_params"),
    "params -5": (_set("cost_params", 1, -5), 1, "cost_params"),
    "flops 0": (_set("cost_flops", 2, 0), 2, "cost_flops"),
    "train seconds -1": (_set("metric_train_seconds", 3, -1.0), 3, "metric_train_seconds"),
    "train seconds inf": (_set("metric_train_seconds", 3, math.inf), 3, "metric_train_seconds"),
    "proxy seconds -3": (_set("proxy_grasp__seconds", 0, -3.0), 0, "proxy_grasp__seconds"),
    "run -1": (_set("run", 0, -1), 0, "run"),
    "run 5 (gap)": (_set("run", 0, 5), None, "run"),
    "duplicate row": (_dup_row, 5, "run"),
    "arch_id wrong": (_set("arch_id", 1, 7), 1, "arch_id"),
    "arch_id of another arch": (_set("arch_id", 0, 2), 0, "arch_id"),
    "depth wrong": (_set("depth", 2, 3), 2, "depth"),
    "embed_dim wrong": (_set("embed_dim", 2, 1), 2, "embed_dim"),
    "num_heads wrong": (_set("num_heads", 3, [1, 2, 3]), 3, "num_heads"),
    "mlp_ratio wrong": (_set("mlp_ratio", 3, [9] * 10), 3, "mlp_ratio"),
    "arch garbage": (_set("arch", 4, "e48-h"), 4, "arch"),
    "arch not canonical": (_set("arch", 4, " " + ARCHS[4]), 4, "arch"),
    "dataset column wrong": (_set("dataset", 0, "salinas"), 0, "dataset"),
    "source column wrong": (_set("source", 0, "hytas"), 0, "source"),
    "protocol column of another protocol": (_set("protocol", 3, "other-proto"), 3, "protocol"),
    "proxy score inf": (_set("proxy_snip", 2, math.inf), 2, "proxy_snip"),
    "proxy score -inf": (_set("proxy_grasp", 2, -math.inf), 2, "proxy_grasp"),
    "seed a string": (lambda cols: cols.update(seed=["abc"] * len(cols["arch"])), None, "seed",
                      "type is string; expected an integer type"),
    "seed negative": (_set("seed", 1, -5), 1, "seed"),
    "params a fraction": (_set("cost_params", 4, 1.5), None, "cost_params",  # the column is double now
                          r"type is double; expected an integer type \(int64\)"),
    "arch_id a float": (_set("arch_id", 0, 1.0), None, "arch_id", "type is double; expected an integer type"),
    "embed_dim whole floats": (lambda cols: cols.update(embed_dim=[float(v) for v in cols["embed_dim"]]), None,
                               "embed_dim", r"type is double; expected an integer type \(int16\)"),
    "num_heads floats": (lambda cols: cols.update(num_heads=[[float(h) for h in v] for v in cols["num_heads"]]), None,
                         "num_heads", "expected a list of integers"),
    "oa NaN": (_set("metric_oa", 1, math.nan), 1, "metric_oa", "NaN; an absent value is stored as null"),
    "proxy score NaN": (_set("proxy_snip", 2, math.nan), 2, "proxy_snip", "NaN; an absent value is stored as null"),
    "train seconds NaN": (_set("metric_train_seconds", 3, math.nan), 3, "metric_train_seconds", "NaN"),
    "a column no rule knows, NaN": (lambda cols: cols.update(extra=[0.5, math.nan] + [0.5] * (len(cols["arch"]) - 2)),
                                    1, "extra", "NaN"),
    "layers a string": (_layers(lambda n: str([1.0] * n)), 0, "proxy_snip__layers", r"is not a list of \d+ per-layer"),
    "layers of one entry": (_layers(lambda n: [1.0]), 0, "proxy_snip__layers", r"depth \d+: \d+ scored layers"),
    "layers of one too many": (_layers(lambda n: [1.0] * (n + 1)), 0, "proxy_snip__layers", "per-layer scores"),
    "layers with a NaN": (_layers(lambda n: [1.0] * (n - 1) + [math.nan]), 0, "proxy_snip__layers", "NaN"),
    "layers with inf": (_layers(lambda n: [math.inf] * n), 0, "proxy_snip__layers", "entry 0, inf"),
    "layers with text": (_layers(lambda n: ["1"] * n), 0, "proxy_snip__layers", "per-layer scores"),
    "class_acc empty": (lambda cols: cols.update(metric_class_acc=[[]] + [None] * (len(cols["arch"]) - 1)), 0,
                        "metric_class_acc"),
    "class_acc of the wrong length": (lambda cols: cols.update(
        metric_class_acc=[[0.5] * 3] + [None] * (len(cols["arch"]) - 1)), 0, "metric_class_acc"),
    "error column a number": (lambda cols: cols.update(proxy_snip__error=[7] * len(cols["arch"])), 0,
                              "proxy_snip__error"),
    "absent_reason a number": (lambda cols: cols.update(absent_reason=[5] * len(cols["arch"])), 0, "absent_reason"),
}


@pytest.mark.parametrize("how", ["query", "read_table_set", "cli"])
@pytest.mark.parametrize("name", list(CONTENT))
def test_tampered_table_sets_with_recomputed_digest(tiny, tmp_path, capsys, name, how):
    edit, row, col, *says = CONTENT[name]
    bad = tamper_set(tiny, tmp_path / "bad", "indian_pines", edit)
    where = [f"row {row}" if row is not None else "", col, "indian_pines-", *says]
    if how == "query":
        typed(lambda: Benchmark(source=bad).query(1, "indian"), *where, kind=TableContentError)
    elif how == "read_table_set":
        typed(lambda: read_table_set(bad), *where, kind=TableContentError)
    else:
        cli(cli_main, ["query", "1", "indian", "--source", str(bad)], capsys, 2, *where)
    # the other dataset of the same set is sound and still answers
    correct(lambda: Benchmark(source=bad).query(1, "ksc").oa, lambda v: v == pytest.approx(0.5))


def test_per_layer_scores_of_each_architectures_length_are_served(tmp_path):
    """What a build writes passes: one score per scored layer, a null list where the proxy has none,
    and a non-finite layer score (NaN in the build's frame) stored as a null entry."""
    frames = tiny_frames()
    for frame in frames.values():
        layers = [[0.5] * scored_layer_count(d) for d in frame["depth"]]
        layers[0], layers[1][3] = None, math.nan
        frame["proxy_snip__layers"] = layers
    write_table_set(tmp_path / "t", frames, source="tiny", protocol="p", description="tiny")
    b = Benchmark(source=tmp_path / "t")
    assert b.query(1, "indian")["snip__layers"] is None
    got = b.query(2, "indian")["snip__layers"]
    assert len(got) == scored_layer_count(space.parse(ARCHS[1]).depth) and got[3] is None and got[4] == 0.5


def test_a_column_name_twice_is_refused(tiny, tmp_path):
    def twice(cols):
        cols["proxy_snip_again"] = cols["proxy_snip"]
    bad = tamper_set(tiny, tmp_path / "bad", "ksc", twice)
    manifest = json.loads((bad / "manifest.json").read_text())
    name = next(n for n, m in manifest["files"].items() if m["dataset"] == "ksc")
    table = pq.read_table(bad / name)
    table = table.rename_columns([c if c != "proxy_snip_again" else "proxy_snip" for c in table.column_names])
    pq.write_table(table, bad / name)
    import hashlib

    blob = (bad / name).read_bytes()
    manifest["files"][name].update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob),
                                   columns=table.column_names)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    typed(lambda: Benchmark(source=bad).query(1, "ksc"), r"\['proxy_snip'\] more than once", kind=TableError)
    typed(lambda: read_table_set(bad), "more than once", kind=TableError)


MANIFEST_TAMPER = {
    "file digest wrong": (lambda m, d: m["files"][next(iter(m["files"]))].update(sha256="0" * 64), "checksum"),
    "rows wrong": (lambda m, d: m["files"][next(iter(m["files"]))].update(rows=3), "rows"),
    "file missing": (lambda m, d: (d / next(iter(m["files"]))).unlink(), "missing"),
    "not JSON": (lambda m, d: "{x", "not JSON"),
    "files not a dict": (lambda m, d: m.update(files=[1]), "not a table manifest"),
    "file entry not a dict": (lambda m, d: m["files"].update({"x.parquet": 5}), "x.parquet"),
    "path outside the folder": (lambda m, d: m["files"].update(
        {"../escape.parquet": {"dataset": "ksc", "sha256": "0" * 64}}), "escape"),
    "schema 99": (lambda m, d: m.update(schema_version=99), "schema_version"),
    "no source": (lambda m, d: (m.pop("source"), None)[1], "source"),
    "manifest deleted": (lambda m, d: (d / "manifest.json").unlink(), "manifest"),
    "source null": (lambda m, d: m.update(source=None), "source"),
    "source a list": (lambda m, d: m.update(source=["x"]), "source"),
    "protocol a number": (lambda m, d: m.update(protocol=7), "protocol"),
    "schema_version true": (lambda m, d: m.update(schema_version=True), "schema_version"),
    "schema_version 1.0": (lambda m, d: m.update(schema_version=1.0), "schema_version"),
    "absent a list": (lambda m, d: m.update(absent=[]), "absent"),
    "absent null": (lambda m, d: m.update(absent=None), "absent"),
    "modified null": (lambda m, d: m.update(modified=None), "modified"),
    "absent of a dataset a string": (lambda m, d: m.update(absent={"ksc": "abc"}), "absent"),
    "modified a list": (lambda m, d: m.update(modified=[]), "modified"),
    "proxy_seconds_mean a list": (lambda m, d: m.update(proxy_seconds_mean=[]), "proxy_seconds_mean"),
    "notes a string": (lambda m, d: m.update(notes="x"), "notes"),
    "nested too deep": (lambda m, d: '{"a": ' + "[" * 100000 + "]" * 100000 + "}", "not JSON"),
    "dataset of another spelling": (lambda m, d: _entry(m, "ksc").update(dataset="KSC"), "KSC"),
    "dataset unknown": (lambda m, d: _entry(m, "ksc").update(dataset="kennedy"), "kennedy"),
    "rows missing": (lambda m, d: _entry(m, "ksc").pop("rows"), "rows"),
    "bytes wrong": (lambda m, d: _entry(m, "ksc").update(bytes=12), "bytes"),
    "columns wrong": (lambda m, d: _entry(m, "ksc").update(columns=["arch"]), "columns"),
    "columns missing": (lambda m, d: _entry(m, "ksc").pop("columns"), "columns"),
    "orientation 1.7": (lambda m, d: m.update(proxies={"snip": {"orientation": 1.7}}), "orientation"),
    "orientation a string": (lambda m, d: m.update(proxies={"my": {"orientation": "-1"}}), "orientation"),
    "orientation true": (lambda m, d: m.update(proxies={"my": {"orientation": True}}), "orientation"),
}


def _entry(manifest: dict, dataset: str) -> dict:
    return next(m for m in manifest["files"].values() if m["dataset"] == dataset)


@pytest.mark.parametrize("name", list(MANIFEST_TAMPER))
def test_tampered_manifests(tiny, tmp_path, name):
    dst = tmp_path / "set"
    shutil.copytree(tiny, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    edit, pattern = MANIFEST_TAMPER[name]
    out = edit(manifest, dst)
    if (dst / "manifest.json").exists():
        (dst / "manifest.json").write_text(out if isinstance(out, str) else json.dumps(manifest))
    typed(lambda: [Benchmark(source=dst).query(1, ds).oa for ds in ("ksc", "indian")], pattern, kind=TableError)


# ---- the derived query index ----------------------------------------------------------------

def _index_files(cache: Path):
    return sorted((cache / "index").glob("*.marshal"))


INDEX_TAMPER = {
    "payload byte flipped": lambda b: b[:-10] + bytes([b[-10] ^ 1]) + b[-9:],
    "truncated": lambda b: b[:len(b) // 2],
    "empty": lambda b: b"",
    "header only": lambda b: b[:150],
    "old headerless v1 format": lambda b: b[HEADER:],
    "values edited, header kept": None,  # see below
    "garbage": lambda b: b"\x00garbage" * 10,
}


@pytest.mark.parametrize("name", list(INDEX_TAMPER))
def test_tampered_query_index_is_rebuilt_never_served(tmp_path, monkeypatch, name):
    import marshal

    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    tables = write_tiny(tmp_path / "t")
    truth = Benchmark(source=tables).query(3, "ksc").oa
    for f in _index_files(tmp_path / "cache"):
        blob = f.read_bytes()
        if INDEX_TAMPER[name] is None:
            cols = marshal.loads(blob[HEADER:])
            cols["metric_oa"] = [0.99] * len(cols["metric_oa"])
            cols["proxy_snip"] = [999.0] * len(cols["proxy_snip"])
            f.write_bytes(blob[:HEADER] + marshal.dumps(cols))
        else:
            f.write_bytes(INDEX_TAMPER[name](blob))
    correct(lambda: Benchmark(source=tables).query(3, "ksc").oa, lambda v: v == truth)
    correct(lambda: Benchmark(source=tables).query(3, "ksc").snip, lambda v: v == 2.0)


@pytest.mark.parametrize("relabel", ["datasets swapped", "source renamed", "protocol renamed"])
def test_a_validated_file_listed_as_something_else_is_validated_again(tmp_path, monkeypatch, relabel):
    """A warm index vouches for a file as the dataset, source and protocol it was validated as:
    the same bytes listed under other names (checksums still right) are checked again and refused."""
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    tables = write_tiny(tmp_path / "t")
    for ds in ("indian_pines", "ksc"):
        Benchmark(source=tables).query(1, ds)  # the verdicts are cached now
    manifest = json.loads((tables / "manifest.json").read_text())
    if relabel == "datasets swapped":
        ip, ksc = _entry(manifest, "indian_pines"), _entry(manifest, "ksc")
        ip["dataset"], ksc["dataset"] = "ksc", "indian_pines"
        col = "dataset"
    elif relabel == "source renamed":
        manifest["source"], col = "evil", "source"
    else:
        manifest["protocol"], col = "another-protocol", "protocol"
    (tables / "manifest.json").write_text(json.dumps(manifest))
    typed(lambda: Benchmark(source=tables).frame("ksc" if relabel == "datasets swapped" else "indian_pines"),
          f"column {col}", kind=TableContentError)


def test_index_of_another_file_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    a, b = write_tiny(tmp_path / "a", 0.0), write_tiny(tmp_path / "b", 0.1)
    Benchmark(source=a).query(1, "ksc")
    Benchmark(source=b).query(1, "ksc")
    files = {f.name.split(".")[0]: f for f in _index_files(tmp_path / "cache")}
    ma = json.loads((a / "manifest.json").read_text())["files"]
    mb = json.loads((b / "manifest.json").read_text())["files"]
    sha_a = next(m["sha256"] for m in ma.values() if m["dataset"] == "ksc")
    sha_b = next(m["sha256"] for m in mb.values() if m["dataset"] == "ksc")
    files[sha_a].write_bytes(files[sha_b].read_bytes())  # stale: b's index under a's name
    correct(lambda: Benchmark(source=a).query(1, "ksc").oa, lambda v: v == pytest.approx(0.5))


def test_read_only_cache_still_answers(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "index").write_text("a file where the index folder should be")
    monkeypatch.setenv("HYTASBENCH_CACHE", str(cache))
    tables = write_tiny(tmp_path / "t")
    correct(lambda: Benchmark(source=tables).query(2, "ksc", run=1).oa, lambda v: v == pytest.approx(0.56))


# ---- kills, concurrent writers and readers during re-imports --------------------------------

def test_leftovers_of_a_killed_import_are_cleaned(tiny, tmp_path):
    dst = tmp_path / "set"
    shutil.copytree(tiny, dst)
    (dst / ".ksc-0123.parquet.abc.tmp").write_bytes(b"half")
    (dst / "ksc-deadbeef0000.parquet").write_bytes(b"orphan of a killed write")
    (dst / ".manifest.json.xyz.tmp").write_bytes(b"{")
    correct(lambda: Benchmark(source=dst).query(1, "ksc").oa, lambda v: v == pytest.approx(0.5))
    write_tiny(dst, 0.1)
    left = sorted(p.name for p in dst.iterdir() if p.name != ".lock")
    correct(lambda: left, lambda names: len(names) == 3 and "manifest.json" in names, str(left))


KILLER = """
import sys
sys.path.insert(0, {repo!r})
from builders.import_hytas import import_reference
import_reference({src!r}, {dst!r})
"""


def _kill_import_after(reference_dir: Path, dst: Path, seconds: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLER.format(repo=str(REPO), src=str(reference_dir),
                                                                  dst=str(dst))])
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _after_kill_is_old_or_new(dst: Path, before: bytes) -> None:
    ts = correct(lambda: read_table_set(dst, parse=False), lambda t: t.source in ("tiny", "hytas"))
    if ts.source == "tiny":
        assert (dst / "manifest.json").read_bytes() == before


def test_kill_9_during_a_real_import(reference_dir, tmp_path):
    dst = write_tiny(tmp_path / "hytas")
    before = (dst / "manifest.json").read_bytes()
    _kill_import_after(reference_dir, dst, 4.0)
    _after_kill_is_old_or_new(dst, before)


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [0.5, 1.5, 3.0, 5.0, 6.5, 8.0, 10.0])
def test_kill_9_during_a_real_import_at_many_points(reference_dir, tmp_path, seconds):
    dst = write_tiny(tmp_path / "hytas")
    before = (dst / "manifest.json").read_bytes()
    _kill_import_after(reference_dir, dst, seconds)
    _after_kill_is_old_or_new(dst, before)
    from builders.import_hytas import import_reference

    import_reference(reference_dir, dst)  # the next import finishes and cleans what the killed one left
    assert not [p for p in dst.iterdir() if p.name.endswith(".tmp")]
    assert len(list(dst.glob("*.parquet"))) == 5


def test_concurrent_writers_take_turns(tmp_path):
    dst = tmp_path / "set"
    errors = []

    def writer(offset):
        try:
            for _ in range(3):
                write_tiny(dst, offset)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0.0, 0.1, 0.2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    b = correct(lambda: Benchmark(source=dst), lambda b: b.sources == ["tiny"])
    oa = b.query(1, "ksc").oa
    correct(lambda: b.query(1, "indian").oa, lambda v: v == oa and round(oa - 0.5, 6) in (0.0, 0.1, 0.2))
    assert len(list(dst.glob("*.parquet"))) == 2


@pytest.mark.slow
def test_concurrent_real_imports(reference_dir, tmp_path):
    dst = tmp_path / "hytas"
    procs = [subprocess.Popen([sys.executable, "-c", KILLER.format(repo=str(REPO), src=str(reference_dir),
                                                                   dst=str(dst))]) for _ in range(3)]
    assert all(p.wait(timeout=600) == 0 for p in procs)
    b = Benchmark(source=dst)
    assert b.query(1, "indian").oa == pytest.approx(0.8073)
    assert len(list(dst.glob("*.parquet"))) == 5


def test_reader_during_reimports(tmp_path):
    """Readers opened before and during re-imports answer from what they opened, or say to reopen."""
    dst = write_tiny(tmp_path / "set", 0.0)
    opened_before = Benchmark(source=dst)
    stop = threading.Event()

    def reimport():
        i = 0
        while not stop.is_set():
            write_tiny(dst, 0.1 * (i % 3))
            i += 1

    t = threading.Thread(target=reimport)
    t.start()
    try:
        deadline = time.time() + 3.0
        while time.time() < deadline:
            b = typed_or_correct(lambda: Benchmark(source=dst), lambda b: b.sources == ["tiny"])
            if b is not None:
                typed_or_correct(lambda: b.query(4, "ksc").oa,
                                 lambda v: round(v - 0.65, 6) in (0.0, 0.1, 0.2))
        err = typed_or_correct(lambda: opened_before.query(3, "indian").oa, lambda v: v == pytest.approx(0.6))
        assert err is None or err == pytest.approx(0.6)
    finally:
        stop.set()
        t.join()


def test_stale_set_raises_a_typed_error_saying_to_reopen(tmp_path, monkeypatch):
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    dst = write_tiny(tmp_path / "set", 0.0)
    b = Benchmark(source=dst)
    shutil.rmtree(tmp_path / "cache")  # no index to answer from
    write_tiny(dst, 0.2)
    typed(lambda: b.query(1, "ksc"), "open it again", kind=StaleTableSetError)
    correct(lambda: Benchmark(source=dst).query(1, "ksc").oa, lambda v: v == pytest.approx(0.7))


def test_import_into_an_unwritable_destination(reference_dir, tmp_path):
    from builders.import_hytas import import_reference

    (tmp_path / "file").write_text("x")
    typed(lambda: import_reference(reference_dir, tmp_path / "file" / "out"), "file", kind=UnwritablePathError)
