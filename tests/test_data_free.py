"""Data-free kernels from a dataset's shape alone: the same numbers as on the real cube, and a
builder run (--data-free) that needs no dataset files at all."""
from __future__ import annotations

import pytest

from hytasbench import Benchmark
from hytasbench.errors import InvalidArgumentError

torch = pytest.importorskip("torch")

from hytasbench.proxies import data_free, score_architecture  # noqa: E402


def test_the_registry_marks_what_reads_no_pixels():
    assert set(data_free()) == {"synflow", "logsynflow", "dss", "params", "flops"}
    with pytest.raises(InvalidArgumentError, match="snip"):
        score_architecture(397, "ksc", ["synflow", "snip"], data_free=True)


def test_shape_only_equals_the_real_cube(shared_datasets):
    if not (shared_datasets / "indian_pines").is_dir():
        pytest.skip("the real Indian Pines files are not in the shared datasets folder")
    names = ["synflow", "logsynflow", "dss"]
    free = score_architecture(551, "indian_pines", names, data_free=True)
    real = score_architecture(551, "indian_pines", names, data_root=str(shared_datasets))
    for col, value in real.items():
        if not col.endswith("__seconds"):
            assert free[col] == value, col


def test_builder_scores_datasets_without_their_files(tmp_path, monkeypatch):
    from builders.build import main

    monkeypatch.setenv("HYTASBENCH_DATA", str(tmp_path / "no-data-here"))
    out = tmp_path / "t"
    code = main(["--device", "cpu", "--datasets", "ksc,paviau", "--archs", "1,2", "--data-free", "--quiet",
                 "--work", str(tmp_path / "w"), "--out", str(out)])
    assert code == 0
    bench = Benchmark(source=out)
    for ds in ("ksc", "paviau"):
        rec = bench.query(2, ds)
        expected = score_architecture(2, ds, ["synflow"], data_free=True)["proxy_synflow"]
        assert rec.synflow == expected and rec.params > 0
        assert rec["snip"] is None and "reads pixels" in rec.reason("snip")
    cov = bench.manifest()["build"]["coverage"]["ksc"]
    assert "data-free" in cov["proxy_scope"]
    assert main(["--device", "cpu", "--datasets", "ksc", "--archs", "1", "--data-free", "--proxies", "snip",
                 "--work", str(tmp_path / "w2"), "--out", str(tmp_path / "t2")]) == 2


def _values(row):
    def norm(v):
        if hasattr(v, "tolist"):
            v = v.tolist()
        return None if isinstance(v, float) and v != v else v

    return {c: norm(v) for c, v in row.items()}


def _proxy_units(manifest, ds):
    return manifest["build"]["coverage"][ds]["units"]["proxies"]


def test_data_free_rows_of_a_base_stay_data_free_units(tmp_path, monkeypatch):
    """A --data-free table used as --base comes back as data-free units: a larger --data-free build
    over it (with or without its work directory) recomputes nothing and counts each architecture once."""
    import json
    import shutil

    from builders.build import main

    monkeypatch.setenv("HYTASBENCH_DATA", str(tmp_path / "no-data-here"))
    first, second, work = tmp_path / "first", tmp_path / "second", tmp_path / "w"
    common = ["--device", "cpu", "--datasets", "ksc", "--data-free", "--quiet", "--work", str(work)]
    assert main([*common, "--archs", "1,2", "--out", str(first)]) == 0
    before = Benchmark(source=first).frame("ksc").set_index("arch_id")
    for gone in (False, True):
        if gone:
            shutil.rmtree(work)
        assert main([*common, "--archs", "1,2,3", "--out", str(second), "--base", str(first)]) == 0
        bench = Benchmark(source=second)
        assert _proxy_units(bench.manifest(), "ksc") == {"selected": 3, "done": 3, "failed": 0}, gone
        assert "data-free" in bench.manifest()["build"]["coverage"]["ksc"]["proxy_scope"]
        after = bench.frame("ksc").set_index("arch_id")
        for aid in (1, 2):  # every value, variant, per-layer list, second and reason of the earlier rows
            assert _values(after.loc[aid]) == _values(before.loc[aid]), (aid, gone)
            assert "reads pixels" in bench.query(aid, "ksc").reason("snip")
    seeded = [json.loads(p.read_text()) for p in (work / "done").glob("ksc__proxies*")]
    assert sorted(d["key"].split("__")[1] for d in seeded) == ["proxies-datafree"] * 3
    assert sum(bool(d.get("from_table")) for d in seeded) == 2  # 1 and 2 from the base, 3 computed


def test_a_full_proxy_unit_wins_over_a_data_free_one(tmp_path, shared_datasets):
    """Scoring an architecture on the real cube after a --data-free build of it: the merged row has
    the pixel kernels and the architecture is counted once."""
    from builders.build import main

    if not (shared_datasets / "indian_pines").is_dir():
        pytest.skip("the real Indian Pines files are not in the shared datasets folder")
    out, work = tmp_path / "t", tmp_path / "w"
    common = ["--device", "cpu", "--datasets", "indian_pines", "--archs", "397", "--kind", "proxies", "--quiet",
              "--work", str(work), "--out", str(out), "--data-root", str(shared_datasets)]
    assert main([*common, "--data-free"]) == 0
    free = Benchmark(source=out).query(397, "indian_pines")
    assert free["snip"] is None
    assert main([*common, "--proxies", "synflow,snip", "--base", str(out)]) == 0
    bench = Benchmark(source=out)
    rec = bench.query(397, "indian_pines")
    assert rec["snip"] is not None and rec.synflow == free.synflow
    cov = bench.manifest()["build"]["coverage"]["indian_pines"]
    assert _proxy_units(bench.manifest(), "indian_pines") == {"selected": 1, "done": 1, "failed": 0}
    assert "data-free" not in cov["proxy_scope"]
