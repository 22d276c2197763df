"""Where units run: local worker processes (one per device) or a Ray cluster.

Both backends only schedule: every unit is claimed in the shared work directory by the process
that runs it, so any mix of backends, shards and hosts can work on one directory at once. The
local backend needs the core library (and torch for the work itself); Ray is the optional extra.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as _queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from hytasbench.errors import (DatasetFilesError, DatasetFormatError, InvalidArchitectureError, UnknownDatasetError,
                               UnknownProxyError, UnknownProxyOptionError, require)

from .units import RunnerConfig, Unit, UnitRunner
from .workdir import CLAIMED, DONE, EXHAUSTED, WorkDir, describe


@dataclass
class Plan:
    """Everything a worker needs, picklable: the units, where results go, how to run them."""

    units: List[Unit]
    workdir: str
    runner: RunnerConfig
    max_attempts: int = 3
    stale_after: float = 600.0
    heartbeat: float = 30.0
    owner: str = ""  # who claims (written into lock files): the build's log name

    def open_workdir(self) -> WorkDir:
        return WorkDir(self.workdir, stale_after=self.stale_after, heartbeat=self.heartbeat)


@dataclass
class Outcome:
    """How a backend's run ended."""

    stopped: str = ""  # '' (ran out of units), 'time limit' or 'interrupted'
    crashed_workers: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)


class Interrupted(BaseException):
    """Raised in a worker by SIGTERM: give the claim back without recording a failure."""


#: Errors that the same unit raises on every attempt: recorded once, never retried.
DETERMINISTIC = (DatasetFilesError, DatasetFormatError, InvalidArchitectureError, UnknownDatasetError,
                 UnknownProxyError, UnknownProxyOptionError)


def run_one(wd: WorkDir, runner: UnitRunner, unit: Unit, plan: Plan,
            started: Callable[[], None] = lambda: None) -> Tuple[str, Any]:
    """Claim, run and store one unit: ('done', seconds), ('fail', (error, attempts)) or (state, None)."""
    state, lock = wd.claim(unit.key, plan.max_attempts, owner=plan.owner, device=runner.device)
    if state != CLAIMED:
        return state, None
    started()
    try:
        result = runner.run(unit)
    except Interrupted:
        lock.release()
        raise
    except Exception as exc:  # a failing unit is recorded and the build goes on
        error, trace = describe(exc)
        deterministic = isinstance(exc, DETERMINISTIC)  # the same input fails the same way: no retry
        attempts = wd.fail(lock, error, trace, deterministic)
        if deterministic:
            attempts = max(attempts, plan.max_attempts)
        return "fail", (error, attempts)
    wd.commit(lock, result)
    return DONE, result["seconds"]


# ---- local worker processes -----------------------------------------------------------------

def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted()


