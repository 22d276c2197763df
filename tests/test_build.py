"""python -m builders.build end to end: real training steps on real Indian Pines and a synthetic
cube, tables that Benchmark loads, kill -9 and resume, concurrent builders, failing units, shards
and the Ray backend. Each build runs the CLI in its own process, as a user would. The default run
keeps the tiny build and the option errors; the other builds (about 20-50 s each here) are marked
slow and run in CI's slow job."""
from __future__ import annotations

import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hytasbench import Benchmark, space

from conftest import DATASETS_DIR, REPO, need

PY = sys.executable
TINY_ARCHS = "121,397"  # e32, depth 4: the cheapest subnets of HyTAS-2000
TINY = ["--device", "cpu", "--datasets", "indian_pines,salinas", "--synthetic", "salinas", "--archs", TINY_ARCHS,
        "--kind", "train", "--epochs", "1", "--test-subset", "64"]
ONE_ARCH = [a if a != TINY_ARCHS else "397" for a in TINY] + ["--workers", "2"]
TIMING = ("metric_train_seconds", "device")  # columns allowed to differ between equal builds


def _env(tmp: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), HYTASBENCH_CACHE=str(tmp / "cache"))
    env.pop("HYTASBENCH_TABLES", None)
    return env


def _args(work: Path, out: Path, extra) -> list:
    return [PY, "-m", "builders.build", *extra, "--data-root", str(DATASETS_DIR), "--work", str(work),
            "--out", str(out), "--source", "tiny", "--quiet"]


