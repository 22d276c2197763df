"""The work directory of a build: finished units, failures and claims, shared by any number of
builders (processes, hosts, Slurm tasks, Ray workers) that can see the same folder.

Layout::

    done/<key>.json      one finished unit's result, written atomically (temp file + rename)
    failed/<key>.json    {"attempts": [{error, traceback, host, pid, time}, ...]} of a failing unit
    locks/<key>.<g>.lock who runs the unit now (builders.locks)
    logs/                one log file per builder run

A unit is claimed before it runs and its lock is released only after its result (or failure) is
on disk, so a kill at any moment loses at most the units in flight and never leaves a partial
result; a restarted build skips everything under done/.
"""
from __future__ import annotations

import json
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from hytasbench.tables import atomic_write_bytes

from .locks import Lock, Locks

DONE, HELD, EXHAUSTED, CLAIMED = "done", "held", "exhausted", "claimed"


class WorkDir:
    """Finished units, failures and claims under one folder."""

    def __init__(self, root: os.PathLike, stale_after: float = 600.0, heartbeat: float = 30.0):
        self.root = Path(root)
        self.heartbeat = heartbeat
        for sub in ("done", "failed", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.locks = Locks(self.root / "locks", stale_after=stale_after)

    def done_path(self, key: str) -> Path:
        return self.root / "done" / f"{key}.json"

    def failed_path(self, key: str) -> Path:
        return self.root / "failed" / f"{key}.json"

    def is_done(self, key: str) -> bool:
        return self.done_path(key).is_file()

    def done_keys(self) -> Set[str]:
        return {n[:-5] for n in os.listdir(self.root / "done") if n.endswith(".json") and not n.startswith(".")}

    def result(self, key: str) -> Optional[Dict[str, Any]]:
        """A finished unit's result, or None when not finished."""
        try:
            return json.loads(self.done_path(key).read_text())
        except FileNotFoundError:
            return None

    def failures(self, key: str) -> List[Dict[str, Any]]:
        try:
            return list(json.loads(self.failed_path(key).read_text()).get("attempts", []))
        except FileNotFoundError:
            return []

    def claim(self, key: str, max_attempts: int, **about: Any) -> Tuple[str, Optional[Lock]]:
        """(DONE|EXHAUSTED|HELD, None) or (CLAIMED, lock). Done and failure counts are checked again
        once the lock is held, since another builder may have finished the unit meanwhile."""
        state = self._state(key, max_attempts)
        if state:
            return state, None
        lock = self.locks.acquire(key, **about)
        if lock is None:
            return HELD, None
        state = self._state(key, max_attempts)
        if state:
            lock.release()
            return state, None
        lock.start_heartbeat(self.heartbeat)
        return CLAIMED, lock

    def _state(self, key: str, max_attempts: int) -> str:
        if self.is_done(key):
            return DONE
        return EXHAUSTED if self.gave_up(key, max_attempts) else ""

    def gave_up(self, key: str, max_attempts: int) -> bool:
        """No more attempts: max_attempts failures, or one that fails the same way every time."""
        failures = self.failures(key)
        return len(failures) >= max_attempts or any(f.get("deterministic") for f in failures)

    def commit(self, lock: Lock, result: Dict[str, Any]) -> None:
        """Store a unit's result atomically, then release its claim."""
        try:
            atomic_write_bytes(self.done_path(lock.name), json.dumps(result).encode())
        finally:
            lock.release()

    def fail(self, lock: Lock, error: str, trace: str = "", deterministic: bool = False) -> int:
        """Record a failed attempt (while holding the claim), release it; return the attempt count.
        A ``deterministic`` failure (bad input, missing files) is not retried until --retry-failed."""
        try:
            attempts = self.failures(lock.name) + [{
                "error": error, "traceback": trace[-4000:], "host": socket.gethostname(), "pid": os.getpid(),
                "time": time.time(), "deterministic": deterministic}]
            atomic_write_bytes(self.failed_path(lock.name), json.dumps({"attempts": attempts}, indent=1).encode())
            return len(attempts)
        finally:
            lock.release()

    def reset_failures(self, keys: List[str]) -> int:
        """Forget the failures of these units so that they are tried again; returns how many."""
        n = 0
        for key in keys:
            try:
                self.failed_path(key).unlink()
                n += 1
            except FileNotFoundError:
                pass
        return n


def describe(exc: BaseException) -> Tuple[str, str]:
    """(one-line error, traceback) of an exception, for failure records."""
    return f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
