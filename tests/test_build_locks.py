"""Claims and the work directory: one winner per race, stale-lock recovery, bounded retries, shards."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from builders.locks import HOST, Locks
from builders.units import KINDS, make_units, shard
from builders.workdir import CLAIMED, DONE, EXHAUSTED, HELD, WorkDir
from hytasbench import space
from hytasbench.datasets import DATASETS
from hytasbench.errors import BuildError, InvalidArchitectureError, InvalidSampleError


def _race(folder: str, barrier, wins) -> None:
    barrier.wait()
    lock = Locks(Path(folder)).acquire("unit")
    if lock is not None:
        wins.put(os.getpid())
        time.sleep(0.5)  # hold it while the others try


def test_one_winner_among_racing_processes(tmp_path):
    ctx = mp.get_context("spawn")
    n = 6
    barrier, wins = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), barrier, wins)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    winners = []
    while not wins.empty():
        winners.append(wins.get())
    assert len(winners) == 1


def _take_and_die(folder: str) -> None:
    Locks(Path(folder)).acquire("unit", note="dies holding it")
    os._exit(0)  # no release: the lock file stays, its pid is dead


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_take_and_die, args=(str(tmp_path),))
    p.start()
    p.join(60)
    locks = Locks(tmp_path)
    assert (tmp_path / "unit.0.lock").is_file() and locks.held("unit") is None
    lock = locks.acquire("unit")
    assert lock is not None and lock.gen == 1
    assert locks.held("unit")["pid"] == os.getpid()
    assert locks.acquire("unit") is None  # we are alive: nobody else gets it
    lock.release()
    assert not list(tmp_path.glob("unit.*.lock"))


def test_other_hosts_lock_expires_by_heartbeat_age(tmp_path):
    locks = Locks(tmp_path, stale_after=60, grace=5)
    path = tmp_path / "unit.0.lock"
    path.write_text(json.dumps({"pid": 1, "host": HOST + "-elsewhere", "time": time.time()}))
    assert locks.acquire("unit") is None
    old = time.time() - 120
    os.utime(path, (old, old))
    lock = locks.acquire("unit")
    assert lock is not None and lock.gen == 1


def test_unwritten_lock_file_is_held_then_stale(tmp_path):
    locks = Locks(tmp_path, grace=5)
    path = tmp_path / "unit.0.lock"
    path.write_text("")  # its creator died between O_EXCL and writing
    assert locks.acquire("unit") is None
    old = time.time() - 60
    os.utime(path, (old, old))
    assert locks.acquire("unit") is not None


def test_superseded_holder_leaves_the_newer_claim(tmp_path):
    locks = Locks(tmp_path)
    first = locks.acquire("unit")
    newer = tmp_path / "unit.1.lock"  # someone judged us gone and took the next generation
    newer.write_text(json.dumps({"pid": os.getpid(), "host": HOST}))
    first.release()
    assert newer.is_file() and (tmp_path / "unit.0.lock").is_file()


def test_workdir_claim_commit_fail_and_bounded_retries(tmp_path):
    wd = WorkDir(tmp_path)
    state, lock = wd.claim("a", max_attempts=2)
    assert state == CLAIMED
    assert wd.claim("a", max_attempts=2) == (HELD, None)
    wd.commit(lock, {"key": "a", "columns": {}})
    assert wd.claim("a", 2) == (DONE, None) and wd.done_keys() == {"a"}
    for attempt in (1, 2):
        state, lock = wd.claim("b", max_attempts=2)
        assert state == CLAIMED
        assert wd.fail(lock, "ValueError: boom") == attempt
    assert wd.claim("b", 2) == (EXHAUSTED, None)
    assert [a["error"] for a in wd.failures("b")] == ["ValueError: boom"] * 2
    assert wd.reset_failures(["b"]) == 1 and wd.claim("b", 2)[0] == CLAIMED


def test_shards_partition_every_unit_exactly_once():
    archs = [str(a) for a in space.hytas2000()]
    units = make_units(KINDS, list(DATASETS), archs, [0, 1])
    keys = [u.key for u in units]
    assert len(set(keys)) == len(keys) == 5 * 2000 * (1 + 2 + 2)
    for n in (1, 2, 3, 8):
        parts = [shard(units, k, n) for k in range(1, n + 1)]
        got = [u.key for p in parts for u in p]
        assert sorted(got) == sorted(keys)
        assert min(map(len, parts)) > 0.8 * len(units) / n  # balanced enough to be useful
    with pytest.raises(BuildError):
        shard(units, 0, 4)


def test_arch_selection_forms(tmp_path):
    f = tmp_path / "archs.txt"
    f.write_text("# one per line\n3\ne48-h466533-r451343  # a comment\n")
    f.write_text("# one per line\n3\n7\ne48-h466533-r451343  # a comment (id 2)\n")
    got = space.select(f"1-3,2,{f},e32-h3333-r1111")  # duplicates dropped, order kept
    assert got == [space.parse(i) for i in (1, 2, 3, 7, "e32-h3333-r1111")]
    assert len(space.select("all")) == 2000
    for bad, match in [("5-1", "empty"), ("", "no architectures"), (" , ", "no architectures"),
                       ("@" + str(tmp_path / "none.txt"), "cannot read"), ("sample:x", "sample:N"),
                       ("sample:0", "sample size"), ("2001", "id"), (5, "a string"), ("sample:²", "sample:N"),
                       ("1-²", "canonical"), ("1-" + "9" * 5000, "out of range"), ("sample:" + "9" * 5000, "out of range"),
                       ("sample:5:" + "1" * 5000, "out of range")]:
        with pytest.raises((InvalidSampleError, InvalidArchitectureError), match=match):
            space.select(bad)
