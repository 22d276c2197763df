"""Benchmark: queries, records, sources, errors, and the torch-free promise."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hytasbench import Benchmark, space
from hytasbench.errors import (ArchitectureNotInTableError, InvalidArchitectureError, InvalidRunError, UnknownDatasetError,
                               UnknownFieldError, UnknownSourceError)
from hytasbench.space import Arch

import smallset

REPO = Path(__file__).resolve().parents[1]


def test_query_forms_agree(small_bench):
    arch = space.from_id(2)
    recs = [small_bench.query(x, "indian_pines") for x in (2, "2", str(arch), arch.to_dict(), arch)]
    assert len({r.oa for r in recs}) == 1
    assert recs[0].arch == arch


@pytest.mark.parametrize("alias, name", [("indian", "indian_pines"), ("Indian_Pines", "indian_pines"),
                                         ("IP", "indian_pines"), ("Indian Pines", "indian_pines"),
                                         ("KSC", "ksc"), ("kennedy", "ksc")])
def test_dataset_aliases(small_bench, alias, name):
    assert small_bench.query(3, alias)["dataset"] == name


@pytest.mark.parametrize("alias, name", [("pavia", "paviau"), ("PaviaU", "paviau"), ("houston", "houston2013"),
                                         ("Houston2013", "houston2013"), ("sa", "salinas")])
def test_alias_of_a_dataset_the_source_lacks_names_it(small_bench, alias, name):
    with pytest.raises(UnknownSourceError, match=name):
        small_bench.query(3, alias)


def test_unknown_dataset_lists_valid_names(small_bench):
    with pytest.raises(UnknownDatasetError) as info:
        small_bench.query(1, "cifar10")
    assert "indian_pines" in str(info.value) and "ksc" in str(info.value)
    with pytest.raises(UnknownDatasetError):
        small_bench.query(1, 7)


def test_valid_architecture_outside_the_table(small_bench):
    outside = Arch(32, (3,) * 4, (1,) * 4)
    assert outside.id is None
    with pytest.raises(ArchitectureNotInTableError, match="recompute=True"):
        small_bench.query(outside, "indian")
    assert not small_bench.has(outside, "indian")
    assert not small_bench.has(smallset.N_ARCHS + 1, "indian")  # in the space, not in this table


def test_invalid_architecture(small_bench):
    with pytest.raises(InvalidArchitectureError):
        small_bench.query(2001, "indian")
    with pytest.raises(InvalidArchitectureError):
        small_bench.query("e33-h3333-r1111", "indian")


def test_record_access(small_bench):
    rec = small_bench.query(1, "ksc")
    assert rec.oa == rec["oa"] == rec["metric_oa"] == rec.metrics["oa"]
    assert rec.params == rec.costs["params"]
    assert rec.snip == rec.proxies["snip"]
    assert rec.provenance["source"] == "small" and rec.provenance["protocol"] == "small-test"
    assert set(rec) == set(small_bench.fields("ksc"))
    assert isinstance(rec.to_dict()["metric_oa"], float)
    with pytest.raises(UnknownFieldError, match="allowed"):
        rec["accuracy"]
    with pytest.raises(AttributeError):
        rec.accuracy
    assert rec.class_acc is None and rec.reason("class_acc") == smallset.CLASS_ACC_REASON
    assert rec.reason("oa") is None


def test_values_come_from_the_written_table(small_bench):
    """Every query answer is the value of the row the writer got (frames() is seeded, so equal)."""
    for ds, df in smallset.frames().items():
        first = df[df.run == 0].set_index("arch_id")
        for arch_id in (1, 17, smallset.N_ARCHS):
            rec = small_bench.query(arch_id, ds)
            assert rec.oa == first.loc[arch_id, "metric_oa"] and rec.params == first.loc[arch_id, "cost_params"]
            assert rec.grasp == first.loc[arch_id, "proxy_grasp"]


def test_runs_and_run_selection(small_bench):
    df = small_bench.frame("ksc", runs="all")
    twice = df[df.run == 1].arch.iloc[0]
    assert df[df.run == 1].arch_id.tolist() == [smallset.REPEATED]
    runs = small_bench.runs(twice, "ksc")
    assert [r["run"] for r in runs] == [0, 1] and runs[0].oa != runs[1].oa
    assert small_bench.query(twice, "ksc", run=1).oa == runs[1].oa
    assert small_bench.query(twice, "ksc").oa == runs[0].oa  # run 0 unless asked
    with pytest.raises(InvalidRunError, match="run 2 does not exist"):
        small_bench.query(twice, "ksc", run=2)
    assert small_bench.query(1, "ksc").oa == df[(df.arch_id == 1)].metric_oa.iloc[0]
    assert len(small_bench.frame("ksc")) == smallset.N_ARCHS  # the default frame has run 0 only


def test_query_many_frame_and_iteration(small_bench):
    recs = small_bench.query_many([1, 2, 3], "indian")
    df = small_bench.frame("indian")
    assert [r.oa for r in recs] == df.metric_oa.iloc[:3].tolist()
    n = smallset.N_ARCHS
    assert len(df) == n and df.arch_id.tolist() == list(range(1, n + 1))
    archs = list(small_bench.archs("indian"))
    assert archs[:5] == list(space.hytas2000()[:5]) and len(archs) == n
    assert len(small_bench) == n


@pytest.mark.parametrize("dataset", ["indian_pines", "ksc"])
def test_best_matches_brute_force(small_bench, dataset):
    df = small_bench.frame(dataset)
    rec = small_bench.best(dataset, "oa")
    assert rec.oa == df.metric_oa.max()
    cap = df.cost_params.median()
    small = df[df.cost_params <= cap]
    rec = small_bench.best(dataset, "oa", max_params=cap)
    assert rec.oa == small.metric_oa.max() and rec.params <= cap
    rec = small_bench.best(dataset, "oa", min_flops=df.cost_flops.quantile(0.9))
    assert rec.oa == df[df.cost_flops >= df.cost_flops.quantile(0.9)].metric_oa.max()
    assert small_bench.best(dataset, "params").params == df.cost_params.min()
    assert small_bench.best(dataset, "grasp", maximize=False).grasp == df.proxy_grasp.min()
    # GraSP's raw value predicts accuracy negatively (schema.ORIENTATION): its best is its minimum
    assert small_bench.best(dataset, "grasp").grasp == df.proxy_grasp.min()
    assert small_bench.best(dataset, "snip").snip == df.proxy_snip.max()
    with pytest.raises(ArchitectureNotInTableError, match="constraints"):
        small_bench.best(dataset, "oa", max_params=1)
    with pytest.raises(UnknownFieldError):
        small_bench.best(dataset, "accuracy")


def test_has(small_bench):
    untrained = space.from_id(smallset.UNTRAINED)
    assert small_bench.has(untrained, "ksc") and not small_bench.has(untrained, "ksc", "oa")
    assert small_bench.has(untrained, "indian", "oa")
    assert small_bench.has(1, "ksc", "oa")
    rec = small_bench.query(untrained, "ksc")
    assert rec.oa is None and rec.reason("oa") == smallset.UNTRAINED_REASON
    assert rec.snip is not None  # its proxies were scored
    failed = small_bench.query(smallset.GRASP_FAILED, "ksc")
    assert failed.grasp is None and smallset.GRASP_ERROR in failed.reason("grasp")
    assert not small_bench.has(smallset.GRASP_FAILED, "ksc", "grasp")


def test_sources(small_tables, monkeypatch, tmp_path):
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HYTASBENCH_TABLES", str(tmp_path / "none"))
    with pytest.raises(UnknownSourceError, match="import_hytas"):
        Benchmark(source="hytas")
    bench = Benchmark(source=str(small_tables))
    assert bench.sources == ["small"] and bench.default_source == "small"
    with pytest.raises(UnknownSourceError):
        bench.query(1, "indian", source="hytasbench")
    with pytest.raises(UnknownSourceError):
        Benchmark(source="no-such-source")


def test_default_benchmark_finds_the_cache(small_tables, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    (cache / "tables").mkdir(parents=True)
    (cache / "tables" / "hytas").symlink_to(small_tables)
    monkeypatch.setenv("HYTASBENCH_CACHE", str(cache))
    bench = Benchmark()
    assert "small" in bench.sources and bench.default_source == "small"


QUERY_SCRIPT = """
import sys, json
from hytasbench import Benchmark
b = Benchmark(source=sys.argv[1])
r = b.query(1, 'indian'); b.query_many([1, 2], 'ksc'); b.best('ksc', 'oa', max_params=1e6)
r.to_dict(); r.provenance
print(json.dumps({'torch': 'torch' in sys.modules, 'pandas': 'pandas' in sys.modules}))
"""


def test_query_path_imports_neither_torch_nor_pandas(small_tables):
    out = subprocess.run([sys.executable, "-c", QUERY_SCRIPT, str(small_tables)], capture_output=True,
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


# -- a bad source, dataset, model or field name is a typed error, never the default ---------------
BAD_SOURCES = [["small"], 0, "", False, 1.5]
SOURCE_CALLS = {
    "query": lambda b, s: b.query(1, "indian", source=s),
    "archs": lambda b, s: b.archs("indian", source=s),
    "archs default dataset": lambda b, s: b.archs(source=s),
    "protocols": lambda b, s: b.protocols(s),
    "manifest": lambda b, s: b.manifest(s),
    "datasets": lambda b, s: b.datasets(s),
    "fields": lambda b, s: b.fields("indian", s),
    "num_rows": lambda b, s: b.num_rows("indian", source=s),
    "predict": lambda b, s: b.predict(1, "indian", source=s),
}


@pytest.mark.parametrize("call", SOURCE_CALLS)
@pytest.mark.parametrize("source", BAD_SOURCES, ids=repr)
def test_bad_source_is_an_unknown_source_error(small_bench, call, source):
    with pytest.raises(UnknownSourceError, match="allowed: small"):
        SOURCE_CALLS[call](small_bench, source)


def test_a_bad_source_does_not_poison_the_repeat_query(small_bench):
    for _ in range(2):  # the second query takes the cached path
        with pytest.raises(UnknownSourceError):
            small_bench.query(2, "indian", source="")
    assert small_bench.query(2, "indian", source="small").oa == small_bench.query(2, "indian").oa


@pytest.mark.parametrize("dataset", ["", 0, False, ["indian"]], ids=repr)
def test_archs_of_a_bad_dataset_is_not_the_first_dataset(small_bench, dataset):
    with pytest.raises(UnknownDatasetError):
        small_bench.archs(dataset)


@pytest.mark.parametrize("model", ["", ["extra_trees"], 0], ids=repr)
def test_predict_refuses_a_bad_model_name(small_bench, model):
    with pytest.raises(UnknownFieldError, match="surrogate model .*allowed: extra_trees"):
        small_bench.predict(1, "indian", model=model)


@pytest.mark.parametrize("field", ["nonexistent", 5, "oa_typo", ""], ids=repr)
def test_has_an_unknown_field_raises(small_bench, field):
    with pytest.raises(UnknownFieldError, match="allowed: arch"):
        small_bench.has(1, "indian", field)
    with pytest.raises(UnknownFieldError):  # also for an architecture the table lacks
        small_bench.has(smallset.N_ARCHS + 1, "indian", field)
    with pytest.raises(UnknownFieldError):  # and for a record's own test
        small_bench.query(1, "indian").available(field)


def test_has_a_known_field_the_source_lacks_is_false(small_bench):
    assert "proxy_dss" not in small_bench.fields("indian")
    assert small_bench.has(1, "indian", "dss") is False  # a kernel of the schema: legitimately absent
    assert small_bench.has(1, "indian", "snip") is True
    rec = small_bench.query(1, "indian")
    assert rec.available("dss") is False and rec.available("snip") is True


@pytest.mark.parametrize("proxy", ["nonexistent", 5, None, ""], ids=repr)
def test_proxy_seconds_of_an_unknown_proxy_raises(small_bench, proxy):
    with pytest.raises(UnknownFieldError, match="unknown proxy .*allowed: .*snip"):
        small_bench.proxy_seconds("indian", proxy)


def test_proxy_seconds_of_a_known_proxy(small_bench):
    assert small_bench.proxy_seconds("indian", "snip") == pytest.approx(smallset.SNIP_SECONDS)
    assert small_bench.proxy_seconds("ksc", "snip") is None  # no times for ksc
    assert small_bench.proxy_seconds("indian", "dss") is None  # a proxy this source lacks
