"""Rank ensembles as scores: queries, best() and the NAS problem accept them by name; values by
hand on a small table set written with the real writer."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from hytasbench import Benchmark, space
from hytasbench.errors import UnknownFieldError, UnknownProxyError
from hytasbench.tables import write_table_set

# five architectures; snip up, grasp (orientation -1) down, synflow with one gap
SNIP = [1.0, 2.0, 3.0, 4.0, 5.0]
GRASP = [5.0, 1.0, 4.0, 2.0, 3.0]  # oriented (-grasp): ranks 1, 5, 2, 4, 3
SYNFLOW = [10.0, 30.0, None, 20.0, 40.0]
OA = [0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    rows = []
    for i, aid in enumerate([1, 2, 3, 4, 5]):
        a = space.parse(aid)
        rows.append(dict(arch=str(a), arch_id=aid, depth=a.depth, embed_dim=a.embed_dim, num_heads=list(a.num_heads),
                         mlp_ratio=list(a.mlp_ratio), metric_oa=OA[i], cost_params=1000 + i, cost_flops=5000 - i,
                         proxy_snip=SNIP[i], proxy_grasp=GRASP[i], proxy_synflow=SYNFLOW[i],
                         proxy_synflow__error=None if SYNFLOW[i] is not None else "computation failed on purpose",
                         dataset="indian_pines", source="t", protocol="p", run=0, seed=0, device="cpu",
                         library_version="0", absent_reason=None))
    path = tmp_path_factory.mktemp("ens") / "t"
    write_table_set(path, {"indian_pines": pd.DataFrame(rows)}, source="t", protocol="p", description="test")
    return path


@pytest.fixture(scope="module")
def bench(table_path):
    return Benchmark(source=table_path)


def test_mean_of_normalised_ranks_by_hand(bench):
    # snip ranks 1..5, -grasp ranks 1, 5, 2, 4, 3 -> means of r/5
    expected = [(1 + 1) / 10, (2 + 5) / 10, (3 + 2) / 10, (4 + 4) / 10, (5 + 3) / 10]
    got = [bench.query(i, "indian_pines")["ensemble:snip+grasp"] for i in range(1, 6)]
    assert got == pytest.approx(expected)
    assert bench.best("indian_pines", "ensemble:snip+grasp").arch.id == 4


def test_aznas_aggregation_by_hand_and_a_missing_member(bench):
    # synflow lacks id 3: the other four are ranked among themselves (synflow 10, 30, 20, 40)
    snip_r, syn_r = [1, 2, 3, 4], [1, 3, 2, 4]
    expected = {aid: math.log(a / 4) + math.log(b / 4) for aid, a, b in zip([1, 2, 4, 5], snip_r, syn_r)}
    for aid, value in expected.items():
        assert bench.query(aid, "indian_pines")["aznas:snip+synflow"] == pytest.approx(value)
    rec = bench.query(3, "indian_pines")
    assert rec["aznas:snip+synflow"] is None
    assert "no synflow score" in rec.reason("aznas:snip+synflow") and "on purpose" in rec.reason("aznas:snip+synflow")


def test_ensembles_of_costs_and_bad_names(bench):
    assert bench.query(5, "indian_pines")["ensemble:params+flops"] == pytest.approx((5 / 5 + 1 / 5) / 2)
    rec = bench.query(1, "indian_pines")
    with pytest.raises(UnknownFieldError):
        rec["ensemble:snip+nope"]
    from hytasbench import ensembles

    for bad in ("ensemble:", "ensemble:snip+", "ensemble:snip+snip", "wrong:snip"):
        with pytest.raises(UnknownProxyError):
            ensembles.parse(bad)
    assert rec.reason("az_nas").startswith("az_nas: source 't' has no az_expressivity")


def test_nas_problem_accepts_an_ensemble(bench):
    from hytasbench.nas import SearchProblem

    problem = SearchProblem(bench.frame("indian_pines"), dataset="indian_pines", source="t",
                            proxy_seconds={"snip": 0.5, "grasp": 0.25})
    values = problem.proxy_values("ensemble:snip+grasp")
    assert list(values) == pytest.approx([0.2, 0.7, 0.5, 0.8, 0.8])
    assert problem.proxy_seconds("ensemble:snip+grasp") == pytest.approx([0.75] * 5)
    assert problem.space.orientation("ensemble:snip+grasp") == 1



def test_report_takes_ensembles_by_name_and_oa_from_another_source(bench, table_path, tmp_path):
    from hytasbench.analysis.data import load
    from hytasbench.analysis.report import build_report

    scores_only = tmp_path / "scores"  # the same architectures without OA, as evaluate-proxy writes them
    frame = bench.frame("indian_pines").drop(columns=["metric_oa"]).assign(source="mine")
    write_table_set(scores_only, {"indian_pines": frame}, source="mine", protocol="p", description="scores")
    data = load(scores_only, scores=["ensemble:snip+grasp"], oa_source=table_path)
    f = data.frames["indian_pines"].set_index("arch_id")
    assert list(f["metric_oa"]) == OA and data.oa_source == "t"
    assert list(f["proxy_ensemble:snip+grasp"]) == pytest.approx([0.2, 0.7, 0.5, 0.8, 0.8])
    path = build_report(data=data, out=tmp_path / "rep", rf=False, figures=False, n_boot=0)
    text = path.read_text()
    assert "ensemble:snip+grasp" in text and "come from source `t`" in text