def _watch_parent(parent: int) -> None:
    """Quit at once when the builder that started us is gone (a kill -9 leaves no one to stop us)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def _worker(wid: int, device: str, gpu: Optional[int], plan: Plan, events: Any, stop: Any, parent: int) -> None:
    if gpu is not None:  # before torch is imported: this worker sees only its own GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the builder's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    wd = plan.open_workdir()
    try:
        runner = UnitRunner(plan.runner, device)
        todo = list(plan.units)
        while todo and not stop.is_set():
            retry: List[Unit] = []
            claimed = False
            for unit in todo:
                if stop.is_set():
                    break
                status, info = run_one(wd, runner, unit, plan, lambda: events.put(("start", wid, unit.key)))
                if status == DONE and info is not None:
                    events.put(("done", wid, unit.key, info))
                    claimed = True
                elif status == "fail":
                    events.put(("fail", wid, unit.key, info[0], info[1]))
                    claimed = True
                    if info[1] < plan.max_attempts:
                        retry.append(unit)
            todo = retry if claimed else []
    except Interrupted:
        pass
    events.put(("exit", wid))


class LocalBackend:
    """One worker process per device slot (``cuda:<i>`` or ``cpu``), all pulling from the work dir."""

    def __init__(self, devices: List[Tuple[str, Optional[int]]], grace: float = 30.0, respawn_limit: int = 20):
        self.devices = devices
        self.grace = grace
        self.respawn_limit = respawn_limit

    def run(self, plan: Plan, monitor: Any, deadline: Optional[float]) -> Outcome:
        ctx = mp.get_context("spawn")
        events, stop = ctx.Queue(), ctx.Event()
        procs: Dict[int, Any] = {}
        inflight: Dict[int, str] = {}
        outcome = Outcome()

        def spawn(wid: int) -> None:
            device, gpu = self.devices[wid]
            procs[wid] = ctx.Process(target=_worker, args=(wid, device, gpu, plan, events, stop, os.getpid()),
                                     name=f"hytas-worker-{wid}")
            procs[wid].start()

        def drain() -> None:
            while True:
                try:
                    ev = events.get_nowait()
                except _queue.Empty:
                    return
                self._handle(ev, inflight, monitor)

        for wid in range(len(self.devices)):
            spawn(wid)
        stop_at: Optional[float] = None
        try:
            while procs:
                try:
                    self._handle(events.get(timeout=0.5), inflight, monitor)
                except _queue.Empty:
                    pass
                now = time.time()
                if deadline is not None and now >= deadline and stop_at is None:
                    outcome.stopped, stop_at = "time limit", now
                    monitor.log(f"time limit reached: no new units; in-flight units get {self.grace:.0f}s")
                    stop.set()
                if stop_at is not None and now >= stop_at + self.grace:
                    self._terminate(procs)
                for wid, p in list(procs.items()):
                    if p.exitcode is None:
                        continue
                    drain()
                    del procs[wid]
                    key = inflight.pop(wid, None)
                    if p.exitcode != 0 and key is not None and stop_at is None:
                        outcome.crashed_workers += 1
                        self._record_crash(plan, key, p.exitcode, monitor)
                        if outcome.crashed_workers <= self.respawn_limit:
                            spawn(wid)
        except KeyboardInterrupt:
            outcome.stopped = "interrupted"
            monitor.log("interrupted: stopping the workers (finished units are kept)")
            stop.set()
            self._terminate(procs)
        drain()
        return outcome

    @staticmethod
    def _handle(ev: Tuple, inflight: Dict[int, str], monitor: Any) -> None:
        kind, wid = ev[0], ev[1]
        if kind == "start":
            inflight[wid] = ev[2]
            monitor.started(ev[2])
        elif kind == "done":
            inflight.pop(wid, None)
            monitor.done(ev[2], ev[3])
        elif kind == "fail":
            inflight.pop(wid, None)
            monitor.failed(ev[2], ev[3], ev[4])

    @staticmethod
    def _terminate(procs: Dict[int, Any]) -> None:
        for p in procs.values():
            if p.exitcode is None:
                p.terminate()  # SIGTERM: the worker gives its claim back
        for p in procs.values():
            p.join(10)
            if p.exitcode is None:
                p.kill()
                p.join()
        procs.clear()

    @staticmethod
    def _record_crash(plan: Plan, key: str, exitcode: int, monitor: Any) -> None:
        """A worker died inside a unit (segfault, out of memory, kill): that counts as a failed attempt."""
        wd = plan.open_workdir()
        state, lock = wd.claim(key, plan.max_attempts, owner=plan.owner)
        if state == CLAIMED:
            error = f"WorkerDied: the worker process running this unit exited with code {exitcode}"
            monitor.failed(key, error, wd.fail(lock, error))


# ---- Ray ------------------------------------------------------------------------------------

_RUNNERS: Dict[Tuple, UnitRunner] = {}


def _ray_unit(unit: Unit, plan: Plan, gpu: bool) -> Tuple[str, Any]:
    """A Ray task: claim and run one unit in this Ray worker (runners persist between tasks)."""
    device = "cuda:0" if gpu else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES to the task's GPU
    key = (device, repr(plan.runner))
    if key not in _RUNNERS:
        _RUNNERS[key] = UnitRunner(plan.runner, device)
    return run_one(plan.open_workdir(), _RUNNERS[key], unit, plan)


class RayBackend:
    """Units as Ray tasks that each ask for one GPU or one CPU; the work dir must be on a filesystem
    every node sees, and every node needs hytasbench (and torch) installed."""

    def __init__(self, address: str, gpu: bool, local_cpus: Optional[int] = None, grace: float = 30.0):
        self.address, self.gpu, self.local_cpus, self.grace = address, gpu, local_cpus, grace

    def _init(self) -> Any:
        ray = require("ray", "ray", "--ray (units as Ray tasks)")

        src = str(Path(__file__).resolve().parent.parent)  # a source checkout: make workers import it too
        env = {"PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}
        kwargs: Dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR",
                                  "runtime_env": {"env_vars": env}}
        if self.address == "local":
            ray.init(num_cpus=self.local_cpus, **kwargs)
        else:
            ray.init(address=self.address, **kwargs)
        return ray

    def run(self, plan: Plan, monitor: Any, deadline: Optional[float]) -> Outcome:
        ray = self._init()
        outcome = Outcome()
        try:
            capacity = max(1, int(ray.cluster_resources().get("GPU" if self.gpu else "CPU", 1)))
            outcome.extra["ray_capacity"] = capacity
            task = ray.remote(max_retries=0)(_ray_unit)
            pending: Deque[Unit] = deque(plan.units)
            inflight: Dict[Any, Unit] = {}
            stop_at: Optional[float] = None
            while pending or inflight:
                now = time.time()
                if deadline is not None and now >= deadline and stop_at is None:
                    outcome.stopped, stop_at = "time limit", now
                    monitor.log(f"time limit reached: no new units; in-flight units get {self.grace:.0f}s")
                if stop_at is not None:
                    pending.clear()
                    if now >= stop_at + self.grace:
                        for ref in inflight:
                            ray.cancel(ref, force=True)
                        break
                while pending and len(inflight) < 2 * capacity:
                    unit = pending.popleft()
                    inflight[task.options(**unit.resources(self.gpu)).remote(unit, plan, self.gpu)] = unit
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
                for ref in ready:
                    unit = inflight.pop(ref)
                    try:
                        status, info = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the task's worker died
                        outcome.crashed_workers += 1
                        LocalBackend._record_crash(plan, unit.key, -1, monitor)
                        monitor.log(f"{unit.key}: Ray task lost ({type(exc).__name__})")
                        continue
                    if status == DONE and info is not None:
                        monitor.done(unit.key, info)
                    elif status == "fail":
                        monitor.failed(unit.key, info[0], info[1])
                        if info[1] < plan.max_attempts:
                            pending.append(unit)
                    elif status == EXHAUSTED:
                        continue
        except KeyboardInterrupt:
            outcome.stopped = "interrupted"
        finally:
            ray.shutdown()
        return outcome
