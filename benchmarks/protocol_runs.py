"""The upstream-emulation runs of issue 18 on real Indian Pines, resumable, one process per run.

    nice -n 15 python benchmarks/protocol_runs.py --out work/protocol_runs [--jobs 1] [--dry-run] [--plan init]

Plan ``issue18`` (the default; 39 runs of 300 epochs, evaluated every 20 as usual):
- the 22 HyTAS-2000 architectures with embed 32 and depth 4 under the full emulation
  (``hytas-sampler+lag+caf8+epoch-order``) at seed 0: the published values are one run each, so
  the spread across the 22 at one seed is what compares with theirs;
- seed 1 of the full emulation for 8 of them (run-to-run noise): ids 397, 551, 1846 (which already
  have seeds 0 and 1 under plain ``hytas-sampler``) and every fourth of the other 19 in id order
  (the first five);
- ids 397, 551, 1846 at seed 0 under each single switch (``hytas-sampler+lag``, ``+caf8``,
  ``+epoch-order``), so each switch's effect shows against their plain ``hytas-sampler`` runs.

Plan ``init`` (22 runs): the same 22 at seed 0 under the full emulation with upstream's
initialisation too (``hytas-sampler+lag+caf8+epoch-order+embed-init+shared-init``), ids 397, 551
and 1846 first, so that a partial run of the plan (``--limit 3``) already compares with their
per-switch and second-seed runs.

Each run is ``python -m hytasbench.train --arch <id> --dataset indian_pines --protocol <p> --seed
<s> --threads 1 --out <out>/<tag>__s<seed>__<id>.json --checkpoint <out>/<tag>__s<seed>__<id>.ckpt``;
the trainer writes its JSON atomically when the run finishes and saves the run's state at every
evaluation (every 20 epochs), so a killed runner loses at most 20 epochs of each run in flight: a
rerun skips every finished file and continues each started run from its checkpoint. Compare with
``python benchmarks/validation_report.py --compare --results <out> work/validation --reference
work/hytas_ref``; ingest into a table set of its own protocol with
``python -m builders.build --kind train --protocol <p> --ingest <out> ...`` (docs/training.md).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from builders.units import protocol_tag  # noqa: E402
from hytasbench.protocols import HYTAS_SAMPLER_FULL, HYTAS_SAMPLER_INIT, HYTAS_SAMPLER_SINGLE  # noqa: E402
from hytasbench.space import hytas2000  # noqa: E402

ALREADY_RUN = (397, 551, 1846)


class Run(NamedTuple):
    arch_id: int
    protocol: str
    seed: int

    def path(self, out: Path, epochs: int = 300) -> Path:
        """Result file; a probe of fewer epochs has its own name (and protocol name)."""
        probe = "" if epochs == 300 else f"__e{epochs}"
        return out / f"{protocol_tag(self.protocol)}__s{self.seed}__{self.arch_id}{probe}.json"


def smallest_ids() -> List[int]:
    """Ids of the HyTAS-2000 architectures with embed 32 and depth 4 (22 of them)."""
    return [a.id for a in hytas2000() if a.embed_dim == 32 and a.depth == 4]


def plan(name: str = "issue18") -> List[Run]:
    ids = smallest_ids()
    others = [i for i in ids if i not in ALREADY_RUN]
    if name == "init":
        return [Run(i, HYTAS_SAMPLER_INIT, 0) for i in list(ALREADY_RUN) + others]
    second = list(ALREADY_RUN) + others[::4][:5]
    runs = [Run(i, HYTAS_SAMPLER_FULL, 0) for i in ids]
    runs += [Run(i, p, 0) for p in HYTAS_SAMPLER_SINGLE for i in ALREADY_RUN]
    runs += [Run(i, HYTAS_SAMPLER_FULL, 1) for i in second]
    return runs


def command(run: Run, out: Path, args: argparse.Namespace) -> List[str]:
    result = run.path(out, args.epochs)
    cmd = [sys.executable, "-m", "hytasbench.train", "--arch", str(run.arch_id), "--dataset", "indian_pines",
           "--protocol", run.protocol, "--seed", str(run.seed), "--threads", "1", "--epochs", str(args.epochs),
           "--out", str(result), "--checkpoint", str(result.with_suffix(".ckpt"))]
    return cmd + (["--root", args.root] if args.root else [])


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "work" / "protocol_runs"))
    ap.add_argument("--plan", choices=("issue18", "init"), default="issue18", help="which runs (module docstring)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once, one core each (default 1)")
    ap.add_argument("--epochs", type=int, default=300, help="300 (the runs); fewer only for a timing probe")
    ap.add_argument("--root", default=None, help="dataset root (default $HYTASBENCH_DATA or the cache)")
    ap.add_argument("--limit", type=int, default=None, help="start at most this many runs")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and what is left, run nothing")
    args = ap.parse_args(argv)
    out = Path(args.out)
    runs = plan(args.plan)
    todo = [r for r in runs if not r.path(out, args.epochs).exists()]
    print(f"{len(runs)} runs planned, {len(runs) - len(todo)} finished in {out}, {len(todo)} to do", flush=True)
    todo = todo[:args.limit] if args.limit is not None else todo
    if args.dry_run:
        for r in todo:
            print(" ".join(command(r, out, args)))
        return 0
    out.mkdir(parents=True, exist_ok=True)

    def one(r: Run) -> int:
        t0 = time.perf_counter()
        log = r.path(out, args.epochs).with_suffix(".log")
        with open(log, "w") as f:
            rc = subprocess.call(command(r, out, args), cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
        print(f"{'done' if rc == 0 else f'FAILED (exit {rc}, see {log})'}: id {r.arch_id} {r.protocol} "
              f"seed {r.seed} in {time.perf_counter() - t0:.0f} s", flush=True)
        return rc

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        failed = sum(rc != 0 for rc in pool.map(one, todo))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
