"""Results of other training protocols beside a source's own: attached to the source's folder
(``tables.attach_protocol_set`` copies a table set into ``protocols/`` and lists it, manifest inline,
in the source's manifest), served by ``Benchmark.query(..., protocol=...)`` and never mixed with the
source's rows. Real writer, real files; the builder's ``--attach-to`` end to end on a synthetic cube
with real training steps."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import smallset
from hytasbench import Benchmark
from hytasbench import tables as T
from hytasbench.errors import InvalidArgumentError, TableError, UnknownProtocolError
from hytasbench.protocols import HYTAS_SAMPLER, HYTAS_SAMPLER_FULL
from hytasbench.tables import attach_protocol_set, protocol_folder, write_table_set

OLD_SPELLING = "hytasbench-v1+custom(epoch_sampler=hytas)"  # reads as hytas-sampler
FULL = HYTAS_SAMPLER_FULL


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


def write_child(folder: Path, protocol: str = FULL, source: str = smallset.SOURCE, **kw) -> Path:
    write_table_set(folder, child_frames(protocol, source=source, **kw), source=source, protocol=protocol,
                    description="training results under another protocol (tests)")
    return folder


def with_row_protocols(folder: Path, rows, protocol: str) -> dict:
    """Rewrite the set's Indian Pines rows ``rows`` to say ``protocol`` by hand (the writer refuses
    such a set), checksums and sizes in the manifest made to match; return the manifest."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = json.loads((folder / "manifest.json").read_text())
    name = next(n for n, m in manifest["files"].items() if m["dataset"] == "indian_pines")
    table = pq.read_table(folder / name)
    said = table.column("protocol").to_pylist()
    for i in rows:
        said[i] = protocol
    pq.write_table(table.set_column(table.column_names.index("protocol"), "protocol", pa.array(said)), folder / name)
    blob = (folder / name).read_bytes()
    manifest["files"][name].update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


@pytest.fixture()
def parent(tmp_path) -> Path:
    return smallset.write(tmp_path / "tables")


@pytest.fixture()
def attached(parent, tmp_path) -> Path:
    """The parent with FULL's three rows attached (their OA 0.40, 0.41, 0.42)."""
    attach_protocol_set(parent, write_child(tmp_path / "built"))
    return parent


def folder_of(parent: Path, protocol: str = FULL) -> Path:
    return parent / protocol_folder(protocol)


def test_a_protocol_set_is_served_beside_the_sources_own_rows(parent, tmp_path):
    entry = attach_protocol_set(parent, write_child(tmp_path / "built"))
    assert entry["path"] == "protocols/hytas-sampler-lag-caf8-epoch-order" and entry["rows"] == {"indian_pines": 3}
    assert entry["architectures"] == {"indian_pines": 3} and "emulation" in entry["description"]
    assert entry["manifest"]["protocol"] == FULL
    listed = json.loads((parent / "manifest.json").read_text())["protocol_sets"]
    assert list(listed) == [FULL]
    assert sorted(p.name for p in folder_of(parent).iterdir()) == sorted(entry["manifest"]["files"])
    shutil.rmtree(tmp_path / "built")  # attached means copied: the built set is no longer needed

    bench = Benchmark(source=parent)
    assert bench.protocols() == ["small-test", FULL]
    own = bench.query(2, "indian_pines")
    other = bench.query(2, "indian_pines", protocol=FULL)
    assert other.oa == pytest.approx(0.41) and own.oa != other.oa and own.oa >= 0.55
    assert other["protocol"] == FULL and own["protocol"] == "small-test"
    assert "emulation" in other.provenance["protocol_description"]
    assert other.snip is None and own.snip is not None  # never filled in from the other protocol's rows
    assert bench.query(2, "indian_pines", protocol="small-test").oa == own.oa  # the own protocol by name
    assert bench.num_rows("indian_pines", protocol=FULL) == 3
    assert [a.id for a in bench.archs(protocol=FULL)] == [1, 2, 3]
    frame = bench.frame("indian_pines", protocol=FULL)
    assert len(frame) == 3 and set(frame.protocol) == {FULL}
    assert bench.best("indian_pines", protocol=FULL).arch.id == 3
    assert not bench.has(7, "indian_pines", protocol=FULL) and bench.has(7, "indian_pines")
    assert bench.datasets(protocol=FULL) == ["indian_pines"]
    assert [r.oa for r in bench.query_many([1, 3], "indian_pines", protocol=FULL)] == pytest.approx([0.40, 0.42])
    assert bench.query(2, "indian_pines").oa == own.oa  # the default still after the protocol's view
    with pytest.raises(UnknownProtocolError, match="allowed: small-test, " + FULL.replace("+", r"\+")):
        bench.query(2, "indian_pines", protocol="hytas-sampler+lag")
    with pytest.raises(UnknownProtocolError, match=r"no results on ksc under .*; allowed: small-test\. under .* it "
                                                   r"holds \['indian_pines'\]"):
        bench.query(2, "ksc", protocol=FULL)
    with pytest.raises(InvalidArgumentError, match="protocol must be"):
        bench.query(2, "indian_pines", protocol=["hytas-sampler"])
    with pytest.raises(InvalidArgumentError, match="protocol"):
        bench.query(2, "indian_pines", protocol=FULL, recompute=True)


