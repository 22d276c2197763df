"""The importer of the authors' published results, against the real files in ../shared."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from builders import import_hytas
from hytasbench.reference_import import fetch
from hytasbench.reference_import import layout as L
from hytasbench import Benchmark, space
from hytasbench.errors import DownloadError, ReferenceFileError, TableError
from hytasbench.tables import read_table_set

FOLDERS = {"indian_pines": "indian", "salinas": "salinas", "houston2013": "houston", "paviau": "pavia", "ksc": "ksc"}


def published(reference_dir: Path, dataset: str) -> pd.DataFrame:
    """The merged upstream table keyed by our canonical architecture string (independent parse)."""
    df = pd.read_csv(reference_dir / "results" / f"{FOLDERS[dataset]}_2000_new_all.csv")
    df.index = [f"e{eval(e)[0]}-h{''.join(map(str, eval(h)))}-r{''.join(map(str, eval(r)))}"
                for e, h, r in zip(df.embed_dim, df.num_heads, df.mlp_ratio)]
    return df


def test_all_five_datasets_with_every_architecture(reference_tables):
    ts = read_table_set(reference_tables)
    assert sorted(ts.tables) == sorted(FOLDERS)
    for ds, table in ts.tables.items():
        archs = set(table.column("arch").to_pylist())
        assert archs == {str(a) for a in space.hytas2000()}, ds


@pytest.mark.parametrize("dataset", list(FOLDERS))
def test_published_oa_and_proxies_come_through_joined_on_architecture(reference_bench, reference_dir, dataset):
    pub = published(reference_dir, dataset)
    df = reference_bench.frame(dataset).set_index("arch")
    common = pub.index.intersection(df.index)
    assert len(common) == len(pub)
    np.testing.assert_allclose(df.loc[common, "metric_oa"], pub.loc[common, "OA"])
    np.testing.assert_allclose(df.loc[common, "proxy_snip"], pub.loc[common, "snip"], rtol=1e-6)
    np.testing.assert_allclose(df.loc[common, "proxy_naswot"], pub.loc[common, "NASWOT"], rtol=1e-6)
    np.testing.assert_allclose(df.loc[common, "cost_model_size"], pub.loc[common, "m_size"])
    # jacob_cov keeps the merged tables' sign on every dataset
    np.testing.assert_allclose(df.loc[common, "proxy_jacob_cov"], pub.loc[common, "jacob_cov"], rtol=1e-6)


def test_indian_pines_oa_of_architecture_1(reference_bench):
    rec = reference_bench.query(1, "indian_pines")
    assert rec.oa == pytest.approx(0.8073)
    assert rec.oa_best == pytest.approx(0.810671)
    assert rec.train_seconds == 4 * 60 + 15
    assert rec.params == 4145086
    assert rec["source"] == "hytas"


def test_reference_records_say_where_they_come_from(reference_bench):
    rec = reference_bench.query(1, "ksc")
    assert rec.provenance["source"] == "hytas" and rec.provenance["protocol"] == "hytas-upstream"
    assert "not recorded" in rec.provenance["protocol_description"]  # the authors' settings are unknown
    assert rec.class_acc is None and "not published" in rec.reason("class_acc")


def test_houston_runs_and_gaps_through_the_query_api(reference_bench):
    """The reference's repeats (Salinas) and gaps (Houston) as the query API serves them."""
    df = reference_bench.frame("salinas", runs="all")
    twice = df[df.run == 1].arch.iloc[0]
    assert [r["run"] for r in reference_bench.runs(twice, "salinas")] == [0, 1]
    missing = reference_bench.frame("houston").query("metric_oa != metric_oa").arch.iloc[0]
    assert reference_bench.has(missing, "houston") and not reference_bench.has(missing, "houston", "oa")


def test_jacob_cov_flip_is_applied_only_where_upstream_disagrees(reference_bench, reference_dir):
    for dataset, folder in FOLDERS.items():
        raw = pd.read_csv(reference_dir / "outputs" / folder / "search_results_jacob_cov.csv")
        ours = reference_bench.query(int(raw["Unnamed: 0"][0]) + 1, dataset).jacob_cov
        sign = -1 if dataset in ("salinas", "paviau") else 1
        assert ours == pytest.approx(sign * raw["jacob_cov"][0])
    notes = " ".join(reference_bench.manifest()["notes"])
    assert "salinas: proxy_jacob_cov is the negation" in notes and "paviau" in notes


