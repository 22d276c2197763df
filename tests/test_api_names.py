"""Names and types that say what they do (issue 16, item 6): Arch equals its canonical string,
num_rows counts, archs() is a list, frame(short_names=True), MissingDependencyError for extras."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from hytasbench import Benchmark, space
from hytasbench.errors import InvalidArgumentError, MissingDependencyError, require
from hytasbench.tables import write_table_set

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """Two architectures of KSC, the second trained twice, and a proxy column named like a cost."""
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    a1, a2 = (str(space.parse(i)) for i in (7, 3))
    df = pd.DataFrame({"arch": [a1, a2, a2], "arch_id": [7, 3, 3], "dataset": "ksc", "source": "t", "run": [0, 0, 1],
                       "metric_oa": [0.5, 0.7, 0.75], "cost_params": [1000, 2000, 2000],
                       "proxy_snip": [1.5, 2.5, 2.5], "proxy_dss__attn": [0.1, 0.2, 0.2],
                       "proxy_snip__seconds": [0.01, 0.02, 0.02], "proxy_params": [9.0, 8.0, 8.0]})
    write_table_set(tmp_path / "t", {"ksc": df}, source="t", protocol="p", description="")
    return Benchmark(source=tmp_path / "t")


# -- Arch and its canonical string --------------------------------------------------------------
@pytest.mark.parametrize("ident", [1, 250, 2000])
def test_arch_equals_its_canonical_string_and_hashes_like_it(ident):
    a = space.parse(ident)
    text = a.to_str()
    assert a == text and text == a and not (a != text)
    assert hash(a) == hash(text)
    assert text in {a} and a in {text} and {a: 1}[text] == 1 and {text: 1}[a] == 1
    assert a == space.parse(text) and hash(a) == hash(space.parse(text))


def test_arch_is_not_equal_to_other_values():
    a, b = space.parse(1), space.parse(2)
    assert a != b and a != b.to_str() and b.to_str() != a
    assert a != 1 and a != a.to_str().upper() and a != " " + a.to_str() and a != a.to_dict()
    assert len({a, b, a.to_str(), b.to_str()}) == 2


def test_record_arch_equals_the_canonical_string(bench):
    rec = bench.query(3, "ksc")
    assert rec.arch == space.parse(3).to_str() and rec.arch == rec["arch"]
    assert rec.arch != space.parse(7).to_str()


# -- counts and architecture lists ---------------------------------------------------------------
def test_num_rows_counts_rows_and_rows_is_a_deprecated_alias(bench):
    assert bench.num_rows("ksc") == 3  # two architectures, one trained twice
    with pytest.warns(DeprecationWarning, match="num_rows"):
        assert bench.rows("ksc") == 3


def test_archs_is_a_list_in_table_order_and_archs_list_is_deprecated(bench):
    archs = bench.archs("ksc")
    assert isinstance(archs, list) and all(isinstance(a, space.Arch) for a in archs)
    assert archs == [space.parse(7), space.parse(3)] and list(bench) == archs and len(bench) == 2
    assert space.parse(3).to_str() in archs
    with pytest.warns(DeprecationWarning, match="archs"):
        strings = bench.archs_list("ksc")
    assert strings == [a.to_str() for a in archs] and all(type(s) is str for s in strings)


# -- frame with short names ----------------------------------------------------------------------
def test_frame_short_names_are_the_names_records_use(bench):
    long = bench.frame("ksc", runs="all")
    short = bench.frame("ksc", runs="all", short_names=True)
    assert list(short.columns) != list(long.columns) and len(short.columns) == len(long.columns)
    assert {"oa", "params", "snip", "dss__attn", "snip__seconds", "proxy_params"} <= set(short.columns)
    assert "metric_oa" not in short.columns and "cost_params" not in short.columns
    rec = bench.query(3, "ksc", run=1)
    row = short[(short["arch"] == str(rec.arch)) & (short["run"] == 1)].iloc[0]
    for name in short.columns:  # every short name reads the same value through a record
        if name not in ("num_heads", "mlp_ratio"):
            assert rec[name] == row[name] or (rec[name] is None and pd.isna(row[name])), name
    assert rec["params"] == 2000 and rec["proxy_params"] == 8.0  # cost first, as records resolve
    assert len(bench.frame("ksc", short_names=True)) == 2  # runs="first" still applies


def test_frame_short_names_option_is_checked(bench):
    with pytest.raises(InvalidArgumentError, match="short_names"):
        bench.frame("ksc", short_names="yes")


# -- optional extras -----------------------------------------------------------------------------
def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"hytasbench\[plot\]") as info:
        require("matplotlib", "plot", "drawing")
    assert isinstance(info.value, ImportError)
    assert require("json", "none", "x") is sys.modules["json"]


def test_plot_regret_without_matplotlib(monkeypatch):
    from hytasbench.nas.regret import plot_regret

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingDependencyError, match=r"plot_regret needs matplotlib.*hytasbench\[plot\]"):
        plot_regret([])


def test_to_configspace_without_configspace(monkeypatch):
    monkeypatch.setitem(sys.modules, "ConfigSpace", None)
    with pytest.raises(MissingDependencyError, match=r"hytasbench\[configspace\]"):
        space.to_configspace()


def test_live_scoring_without_torch(bench, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r"hytasbench\[torch\]"):
        bench.score(3, "ksc")
    with pytest.raises(MissingDependencyError, match=r"hytasbench\[torch\]"):
        bench.query(3, "ksc", recompute=True)


def test_ray_backend_without_ray(monkeypatch):
    from builders.backends import RayBackend

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"hytasbench\[ray\]"):
        RayBackend("local", gpu=False)._init()


def test_no_plain_import_error_is_raised():
    plain = re.compile(r"raise\s+(ModuleNotFound|Import)Error\(")
    raising = [f"{p.relative_to(ROOT)}:{i}" for pkg in ("hytasbench", "builders") for p in (ROOT / pkg).rglob("*.py")
               for i, line in enumerate(p.read_text().splitlines(), 1) if plain.search(line)]
    assert raising == []
