"""Exclusive claims with O_EXCL lock files that say who holds them, safe on shared filesystems.

A lock for name N is the file ``N.<g>.lock`` with the highest generation g. Taking it means creating
``N.0.lock`` with O_CREAT|O_EXCL; if that exists and its holder is gone, the next generation is
tried, and so on. O_EXCL creation is atomic (locally and on NFSv3+), so of several processes that
find the same stale lock exactly one wins the next generation, and no lock file is ever removed
while it might be the live one: no rename or delete races. Release removes the holder's generation
and the (stale) lower ones, highest first; a holder that finds a higher generation (it was wrongly
judged gone, e.g. its host's heartbeat stalled) leaves everything to the newer holder.

A holder is gone when it ran on this host and its pid is dead, a zombie or reused (the process
start time is recorded), or, on another host, when the file's mtime (refreshed by a heartbeat
thread) is older than ``stale_after`` seconds. A lock file whose content was never written (its
creator died at once) counts as gone after ``grace`` seconds.

Kept by hand on purpose: filelock and fasteners take OS locks (flock/fcntl), which several hosts
sharing a work folder over NFS cannot rely on, and which say neither who holds a claim nor whether
that holder's host is still alive; builds need both (the table writer in hytasbench.tables, one
folder on one host, uses filelock).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

HOST = socket.gethostname()


def proc_start(pid: int) -> Optional[str]:
    """Start time of a process in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, start: Optional[str] = None) -> bool:
    """Whether a local process runs (not dead, not a zombie, not a different process with its pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): the signal test is all there is
    if stat[stat.rfind(")") + 2:].split()[0] in ("Z", "X"):
        return False
    return start is None or proc_start(pid) in (None, start)


@dataclass
class Lock:
    """A held lock: its file, the token written into it, and an optional heartbeat thread."""

    locks: "Locks"
    name: str
    gen: int
    path: Path
    token: str
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def start_heartbeat(self, every: float) -> None:
        """Refresh the file's mtime in the background so other hosts see the holder is alive."""
        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    os.utime(self.path)
                except OSError:
                    return
        self._thread = threading.Thread(target=beat, name=f"heartbeat-{self.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if not self.locks.path(self.name, self.gen + 1).exists():
            self.locks.remove_below(self.name, self.gen + 1)


class Locks:
    """The lock files of one folder."""

    def __init__(self, folder: Path, stale_after: float = 600.0, grace: float = 30.0):
        self.folder = Path(folder)
        self.stale_after, self.grace = stale_after, grace
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str, gen: int) -> Path:
        return self.folder / f"{name}.{gen}.lock"

    def holder(self, path: Path) -> Optional[Dict[str, Any]]:
        """The lock file's content, {} when unwritten or unreadable, None when it does not exist."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            info = json.loads(text)
            return info if isinstance(info, dict) else {}
        except ValueError:
            return {}

    def is_stale(self, path: Path, info: Dict[str, Any]) -> bool:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        if not info:
            return age > self.grace
        if info.get("host") == HOST and isinstance(info.get("pid"), int):
            return not pid_alive(info["pid"], info.get("start"))
        return age > self.stale_after

    def acquire(self, name: str, **about: Any) -> Optional[Lock]:
        """Take the lock, or return None when a live holder has it. ``about`` goes into the file."""
        gen = 0
        while True:
            path = self.path(name, gen)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = self.holder(path)
                if info is None:
                    continue  # released between our attempt and the read: try this generation again
                if not self.is_stale(path, info):
                    return None
                gen += 1
                continue
            token = uuid.uuid4().hex
            pid = os.getpid()
            body = {"pid": pid, "host": HOST, "start": proc_start(pid), "time": time.time(), "token": token, **about}
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(body))
                f.flush()
                os.fsync(f.fileno())
            return Lock(self, name, gen, path, token)

    def remove_below(self, name: str, gen: int) -> None:
        """Delete generations gen-1 down to 0."""
        for g in range(gen - 1, -1, -1):
            try:
                self.path(name, g).unlink()
            except FileNotFoundError:
                pass

    def held(self, name: str) -> Optional[Dict[str, Any]]:
        """Who holds the lock now (its file's content), or None when nobody live does."""
        gen = 0
        last: Optional[Dict[str, Any]] = None
        while True:
            path = self.path(name, gen)
            info = self.holder(path)
            if info is None:
                return last
            last = None if self.is_stale(path, info) else info
            gen += 1
