"""The tables we ship (tables/): what the manifest says is what the Parquet holds, and a real
non-editable install carries them to <prefix>/share/hytasbench/tables, usable offline."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO

TABLES = REPO / "tables"


@pytest.fixture(scope="module")
def shipped():
    if not (TABLES / "manifest.json").is_file():
        pytest.skip("no shipped tables in this checkout (tables/manifest.json)")
    from hytasbench import Benchmark

    return Benchmark(source=TABLES)


def test_manifest_tells_the_truth(shipped):
    from hytasbench.datasets import get_spec

    m = shipped.manifest()
    assert m["source"] == "hytasbench" and m["build"]["command"].startswith("python -m builders.build")
    for ds in shipped.datasets():
        frame = shipped.frame(ds, runs="all")
        cov = m["build"]["coverage"][ds]
        assert not frame.duplicated(["arch", "run"]).any()
        # a cost unit per architecture fills every run of it; proxies units are per (architecture, seed) = row
        assert frame.loc[frame["cost_params"].notna(), "arch"].nunique() == cov["units"]["cost"]["done"]
        assert sorted(frame["seed"].unique()) == cov["seeds"]
        if "proxies" in cov["units"]:
            # synflow is data-free, so every proxy unit has it, full or --data-free
            scored = frame["proxy_synflow__seconds"].notna()
            assert scored.sum() == cov["units"]["proxies"]["done"]
            assert frame.loc[~scored, "absent_reason"].str.contains("proxies").all()
            missing = cov["missing_proxy_scores"]
            for name in m["proxies"]:
                values = frame.get(f"proxy_{name}")
                nulls = int(scored.sum()) if values is None else int(values[scored].isna().sum())
                assert nulls == missing.get(name, 0), (ds, name)
            if "data-free" in cov.get("proxy_scope", ""):
                # every pixel kernel is missing there, each row saying why, and a note names the dataset
                assert missing and all(frame.loc[scored, f"proxy_{n}__error"].str.contains("--data-free").all()
                                       for n in missing)
                assert any(get_spec(ds).title in n and "no pixels" in n for n in m["notes"]), ds
        trained = frame["metric_oa"].notna().sum() if "metric_oa" in frame else 0
        assert trained == cov["units"].get("train", {}).get("done", 0)
        assert set(frame["protocol"]) == {cov["protocol"]}


def test_protocol_sets_hold_what_the_manifest_lists(shipped):
    """Each set of another training protocol: the rows and architectures the manifest lists, every
    row of that protocol and trained (that is all such a set holds), each from an ingested result."""
    listed = shipped.manifest().get("protocol_sets") or {}
    assert shipped.protocols() == [shipped.manifest()["protocol"], *listed]
    for protocol, entry in listed.items():
        m = shipped.manifest(protocol=protocol)
        assert m["protocol"] == protocol and m["source"] == shipped.manifest()["source"]
        for ds, rows in entry["rows"].items():
            frame = shipped.frame(ds, protocol=protocol, runs="all")
            assert len(frame) == rows and frame["arch"].nunique() == entry["architectures"][ds]
            assert set(frame["protocol"]) == {protocol} and frame["metric_oa"].notna().all()
            assert m["build"]["coverage"][ds]["units"]["train"]["done"] == rows
            ingested = " ".join(n for n in m["notes"] if "ingested" in n)
            assert all(f"{a} from " in ingested for a in frame["arch"]), ds


def test_setup_cfg_installs_every_protocol_set():
    """A protocol set whose files a non-editable install leaves out makes the shipped tables fail to
    open there (a listed set is never skipped): setup.cfg must carry each folder."""
    import configparser

    if not (TABLES / "manifest.json").is_file():
        pytest.skip("no shipped tables in this checkout")
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    data_files = {k: v.split() for k, v in cfg["options.data_files"].items()}
    for protocol, entry in (json.loads((TABLES / "manifest.json").read_text()).get("protocol_sets") or {}).items():
        assert data_files.get(f"share/hytasbench/tables/{entry['path']}") == [f"tables/{entry['path']}/*.parquet"], \
            protocol


@pytest.mark.slow
def test_non_editable_install_ships_the_tables(tmp_path):
    if not (TABLES / "manifest.json").is_file():
        pytest.skip("no shipped tables in this checkout")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(wheels), str(REPO)], check=True, capture_output=True, cwd=tmp_path)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # without the caller's PYTHONPATH: with PYTHONPATH=. the checkout's egg-info (written by the wheel
    # build above) tells pip the package is installed already, and pip installs nothing
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYTASBENCH_TABLES")}
    target = Path(subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"],
                                 capture_output=True, text=True, check=True, env=env).stdout.strip())
    (target / "deps.pth").write_text(site.getsitepackages()[0] + "\n")  # numpy, pandas, pyarrow: no network
    subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--no-deps", *map(str, wheels.glob("*.whl"))],
                   check=True, capture_output=True, env=env, cwd=tmp_path)
    env["HYTASBENCH_CACHE"] = str(tmp_path / "empty-cache")
    out = subprocess.run([str(env_dir / "bin" / "hytasbench"), "info", "--json"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, check=True).stdout
    info = json.loads(out)
    assert info["default_source"] == "hytasbench"
    assert info["sources"]["hytasbench"]["datasets"]["indian_pines"]["architectures"] == 2000
    assert (env_dir / "share" / "hytasbench" / "tables" / "manifest.json").is_file()
    listed = json.loads((TABLES / "manifest.json").read_text()).get("protocol_sets") or {}
    assert {p: e["rows"] for p, e in info["sources"]["hytasbench"]["other_protocols"].items()} == \
        {p: e["rows"] for p, e in listed.items()}  # each set installed beside the tables, verified