def test_zico_pp_and_variants(reference_bench, reference_dir):
    for dataset, folder in FOLDERS.items():
        raw = pd.read_csv(reference_dir / "outputs" / folder / "test" / "search_results_zico_act_decay.csv")
        assert reference_bench.query(1, dataset).zico_pp == pytest.approx(raw["zico_act"][0])
    rec = reference_bench.query(1, "indian")
    raw = pd.read_csv(reference_dir / "outputs/indian/test/search_results_dss_origin_nolinear.csv")
    assert rec["dss__nosign"] == pytest.approx(raw["dss"][0])
    for name in ("synflow__nosign", "logsynflow__nosign", "dss__attn", "dss__mlp", "synflow__attn_nosign",
                 "snip__attn", "grad_norm__mlp"):
        assert rec.available(name), name
    sal = reference_bench.query(1, "salinas")
    assert sal.available("snip__attn") and not sal.available("dss__nosign")
    assert sal["dss__nosign"] is None and "not published upstream for salinas" in sal.reason("dss__nosign")


def test_gaps_are_absent_with_a_reason_never_filled(reference_bench, reference_dir):
    pub = published(reference_dir, "houston2013")
    df = reference_bench.frame("houston2013")
    missing = df[df.metric_oa.isna()]
    assert len(missing) == 34 and not set(missing.arch) & set(pub.index)
    rec = reference_bench.query(missing.arch.iloc[0], "houston")
    assert rec.oa is None and rec.aa is None and rec.params is None
    assert "1966 of the 2000" in rec.reason("oa")
    assert rec.snip is not None  # proxies are published for all 2000
    pav = reference_bench.frame("paviau")
    assert pav.metric_oa.isna().sum() == 1


def test_repeated_training_runs_are_kept(reference_bench, reference_dir):
    raw = pd.read_csv(reference_dir / "outputs/houston/retrain_results_2000_new_6.csv")
    dup = raw.duplicated(["layer_num", "embed_dim", "num_heads", "mlp_ratio"], keep=False)
    allruns = reference_bench.frame("houston2013", runs="all")
    assert len(allruns) == 2000 + dup.sum() // 2
    row = raw[dup].iloc[0]
    arch = space.parse(row[["layer_num", "embed_dim", "num_heads", "mlp_ratio"]].to_dict())
    runs = reference_bench.runs(arch, "houston2013")
    assert len(runs) == 2
    assert sorted(r.oa for r in runs) == sorted(raw[dup & (raw.num_heads == row.num_heads) &
                                                    (raw.mlp_ratio == row.mlp_ratio)].OA)
    merged_oa = published(reference_dir, "houston2013").loc[str(arch), "OA"]
    assert runs[0].oa == pytest.approx(merged_oa)  # run 0 is the headline run


def test_proxy_times_from_times_txt(reference_bench):
    assert reference_bench.proxy_seconds("indian", "snip") == pytest.approx(0.12 * 3600 / 2000)
    assert reference_bench.proxy_seconds("indian", "naswot") is None  # '014h' upstream: ambiguous
    assert reference_bench.proxy_seconds("ksc", "snip") is None


