"""The protocol comparison of benchmarks/validation_report.py on results of tiny real training runs."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hytasbench.train import TrainConfig, train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
ARCHS = ("e32-h4534-r1412", "e32-h3455-r3124", "e48-h4545-r2121", "e32-h3335-r5213")


def _report():
    spec = importlib.util.spec_from_file_location("validation_report", ROOT / "benchmarks" / "validation_report.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def results(tmp_path_factory, toy280):
    """Two epochs of four architectures under hytasbench-v1 and under hytas-sampler, as the JSON
    files ``python -m hytasbench.train --out`` writes."""
    folder = tmp_path_factory.mktemp("runs")
    data = toy280
    for protocol in ("hytasbench-v1", "hytas-sampler"):
        for i, arch in enumerate(ARCHS):
            cfg = TrainConfig.for_protocol(protocol, epochs=2, batch_size=16, lr=2e-3, warmup_epochs=0,
                                           device="cpu", threads=1)
            doc = train_and_evaluate(arch, data, cfg).to_dict()
            (folder / f"{protocol}_{i}.json").write_text(json.dumps(doc))
    return folder


def _ranks(x):
    order = np.argsort(x)
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def test_comparison_against_a_baseline(results):
    rep = _report()
    docs = rep.load([str(results)], epochs=2)
    assert len(docs) == 8 and rep.load([str(results)]) == []  # 300-epoch runs only by default
    v1 = {d["arch"]: d["oa"] for d in docs if d["protocol"].startswith("hytasbench-v1")}
    sampler = {d["arch"]: d["oa"] for d in docs if d["protocol"].startswith("hytas-sampler")}
    baseline = {a: v1[a] for a in ARCHS[:3]}  # the fourth architecture has no baseline value
    comps = rep.compare(docs, baseline)
    assert [c.protocol for c in comps] == ["hytas-sampler+custom(epochs=2,batch_size=16,lr=0.002,warmup_epochs=0)",
                                           "hytasbench-v1+custom(epochs=2,batch_size=16,lr=0.002,warmup_epochs=0)"]
    hs, own = comps
    assert hs.n == own.n == 3 and hs.missing == own.missing == [ARCHS[3]]
    ours = np.array([sampler[a] for a in ARCHS[:3]])
    base = np.array([v1[a] for a in ARCHS[:3]])
    mean, sd = hs.mean_sd("ours")
    assert mean == pytest.approx(ours.mean()) and sd == pytest.approx(ours.std(ddof=1))
    assert hs.mean_sd("baseline") == pytest.approx((base.mean(), base.std(ddof=1)))
    assert hs.differences() == pytest.approx({a: sampler[a] - v1[a] for a in ARCHS[:3]})
    if len(set(ours)) == 3 and len(set(base)) == 3:  # no ties: rho is Pearson's r of the ranks
        assert hs.spearman() == pytest.approx(np.corrcoef(_ranks(ours), _ranks(base))[0, 1])
    # a protocol against itself: no difference, perfect rank agreement
    assert all(v == 0 for v in own.differences().values())
    assert own.spearman() in (None, pytest.approx(1.0))
    text = rep.comparison_markdown(comps, {d["arch"]: d["arch_id"] for d in docs})
    a0 = ARCHS[0]
    assert f"| id 397 `{a0}` | {100 * v1[a0]:.2f} | {100 * sampler[a0]:.2f} ({100 * (sampler[a0] - v1[a0]):+.2f})" in text


def test_older_protocol_names_group_with_todays(results):
    rep = _report()
    docs = rep.load([str(results)], epochs=2)
    old = [dict(d, protocol=d["protocol"].replace("hytas-sampler+custom(", "hytasbench-v1+custom(epoch_sampler=hytas,"),
                seed=d["seed"]) for d in docs if d["protocol"].startswith("hytas-sampler")]
    assert all(d["protocol"].startswith("hytasbench-v1+custom(epoch_sampler=hytas,") for d in old)
    comps = rep.compare(old, {d["arch"]: d["oa"] for d in docs})
    assert len(comps) == 1 and comps[0].protocol.startswith("hytas-sampler+custom(") and comps[0].n == 4


def test_published_baseline_from_the_reference(results, reference_tables):
    """The published OA of the tiny runs' architectures comes from the imported reference."""
    rep = _report()
    docs = [d for d in rep.load([str(results)], epochs=2) if d["protocol"].startswith("hytasbench-v1")]
    docs = [dict(d, dataset="indian_pines") for d in docs]  # the toy cube stands in for the run's data
    pub = rep.published_oa(docs, str(reference_tables))
    assert pub["e32-h4534-r1412"] == pytest.approx(0.4173, abs=1e-4)  # id 397, docs/training.md
    comps = rep.compare(docs, pub)
    assert comps[0].n == sum(v is not None for v in pub.values())
