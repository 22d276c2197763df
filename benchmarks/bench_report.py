"""How long ``hytasbench report`` takes, random-forest study included, against the previous settings (a benchmark, not a test).

Runs the report three times into temporary folders, one after the other in one process:

- cold: the report's default settings, empty forest cache, so every forest is fitted;
- warm: the same again on the same cache, as a second ``hytasbench report`` on unchanged tables;
- previous: cold with the study the report ran before (``PREVIOUS``: 700 forests of 100 trees).

Prints wall time, CPU time of this process plus its worker processes, the per-section times, the
ratio previous / cold, and the machine with its load average, since a busy shared machine
stretches wall times.

    python benchmarks/bench_report.py [--source hytas|PATH] [--datasets ...] [--jobs 2] [--no-previous] [--keep DIR]

Without ``--source`` it uses the imported reference in the cache, or imports
../shared/reference/hytas into a temporary folder first.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of every finished child process."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def locate_source(arg: str, scratch: Path) -> str:
    if arg:
        return arg
    from hytasbench.cache import tables_dir

    if (tables_dir("hytas") / "manifest.json").is_file():
        return "hytas"
    from builders.import_hytas import import_reference

    shared = Path(os.environ.get("HYTASBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    return str(import_reference(shared / "reference" / "hytas", scratch / "hytas"))


# The study of the report before the one-minute settings: the one-hot encoding with depth and width as
# separate categories (then called "onehot") and the numeric one, with and without proxies, 7 training
# shares, 5 seeds, the notebook's 100-tree forests: 700 forests on five datasets.
PREVIOUS = {"rf_encodings": ("onehot-separate", "numeric"), "rf_features": ("arch", "arch+proxies"),
            "rf_fractions": (0.01, 0.025, 0.05, 0.10, 0.20, 0.30, 0.50), "rf_trees": 100}


def timed_report(name: str, source: str, out: Path, cache: Path, jobs: int, datasets=None, **study) -> dict:
    """One report, timed; printed at once, so a long benchmark that is stopped keeps what it measured."""
    from hytasbench.analysis.report import build_report

    wall, cpu = time.perf_counter(), cpu_seconds()
    build_report(source, out, datasets=datasets, n_jobs=jobs, cache=cache, progress=True, **study)
    wall = time.perf_counter() - wall  # the report joins its worker processes: their CPU is in RUSAGE_CHILDREN
    cpu = cpu_seconds() - cpu
    sections = json.loads((out / "run.json").read_text())["seconds"]
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sections.items())
    print(f"{name}: wall {wall:.1f} s, CPU {cpu:.1f} s  [{parts}]  (load average now {machine_load()})", flush=True)
    return {"wall": wall, "cpu": cpu, "sections": sections}


def machine_load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, load average {machine_load()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="", help="table source; default: the imported reference")
    ap.add_argument("--datasets", nargs="+", help="only these datasets (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the forests")
    ap.add_argument("--no-previous", action="store_true", help="skip the (slow) run with the previous settings")
    ap.add_argument("--keep", help="write the cold run's report here instead of a temporary folder")
    args = ap.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        source = locate_source(args.source, scratch)
        print(f"machine: {machine()}", flush=True)
        out = Path(args.keep) if args.keep else scratch / "cold"
        for name, folder, cache, study in (
                ("cold (report defaults, every forest fitted)", out, "cache", {}),
                ("warm (report defaults, forests from the cache)", scratch / "warm", "cache", {}),
                ("previous settings, cold (100-tree forests, the former grid)", scratch / "previous",
                 "cache-previous", PREVIOUS)):
            if study is PREVIOUS and args.no_previous:
                continue
            runs[name] = timed_report(name, source, folder, scratch / cache, args.jobs, args.datasets, **study)
        print(f"machine after: {machine()}")
    if not args.no_previous:
        cold, prev = list(runs.values())[0], list(runs.values())[2]
        print(f"previous / cold: wall {prev['wall'] / cold['wall']:.1f}x, CPU {prev['cpu'] / cold['cpu']:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
