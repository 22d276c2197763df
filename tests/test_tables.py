"""The table format: round trip, verification on load, and crash safety of writes."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hytasbench import space
from hytasbench.errors import TableError
from hytasbench.tables import read_table_set, write_table_set

ARCHS = [str(a) for a in space.hytas2000()]


def frame(n: int, offset: float = 0.0, dataset: str = "indian_pines") -> pd.DataFrame:
    """n architectures, OA offset + i / (2 n): valid fractions for offsets up to 0.5."""
    return pd.DataFrame({"arch": ARCHS[:n], "dataset": dataset, "source": "t",
                         "run": 0, "metric_oa": [offset + i / (2 * n) for i in range(n)]})


def write(path: Path, offset: float = 0.0) -> dict:
    return write_table_set(path, {"indian_pines": frame(50, offset), "ksc": frame(20, offset, "ksc")}, source="t",
                           protocol="p", description="test tables", build={"command": "pytest"},
                           absent={"ksc": {"metric_aa": "not computed"}})


def test_round_trip_and_manifest(tmp_path):
    manifest = write(tmp_path)
    assert manifest["schema_version"] == 1
    ts = read_table_set(tmp_path)
    assert sorted(ts.tables) == ["indian_pines", "ksc"]
    assert ts.tables["ksc"].num_rows == 20
    assert ts.tables["indian_pines"].column("metric_oa").to_pylist() == frame(50)["metric_oa"].tolist()
    assert ts.manifest["absent"]["ksc"] == {"metric_aa": "not computed"}
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    for name, meta in on_disk["files"].items():
        assert meta["sha256"].startswith(name.split("-")[-1].split(".")[0])
        # readable with plain pandas, as docs/table_format.md promises
        assert len(pd.read_parquet(tmp_path / name)) == meta["rows"]


def test_integer_columns_get_the_schema_types_whoever_writes(tmp_path):
    # a frame where missing values made the integer columns floats or objects, as pandas does
    f = frame(4)
    f["run"] = [0.0, 0.0, 0.0, 0.0]
    f["seed"] = [0.0, None, 3.0, 4.0]
    f["cost_params"] = pd.array([10, None, 30, 2 ** 40], dtype="object")
    write_table_set(tmp_path, {"indian_pines": f}, source="t", protocol="p", description="d")
    table = read_table_set(tmp_path).tables["indian_pines"]
    assert {c: str(table.schema.field(c).type) for c in ("run", "seed", "cost_params")} == \
        {"run": "int32", "seed": "int64", "cost_params": "int64"}
    assert table.column("seed").to_pylist() == [0, None, 3, 4]
    assert table.column("cost_params").to_pylist() == [10, None, 30, 2 ** 40]


def test_an_integer_list_column_declared_non_null_is_an_integer_list(tmp_path):
    """``list<item: int64 not null>`` is as much a list of integers as ``list<item: int64>``."""
    import pyarrow as pa

    f = frame(3)
    f["num_heads"] = [list(space.parse(a).num_heads) for a in f["arch"]]
    table = pa.Table.from_pandas(f, preserve_index=False)
    strict = pa.list_(pa.field("item", pa.int64(), nullable=False))
    table = table.set_column(table.column_names.index("num_heads"), "num_heads",
                             pa.array(f["num_heads"].tolist(), type=strict))
    write_table_set(tmp_path, {"indian_pines": table}, source="t", protocol="p", description="d")
    assert read_table_set(tmp_path).tables["indian_pines"].column("num_heads").to_pylist() == f["num_heads"].tolist()


@pytest.mark.parametrize("col,bad", [("run", [0.5, 0, 0, 0]), ("seed", ["a", "b", "c", "d"]),
                                     ("depth", [4, 7, 10, 2 ** 20]), ("seed", [False] * 4), ("run", ["0"] * 4)])
def test_a_non_integer_in_an_integer_column_is_refused_before_writing(tmp_path, col, bad):
    f = frame(4)
    f[col] = bad
    with pytest.raises(TableError, match=f"{col}.*integers"):
        write_table_set(tmp_path, {"indian_pines": f}, source="t", protocol="p", description="d")
    assert not list(tmp_path.glob("*.parquet"))


@pytest.mark.parametrize("case,match", [
    ("rows of another protocol", "column protocol: 'other'"), ("dataset not of the benchmark", "'pines'"),
    ("source empty", "'source'"), ("source not a string", "'source'"), ("absent not per dataset", "'absent'")])
def test_the_writer_refuses_what_loading_would_refuse(tmp_path, case, match):
    f, kw, tables = frame(4), dict(source="t", protocol="p", description="d"), None
    if case == "rows of another protocol":
        f["protocol"] = ["p", "p", "other", "p"]
    elif case == "dataset not of the benchmark":
        tables = {"pines": f.assign(dataset="pines")}
    elif case == "source empty":
        kw["source"] = ""
    elif case == "source not a string":
        kw["source"] = 5
    else:
        kw["absent"] = {"indian_pines": ["metric_aa"]}
    with pytest.raises(TableError, match=match):
        write_table_set(tmp_path, tables or {"indian_pines": f}, **kw)
    assert not (tmp_path / "manifest.json").exists() and not list(tmp_path.glob("*.parquet"))


def test_rewrite_removes_stale_files(tmp_path):
    write(tmp_path, 0.0)
    write(tmp_path, 0.5)
    assert len(list(tmp_path.glob("*.parquet"))) == 2
    assert read_table_set(tmp_path).tables["ksc"].column("metric_oa").to_pylist()[0] == 0.5


def _one_file(path: Path, dataset: str) -> Path:
    return next(path.glob(f"{dataset}-*.parquet"))


def test_flipped_byte_is_detected_and_nothing_is_returned(tmp_path):
    write(tmp_path)
    f = _one_file(tmp_path, "ksc")
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(TableError, match=f.name) as info:
        read_table_set(tmp_path)
    assert "checksum" in str(info.value)


def test_truncated_file_is_named(tmp_path):
    write(tmp_path)
    f = _one_file(tmp_path, "indian_pines")
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(TableError, match=f.name):
        read_table_set(tmp_path)


def test_unverified_load_of_a_damaged_file_still_fails_cleanly(tmp_path):
    write(tmp_path)
    f = _one_file(tmp_path, "indian_pines")
    f.write_bytes(b"not parquet at all")
    with pytest.raises(TableError, match="not a readable Parquet file"):
        read_table_set(tmp_path, verify=False)


def test_missing_file_manifest_and_bad_schema(tmp_path):
    with pytest.raises(TableError, match="manifest.json"):
        read_table_set(tmp_path)
    write(tmp_path)
    _one_file(tmp_path, "ksc").unlink()
    with pytest.raises(TableError, match="missing"):
        read_table_set(tmp_path)
    m = tmp_path / "manifest.json"
    m.write_text("{not json")
    with pytest.raises(TableError, match="not JSON"):
        read_table_set(tmp_path)
    m.write_text(json.dumps({"schema_version": 99, "source": "t", "files": {}}))
    with pytest.raises(TableError, match="schema_version 99"):
        read_table_set(tmp_path)


def test_write_rejects_tables_without_key_columns(tmp_path):
    with pytest.raises(TableError, match="key columns"):
        write_table_set(tmp_path, {"ksc": pd.DataFrame({"x": [1]})}, source="t", protocol="p", description="")


WRITER = """
import sys, pandas as pd
sys.path.insert(0, {repo!r})
from hytasbench import space
from hytasbench.tables import write_table_set
archs = [str(a) for a in space.hytas2000()]
i = 0
while True:
    df = {{ds: pd.DataFrame({{"arch": archs, "dataset": ds, "source": "t", "run": 0,
                            "metric_oa": [(i % 1000) / 1000] * len(archs)}}) for ds in ("ksc", "salinas")}}
    write_table_set({path!r}, df, source="t", protocol="p", description=str(i))
    i += 1
