"""How long ``hytasbench report`` takes for all five datasets, random-forest study included (a benchmark, not a test).

Runs the report twice into temporary folders: cold (an empty random-forest cache, so all 700
default forests are fitted) and warm (the same cache again, as a second ``hytasbench report`` on
unchanged tables would). Prints wall time, CPU time of this process plus its worker processes, the
per-section times and the machine, including its load average, since a busy shared machine
stretches wall times.

    python benchmarks/bench_report.py [--source hytas|PATH] [--jobs 2] [--keep DIR]

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


def _reap_workers() -> None:
    """Stop joblib's reusable worker processes, so that their CPU time shows in RUSAGE_CHILDREN."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def locate_source(arg: str, scratch: Path) -> str:
    if arg:
        return arg
    from hytasbench.cache import tables_dir

    if (tables_dir("hytas") / "manifest.json").is_file():
        return "hytas"
    from builders.import_hytas import import_reference

    shared = Path(os.environ.get("HYTASBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    return str(import_reference(shared / "reference" / "hytas", scratch / "hytas"))


def timed_report(source: str, out: Path, cache: Path, jobs: int) -> dict:
    from hytasbench.analysis.report import build_report

    wall, cpu = time.perf_counter(), cpu_seconds()
    build_report(source, out, n_jobs=jobs, cache=cache)
    wall = time.perf_counter() - wall
    _reap_workers()
    cpu = cpu_seconds() - cpu
    sections = json.loads((out / "run.json").read_text())["seconds"]
    return {"wall": wall, "cpu": cpu, "sections": sections}


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, load average {load}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="", help="table source; default: the imported reference")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the forests")
    ap.add_argument("--keep", help="write the cold run's report here instead of a temporary folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        source = locate_source(args.source, scratch)
        print(f"machine: {machine()}")
        out = Path(args.keep) if args.keep else scratch / "cold"
        cold = timed_report(source, out, scratch / "cache", args.jobs)
        warm = timed_report(source, scratch / "warm", scratch / "cache", args.jobs)
        print(f"machine after: {machine()}")
    for name, run in (("cold (fits every forest)", cold), ("warm (forests from the cache)", warm)):
        parts = ", ".join(f"{k} {v:.1f}" for k, v in run["sections"].items())
        print(f"{name}: wall {run['wall']:.1f} s, CPU {run['cpu']:.1f} s  [{parts}]")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