def test_an_older_spelling_finds_the_set(parent, tmp_path):
    attach_protocol_set(parent, write_child(tmp_path / "hs", protocol=HYTAS_SAMPLER))
    bench = Benchmark(source=parent)
    assert bench.query(1, "indian_pines", protocol=OLD_SPELLING).oa == pytest.approx(0.40)


def test_rewriting_the_parent_keeps_its_protocol_sets(attached):
    smallset.write(attached)  # the source's own set rewritten (a later merge)
    bench = Benchmark(source=attached)
    assert bench.protocols() == ["small-test", FULL]
    assert bench.query(1, "indian_pines", protocol=FULL).oa == pytest.approx(0.40)


def test_the_parent_cannot_become_a_protocol_it_lists(attached):
    before = (attached / "manifest.json").read_bytes()
    with pytest.raises(TableError, match="cannot become"):
        write_table_set(attached, smallset.frames(), source=smallset.SOURCE, protocol=FULL, description="x")
    assert (attached / "manifest.json").read_bytes() == before


def test_re_attaching_replaces_the_entry_and_its_files(attached, tmp_path):
    old = set(os.listdir(folder_of(attached)))
    attach_protocol_set(attached, write_child(tmp_path / "again", archs=(1, 2, 3, 4), oa=0.3))
    bench = Benchmark(source=attached)
    assert bench.protocols() == ["small-test", FULL]
    assert bench.num_rows("indian_pines", protocol=FULL) == 4
    assert bench.query(1, "indian_pines", protocol=FULL).oa == pytest.approx(0.30)
    assert not old & set(os.listdir(folder_of(attached)))  # the replaced version's files are gone


def test_rebuilding_the_built_set_changes_nothing_until_it_is_attached_again(attached, tmp_path):
    write_child(tmp_path / "built", archs=(1, 2, 3, 4), oa=0.3)  # a continuing build into the same --out
    assert Benchmark(source=attached).query(1, "indian_pines", protocol=FULL).oa == pytest.approx(0.40)


