"""Progress of a build: counts, an ETA from per-kind unit times, a log file, and a bar.

The bar is tqdm's (optional extra ``progress``) when stderr is a terminal; otherwise one plain
line every ``interval`` seconds, which suits nohup logs and Slurm output files. Every event also
goes to the log file, one line each (``ran <key> <seconds>s``, ``FAILED <key> ...``).

What is kept by hand is what tqdm does not do: an ETA from per-kind unit times (a 300-epoch
training and a proxy unit take times orders of magnitude apart, so tqdm's one-rate ETA is
wrong), periodic plain lines for non-terminals, and the log file; tqdm is an optional extra.
"""
from __future__ import annotations

import datetime as _dt
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, Optional, Set, TextIO

from .units import Unit


def fmt_duration(seconds: Optional[float]) -> str:
    """``4h05m``, ``3m07s``, ``12s`` or ``?``; not tqdm's ``format_interval`` because tqdm is optional."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Monitor:
    """Receives the backends' events; owns the log file and the terminal display."""

    def __init__(self, units: Iterable[Unit], done: Set[str], log_path: Path, workers: int, max_attempts: int,
                 estimates: Optional[Dict[str, float]] = None, interval: float = 30.0, quiet: bool = False):
        self.kind = {u.key: u.kind for u in units}
        self.total = len(self.kind)
        self.remaining = {k: kind for k, kind in self.kind.items() if k not in done}
        self.done0 = self.total - len(self.remaining)
        self.ran = self.failures = 0
        self.exhausted: Set[str] = set()
        self.workers = max(1, workers)
        self.max_attempts = max_attempts
        self.estimates = dict(estimates or {})
        self._times: Dict[str, list] = {}
        self.start = time.time()
        self.interval, self._last = interval, 0.0
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: TextIO = open(log_path, "a", buffering=1)
        self.log_path = log_path
        self._bar = None if quiet else self._make_bar()
        self.quiet = quiet

    def _make_bar(self):
        if not sys.stderr.isatty():
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(total=self.total, initial=self.done0, unit="unit", dynamic_ncols=True,
                    bar_format="{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")

    # -- events ------------------------------------------------------------------------------------
    def log(self, message: str, echo: bool = True) -> None:
        stamp = _dt.datetime.now().isoformat(timespec="seconds")
        self._log.write(f"{stamp} {message}\n")
        if echo and not self.quiet:
            if self._bar is not None:
                self._bar.write(message, file=sys.stderr)
            else:
                print(f"[build] {message}", file=sys.stderr, flush=True)

    def started(self, key: str) -> None:
        self.log(f"start {key}", echo=False)

    def done(self, key: str, seconds: float) -> None:
        self.ran += 1
        kind = self.remaining.pop(key, self.kind.get(key, "?"))
        self._times.setdefault(kind, []).append(seconds)
        self.log(f"ran {key} {seconds:.3f}s", echo=False)
        self._tick(1)

    def failed(self, key: str, error: str, attempts: int) -> None:
        self.failures += 1
        if attempts >= self.max_attempts:
            self.exhausted.add(key)
        self.log(f"FAILED {key} (attempt {attempts}/{self.max_attempts}): {error}")
        self._tick(0)

    # -- display -----------------------------------------------------------------------------------
    def eta(self) -> Optional[float]:
        """Seconds left: the remaining units of each kind times that kind's mean unit time, over the workers."""
        left = 0.0
        for key, kind in self.remaining.items():
            if key in self.exhausted:
                continue
            times = self._times.get(kind)
            mean = sum(times) / len(times) if times else self.estimates.get(kind)
            if mean is None:
                return None
            left += mean
        return left / self.workers

    def summary(self) -> str:
        n = self.total - len(self.remaining)
        rate = self.ran / max(time.time() - self.start, 1e-9) * 3600
        return (f"{n}/{self.total} units done ({self.ran} this run, {rate:.0f}/h), {self.failures} failed attempts, "
                f"elapsed {fmt_duration(time.time() - self.start)}, ETA {fmt_duration(self.eta())}")

    def _tick(self, n: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"ETA {fmt_duration(self.eta())}, {self.failures} failed", refresh=False)
            self._bar.update(n)
            return
        now = time.time()
        if now - self._last >= self.interval or not self.remaining:
            self._last = now
            self.log(self.summary(), echo=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self.log(self.summary(), echo=True)
        self._log.close()
