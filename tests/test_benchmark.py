"""Benchmark: queries, records, sources, errors, and the torch-free promise."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hytasbench import Benchmark, space
from hytasbench.errors import (ArchitectureNotInTableError, InvalidArchitectureError, InvalidRunError, UnknownDatasetError,
                               UnknownFieldError, UnknownSourceError)
from hytasbench.space import Arch

REPO = Path(__file__).resolve().parents[1]


def test_query_forms_agree(reference_bench):
    arch = space.from_id(2)
    recs = [reference_bench.query(x, "indian_pines") for x in (2, "2", str(arch), arch.to_dict(), arch)]
    assert len({r.oa for r in recs}) == 1
    assert recs[0].arch == arch


@pytest.mark.parametrize("alias", ["indian", "Indian_Pines", "IP", "pavia", "PaviaU", "houston", "Houston2013"])
def test_dataset_aliases(reference_bench, alias):
    assert reference_bench.query(3, alias)["dataset"] in ("indian_pines", "paviau", "houston2013")


def test_unknown_dataset_lists_valid_names(reference_bench):
    with pytest.raises(UnknownDatasetError) as info:
        reference_bench.query(1, "cifar10")
    assert "indian_pines" in str(info.value) and "ksc" in str(info.value)
    with pytest.raises(UnknownDatasetError):
        reference_bench.query(1, 7)


def test_valid_architecture_outside_the_table(reference_bench):
    outside = Arch(32, (3,) * 4, (1,) * 4)
    assert outside.id is None
    with pytest.raises(ArchitectureNotInTableError, match="recompute=True"):
        reference_bench.query(outside, "indian")
    assert not reference_bench.has(outside, "indian")


def test_invalid_architecture(reference_bench):
    with pytest.raises(InvalidArchitectureError):
        reference_bench.query(2001, "indian")
    with pytest.raises(InvalidArchitectureError):
        reference_bench.query("e33-h3333-r1111", "indian")


def test_record_access(reference_bench):
    rec = reference_bench.query(1, "ksc")
    assert rec.oa == rec["oa"] == rec["metric_oa"] == rec.metrics["oa"]
    assert rec.params == rec.costs["params"]
    assert rec.snip == rec.proxies["snip"]
    assert rec.provenance["source"] == "hytas" and rec.provenance["protocol"] == "hytas-upstream"
    assert "not recorded" in rec.provenance["protocol_description"]  # the authors' settings are unknown
    assert set(rec) == set(reference_bench.fields("ksc"))
    assert isinstance(rec.to_dict()["metric_oa"], float)
    with pytest.raises(UnknownFieldError, match="allowed"):
        rec["accuracy"]
    with pytest.raises(AttributeError):
        rec.accuracy
    assert rec.class_acc is None and "not published" in rec.reason("class_acc")
    assert rec.reason("oa") is None


def test_runs_and_run_selection(reference_bench):
    df = reference_bench.frame("salinas", runs="all")
    twice = df[df.run == 1].arch.iloc[0]
    runs = reference_bench.runs(twice, "salinas")
    assert [r["run"] for r in runs] == [0, 1]
    assert reference_bench.query(twice, "salinas", run=1).oa == runs[1].oa
    with pytest.raises(InvalidRunError, match="run 2 does not exist"):
        reference_bench.query(twice, "salinas", run=2)
    assert reference_bench.query(1, "salinas").oa == df[(df.arch_id == 1)].metric_oa.iloc[0]


def test_query_many_frame_and_iteration(reference_bench):
    recs = reference_bench.query_many([1, 2, 3], "indian")
    df = reference_bench.frame("indian")
    assert [r.oa for r in recs] == df.metric_oa.iloc[:3].tolist()
    assert len(df) == 2000 and df.arch_id.tolist() == list(range(1, 2001))
    archs = list(reference_bench.archs("indian"))
    assert archs[:5] == list(space.hytas2000()[:5]) and len(archs) == 2000
    assert len(reference_bench) == 2000


def test_best_matches_brute_force(reference_bench):
    df = reference_bench.frame("paviau")
    rec = reference_bench.best("paviau", "oa")
    assert rec.oa == df.metric_oa.max()
    cap = df.cost_params.median()
    small = df[df.cost_params <= cap]
    rec = reference_bench.best("paviau", "oa", max_params=cap)
    assert rec.oa == small.metric_oa.max() and rec.params <= cap
    rec = reference_bench.best("paviau", "oa", min_flops=df.cost_flops.quantile(0.9))
    assert rec.oa == df[df.cost_flops >= df.cost_flops.quantile(0.9)].metric_oa.max()
    assert reference_bench.best("paviau", "params").params == df.cost_params.min()
    assert reference_bench.best("ksc", "grasp", maximize=False).grasp == reference_bench.frame("ksc").proxy_grasp.min()
    # GraSP's raw value predicts accuracy negatively (schema.ORIENTATION): its best is its minimum
    assert reference_bench.best("ksc", "grasp").grasp == reference_bench.frame("ksc").proxy_grasp.min()
    with pytest.raises(ArchitectureNotInTableError, match="constraints"):
        reference_bench.best("ksc", "oa", max_params=1)
    with pytest.raises(UnknownFieldError):
        reference_bench.best("ksc", "accuracy")


def test_has(reference_bench):
    missing = reference_bench.frame("houston").query("metric_oa != metric_oa").arch.iloc[0]
    assert reference_bench.has(missing, "houston") and not reference_bench.has(missing, "houston", "oa")
    assert reference_bench.has(1, "houston", "oa")


def test_sources(reference_tables, monkeypatch, tmp_path):
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HYTASBENCH_TABLES", str(tmp_path / "none"))
    with pytest.raises(UnknownSourceError, match="import_hytas"):
        Benchmark(source="hytas")
    bench = Benchmark(source=str(reference_tables))
    assert bench.sources == ["hytas"] and bench.default_source == "hytas"
    with pytest.raises(UnknownSourceError):
        bench.query(1, "indian", source="hytasbench")
    with pytest.raises(UnknownSourceError):
        Benchmark(source="no-such-source")


def test_default_benchmark_finds_the_cache(reference_tables, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    (cache / "tables").mkdir(parents=True)
    (cache / "tables" / "hytas").symlink_to(reference_tables)
    monkeypatch.setenv("HYTASBENCH_CACHE", str(cache))
    bench = Benchmark()
    assert "hytas" in bench.sources and bench.default_source == "hytas"


QUERY_SCRIPT = """
import sys, json
from hytasbench import Benchmark
b = Benchmark(source=sys.argv[1])
r = b.query(1, 'indian'); b.query_many([1, 2], 'ksc'); b.best('salinas', 'oa', max_params=1e6)
r.to_dict(); r.provenance
print(json.dumps({'torch': 'torch' in sys.modules, 'pandas': 'pandas' in sys.modules}))
"""


def test_query_path_imports_neither_torch_nor_pandas(reference_tables):
    out = subprocess.run([sys.executable, "-c", QUERY_SCRIPT, str(reference_tables)], capture_output=True,
                         text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == {"torch": False, "pandas": False}


def test_unfinished_proxies_say_why(tmp_path, monkeypatch):
    from hytasbench.tables import write_table_set

    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    a1, a2 = (str(space.parse(i)) for i in (1, 2))
    df = pd.DataFrame({"arch": [a1, a2], "dataset": "ksc", "source": "t", "run": 0,
                       "proxy_snip": [1.0, None], "proxy_grasp": [None, None],
                       "proxy_grasp__error": ["OOM twice", None],
                       "absent_reason": [None, "proxies not finished yet"]})
    write_table_set(tmp_path / "t", {"ksc": df}, source="t", protocol="p", description="")
    bench = Benchmark(source=tmp_path / "t")
    assert bench.query(a2, "ksc").reason("snip") == "proxies not finished yet"
    assert "computation failed: OOM twice" == bench.query(a1, "ksc").reason("grasp")
    assert bench.query(a1, "ksc").reason("snip") is None