@pytest.mark.parametrize("step", ["copying a file", "writing the manifest", "removing the old files"])
def test_a_crash_while_attaching_leaves_the_old_or_the_new_listing(attached, tmp_path, monkeypatch, step):
    """A kill at each step of a re-attach (simulated by an exception there): the source opens and
    serves the old version's rows before the manifest is replaced, the new version's after."""
    write_child(tmp_path / "v2", archs=(1, 2, 3, 4), oa=0.3)
    real_write, real_clean = T.atomic_write_bytes, T._clean_leftovers

    def write(path, data):
        if (step == "copying a file" and path.suffix == ".parquet") or \
                (step == "writing the manifest" and path.name == "manifest.json"):
            raise KeyboardInterrupt("killed")
        real_write(path, data)

    def clean(root, keep):
        if step == "removing the old files":
            raise KeyboardInterrupt("killed")
        real_clean(root, keep)

    monkeypatch.setattr(T, "atomic_write_bytes", write)
    monkeypatch.setattr(T, "_clean_leftovers", clean)
    with pytest.raises(KeyboardInterrupt):
        attach_protocol_set(attached, tmp_path / "v2")
    monkeypatch.undo()
    oa = Benchmark(source=attached).query(1, "indian_pines", protocol=FULL).oa
    assert oa == pytest.approx(0.30 if step == "removing the old files" else 0.40)
    attach_protocol_set(attached, tmp_path / "v2")  # the next attach completes and tidies up
    assert Benchmark(source=attached).num_rows("indian_pines", protocol=FULL) == 4
    listed = json.loads((attached / "manifest.json").read_text())["protocol_sets"][FULL]["manifest"]["files"]
    assert sorted(os.listdir(folder_of(attached))) == sorted(listed)


@pytest.mark.parametrize("case", ["inside", "itself", "other source", "same protocol", "mixed rows", "no table",
                                  "not a table set", "protocol_sets not a mapping", "folder taken"])
def test_what_cannot_be_attached_is_refused(parent, tmp_path, case):
    child = tmp_path / "built"
    if case == "inside":
        child, match = write_child(parent / "protocols" / "x"), "attached from a table set outside"
    elif case == "itself":
        child, match = parent, "attached from a table set outside"
    elif case == "other source":
        match = "is not the source of"
        write_child(child, source="someone-else")
    elif case == "same protocol":
        match = "is the protocol of"
        write_child(child, protocol="small-test")
    elif case == "mixed rows":
        with_row_protocols(write_child(child), [1], "hytasbench-v1")
        match = r"row 1, column protocol: 'hytasbench-v1', but the manifest lists this file as protocol"
    elif case == "no table":
        write_table_set(child, {}, source=smallset.SOURCE, protocol=FULL, description="empty")
        match = "holds no table"
    elif case == "not a table set":
        child.mkdir()
        match = "not a hytasbench table set"
    elif case == "protocol_sets not a mapping":
        write_child(child)
        manifest = json.loads((parent / "manifest.json").read_text())
        manifest["protocol_sets"] = "abc"
        (parent / "manifest.json").write_text(json.dumps(manifest))
        match = "must map protocol names"
    else:  # another protocol whose name maps to the same folder is attached already
        lookalike = FULL.replace("+", "-")
        assert protocol_folder(lookalike) == protocol_folder(FULL)
        attach_protocol_set(parent, write_child(tmp_path / "lookalike", protocol=lookalike))
        write_child(child)
        match = "where .* would go"
    before = (parent / "manifest.json").read_bytes()
    files_before = sorted(os.listdir(folder_of(parent))) if folder_of(parent).exists() else None
    with pytest.raises(TableError, match=match):
        attach_protocol_set(parent, child)
    assert (parent / "manifest.json").read_bytes() == before  # nothing half-attached
    assert (sorted(os.listdir(folder_of(parent))) if folder_of(parent).exists() else None) == files_before


def test_an_attach_that_cannot_write_is_a_table_error(parent, tmp_path):
    (parent / ".lock").unlink(missing_ok=True)
    (parent / ".lock").mkdir()  # the lock cannot be taken
    with pytest.raises(TableError, match="cannot attach the set here"):
        attach_protocol_set(parent, write_child(tmp_path / "built"))


def _edit_entry(parent: Path, edit) -> None:
    manifest = json.loads((parent / "manifest.json").read_text())
    edit(manifest["protocol_sets"])
    (parent / "manifest.json").write_text(json.dumps(manifest))