def test_bad_source_folders(tmp_path, reference_dir):
    with pytest.raises(TableError, match="no results/ folder"):
        import_hytas.import_reference(tmp_path, tmp_path / "out")
    with pytest.raises(ReferenceFileError, match="no such folder"):
        import_hytas.import_reference(tmp_path / "nope", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()  # refused before the destination is made
    copy = tmp_path / "copy"
    shutil.copytree(reference_dir / "results", copy / "results")
    shutil.copytree(reference_dir / "outputs", copy / "outputs")
    (copy / "outputs/ksc/search_results_snip.csv").write_text("garbage,\n1,2,3\n")
    with pytest.raises(TableError, match="search_results_snip.csv"):
        import_hytas.import_reference(copy, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_mirror(reference_dir, tmp_path, monkeypatch):
    """A real HTTP server that serves the reference folder the way raw.githubusercontent.com does."""
    root = tmp_path / "mirror"
    shutil.copytree(reference_dir, root / L.REPOSITORY / L.COMMIT)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(L, "RAW_URL", f"http://127.0.0.1:{server.server_port}/{{repo}}/{{commit}}/{{path}}")
    yield root / L.REPOSITORY / L.COMMIT
    server.shutdown()


def test_download_verifies_checksums_and_imports(local_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    assert import_hytas.main([]) == 0
    bench = Benchmark(source="hytas")
    assert bench.query(1, "indian").oa == pytest.approx(0.8073)
    assert bench.manifest()["build"]["files_matching_pinned_sha256"] == len(import_hytas.CHECKSUMS)


def test_download_rejects_a_tampered_file(local_mirror, tmp_path):
    f = local_mirror / "results" / "ksc_2000_new_all.csv"
    f.write_text(f.read_text().replace("0.", "1.", 1))
    with pytest.raises(DownloadError, match="does not match the pinned"):
        import_hytas.download(tmp_path / "dl", timeout=5, retries=1)


def test_offline_gives_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(L, "RAW_URL", "http://127.0.0.1:9/{repo}/{commit}/{path}")  # discard port: refused
    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(fetch.time, "sleep", lambda s: None)
    assert import_hytas.main([]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and "--from" in err


def test_training_seed_is_the_upstream_default_with_its_source(reference_bench):
    df = reference_bench.frame("houston2013", runs="all")
    trained = df["metric_oa"].notna()
    assert (df.loc[trained, "seed"] == 0).all() and df.loc[~trained, "seed"].isna().all()
    assert (df["run"] > 0).any()  # the repeats carry the same seed: upstream never varied it
    notes = " ".join(reference_bench.manifest()["notes"])
    assert "train.py" in notes and "0 + its rank" in notes


# ---- damaged files imported with --allow-modified: one `error:` line, exit 2 -----------------

_RETRAIN = "outputs/indian/retrain_results_2000_new_5.csv"
_MERGED = "results/indian_2000_new_all.csv"
_SNIP = "outputs/indian/search_results_snip.csv"
_TIMES = "outputs/indian/times.txt"


def _edit_csv(rel: str, **changes):
    """An edit of one CSV: drop the columns given as None, set the others to the value given."""
    def edit(root: Path) -> None:
        df = pd.read_csv(root / rel)
        for col, value in changes.items():
            df = df.drop(columns=[col]) if value is None else df.assign(**{col: value})
        (root / rel).write_text(df.to_csv(index=False))
    return edit


def _edit_bytes(rel: str, change):
    def edit(root: Path) -> None:
        (root / rel).write_bytes(change((root / rel).read_bytes()))
    return edit


def _inf_snip(root: Path) -> None:
    """An infinite snip score in the per-proxy file and, so that the two agree, the merged table."""
    for rel in (_SNIP, _MERGED):
        df = pd.read_csv(root / rel)
        df.loc[3, "snip"] = float("inf")
        (root / rel).write_text(df.to_csv(index=False))


DAMAGED = {  # case -> (edit, what the error must name)
    "retrain without layer_num": (_edit_csv(_RETRAIN, layer_num=None), ["retrain_results", "layer_num", "missing"]),
    "proxy file without layer_num": (_edit_csv(_SNIP, layer_num=None), ["search_results_snip.csv", "layer_num"]),
    "merged without m_size": (_edit_csv(_MERGED, m_size=None), ["indian_2000_new_all.csv", "m_size", "missing"]),
    "merged m_size text": (_edit_csv(_MERGED, m_size="abc"), ["row 2, column m_size", "'abc'", "positive number"]),
    "merged m_size negative": (_edit_csv(_MERGED, m_size=-1.0), ["column m_size", "positive number"]),
    "merged OA text": (_edit_csv(_MERGED, OA="x"), ["column OA", "'x'", "[0, 1]"]),
    "merged OA n/a": (_edit_csv(_MERGED, OA="n/a"), ["row 2, column OA", "'n/a' is not a number in [0, 1]"]),
    "merged cut in half": (_edit_bytes(_MERGED, lambda b: b[:len(b) // 2]),
                           ["indian_2000_new_all.csv", "missing value (an empty cell, or a line cut short)"]),
    "merged proxy text": (_edit_csv(_MERGED, snip="abc"), ["column snip", "finite number"]),
    "retrain params bool": (_edit_csv(_RETRAIN, num_params_subnet=True), ["num_params_subnet", "positive number"]),
    "infinite proxy score": (_inf_snip, ["search_results_snip.csv", "row 5, column snip", "inf", "finite number"]),
    "times.txt unreadable hours": (_edit_bytes(_TIMES, lambda b: b.replace(b"snip: 0.", b"snip: 0.x", 1)),
                                   ["times.txt", "column snip", "0.x12h", "hours"]),
    "times.txt not UTF-8": (_edit_bytes(_TIMES, lambda b: b"\xff\xfe\x80" + b), ["times.txt", "not UTF-8"]),
}


@pytest.fixture
def reference_copy(reference_dir, tmp_path) -> Path:
    """Symlinks to the pinned files (fast); ``_own`` makes one a real file before it is edited."""
    for rel in import_hytas.CHECKSUMS:
        (tmp_path / "copy" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "copy" / rel).symlink_to(reference_dir / rel)
    return tmp_path / "copy"


def _own(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)


@pytest.mark.parametrize("case", list(DAMAGED))
def test_damaged_files_are_a_typed_error_even_with_allow_modified(reference_copy, tmp_path, capsys, case):
    edit, names = DAMAGED[case]
    for rel in (_RETRAIN, _MERGED, _SNIP, _TIMES):
        _own(reference_copy / rel)
    edit(reference_copy)
    out = tmp_path / "out"
    assert import_hytas.main(["--from", str(reference_copy), "--out", str(out), "--allow-modified"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert "np.float64" not in err, err  # a cell as the file holds it, never a numpy repr
    for name in names:
        assert name in err, (name, err)
    assert not (out / "manifest.json").exists()
