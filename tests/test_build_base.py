"""Continuing a build from a table set (--base): delete the work directory, build a larger
selection, and the earlier rows come back with exactly the same values; a kernel the base lacks
is computed for its units by --refresh-stale without touching the others."""
from __future__ import annotations

import math
import shutil

import pytest

from hytasbench import Benchmark

pytest.importorskip("torch")


def _norm(v):
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return None if isinstance(v, float) and math.isnan(v) else v


def rows(path, ids):
    frame = Benchmark(source=path).frame("indian_pines").set_index("arch_id")
    return {i: {c: _norm(v) for c, v in frame.loc[i].items()} for i in ids}


@pytest.fixture(scope="module")
def data_root(shared_datasets):
    if not (shared_datasets / "indian_pines").is_dir():
        pytest.skip("the real Indian Pines files are not in the shared datasets folder")
    return str(shared_datasets)


def build(*extra):
    from builders.build import main

    return main(["--device", "cpu", "--datasets", "indian_pines", "--kind", "proxies", "--quiet", *extra])


@pytest.mark.slow
def test_continue_from_tables_after_the_work_directory_is_gone(tmp_path, data_root):
    first, second, work = tmp_path / "first", tmp_path / "second", tmp_path / "work"
    common = ["--data-root", data_root, "--proxies", "synflow,snip"]
    assert build("--archs", "397,551", "--work", str(work), "--out", str(first), *common) == 0
    before = rows(first, [397, 551])
    assert before[397]["proxy_snip"] is not None and before[397]["proxy_snip__layers"]
    shutil.rmtree(work)
    assert build("--archs", "397,551,1846", "--work", str(work), "--out", str(second), "--base", str(first),
                 *common) == 0
    after = rows(second, [397, 551, 1846])
    for aid in (397, 551):
        assert after[aid] == before[aid], aid  # every value, per-layer list and seconds unchanged
    assert after[1846]["proxy_snip"] is not None
    import json

    from hytasbench import space

    docs = {p.name: json.loads(p.read_text()) for p in (work / "done").iterdir()}
    earlier = [d for n, d in docs.items() if "__proxies__" in n and str(space.parse(397)) in n]
    assert earlier and "from_table" in earlier[0], "the base's unit was recomputed instead of taken"
    later = [d for n, d in docs.items() if "__proxies__" in n and str(space.parse(1846)) in n]
    assert later and "from_table" not in later[0]
    # the refresh computes the kernel the base lacks (synflow and snip stay as they were)
    shutil.rmtree(work)
    third = tmp_path / "third"
    assert build("--archs", "397", "--work", str(work), "--out", str(third), "--base", str(second), "--data-root",
                 data_root, "--proxies", "synflow,snip,naswot", "--refresh-stale") == 0
    got = rows(third, [397, 551])[397]
    assert got["proxy_naswot"] is not None and got["proxy_naswot__error"] is None
    assert {k: v for k, v in got.items() if "naswot" not in k and k != "absent_reason"} == \
        {k: v for k, v in after[397].items() if "naswot" not in k and k != "absent_reason"}
    # 551 came only from the base: kept, and its missing kernels say why
    kept = rows(third, [551])[551]
    assert kept["proxy_snip"] == after[551]["proxy_snip"]
    assert kept["proxy_naswot__error"].startswith("missing:")


def test_a_bad_base_is_refused_before_any_work(tmp_path):
    assert build("--archs", "1", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"),
                 "--base", str(tmp_path / "nothing")) == 2
    assert not (tmp_path / "w").exists()