DAMAGE = {
    "a file corrupt": "checksum mismatch",
    "the folder gone": "listed in the manifest but missing",
    "a file's sha256 edited in the entry": "checksum mismatch",
    "path elsewhere": "its files lie in 'protocols/hytas-sampler-lag-caf8-epoch-order'",
    "path escapes": "its files lie in",
    "folder is a link outside": "leads outside",
    "rows differ": "the entry says",
    "listed under another name": "listed as 'small' under 'hytas-sampler\\+lag'",
    "the own protocol listed": "the set's own protocol",
    "entry not a mapping": "the entry needs",
    "protocol_sets not a mapping": "must map protocol names",
    "a name far too long": "File name too long",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_protocol_set_fails_loudly_when_the_source_opens(attached, tmp_path, damage):
    folder = folder_of(attached)
    sets = lambda fn: _edit_entry(attached, fn)  # noqa: E731
    if damage == "a file corrupt":
        f = next(folder.glob("*.parquet"))
        f.write_bytes(f.read_bytes()[:-20] + b"\0" * 20)
    elif damage == "the folder gone":
        shutil.rmtree(folder)
    elif damage == "a file's sha256 edited in the entry":
        sets(lambda ps: next(iter(ps[FULL]["manifest"]["files"].values())).update(sha256="0" * 64))
    elif damage == "path elsewhere":
        sets(lambda ps: ps[FULL].update(path="protocols/other"))
    elif damage == "path escapes":
        sets(lambda ps: ps[FULL].update(path="../" + folder.relative_to(attached.parent).as_posix()))
    elif damage == "folder is a link outside":
        shutil.move(str(folder), str(tmp_path / "outside"))
        folder.symlink_to(tmp_path / "outside", target_is_directory=True)
    elif damage == "rows differ":
        sets(lambda ps: ps[FULL].update(rows={"indian_pines": 30}))
    elif damage == "listed under another name":
        sets(lambda ps: ps.update({"hytas-sampler+lag": dict(ps.pop(FULL), path="protocols/hytas-sampler-lag")}))
    elif damage == "the own protocol listed":
        sets(lambda ps: ps.update({"small-test": dict(ps.pop(FULL), path="protocols/small-test")}))
    elif damage == "entry not a mapping":
        sets(lambda ps: ps.update({FULL: "protocols/x"}))
    elif damage == "protocol_sets not a mapping":
        m = json.loads((attached / "manifest.json").read_text())
        m["protocol_sets"] = ["x"]
        (attached / "manifest.json").write_text(json.dumps(m))
    else:
        long = "hytas-sampler+custom(" + "x" * 300 + "=1)"
        def rename(ps):
            entry = ps.pop(FULL)
            ps[long] = dict(entry, path=protocol_folder(long), manifest=dict(entry["manifest"], protocol=long))
        sets(rename)
    with pytest.raises(TableError, match=DAMAGE[damage]):
        Benchmark(source=attached)


def test_a_listed_set_whose_rows_say_another_protocol_is_not_served(attached, tmp_path):
    """A version put in place around attach's check (files and entry edited by hand, checksums
    made to match) still never serves mixed rows."""
    mixed = with_row_protocols(write_child(tmp_path / "mixed"), [0, 1, 2], "hytasbench-v1")
    for name in mixed["files"]:
        shutil.copy(tmp_path / "mixed" / name, folder_of(attached) / name)
    _edit_entry(attached, lambda ps: ps[FULL].update(manifest=mixed))
    bench = Benchmark(source=attached)
    assert bench.query(1, "indian_pines").oa >= 0.55  # the source's own rows are unaffected
    with pytest.raises(TableError, match="column protocol: 'hytasbench-v1', but the manifest lists this file as protocol"):
        bench.query(1, "indian_pines", protocol=FULL)


def test_cli_query_and_info_name_the_protocol(attached, capsys):
    from hytasbench.cli import main

    parent = str(attached)
    assert main(["query", "2", "indian_pines", "--source", parent, "--protocol", FULL, "--fields", "oa", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"oa": pytest.approx(0.41)}
    assert main(["query", "2", "indian_pines", "--source", parent, "--protocol", "hytas-sampler+lag"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no results under protocol 'hytas-sampler+lag'" in err and "allowed" in err
    assert main(["info", "--source", parent]) == 0
    assert f"also under protocol {FULL} (query with --protocol): indian_pines 3 rows" in capsys.readouterr().out


def test_a_protocol_another_loaded_source_holds_is_named(small_tables, tmp_path):
    frames = {ds: f.assign(source="other") for ds, f in smallset.frames().items()}
    write_table_set(tmp_path / "other", frames, source="other", protocol="small-test", description="other")
    attach_protocol_set(tmp_path / "other", write_child(tmp_path / "built", source="other"))
    bench = Benchmark(source=[small_tables, tmp_path / "other"])
    with pytest.raises(UnknownProtocolError, match="allowed: small-test. source 'other' has it: pass source='other'"):
        bench.query(1, "indian_pines", protocol=FULL)
    assert bench.query(1, "indian_pines", source="other", protocol=FULL).oa == pytest.approx(0.40)


@pytest.mark.slow
def test_builder_attaches_real_training_results_of_another_protocol(tmp_path):
    """--attach-to end to end: a cost-only set of the default protocol, then real training steps of
    hytas-sampler+caf8 (a synthetic Salinas cube, one epoch) built on their own and attached. The
    caf8 model's own size comes with its rows: eight CAF fusions have more parameters than depth - 2."""
    from conftest import DATASETS_DIR, need
    from test_build import build

    need(DATASETS_DIR / "salinas" / "Salinas_gt.mat", "the Salinas label map")
    tables, child = tmp_path / "tables", tmp_path / "built"
    common = ["--device", "cpu", "--datasets", "salinas", "--synthetic", "salinas", "--archs", "397"]
    res = build(tmp_path, tmp_path / "w1", tables, *common, "--kind", "cost")
    assert res.returncode == 0, res.stderr
    wrong = build(tmp_path, tmp_path / "w2", tables / "protocols" / "x", *common, "--kind", "train",
                  "--protocol", "hytas-sampler+caf8", "--attach-to", str(tables))
    assert wrong.returncode == 2 and "lies inside it" in wrong.stderr, wrong.stderr
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
    assert entry["path"] == protocol_folder(protocol) and entry["rows"] == {"salinas": 1}


def test_report_compares_protocols_on_the_architectures_both_trained(parent, tmp_path):
    import pandas as pd
    from scipy import stats

    from hytasbench.analysis.report import build_report

    attach_protocol_set(parent, write_child(tmp_path / "built", archs=(1, 2, 3, 4)))
    out = tmp_path / "report"
    text = build_report(str(parent), out, rf=False, figures=False, n_boot=20).read_text()
    section = text.split("## 8. Training protocols")[1]
    pairs = pd.read_csv(out / "tables" / "protocols_indian_pines.csv")
    own = smallset.frames()["indian_pines"].set_index("arch_id").metric_oa.loc[[1, 2, 3, 4]].to_numpy()
    theirs = [0.40, 0.41, 0.42, 0.43]
    row = pairs.iloc[0]
    assert (row["first"], row["second"], row["n"]) == ("small-test", FULL, 4) and len(pairs) == 1
    assert row["mean_diff"] == pytest.approx(own.mean() - 0.415)
    assert row["first_sd"] == pytest.approx(own.std(ddof=1)) and row["second_sd"] == pytest.approx(pd.Series(theirs).std())
    assert row["spearman"] == pytest.approx(stats.spearmanr(own, theirs)[0])
    assert f"| small-test | {FULL} | 4 |" in section
    per_arch = pd.read_csv(out / "tables" / "protocols_indian_pines_architectures.csv")
    assert len(per_arch) == 4  # only the architectures with OA under both


def test_report_says_when_there_is_one_protocol_only(small_tables, tmp_path):
    from hytasbench.analysis.report import build_report

    text = build_report(str(small_tables), tmp_path / "r", rf=False, figures=False, n_boot=20).read_text()
    assert "no architecture has OA under more than one training protocol" in text.split("## 8. Training protocols")[1]


def test_a_protocols_folder_linked_elsewhere_is_refused_before_anything_changes(parent, tmp_path):
    (tmp_path / "bigdisk").mkdir()
    (parent / "protocols").symlink_to(tmp_path / "bigdisk", target_is_directory=True)
    before = (parent / "manifest.json").read_bytes()
    with pytest.raises(TableError, match="leads outside"):
        attach_protocol_set(parent, write_child(tmp_path / "built"))
    assert (parent / "manifest.json").read_bytes() == before and not os.listdir(tmp_path / "bigdisk")
    assert Benchmark(source=parent).protocols() == ["small-test"]


def test_a_file_linked_from_outside_is_refused(attached, tmp_path):
    f = next(folder_of(attached).glob("*.parquet"))
    shutil.move(str(f), str(tmp_path / f.name))
    f.symlink_to(tmp_path / f.name)
    with pytest.raises(TableError, match="leads outside"):
        Benchmark(source=attached)


def _hand_made_child(tmp_path: Path, edit) -> Path:
    """A child whose manifest another tool wrote: ``edit(manifest, folder)`` changes it."""
    child = write_child(tmp_path / "hand")
    manifest = json.loads((child / "manifest.json").read_text())
    edit(manifest, child)
    (child / "manifest.json").write_text(json.dumps(manifest))
    return child


def test_copies_are_named_by_their_content_whatever_the_child_called_them(parent, tmp_path):
    def rename(manifest, child):  # a name the cleanup of temporary files would otherwise remove
        (name, meta), = manifest["files"].items()
        (child / name).rename(child / ".indian_pines.tmp")
        manifest["files"] = {".indian_pines.tmp": meta}
    entry = attach_protocol_set(parent, _hand_made_child(tmp_path, rename))
    (name, meta), = entry["manifest"]["files"].items()
    assert name == f"indian_pines-{meta['sha256'][:12]}.parquet" and meta["rows"] == 3 and entry["rows"] == {
        "indian_pines": 3}
    assert os.listdir(folder_of(parent)) == [name]
    assert Benchmark(source=parent).query(3, "indian_pines", protocol=FULL).oa == pytest.approx(0.42)


@pytest.mark.parametrize("edit, match", [
    (lambda m, c: m["files"].update({"second.parquet": dict(next(iter(m["files"].values())))}), "a second file for"),
    (lambda m, c: next(iter(m["files"].values())).update(dataset=[]), "names no dataset"),
    (lambda m, c: next(iter(m["files"].values())).update(columns=None), "not a list of names"),
    (lambda m, c: next(iter(m["files"].values())).update(rows="3"), "not a count"),
    (lambda m, c: m.update(files={"a\x00b": next(iter(m["files"].values()))}), "not a file name"),
])
def test_malformed_file_entries_are_table_errors_when_attaching_and_opening(attached, tmp_path, edit, match):
    with pytest.raises(TableError, match=match):
        attach_protocol_set(attached, _hand_made_child(tmp_path, edit))
    _edit_entry(attached, lambda ps: edit(ps[FULL]["manifest"], None))
    with pytest.raises(TableError, match=match):
        Benchmark(source=attached)


def test_a_rewrite_over_a_manifest_with_odd_files_still_writes(tmp_path):
    folder = smallset.write(tmp_path / "t")
    m = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(dict(m, files=5)))
    smallset.write(folder)
    assert Benchmark(source=folder).num_rows("ksc") == smallset.N_ARCHS + 1


def test_re_attaching_under_an_older_spelling_removes_the_old_folder(parent, tmp_path):
    attach_protocol_set(parent, write_child(tmp_path / "a", protocol=HYTAS_SAMPLER))
    attach_protocol_set(parent, write_child(tmp_path / "b", protocol=OLD_SPELLING, oa=0.3))
    bench = Benchmark(source=parent)
    assert bench.protocols() == ["small-test", OLD_SPELLING]
    assert bench.query(1, "indian_pines", protocol=HYTAS_SAMPLER).oa == pytest.approx(0.30)
    assert not list(folder_of(parent, HYTAS_SAMPLER).glob("*.parquet"))


def test_a_reader_opening_while_a_set_is_re_attached_opens_the_new_one(attached, tmp_path, monkeypatch):
    """The attach lands between the reader's manifest read and its protocol sets' open (the old
    files are gone by then): the reader opens again from the new manifest."""
    write_child(tmp_path / "v2", archs=(1, 2, 3, 4), oa=0.3)
    real = T._open_protocol_sets
    calls = []

    def racing(ts, verify):
        calls.append(ts.path)
        if len(calls) == 1:
            attach_protocol_set(attached, tmp_path / "v2")  # checks the kept sets through here too
        return real(ts, verify)

    monkeypatch.setattr(T, "_open_protocol_sets", racing)
    bench = Benchmark(source=attached)
    assert len(calls) == 3 and bench.query(1, "indian_pines", protocol=FULL).oa == pytest.approx(0.30)


def test_attach_waits_for_the_childs_writer(parent, tmp_path):
    import threading

    from filelock import FileLock

    child = write_child(tmp_path / "built")
    done = threading.Event()
    with FileLock(str(child / ".lock")):  # a writer of the child is at work
        worker = threading.Thread(target=lambda: (attach_protocol_set(parent, child), done.set()))
        worker.start()
        assert not done.wait(1.0)  # it cannot read the child while the writer holds the lock
    worker.join(120)
    assert done.is_set() and Benchmark(source=parent).protocols() == ["small-test", FULL]


def test_bytes_changed_by_a_writer_that_ignores_the_lock_are_not_copied(parent, tmp_path, monkeypatch):
    child = write_child(tmp_path / "built")
    real = T._open

    def then_overwrite(root, *a, **k):
        ts = real(root, *a, **k)
        for f in Path(root).glob("*.parquet"):
            f.write_bytes(f.read_bytes()[:-1] + b"\1")
        return ts

    monkeypatch.setattr(T, "_open", then_overwrite)
    with pytest.raises(TableError, match="changed while it was read"):
        attach_protocol_set(parent, child)
    monkeypatch.undo()
    assert Benchmark(source=parent).protocols() == ["small-test"]


def test_report_names_own_rows_without_a_protocol_name(attached, tmp_path):
    from hytasbench.analysis.data import load

    m = json.loads((attached / "manifest.json").read_text())
    del m["protocol"]
    (attached / "manifest.json").write_text(json.dumps(m))
    oa = load(str(attached)).protocol_oa["indian_pines"]
    assert list(oa.columns) == ["small (no protocol named)", FULL]
    assert sorted(oa[FULL].dropna()) == pytest.approx([0.40, 0.41, 0.42])


def test_report_data_add_the_oa_of_the_oa_source_as_a_protocol(attached, small_tables):
    from hytasbench.analysis.data import load

    oa = load(str(attached), oa_source=str(small_tables)).protocol_oa["indian_pines"]
    assert list(oa.columns) == ["small-test", FULL, "small (small-test)"]
    theirs = Benchmark(source=small_tables).frame("indian_pines").set_index("arch").metric_oa
    assert oa["small (small-test)"].to_dict() == pytest.approx(theirs.to_dict())