def build(tmp: Path, work: Path, out: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(_args(work, out, extra), cwd=REPO, env=_env(tmp), capture_output=True, text=True,
                          timeout=timeout)


def start(tmp: Path, work: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(_args(work, out, extra), cwd=REPO, env=_env(tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def ran_counts(work: Path) -> collections.Counter:
    """How often each unit was run, over every builder's log."""
    counts: collections.Counter = collections.Counter()
    for log in (work / "logs").glob("*.log"):
        counts.update(m.group(1) for m in re.finditer(r" ran (\S+) ", log.read_text()))
    return counts


def deterministic(frame: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in frame.columns if c not in TIMING]
    return frame[keep].sort_values(["arch", "run"]).reset_index(drop=True)


def _build_once(tmp_path_factory, options) -> tuple:
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_corrected.mat", "the real Indian Pines cube")
    need(DATASETS_DIR / "salinas" / "Salinas_gt.mat", "the Salinas label map")
    tmp = tmp_path_factory.mktemp("tiny")
    work, out = tmp / "work", tmp / "tables"
    res = build(tmp, work, out, *options)
    assert res.returncode == 0, res.stderr
    return tmp, work, out


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    """The reference tiny build of the slow tests, uninterrupted: (tmp, work, out)."""
    return _build_once(tmp_path_factory, TINY)


@pytest.fixture(scope="module")
def one_arch_build(tmp_path_factory):
    """The same build for the smallest architecture alone, on two CPU workers (four units: about 30 s here)."""
    return _build_once(tmp_path_factory, ONE_ARCH)


def test_tiny_build_end_to_end(one_arch_build):
    tmp, work, out = one_arch_build
    bench = Benchmark(source=out)
    assert bench.sources == ["tiny"] and bench.datasets() == ["indian_pines", "salinas"]
    for ds in ("indian_pines", "salinas"):
        assert bench.num_rows(ds) == 1
        for arch_id in (397,):
            rec = bench.query(arch_id, ds)
            assert 0.0 <= rec.oa <= 1.0 and 0.0 <= rec.aa <= 1.0 and -1.0 <= rec.kappa <= 1.0
            assert rec.params > 0 and rec.flops > 0 and rec["train_seconds"] > 0
            assert rec["protocol"].startswith("hytasbench-v1+custom(epochs=1")
            assert rec["protocol"].endswith("+synthetic-cube") == (ds == "salinas")
            meaning = rec.provenance["protocol_description"]
            assert meaning.startswith("hytasbench-v1 (ours") and ("synthetic cube" in meaning) == (ds == "salinas")
            assert str(rec.arch) == str(space.parse(arch_id))
    from hytasbench.model import build_model_for, count_flops, count_params

    model = build_model_for(397, "indian_pines")
    rec = bench.query(397, "indian_pines")
    assert (rec.params, rec.flops) == (count_params(model), count_flops(model))
    assert rec.reason("snip")  # proxies were not built: absent with a reason
    m = bench.manifest()
    assert m["build"]["command"].startswith("python -m builders.build ")
    assert m["build"]["coverage"]["indian_pines"]["units"]["train"] == {"selected": 1, "done": 1, "failed": 0}
    assert m["build"]["config"]["synthetic_cubes"] == ["salinas"]
    assert "library_version" in m["build"] and "git_commit" in m["build"]
    assert not list((work / "locks").glob("*.lock"))
    assert set(ran_counts(work).values()) == {1}
    again = build(tmp, work, out, *ONE_ARCH)  # idempotent: nothing left to run, same table
    assert again.returncode == 0 and set(ran_counts(work).values()) == {1}
    for ds in ("indian_pines", "salinas"):
        pd.testing.assert_frame_equal(deterministic(Benchmark(source=out).frame(ds)), deterministic(bench.frame(ds)))


def _gone(pgid: int, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_kill_9_and_resume_gives_the_uninterrupted_table(tiny_build, tmp_path):
    ref_tmp, _, ref_out = tiny_build
    work, out = tmp_path / "work", tmp_path / "tables"
    first = build(tmp_path, work, out, *TINY, "--time-limit", "1s", "--grace", "0")  # stops cleanly, early
    assert first.returncode == 3, first.stderr
    rng = random.Random(5)
    for round_ in range(2):
        proc = start(tmp_path, work, out, *TINY)
        time.sleep(rng.uniform(4.0, 12.0))
        if round_ == 1:  # only the builder dies: its orphaned workers must quit by themselves
            os.kill(proc.pid, signal.SIGKILL)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _gone(proc.pid, 15), "workers outlived their killed builder"
    final = build(tmp_path, work, out, *TINY)
    assert final.returncode == 0, final.stderr
    ref, got = Benchmark(source=ref_out), Benchmark(source=out)
    for ds in ("indian_pines", "salinas"):
        frame = got.frame(ds, runs="all")
        assert not frame.duplicated(["arch", "run"]).any() and len(frame) == 2
        pd.testing.assert_frame_equal(deterministic(frame), deterministic(ref.frame(ds, runs="all")))
    assert not list((work / "done").glob(".*.tmp"))  # an interrupted atomic write leaves nothing behind


@pytest.mark.slow
def test_two_builders_on_one_work_dir_never_run_a_unit_twice(tmp_path):
    work, out = tmp_path / "work", tmp_path / "tables"
    args = ["--device", "cpu", "--datasets", "indian_pines", "--archs", "1-120", "--kind", "cost"]
    procs = [start(tmp_path, work, out, *args) for _ in range(2)]
    for p in procs:
        output = p.communicate(timeout=600)[0]
        assert p.returncode == 0, output
    counts = ran_counts(work)
    assert len(counts) == 120 and set(counts.values()) == {1}
    per_builder = [sum(1 for _ in re.finditer(r" ran ", log.read_text())) for log in (work / "logs").glob("*.log")]
    assert len(per_builder) == 2 and min(per_builder) > 0, per_builder  # they really shared the work
    frame = Benchmark(source=out).frame("indian_pines")
    assert len(frame) == 120 and frame["arch"].is_unique and frame["cost_params"].notna().all()


@pytest.mark.slow
def test_failing_unit_is_recorded_not_retried_when_deterministic_and_the_build_goes_on(tmp_path):
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_corrected.mat", "the real Indian Pines cube")
    if (DATASETS_DIR / "ksc" / "KSC.mat").exists():
        pytest.skip("the real KSC cube is present, so its training unit would not fail")
    work, out = tmp_path / "work", tmp_path / "tables"
    args = ["--device", "cpu", "--datasets", "indian_pines,ksc", "--archs", "121", "--kind", "train",
            "--epochs", "1", "--test-subset", "32", "--retries", "1"]
    res = build(tmp_path, work, out, *args)
    assert res.returncode == 1, res.stderr
    key = "ksc__train-e1-t32__s0__" + str(space.parse(121))
    attempts = json.loads((work / "failed" / f"{key}.json").read_text())["attempts"]
    # missing files fail the same way every time: recorded once, not retried (--retries is for the rest)
    assert len(attempts) == 1 and attempts[0]["error"].startswith("DatasetFilesError")
    assert "Traceback" in attempts[0]["traceback"]
    bench = Benchmark(source=out)
    assert 0 <= bench.query(121, "indian_pines").oa <= 1  # the rest of the build went on
    ksc = bench.query(121, "ksc")
    assert ksc.params > 0 and ksc.oa is None and "DatasetFilesError" in ksc.reason("oa")
    assert bench.manifest()["build"]["failures_total"] == 1
    again = build(tmp_path, work, out, *args)  # not retried by a second run either
    assert again.returncode == 1 and len(json.loads((work / "failed" / f"{key}.json").read_text())["attempts"]) == 1


@pytest.mark.slow
def test_shards_then_merge_only(tmp_path):
    work, out = tmp_path / "work", tmp_path / "tables"
    args = ["--device", "cpu", "--datasets", "indian_pines", "--archs", "1-12", "--kind", "cost"]
    for k in (1, 2):
        res = build(tmp_path, work, out, *args, "--shard", f"{k}/2", "--no-merge")
        assert res.returncode == 0, res.stderr
    assert not out.exists()
    res = build(tmp_path, work, out, *args, "--merge-only")
    assert res.returncode == 0, res.stderr
    frame = Benchmark(source=out).frame("indian_pines")
    assert sorted(frame["arch_id"]) == list(range(1, 13))
    assert set(ran_counts(work).values()) == {1} and len(ran_counts(work)) == 12


def test_bad_options_are_typed_errors(tmp_path, capsys):
    """Each bad option in-process (the same main() the command runs), then one as a real command."""
    from builders.build import main

    for bad in (["--shard", "3/2"], ["--kind", "everything"], ["--datasets", "mars"], ["--archs", "0"],
                ["--time-limit", "soon"], ["--device", "cuda", "--gpu", "99"], ["--device", "cuda", "--gpu", "0,x"]):
        code = main(_args(tmp_path / "w", tmp_path / "o", ["--device", "cpu", *bad])[3:])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: "), (bad, err)
    assert not (tmp_path / "w").exists()
    res = build(tmp_path, tmp_path / "w", tmp_path / "o", "--device", "cpu", "--datasets", "mars", timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "mars" in res.stderr, res.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_ray_backend_on_a_local_instance(tiny_build, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'hytasbench[ray]')")
    _, _, ref_out = tiny_build
    work, out = tmp_path / "work", tmp_path / "tables"
    args = [a if a != "indian_pines,salinas" else "indian_pines" for a in TINY]
    res = build(tmp_path, work, out, *args, "--ray", "local", "--ray-cpus", "2")
    assert res.returncode == 0, res.stderr
    got = Benchmark(source=out).frame("indian_pines")
    ref = Benchmark(source=ref_out).frame("indian_pines")
    pd.testing.assert_frame_equal(deterministic(got), deterministic(ref))  # same units, same numbers
    assert len(ran_counts(work)) == 4  # two cost and two train units, each run once


@pytest.mark.slow
def test_ingested_training_result_equals_the_builders_own(tiny_build, tmp_path):
    """A result of python -m hytasbench.train becomes the same unit, with the same numbers."""
    _, _, ref_out = tiny_build
    result = tmp_path / "r.json"
    subprocess.run([PY, "-m", "hytasbench.train", "--arch", "121", "--dataset", "indian_pines", "--root",
                    str(DATASETS_DIR), "--epochs", "1", "--test-subset", "64", "--threads", "1", "--out", str(result)],
                   cwd=REPO, env=_env(tmp_path), check=True, capture_output=True, timeout=600)
    work, out = tmp_path / "work", tmp_path / "tables"
    args = ["--device", "cpu", "--datasets", "indian_pines", "--archs", "121", "--kind", "cost", "--epochs", "1",
            "--test-subset", "64", "--merge-only", "--ingest", str(result), str(tmp_path / "not-a-result.json")]
    (tmp_path / "not-a-result.json").write_text("{}")
    res = build(tmp_path, work, out, *args)
    assert "skipped" in res.stderr and "not a training result" in res.stderr
    got = Benchmark(source=out).query(121, "indian_pines")
    ref = Benchmark(source=ref_out).query(121, "indian_pines")
    assert got["protocol"] == ref["protocol"]
    for field in ("oa", "aa", "kappa", "oa_best", "params", "flops"):
        assert got[field] == ref[field], field
    assert any("ingested" in n for n in Benchmark(source=out).manifest()["notes"])


@pytest.mark.slow
def test_scores_of_an_older_kernel_revision_are_left_out_then_refreshed(tmp_path):
    """A proxies unit written before croze's revision 2 (no revisions recorded, as the first shipped
    units): the merge nulls its croze with the reason and keeps snip; --refresh-stale recomputes
    croze alone, to the number a fresh unit gets."""
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_corrected.mat", "the real Indian Pines cube")
    work, out = tmp_path / "work", tmp_path / "tables"
    args = ["--device", "cpu", "--datasets", "indian_pines", "--archs", "397", "--kind", "proxies",
            "--proxies", "snip,croze"]
    assert build(tmp_path, work, out, *args).returncode == 0
    unit = next((work / "done").glob("*proxies*.json"))
    fresh = json.loads(unit.read_text())
    assert fresh["revisions"] == {"croze": 2, "snip": 1}
    legacy = dict(fresh, columns=dict(fresh["columns"], proxy_croze=123.0))
    del legacy["revisions"]
    unit.write_text(json.dumps(legacy))

    res = build(tmp_path, work, out, *args, "--merge-only")
    assert res.returncode == 0, res.stderr
    rec = Benchmark(source=out).query(397, "indian_pines")
    assert rec.croze is None and rec["croze__attn"] is None
    assert "revision 1 of the croze kernel" in rec["croze__error"]
    assert rec.reason("croze__attn").startswith("stale: computed by revision 1")
    assert rec.snip == fresh["columns"]["proxy_snip"]
    assert Benchmark(source=out).manifest()["build"]["coverage"]["indian_pines"]["stale_proxy_scores"] == {"croze": 1}

    res = build(tmp_path, work, out, *args, "--refresh-stale")
    assert res.returncode == 0, res.stderr
    refreshed = json.loads(unit.read_text())
    assert refreshed["revisions"]["croze"] == 2 and refreshed["refreshed"][0]["proxies"] == {"croze": [1, 2]}
    rec = Benchmark(source=out).query(397, "indian_pines")
    assert rec.croze == fresh["columns"]["proxy_croze"] and rec.snip == fresh["columns"]["proxy_snip"]
    assert rec.get("croze__error") is None
    assert Benchmark(source=out).manifest()["build"]["coverage"]["indian_pines"]["stale_proxy_scores"] == {}
