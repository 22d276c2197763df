"""Data-free kernels from a dataset's shape alone: the same numbers as on the real cube, and a
builder run (--data-free) that needs no dataset files at all."""
from __future__ import annotations

import pytest

from hytasbench import Benchmark

torch = pytest.importorskip("torch")

from hytasbench.proxies import data_free, score_architecture  # noqa: E402


def test_the_registry_marks_what_reads_no_pixels():
    assert set(data_free()) == {"synflow", "logsynflow", "dss", "params", "flops"}
    with pytest.raises(ValueError, match="snip"):
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
