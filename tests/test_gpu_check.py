"""benchmarks/gpu_check.py end to end at toy scale on CPU (the dry run of the GPU check): every
part runs and writes what docs/building.md says, a second run resumes instead of redoing, and a
spent budget stops the check cleanly with a summary of what was left. The whole tiny check (minutes
of CPU) runs in the slow set; the default run keeps the budget stop and the option errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATASETS_DIR, REFERENCE, REPO, need

sys.path.insert(0, str(REPO / "benchmarks"))

SCRIPT = [sys.executable, str(REPO / "benchmarks" / "gpu_check.py")]
PARTS = ("cuda_tests", "throughput", "build", "projection", "protocol")


def check(out: Path, *extra: str, budget: float = 3000) -> subprocess.CompletedProcess:
    """The tiny check on CPU; the budget is generous so that a busy machine cannot fail the test
    (at rest the whole check takes about 100 s of CPU time)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = SCRIPT + ["--device", "cpu", "--tiny", "--out", str(out), "--data-root", str(DATASETS_DIR),
                    "--budget-s", str(budget), *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=budget + 300)


@pytest.fixture(scope="module")
def tiny_check(tmp_path_factory):
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_corrected.mat", "the real Indian Pines cube")
    out = tmp_path_factory.mktemp("gpu_check") / "out"
    ref = ["--reference", str(REFERENCE)] if REFERENCE.is_dir() else []
    res = check(out, *ref)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, ref


def part(out: Path, name: str) -> dict:
    return json.loads((out / "parts" / f"{name}.json").read_text())


@pytest.mark.slow  # the tiny check takes minutes of CPU
def test_every_part_runs_and_reports(tiny_check):
    out, ref = tiny_check
    summary = json.loads((out / "summary.json").read_text())
    assert {n: p["status"] for n, p in summary["parts"].items()} == {n: "complete" for n in PARTS}
    assert summary["left"] == {} and summary["device"] == "cpu" and summary["tiny"] is True
    md = (out / "summary.md").read_text()
    for heading in ("## CUDA tests", "## Throughput", "## Build", "## Projected cost", "## Protocol experiment"):
        assert heading in md

    tests = part(out, "cuda_tests")
    assert tests["tests"] >= 5 and "tests/test_cuda.py" in tests["files"]
    assert tests["skipped"] == tests["tests"] and tests["failures"] == tests["errors"] == 0  # no CUDA here

    rows = part(out, "throughput")["rows"]
    assert [r["model"].split()[0] for r in rows] == ["smallest", "spectralformer"]
    for r in rows:
        assert r["train_samples_s"] > 0 and r["baseline_train_samples_s"] > 0 and r["eval_samples_s"] > 0
        assert r["train_fraction_of_peak"] == pytest.approx(3 * r["flops_per_sample"] * r["train_samples_s"]
                                                            / r["matmul_peak_flops"])

    build = part(out, "build")
    assert build["proxies_done"] == 1 and len(build["trained"]) == 1
    assert 0.0 <= build["trained"][0]["oa"] <= 1.0 and build["trained"][0]["protocol"].startswith("hytasbench-v1+")
    from hytasbench import Benchmark

    rec = Benchmark(source=out / "build" / "tables").query(397, "indian_pines")
    assert rec.oa == build["trained"][0]["oa"] and rec.proxies

    proj = part(out, "projection")
    assert proj["proxy_units_used"] == 1 and len(proj["train_points"]) == 1
    assert proj["projection"]["training_hours"] > proj["projection"]["proxies_hours"] > 0
    assert set(proj["projection"]["datasets"]) == {"indian_pines", "salinas", "houston2013", "paviau", "ksc"}
    assert len(proj["check_against_build"]) == 1 and proj["check_against_build"][0]["ratio"] > 0


@pytest.mark.slow  # the tiny check takes minutes of CPU
def test_protocol_results_are_ingestible_training_results(tiny_check, tmp_path):
    out, ref = tiny_check
    from builders.ingest import ingest
    from builders.workdir import WorkDir

    results = sorted((out / "protocol" / "results").glob("*.json"))
    assert len(results) == 4  # 2 architectures x 2 protocols x 1 seed
    docs = [json.loads(p.read_text()) for p in results]
    assert {d["protocol_label"] for d in docs} == {"hytasbench-v1", "hytas-sampler"}
    assert all(d["protocol"].startswith("hytas-sampler") for d in docs if d["protocol_label"] == "hytas-sampler")
    units, skipped = ingest([str(out / "protocol" / "results")], WorkDir(tmp_path / "work"))
    assert not skipped and len({u.key for u in units}) == 4
    comparison = part(out, "protocol")["comparison"]
    assert comparison["runs"] == 4 and len(comparison["rows"]) == 2
    for row in comparison["rows"]:
        assert row["small"]["n"] == 1 and set(map(int, row["by_embed"])) == {32, 48}
        if ref:  # the published OA of the same architecture, from the authors' files
            assert row["small_published_same_archs"]["n"] == 1


@pytest.mark.slow  # the tiny check takes minutes of CPU
def test_a_second_run_resumes_instead_of_redoing(tiny_check):
    out, ref = tiny_check
    before = {p: p.stat().st_mtime_ns for p in (out / "protocol" / "results").glob("*.json")}
    res = check(out, *ref)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("finished in an earlier run") == len(PARTS)
    assert {p: p.stat().st_mtime_ns for p in (out / "protocol" / "results").glob("*.json")} == before


def test_a_spent_budget_stops_cleanly_with_a_summary(tmp_path):
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_corrected.mat", "the real Indian Pines cube")
    res = check(tmp_path / "out", budget=1)
    assert res.returncode == 3, res.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["left"]) == set(PARTS)
    assert all("budget was spent" in p["reason"] for p in summary["parts"].values())
    assert "## Left for the next run" in (tmp_path / "out" / "summary.md").read_text()


def test_bad_options_are_typed_errors(tmp_path, capsys):
    import gpu_check
    from hytasbench.errors import BuildError

    from hytasbench.train import TrainConfig

    got = gpu_check.resolve_protocols(["hytasbench-v1", "hytas-sampler+lag", "mine:epoch_sampler=hytas,epochs=5"])
    assert got["mine"] == {"epoch_sampler": "hytas", "epochs": 5}
    assert TrainConfig(**got["hytasbench-v1"]).protocol_name() == "hytasbench-v1"
    assert TrainConfig(**got["hytas-sampler+lag"]).protocol_name() == "hytas-sampler+lag"
    for bad in (["nope"], ["x:device=cuda"], ["x:epochs=many"]):
        with pytest.raises(BuildError):
            gpu_check.resolve_protocols(bad)
    # in-process, the same main() as the command (the budget test runs the command itself)
    base = ["--device", "cpu", "--tiny", "--data-root", str(DATASETS_DIR)]
    assert gpu_check.main(base + ["--out", str(tmp_path / "out"), "--protocols", "nope"]) == 2
    assert "allowed: hytasbench-v1, hytas-sampler" in capsys.readouterr().err
    assert gpu_check.main(base + ["--out", str(tmp_path / "out2"), "--parts", "throughput,nothing"]) == 2
    assert "nothing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()  # refused before any work
