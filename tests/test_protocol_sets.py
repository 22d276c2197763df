"""Results of other training protocols beside a source's own: a table set inside the source's
folder, listed in its manifest (``tables.attach_protocol_set``), served by
``Benchmark.query(..., protocol=...)`` and never mixed with the source's rows. Real writer, real
files; the builder's ``--attach-to`` end to end on a synthetic cube with real training steps."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import smallset
from hytasbench import Benchmark
from hytasbench.errors import InvalidArgumentError, TableError, UnknownProtocolError
from hytasbench.protocols import HYTAS_SAMPLER, HYTAS_SAMPLER_FULL
from hytasbench.tables import attach_protocol_set, write_table_set

OLD_SPELLING = "hytasbench-v1+custom(epoch_sampler=hytas)"  # reads as hytas-sampler


def child_frames(protocol: str, archs=(1, 2, 3), oa: float = 0.4, source: str = smallset.SOURCE):
    """Indian Pines rows of a few architectures of the small set under ``protocol``, OA distinct
    from the parent's (the parent's are drawn from 0.55-0.95)."""
    frame = smallset.frames()["indian_pines"]
    frame = frame[frame.arch_id.isin(archs)].reset_index(drop=True).copy()
    frame["protocol"], frame["source"] = protocol, source
    frame["metric_oa"] = [oa + 0.01 * i for i in range(len(frame))]
    for col in [c for c in frame.columns if c.startswith("proxy_")]:
        frame[col] = None  # a training-only set: its model is not the one the proxies scored
    return {"indian_pines": frame}


def write_child(folder: Path, protocol: str = HYTAS_SAMPLER_FULL, source: str = smallset.SOURCE, **kw) -> Path:
    write_table_set(folder, child_frames(protocol, source=source, **kw), source=source, protocol=protocol,
                    description="training results under another protocol (tests)")
    return folder


@pytest.fixture()
def parent(tmp_path) -> Path:
    return smallset.write(tmp_path / "tables")


def test_a_protocol_set_is_served_beside_the_sources_own_rows(parent):
    child = write_child(parent / "protocols" / "full")
    entry = attach_protocol_set(parent, child)
    assert entry["path"] == "protocols/full" and entry["rows"] == {"indian_pines": 3}
    assert entry["architectures"] == {"indian_pines": 3} and "emulation" in entry["description"]
    listed = json.loads((parent / "manifest.json").read_text())["protocol_sets"]
    assert list(listed) == [HYTAS_SAMPLER_FULL]

    bench = Benchmark(source=parent)
    assert bench.protocols() == ["small-test", HYTAS_SAMPLER_FULL]
    own = bench.query(2, "indian_pines")
    other = bench.query(2, "indian_pines", protocol=HYTAS_SAMPLER_FULL)
    assert other.oa == pytest.approx(0.41) and own.oa != other.oa and own.oa >= 0.55
    assert other["protocol"] == HYTAS_SAMPLER_FULL and own["protocol"] == "small-test"
    assert "emulation" in other.provenance["protocol_description"]
    assert other.snip is None and own.snip is not None  # never filled in from the other protocol's rows
    assert bench.query(2, "indian_pines", protocol="small-test").oa == own.oa  # the own protocol by name
    assert bench.num_rows("indian_pines", protocol=HYTAS_SAMPLER_FULL) == 3
    assert [a.id for a in bench.archs("indian_pines", protocol=HYTAS_SAMPLER_FULL)] == [1, 2, 3]
    frame = bench.frame("indian_pines", protocol=HYTAS_SAMPLER_FULL)
    assert len(frame) == 3 and set(frame.protocol) == {HYTAS_SAMPLER_FULL}
    assert bench.best("indian_pines", protocol=HYTAS_SAMPLER_FULL).arch.id == 3
    assert not bench.has(7, "indian_pines", protocol=HYTAS_SAMPLER_FULL) and bench.has(7, "indian_pines")
    assert bench.datasets(protocol=HYTAS_SAMPLER_FULL) == ["indian_pines"]
    with pytest.raises(UnknownProtocolError, match="allowed: small-test, " + HYTAS_SAMPLER_FULL.replace("+", r"\+")):
        bench.query(2, "indian_pines", protocol="hytas-sampler+lag")
    with pytest.raises(InvalidArgumentError, match="protocol must be"):
        bench.query(2, "indian_pines", protocol=["hytas-sampler"])
    with pytest.raises(InvalidArgumentError, match="protocol"):
        bench.query(2, "indian_pines", protocol=HYTAS_SAMPLER_FULL, recompute=True)


def test_an_older_spelling_finds_the_set(parent):
    attach_protocol_set(parent, write_child(parent / "protocols" / "hs", protocol=HYTAS_SAMPLER))
    bench = Benchmark(source=parent)
    assert bench.query(1, "indian_pines", protocol=OLD_SPELLING).oa == pytest.approx(0.40)


def test_rebuilding_the_parent_keeps_its_protocol_sets(parent):
    attach_protocol_set(parent, write_child(parent / "protocols" / "full"))
    smallset.write(parent)  # the source's own set rewritten (a later merge)
    bench = Benchmark(source=parent)
    assert bench.protocols() == ["small-test", HYTAS_SAMPLER_FULL]
    assert bench.query(1, "indian_pines", protocol=HYTAS_SAMPLER_FULL).oa == pytest.approx(0.40)


def test_re_attaching_a_rebuilt_set_replaces_its_entry(parent):
    child = parent / "protocols" / "full"
    attach_protocol_set(parent, write_child(child))
    attach_protocol_set(parent, write_child(child, archs=(1, 2, 3, 4), oa=0.3))
    bench = Benchmark(source=parent)
    assert bench.protocols() == ["small-test", HYTAS_SAMPLER_FULL]
    assert bench.num_rows("indian_pines", protocol=HYTAS_SAMPLER_FULL) == 4
    assert bench.query(1, "indian_pines", protocol=HYTAS_SAMPLER_FULL).oa == pytest.approx(0.30)


@pytest.mark.parametrize("case", ["outside", "itself", "other source", "same protocol", "mixed rows"])
def test_what_cannot_be_attached_is_refused(parent, tmp_path, case):
    before = (parent / "manifest.json").read_bytes()
    if case == "outside":
        child, match = write_child(tmp_path / "elsewhere"), "must be a folder inside"
    elif case == "itself":
        child, match = parent, "to itself"
    elif case == "other source":
        child, match = write_child(parent / "p", source="someone-else"), "is not the source of"
    elif case == "same protocol":
        child, match = write_child(parent / "p", protocol="small-test"), "is the protocol of"
    else:
        child = write_child(parent / "p")
        frames = child_frames(HYTAS_SAMPLER_FULL)
        frames["indian_pines"].loc[1, "protocol"] = "hytasbench-v1"
        write_table_set(child, frames, source=smallset.SOURCE, protocol=HYTAS_SAMPLER_FULL, description="mixed")
        match = r"rows of protocol \['hytasbench-v1'\]"
    with pytest.raises(TableError, match=match):
        attach_protocol_set(parent, child)
    assert (parent / "manifest.json").read_bytes() == before  # nothing half-attached


def _listed(parent: Path) -> dict:
    return json.loads((parent / "manifest.json").read_text())


def _relist(parent: Path, edit) -> None:
    manifest = _listed(parent)
    edit(manifest["protocol_sets"][HYTAS_SAMPLER_FULL])
    (parent / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", ["child manifest edited", "child folder gone", "child parquet corrupt",
                                    "path escapes", "absolute path", "rows differ", "listed under another name"])
def test_a_damaged_protocol_set_fails_loudly_when_the_source_opens(parent, damage):
    child = write_child(parent / "protocols" / "full")
    attach_protocol_set(parent, child)
    match = {"child manifest edited": "changed since it was attached", "child folder gone": "missing or unreadable",
             "child parquet corrupt": "checksum mismatch", "path escapes": "not a folder inside",
             "absolute path": "not a folder inside", "rows differ": "lists",
             "listed under another name": "lists it as"}[damage]
    if damage == "child manifest edited":
        m = json.loads((child / "manifest.json").read_text())
        m["description"] = "edited by hand"
        (child / "manifest.json").write_text(json.dumps(m))
    elif damage == "child folder gone":
        shutil.rmtree(child)
    elif damage == "child parquet corrupt":
        f = next(child.glob("*.parquet"))
        f.write_bytes(f.read_bytes()[:-20] + b"\0" * 20)
    elif damage == "path escapes":
        _relist(parent, lambda e: e.update(path="../tables/protocols/full"))
    elif damage == "absolute path":
        _relist(parent, lambda e: e.update(path=str(child)))
    elif damage == "rows differ":
        _relist(parent, lambda e: e.update(rows={"indian_pines": 30}))
    else:
        manifest = _listed(parent)
        manifest["protocol_sets"] = {"hytas-sampler+lag": manifest["protocol_sets"][HYTAS_SAMPLER_FULL]}
        (parent / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TableError, match=match):
        Benchmark(source=parent)


def test_a_listed_set_whose_rows_say_another_protocol_is_not_served(parent):
    """A set written around the attach check (entry made by hand) still never serves mixed rows."""
    child = write_child(parent / "protocols" / "full")
    attach_protocol_set(parent, child)
    frames = child_frames(HYTAS_SAMPLER_FULL)
    frames["indian_pines"]["protocol"] = "hytasbench-v1"
    write_table_set(child, frames, source=smallset.SOURCE, protocol=HYTAS_SAMPLER_FULL, description="relabelled")
    import hashlib

    _relist(parent, lambda e: e.update(manifest_sha256=hashlib.sha256((child / "manifest.json").read_bytes())
                                       .hexdigest()))
    bench = Benchmark(source=parent)
    assert bench.query(1, "indian_pines").oa >= 0.55  # the source's own rows are unaffected
    with pytest.raises(TableError, match="a protocol set holds that protocol's rows only"):
        bench.query(1, "indian_pines", protocol=HYTAS_SAMPLER_FULL)


def test_cli_query_and_info_name_the_protocol(parent, capsys):
    from hytasbench.cli import main

    attach_protocol_set(parent, write_child(parent / "protocols" / "full"))
    assert main(["query", "2", "indian_pines", "--source", str(parent), "--protocol", HYTAS_SAMPLER_FULL,
                 "--fields", "oa", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"oa": pytest.approx(0.41)}
    assert main(["query", "2", "indian_pines", "--source", str(parent), "--protocol", "hytas-sampler+lag"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no results under protocol 'hytas-sampler+lag'" in err and "allowed" in err
    assert main(["info", "--source", str(parent)]) == 0
    assert f"also under protocol {HYTAS_SAMPLER_FULL} (query with --protocol): indian_pines 3 rows" \
        in capsys.readouterr().out


@pytest.mark.slow
def test_builder_attaches_real_training_results_of_another_protocol(tmp_path):
    """--attach-to end to end: a cost-only set of the default protocol, then real training steps of
    hytas-sampler+caf8 (a synthetic Salinas cube, one epoch) written inside it and attached. The caf8
    model's own size comes with its rows: eight CAF fusions have more parameters than depth - 2."""
    from conftest import DATASETS_DIR, need
    from test_build import build

    need(DATASETS_DIR / "salinas" / "Salinas_gt.mat", "the Salinas label map")
    tables, child = tmp_path / "tables", tmp_path / "tables" / "protocols" / "hs-caf8"
    common = ["--device", "cpu", "--datasets", "salinas", "--synthetic", "salinas", "--archs", "397"]
    res = build(tmp_path, tmp_path / "w1", tables, *common, "--kind", "cost")
    assert res.returncode == 0, res.stderr
    wrong = build(tmp_path, tmp_path / "w2", tmp_path / "elsewhere", *common, "--kind", "train",
                  "--protocol", "hytas-sampler+caf8", "--attach-to", str(tables))
    assert wrong.returncode == 2 and "must be a folder inside it" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "w2").exists()  # refused before any unit ran
    res = build(tmp_path, tmp_path / "w2", child, *common, "--kind", "train", "--protocol", "hytas-sampler+caf8",
                "--epochs", "1", "--test-subset", "64", "--attach-to", str(tables))
    assert res.returncode == 0, res.stderr
    bench = Benchmark(source=tables)
    protocol = "hytas-sampler+caf8+custom(epochs=1,test_subset=64)"
    assert bench.protocols() == ["hytasbench-v1", protocol]
    own, trained = bench.query(397, "salinas"), bench.query(397, "salinas", protocol=protocol)
    assert own.oa is None and 0 <= trained.oa <= 1
    assert trained["protocol"] == protocol + "+synthetic-cube"
    assert trained.params > own.params  # the model it trained is the caf8 one
    entry = json.loads((tables / "manifest.json").read_text())["protocol_sets"][protocol]
    assert entry["path"] == "protocols/hs-caf8" and entry["rows"] == {"salinas": 1}


