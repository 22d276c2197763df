"""Build hytasbench tables: train and score subnets, then merge them into a Parquet table set.

    python -m builders.build                          # everything (2000 x 5, all kinds) on GPU 0
    python -m builders.build --gpu 0,1,2,3            # one worker per GPU
    python -m builders.build --device cpu --workers 2 --datasets indian_pines --archs 1-300 --kind proxies
    python -m builders.build --shard 3/16 ...         # one task of a Slurm array (same --work for all)
    python -m builders.build --ray auto ...           # a Ray cluster (--ray local starts one here)
    python -m builders.build --merge-only ...         # just (re)write the tables from finished units

Every unit (kind, dataset, architecture, seed) is claimed, run and stored atomically in the work
directory, so a build can be killed at any moment and resumed by running the same command again;
any number of builders may share one work directory. See docs/building.md.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hytasbench import durations, space
from hytasbench.arguments import check_seeds
from hytasbench.byop import UserProxy
from hytasbench.cache import tables_dir
from hytasbench.cli import reporting_errors
from hytasbench.datasets.specs import DATASETS, canonical_name
from hytasbench.errors import BuildError, HytasError
from hytasbench.schema import SIZE_PROXIES

from .base import base_folder, seed_from_tables
from .units import DATA_FREE_TAG, KINDS, RunnerConfig, Unit, make_units, shard, train_protocol

DEFAULT_SOURCE = "hytasbench-local"
EXIT_OK, EXIT_FAILED, EXIT_INCOMPLETE = 0, 1, 3  # a refused input exits 2 (hytasbench.cli.reporting_errors)


def parse_duration(text: str) -> float:
    """'3600', '90s', '45m', '2h', '1h30m' -> seconds (hytasbench.durations)."""
    try:
        return durations.parse_duration(text)
    except HytasError as exc:
        raise BuildError(f"time limit: {exc}") from None


def parse_ints(text: str, what: str) -> List[int]:
    """'0,1,2' or '0-2' -> [0, 1, 2]."""
    out: List[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        lo, sep, hi = part.partition("-")
        if not (lo.isdigit() and (not sep or hi.isdigit())):
            raise BuildError(f"{what} {part!r}: give integers or ranges such as 0-2")
        out += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    if not out:
        raise BuildError(f"no {what} given")
    return list(dict.fromkeys(out))


def parse_datasets(text: str, what: str = "--datasets") -> List[str]:
    """'all' or comma-separated names (aliases too); none at all is refused, not a build of nothing."""
    if text.strip().lower() == "all":
        return list(DATASETS)
    try:
        names = list(dict.fromkeys(canonical_name(d) for d in text.split(",") if d.strip()))
    except HytasError as exc:
        raise BuildError(str(exc)) from None
    if not names:
        raise BuildError(f"{what} {text!r}: no dataset given; allowed: all, or names among {', '.join(DATASETS)}")
    return names


def parse_kinds(text: str) -> List[str]:
    """'all', 'both' (proxies and train), or a list of kinds; cost is always included (cheap, and
    every row needs params and FLOPs)."""
    words = {w.strip().lower() for w in text.split(",") if w.strip()}
    if not words:
        raise BuildError(f"--kind {text!r}: no kind given; allowed: all, both, {', '.join(KINDS)}")
    kinds = {"cost"}
    for w in words:
        if w == "all":
            kinds |= set(KINDS)
        elif w == "both":
            kinds |= {"proxies", "train"}
        elif w in KINDS:
            kinds.add(w)
        else:
            raise BuildError(f"--kind {w!r}: allowed: all, both, {', '.join(KINDS)}")
    return [k for k in KINDS if k in kinds]


def parse_shard(text: Optional[str]) -> Optional[Tuple[int, int]]:
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise BuildError(f"--shard {text!r}: give K/N with 1 <= K <= N, e.g. 3/16 (Slurm: "
                         "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=1-N)")
    return int(m.group(1)), int(m.group(2))


def devices(args: argparse.Namespace) -> List[Tuple[str, Optional[int]]]:
    """Worker slots of the local backend: ('cuda:0', gpu index) per GPU, or ('cpu', None) x workers."""
    if args.device == "cpu":
        return [("cpu", None)] * max(1, args.workers)
    text = "0" if args.gpu is None else args.gpu
    gpus = [int(g) for g in text.split(",") if g.strip().isdigit()]  # repeats allowed: 0,0 = two workers on GPU 0
    if not gpus or len(gpus) != len([g for g in text.split(",") if g.strip()]):
        raise BuildError(f"--gpu {text!r}: give GPU indices such as 0 or 0,1,2,3 (repeat one for two workers)")
    if args.ray is None:
        import torch

        have = torch.cuda.device_count()
        missing = [g for g in gpus if g >= have]
        if missing:
            raise BuildError(f"GPU {missing} not available: torch sees {have} CUDA device(s). "
                             "Use --device cpu (add --workers N for N CPU worker processes)")
    return [("cuda:0", g) for g in gpus]  # each worker sees only its own GPU, as device 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m builders.build", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    where = p.add_argument_group("where it runs")
    where.add_argument("--gpu", default=None, help="GPU indices, one worker each (default 0)")
    where.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: run on CPU workers instead")
    where.add_argument("--workers", type=int, default=1, help="CPU worker processes with --device cpu (default 1)")
    where.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    where.add_argument("--ray", metavar="ADDRESS", help="run units as Ray tasks: a cluster address, 'auto', or "
                       "'local' to start a local instance (needs the 'ray' extra)")
    where.add_argument("--ray-cpus", type=int, default=None, help="CPUs of a --ray local instance (default: all)")
    what = p.add_argument_group("what it builds")
    what.add_argument("--datasets", default="all", help="comma-separated dataset names, or all (default)")
    what.add_argument("--synthetic", default="", help="datasets to build on synthetic cubes of the real shape "
                      "and label maps (for tests and machines without the real cube), or all")
    what.add_argument("--archs", default="all", help="ids, ranges (1-300), canonical strings, @file, or all "
                      "(HyTAS-2000, the default)")
    what.add_argument("--kind", default="all", help="proxies, train, both, all (default); cost (params, FLOPs) "
                      "is always included")
    what.add_argument("--seeds", default="0", help="initialisation/training seeds, e.g. 0 or 0-2 (default 0)")
    what.add_argument("--epochs", type=int, help="override the protocol's 300 epochs (tiny builds; the "
                      "protocol name in the tables says so)")
    what.add_argument("--test-subset", type=int, help="evaluate trained subnets on this many seeded random "
                      "test pixels instead of all (smoke builds; recorded in the protocol name)")
    what.add_argument("--protocol", default="hytasbench-v1", help="training protocol of the train units: "
                      "hytasbench-v1 (ours, default), hytas-sampler (emulated upstream sampler) with optional "
                      "switches +lag, +caf8, +epoch-order (see docs/training.md); keys and tables carry its name")
    what.add_argument("--proxies", help="comma-separated subset of proxies (default: all the engine has)")
    what.add_argument("--data-free", action="store_true", help="score only the kernels that read no pixels "
                      "(synflow, logsynflow, dss; params and FLOPs) from each dataset's shape: no dataset files "
                      "needed, the same numbers as on the real cube")
    what.add_argument("--user-proxy", metavar="FILE.py:FUNCTION", help="score this function (model, batch) -> "
                      "float instead of the built-in kernels (docs/proxies.md, 'Your own proxy'); proxies units "
                      "then hold only its column")
    what.add_argument("--user-proxy-name", help="column name of --user-proxy (default: the function's name)")
    what.add_argument("--user-proxy-orientation", type=int, default=1, choices=[1, -1],
                      help="1 (default) when a higher score predicts higher accuracy, -1 when a lower one does")
    what.add_argument("--data-root", help="dataset folder (default $HYTASBENCH_DATA or the cache)")
    what.add_argument("--ingest", nargs="+", metavar="PATH", help="training-result JSON files or folders "
                      "(python -m hytasbench.train --out) to add as finished train units")
    io = p.add_argument_group("files")
    io.add_argument("--out", type=Path, help="table-set folder (default: <cache>/tables/<source>)")
    io.add_argument("--source", default=DEFAULT_SOURCE, help=f"source name in the tables (default {DEFAULT_SOURCE})")
    io.add_argument("--work", type=Path, default=Path("work") / "build",
                    help="work directory shared by all builders of these tables (default ./work/build)")
    io.add_argument("--base", help="a table set whose rows count as finished units (with their kernel "
                    "revisions, per-layer scores and seconds), so that a build continues from it on a fresh machine "
                    "without recomputing or losing them; default: the --out folder when it holds a table set; "
                    "'none' to start from the work directory alone")
    io.add_argument("--attach-to", type=Path, metavar="TABLES", help="after writing the --out table set (of "
                    "another training protocol than TABLES', same --source, outside TABLES), copy it into "
                    "TABLES/protocols/ and list it in TABLES' manifest, so that Benchmark(source=...).query(..., "
                    "protocol=...) serves it (e.g. --out work/protocol_tables/out --attach-to tables)")
    io.add_argument("--description", default="", help="manifest description")
    io.add_argument("--note", action="append", default=[], help="manifest note (repeatable)")
    run = p.add_argument_group("how it runs")
    run.add_argument("--shard", help="K/N: only the K-th of N disjoint parts of the units (1-based)")
    run.add_argument("--time-limit", help="stop starting units after this long (3600, 90m, 2h) and merge")
    run.add_argument("--grace", type=float, default=30.0, help="seconds in-flight units may finish after the "
                     "time limit before they are stopped (default 30)")
    run.add_argument("--retries", type=int, default=2, help="extra attempts of a failing unit (default 2)")
    run.add_argument("--retry-failed", action="store_true", help="forget recorded failures and try again")
    run.add_argument("--stale-after", type=float, default=600.0, help="seconds without heartbeat after which "
                     "another host's claim is considered dead (default 600)")
    run.add_argument("--merge-only", action="store_true", help="only write the tables from finished units")
    run.add_argument("--refresh-stale", action="store_true", help="first recompute, in this process, the proxy "
                     "scores of finished units that an older revision of a kernel computed (a merge leaves them "
                     "out until then), and compute the kernels a finished unit lacks (added to the library "
                     "later) without recomputing the others")
    run.add_argument("--no-merge", action="store_true", help="only run units (e.g. array tasks; merge later)")
    run.add_argument("--status", action="store_true", help="print how many units are done, failed or left")
    run.add_argument("--quiet", action="store_true", help="no progress output (the log file still gets it)")
    return p


def _estimates(wd: Any, units: Sequence[Unit], done: set, per_kind: int = 50) -> Dict[str, float]:
    """Mean seconds per kind from finished results (so a resumed build has an ETA at once)."""
    sums: Dict[str, List[float]] = {}
    for u in units:
        if u.key in done and len(sums.setdefault(u.kind, [])) < per_kind:
            r = wd.result(u.key)
            if r and isinstance(r.get("seconds"), (int, float)):
                sums[u.kind].append(float(r["seconds"]))
    return {k: sum(v) / len(v) for k, v in sums.items() if v}


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)  # a bad option (architecture, dataset, shard, ...): say what is allowed
    return reporting_errors(_main, args, argv if argv is not None else sys.argv[1:])


def check_options(args: argparse.Namespace) -> None:
    """Refuse contradictory or out-of-range options before the work directory is created."""
    for name, low in (("workers", 1), ("threads", 1), ("ray_cpus", 1), ("retries", 0)):
        value = getattr(args, name)
        if value is not None and value < low:
            raise BuildError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
    for name in ("grace", "stale_after"):
        value = getattr(args, name)
        if not (0 < value < float("inf")) and not (name == "grace" and value == 0):
            raise BuildError(f"--{name.replace('_', '-')} must be a number of seconds > 0, got {value}")
    if args.merge_only and args.no_merge:
        raise BuildError("--merge-only and --no-merge together would do nothing: give one of them")
    if args.merge_only and args.refresh_stale:
        raise BuildError("--refresh-stale recomputes units, --merge-only runs none: give one of them")
    if args.device == "cpu" and args.gpu is not None:
        raise BuildError(f"--gpu {args.gpu} with --device cpu: GPUs are not used on CPU workers; drop --gpu "
                         "(or --device cpu), and use --workers N for N CPU workers")
    if args.time_limit:
        parse_duration(args.time_limit)
    if args.proxies is not None:
        from hytasbench.proxies import available

        names = [n.strip() for n in args.proxies.split(",")]
        unknown = [n for n in names if n not in available()]
        if unknown or not names:
            raise BuildError(f"--proxies {args.proxies!r}: unknown {unknown}; allowed: {', '.join(available())}")
    if not args.merge_only and not args.status and not args.ray:
        devices(args)  # GPUs that torch cannot see


@dataclass
class BuildPlan:
    """What a build does, decided from its options before any unit runs."""

    datasets: List[str]
    synthetic: List[str]  # datasets built on synthetic cubes
    kinds: List[str]
    seeds: List[int]
    archs: List[str]
    protocol: str  # the train units' protocol name
    source: str
    proxies: Optional[List[str]]  # None: every kernel
    user: Optional[UserProxy]
    max_attempts: int
    out: Path
    base: Optional[Path]  # the table set whose rows count as finished units
    wd: Any  # the WorkDir
    units: List[Unit]  # every selected unit (ingested results included)
    mine: List[Unit]  # this shard's
    kept: List[Unit]  # the base's units: merged with the build's, never recomputed
    notes: List[str]
    command: str


def plan_build(args: argparse.Namespace, argv: List[str]) -> BuildPlan:
    """Check the options and select the units; seeds the work directory with the base's rows and
    the ingested training results, and forgets recorded failures with --retry-failed."""
    from .ingest import read_results, store
    from .workdir import WorkDir

    check_options(args)
    datasets = parse_datasets(args.datasets)
    synthetic = [] if not args.synthetic.strip() else datasets if args.synthetic.strip().lower() == "all" \
        else [d for d in parse_datasets(args.synthetic, "--synthetic") if d in datasets]
    kinds = parse_kinds(args.kind)
    seeds = check_seeds(parse_ints(args.seeds, "seed"), "--seeds", BuildError)
    archs = [str(a) for a in space.select(args.archs)]
    part = parse_shard(args.shard)
    if args.epochs is not None and args.epochs < 1:
        raise BuildError("--epochs must be at least 1")
    if args.test_subset is not None and args.test_subset < 1:
        raise BuildError("--test-subset must be at least 1")
    protocol, tag = train_protocol(args.epochs, args.test_subset, args.protocol)
    source, proxies = args.source, args.proxies
    user = None
    if args.user_proxy:
        user = UserProxy.from_spec(args.user_proxy, args.user_proxy_name, args.user_proxy_orientation)
        if proxies:
            raise BuildError("--proxies selects built-in kernels; it cannot be combined with --user-proxy")
        kinds = [k for k in kinds if k != "train"]
        if source == DEFAULT_SOURCE:
            source = f"user-{user.name}"
    if args.data_free:
        if user is not None or synthetic:
            raise BuildError("--data-free scores the built-in data-free kernels from the datasets' shapes; it cannot "
                             "be combined with --user-proxy or --synthetic")
        import hytasbench.proxies as proxies_pkg

        free = [n for n in proxies_pkg.data_free() if n not in SIZE_PROXIES]
        chosen = proxies.split(",") if proxies else free
        pixels = [n for n in chosen if n not in free]
        if pixels:
            raise BuildError(f"--data-free: {pixels} read pixels; data-free kernels: {', '.join(free)}")
        proxies = ",".join(chosen)
        kinds = [k for k in kinds if k != "train"]
    out = args.out or tables_dir(source)
    if args.attach_to is not None:
        check_attachable(Path(args.attach_to), Path(out), source, protocol)
    base = None if str(args.base).lower() == "none" else base_folder(args.base) if args.base else \
        (Path(out) if (Path(out) / "manifest.json").is_file() else None)
    results, skipped = read_results(args.ingest) if args.ingest else ([], [])  # refused before anything is stored
    wd = WorkDir(args.work, stale_after=args.stale_after)
    kept: List[Unit] = []
    if base is not None:
        kept, seeded = seed_from_tables(base, wd)
        if any(seeded.values()):
            print(f"base {base}: " + ", ".join(f"{n} {k} unit(s)" for k, n in seeded.items() if n) +
                  " taken from its rows as finished", file=sys.stderr)

    units = make_units(kinds, datasets, archs, seeds, synthetic, tag,
                       user.tag if user else DATA_FREE_TAG if args.data_free else "")
    notes = list(args.note)
    if args.ingest:
        got = store(results, wd)
        keep = [u for u in got if u.dataset in datasets and u.fidelity == tag and (u.dataset in synthetic) == u.synthetic]
        if keep:
            sources = [wd.result(u.key) or {} for u in keep]
            notes.append(f"{len(keep)} training results made with python -m hytasbench.train ({protocol}) were "
                         "ingested as finished train units: " + "; ".join(
                             f"{u.arch} from {Path(r['ingested_from']).name} (sha256 {r['ingested_sha256'][:16]})"
                             if r.get("ingested_from") else u.arch for u, r in zip(keep, sources)))
        known = {u.key for u in units}
        units += [u for u in keep if u.key not in known]
        for why in skipped + [f"{u.key}: other dataset, cube or protocol than this build" for u in got if u not in keep]:
            print(f"ingest: skipped {why}", file=sys.stderr)
    mine = shard(units, *part) if part else list(units)
    if args.retry_failed:
        wd.reset_failures([u.key for u in mine])
    command = "python -m builders.build " + " ".join(shlex.quote(a) for a in argv)
    return BuildPlan(datasets, synthetic, kinds, seeds, archs, protocol, source,
                     proxies.split(",") if proxies else None, user, max(1, args.retries + 1), Path(out), base, wd,
                     units, mine, kept, notes, command)


def report_status(plan: BuildPlan) -> None:
    """--status: how many of this shard's units are done, failed for good, or left."""
    wd, mine = plan.wd, plan.mine
    done = wd.done_keys()
    failed = sum(wd.gave_up(u.key, plan.max_attempts) for u in mine if u.key not in done)
    n_done = sum(u.key in done for u in mine)
    print(f"{n_done}/{len(mine)} units done, {failed} failed for good, {len(mine) - n_done - failed} left "
          f"(work dir {wd.root})")


