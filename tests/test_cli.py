"""The hytasbench command line, run as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import smallset

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hytasbench", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})})


def test_query_json_and_text(small_tables, small_bench):
    out = run("query", "1", "indian", "--source", str(small_tables), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["metric_oa"] == small_bench.query(1, "indian_pines").oa and data["arch_id"] == 1
    assert data["source"] == "small"
    out = run("query", "e48-h466533-r451343", "ksc", "--source", str(small_tables), "--fields", "oa", "params")
    assert out.returncode == 0 and "metric_oa" not in out.stdout  # --fields keeps the short names
    assert "oa" in out.stdout and "params" in out.stdout


def test_query_shows_why_a_value_is_missing(small_tables):
    out = run("query", str(smallset.UNTRAINED), "ksc", "--source", str(small_tables))
    assert out.returncode == 0 and smallset.UNTRAINED_REASON in out.stdout
    out = run("query", str(smallset.GRASP_FAILED), "ksc", "--source", str(small_tables))
    assert out.returncode == 0 and smallset.GRASP_ERROR in out.stdout


def test_info(small_tables):
    out = run("info", "--source", str(small_tables), "--json")
    info = json.loads(out.stdout)["sources"]["small"]["datasets"]
    assert set(info) == set(smallset.DATASETS)
    assert info["ksc"]["rows"] == smallset.N_ARCHS + 1 and info["ksc"]["architectures"] == smallset.N_ARCHS
    assert "small" in run("info", "--source", str(small_tables)).stdout


def test_import_into_the_cache(reference_dir, tmp_path):
    out = run("import", "--from", str(reference_dir), env={"HYTASBENCH_CACHE": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tables" / "hytas" / "manifest.json").is_file()
    out = run("query", "7", "pavia", "--json", env={"HYTASBENCH_CACHE": str(tmp_path),
                                                    "HYTASBENCH_TABLES": str(tmp_path / "none")})
    assert json.loads(out.stdout)["dataset"] == "paviau"


def test_errors_exit_nonzero_with_a_message(small_tables):
    out = run("query", "1", "mars", "--source", str(small_tables))
    assert out.returncode == 2 and "unknown dataset 'mars'" in out.stderr and "Traceback" not in out.stderr
    out = run("query", "e32-h33-r11", "indian", "--source", str(small_tables))
    assert out.returncode == 2 and "depth" in out.stderr