def test_report_compares_protocols_on_the_architectures_both_trained(parent, tmp_path):
    import pandas as pd
    from scipy import stats

    from hytasbench.analysis.report import build_report

    attach_protocol_set(parent, write_child(parent / "protocols" / "full", archs=(1, 2, 3, 4)))
    out = tmp_path / "report"
    text = build_report(str(parent), out, rf=False, figures=False, n_boot=20).read_text()
    section = text.split("## 8. Training protocols")[1]
    pairs = pd.read_csv(out / "tables" / "protocols_indian_pines.csv")
    own = smallset.frames()["indian_pines"].set_index("arch_id").metric_oa.loc[[1, 2, 3, 4]].to_numpy()
    theirs = [0.40, 0.41, 0.42, 0.43]
    row = pairs.iloc[0]
    assert (row["first"], row["second"], row["n"]) == ("small-test", HYTAS_SAMPLER_FULL, 4) and len(pairs) == 1
    assert row["mean_diff"] == pytest.approx(own.mean() - 0.415)
    assert row["first_sd"] == pytest.approx(own.std(ddof=1)) and row["second_sd"] == pytest.approx(pd.Series(theirs).std())
    assert row["spearman"] == pytest.approx(stats.spearmanr(own, theirs)[0])
    assert f"| small-test | {HYTAS_SAMPLER_FULL} | 4 |" in section
    per_arch = pd.read_csv(out / "tables" / "protocols_indian_pines_architectures.csv")
    assert len(per_arch) == 4  # only the architectures with OA under both


def test_report_says_when_there_is_one_protocol_only(small_tables, tmp_path):
    from hytasbench.analysis.report import build_report

    text = build_report(str(small_tables), tmp_path / "r", rf=False, figures=False, n_boot=20).read_text()
    assert "no architecture has OA under more than one training protocol" in text.split("## 8. Training protocols")[1]