def run_units(args: argparse.Namespace, plan: BuildPlan) -> None:
    """Refresh stale proxy scores (--refresh-stale), then run this shard's unfinished units on the
    chosen backend until they are done or the time limit stops them."""
    from .backends import LocalBackend, Plan, RayBackend
    from .progress import Monitor
    from .revisions import refresh

    wd, mine = plan.wd, plan.mine
    done = wd.done_keys()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    owner = f"build-{stamp}-{socket.gethostname()}-{os.getpid()}"
    backend: Any
    if args.ray:
        backend = RayBackend(args.ray, gpu=args.device != "cpu", local_cpus=args.ray_cpus, grace=args.grace)
        n_workers = args.ray_cpus or 1
    else:
        slots = devices(args)
        backend = LocalBackend(slots, grace=args.grace)
        n_workers = len(slots)
    todo = [u for u in mine if u.key not in done]
    monitor = Monitor(mine, done, wd.root / "logs" / f"{owner}.log", n_workers, plan.max_attempts,
                      _estimates(wd, mine, done), quiet=args.quiet)
    monitor.log(f"{plan.command}\n  {len(mine)} units ({len(todo)} to do) of {len(plan.units)}; "
                f"kinds {plan.kinds}, {len(plan.datasets)} dataset(s), {len(plan.archs)} architecture(s), "
                f"seeds {plan.seeds}; protocol {plan.protocol}; work dir {wd.root}; log {monitor.log_path}")
    work = Plan(todo, str(wd.root), RunnerConfig(args.data_root, args.epochs, args.test_subset, args.threads,
                plan.proxies, protocol=args.protocol, user_proxy=plan.user),
                plan.max_attempts, args.stale_after, owner=owner)
    deadline = time.time() + parse_duration(args.time_limit) if args.time_limit else None
    if args.refresh_stale:
        where = "cpu" if args.device == "cpu" else f"cuda:{devices(args)[0][1]}"
        refresh(wd, [u for u in mine if u.key in done], data_root=args.data_root, device=where,
                threads=args.threads, deadline=deadline, log=monitor.log, wanted=plan.proxies)
    if todo:
        backend.run(work, monitor, deadline)
    monitor.close()