"""


def test_kill_during_writes_never_leaves_a_corrupt_table_set(tmp_path):
    repo = str(Path(__file__).resolve().parents[1])
    write_table_set(tmp_path, {"ksc": frame(5, dataset="ksc")}, source="t", protocol="p", description="seed")
    rng = random.Random(3)
    for trial in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER.format(repo=repo, path=str(tmp_path))])
        time.sleep(1.0 + rng.random() * 1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ts = read_table_set(tmp_path)  # must verify: old or new set, never a mix
        values = {tuple(set(t.column("metric_oa").to_pylist())) for t in ts.tables.values()}
        assert len(values) == 1, f"trial {trial}: datasets from different writes {values}"


def test_query_index_is_rebuilt_when_damaged(tmp_path, monkeypatch):
    from hytasbench.benchmark import Benchmark

    monkeypatch.setenv("HYTASBENCH_CACHE", str(tmp_path / "cache"))
    write_table_set(tmp_path / "t", {"ksc": frame(30, 0.25, "ksc")}, source="t", protocol="p", description="")
    assert Benchmark(source=tmp_path / "t").query(ARCHS[3], "ksc").oa == 0.25 + 3 / 60
    (index,) = (tmp_path / "cache" / "index").iterdir()
    index.write_bytes(index.read_bytes()[:40])  # truncated cache: ignored and rebuilt, never trusted
    assert Benchmark(source=tmp_path / "t").query(ARCHS[3], "ksc").oa == 0.25 + 3 / 60
    index.write_bytes(b"\x00garbage")
    assert Benchmark(source=tmp_path / "t").query(ARCHS[29], "ksc").oa == 0.25 + 29 / 60