def write_tables(args: argparse.Namespace, plan: BuildPlan) -> None:
    """Merge every selected unit's finished result (and the base's) into the table set."""
    from .merge import merge

    user = plan.user
    build = {"command": plan.command,
             "description": args.description or _description(plan.kinds, plan.datasets, plan.synthetic),
             "notes": plan.notes, "config": {
                 "datasets": plan.datasets, "synthetic_cubes": plan.synthetic, "kinds": plan.kinds,
                 "seeds": plan.seeds, "architectures": len(plan.archs), "epochs": args.epochs or 300,
                 "test_subset": args.test_subset, "train_protocol": plan.protocol,
                 "proxies": ",".join(plan.proxies) if plan.proxies else "all", "threads_per_worker": args.threads,
                 "backend": f"ray {args.ray}" if args.ray else
                 (f"local, {args.workers} CPU worker(s)" if args.device == "cpu" else f"local, GPUs {args.gpu or '0'}"),
                 "shard": args.shard, "retries": args.retries, "data_root": args.data_root,
                 "base": None if plan.base is None else str(plan.base),
                 "user_proxy": None if user is None else {"name": user.name, "function": user.function,
                                                          "file": user.path, "sha256": user.sha256,
                                                          "orientation": user.orientation}}}
    selected = {u.key for u in plan.units}
    manifest = merge(plan.wd, plan.units + [u for u in plan.kept if u.key not in selected], plan.out,
                     source=plan.source, protocol=plan.protocol, build=build, max_attempts=plan.max_attempts,
                     declare={user.name: user.declaration()} if user else None)
    if manifest is None:
        print("nothing finished yet: no tables written", file=sys.stderr)
        return
    if not args.quiet:
        rows = {m["dataset"]: m["rows"] for m in manifest["files"].values()}
        print(f"tables written to {plan.out}: " + ", ".join(f"{d} {n} rows" for d, n in rows.items()), file=sys.stderr)
    if args.attach_to is not None:
        from hytasbench.tables import attach_protocol_set

        entry = attach_protocol_set(args.attach_to, plan.out)
        if not args.quiet:
            print(f"attached to {args.attach_to} as protocol {plan.protocol}: rows {entry['rows']}", file=sys.stderr)


def check_attachable(parent: Path, out: Path, source: str, protocol: str) -> None:
    """Refuse an --attach-to that could not succeed before any unit runs (attach checks it all again)."""
    from hytasbench.protocols import same
    from hytasbench.tables import read_manifest

    manifest = read_manifest(parent)
    if out.resolve() == parent.resolve() or out.resolve().is_relative_to(parent.resolve()):
        raise BuildError(f"--attach-to {parent}: --out {out} lies inside it; write the protocol's own table set "
                         "elsewhere (e.g. --out work/protocol_tables/out): attaching copies it in")
    if manifest["source"] != source:
        raise BuildError(f"--attach-to {parent}: its source is {manifest['source']!r}, this build's {source!r}; "
                         f"give --source {manifest['source']}")
    if same(protocol, manifest.get("protocol")):
        raise BuildError(f"--attach-to {parent}: protocol {protocol} is its own protocol; build into it with --base "
                         "instead of attaching a second set of the same protocol")


def _main(args: argparse.Namespace, argv: List[str]) -> int:
    plan = plan_build(args, argv)
    if args.status:
        report_status(plan)
        return EXIT_OK
    if not args.merge_only:
        run_units(args, plan)
    code = _exit_code(plan.wd, plan.mine, plan.max_attempts)
    if not args.no_merge:
        write_tables(args, plan)
    return code


def _exit_code(wd: Any, units: Sequence[Unit], max_attempts: int) -> int:
    done = wd.done_keys()
    left = [u for u in units if u.key not in done]
    if not left:
        return EXIT_OK
    if any(wd.gave_up(u.key, max_attempts) for u in left):
        return EXIT_FAILED
    return EXIT_INCOMPLETE


def _description(kinds: Sequence[str], datasets: Sequence[str], synthetic: Sequence[str]) -> str:
    what = {"cost": "parameter counts and FLOPs", "proxies": "zero-cost proxy scores at initialisation",
            "train": "test-set OA/AA/kappa of trained subnets"}
    cubes = f" (synthetic cubes for {', '.join(synthetic)})" if synthetic else ""
    return (f"Built by python -m builders.build: {', '.join(what[k] for k in kinds)} on "
            f"{', '.join(datasets)}{cubes}; see build.coverage for how many architectures each column has")


if __name__ == "__main__":
    sys.exit(main())
