"""Proxy benchmark: every proxy through the fused engine against each kernel called separately,
side by side in one run, over a spread of HyTAS-2000 architectures on the real Indian Pines;
and the projected time for all proxies on all 2000 architectures.

    python benchmarks/bench_proxies.py [--data-root ../shared/datasets] [--quantiles 0.1 0.3 0.5 0.7 0.9]

"separate" runs the engine once per proxy on the same model and batch (the passes a kernel needs,
nothing shared); "entry point" adds what calling ``score_architecture`` once per proxy costs on
top (building the seeded subnet again each time). Times are the process's CPU seconds (one
intra-op thread), which other jobs on a shared machine disturb far less than wall time; wall
seconds are recorded too. The projection fits fused seconds = a + b * FLOPs on the measured
architectures and sums it over the 2000 FLOP counts.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: kernels whose pass serves no other kernel: GraSP's double backward, CRoZe's three passes
UNSHAREABLE = ("grasp", "croze")


def pick_ids(quantiles: List[float]) -> List[int]:
    """HyTAS-2000 ids at the given quantiles of the FLOP count on Indian Pines."""
    from hytasbench.model import count_flops
    from hytasbench.space import hytas2000

    flops = np.array([count_flops(a, 200, 16, 3) for a in hytas2000()])
    order = np.argsort(flops)
    return [int(order[min(int(q * len(order)), len(order) - 1)]) + 1 for q in quantiles]


class Clock:
    """CPU and wall seconds of a block."""

    def __enter__(self) -> "Clock":
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall


def measure(arch_id: int, batch: Any) -> Dict[str, Any]:
    from hytasbench.model import count_flops
    from hytasbench.proxies import available, run_engine
    from hytasbench.proxies.engine import build_scoring_model
    from hytasbench.schema import ORIENTATION

    with Clock() as build:
        model = build_scoring_model(arch_id, batch.dataset)
    run_engine(model, batch)  # warm-up: the first run on a new shape pays for the allocator
    separate: Dict[str, float] = {}
    scores: Dict[str, float] = {}
    sep_wall = 0.0
    for name in available():
        with Clock() as c:
            scores[name] = run_engine(model, batch, [name]).results[name].score
        separate[name], sep_wall = c.cpu, sep_wall + c.wall
    with Clock() as fused_clock:
        fused = run_engine(model, batch)
    shareable = [p for p in available() if p not in UNSHAREABLE]
    with Clock() as shared_clock:
        run_engine(model, batch, shareable)
    new = [p for p in available() if p not in ORIENTATION]  # the kernels added after the paper
    with Clock() as new_clock:
        run_engine(model, batch, new)
    for name, score in scores.items():  # fused == separate, or the comparison is void
        assert score == fused.results[name].score or score != score, name
    sep_s, fused_s = sum(separate.values()), fused_clock.cpu
    n = len(separate)
    return {"id": arch_id, "arch": str(model.arch), "flops": count_flops(model), "build_s": build.cpu,
            "fused_s": fused_s, "separate_s": sep_s, "ratio": sep_s / fused_s,
            "entry_ratio": (sep_s + n * build.cpu) / (fused_s + build.cpu), "separate": separate,
            "fused_wall_s": fused_clock.wall, "separate_wall_s": sep_wall,
            "shareable_fused_s": shared_clock.cpu, "shareable_separate_s": sum(separate[p] for p in shareable),
            "new_fused_s": new_clock.cpu, "new_separate_s": sum(separate[p] for p in new),
            "passes_wall_s": {f"{k[0]}{dict(k[1])}": v for k, v in fused.passes.items()}}


def projection(rows: List[Dict[str, Any]]) -> Dict[str, float]:
    from hytasbench.model import count_flops
    from hytasbench.space import hytas2000

    x = np.array([r["flops"] for r in rows], dtype=float)
    y = np.array([r["fused_s"] + r["build_s"] for r in rows])
    b, a = np.polyfit(x, y, 1)
    all_flops = np.array([count_flops(arch, 200, 16, 3) for arch in hytas2000()], dtype=float)
    total = float(np.sum(a + b * all_flops))
    return {"intercept_s": float(a), "s_per_gflop": float(b * 1e9), "one_core_h": total / 3600,
            "two_cores_h": total / 3600 / 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--quantiles", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "work" / "bench_proxies" / "proxies.json")
    args = ap.parse_args()
    import torch

    from hytasbench.proxies import proxy_batch

    torch.set_num_threads(args.threads)
    batch = proxy_batch("indian_pines", 0, args.data_root)
    rows = []
    print(f"{'id':>5} {'arch':<28} {'GFLOPs':>7} {'fused s':>8} {'separate s':>10} {'ratio':>6} {'entry':>6}"
          "  (CPU seconds)")
    for arch_id in pick_ids(args.quantiles):
        r = measure(arch_id, batch)
        rows.append(r)
        print(f"{r['id']:>5} {r['arch']:<28} {r['flops'] / 1e9:>7.2f} {r['fused_s']:>8.1f} {r['separate_s']:>10.1f} "
              f"{r['ratio']:>6.2f} {r['entry_ratio']:>6.2f}", flush=True)
    proj = projection(rows)
    fused, sep = sum(r["fused_s"] for r in rows), sum(r["separate_s"] for r in rows)
    summary = {"ratio_total": sep / fused, "ratio_min": min(r["ratio"] for r in rows),
               "ratio_without_grasp_croze": sum(r["shareable_separate_s"] for r in rows)
               / sum(r["shareable_fused_s"] for r in rows),
               "ratio_new_kernels": sum(r["new_separate_s"] for r in rows) / sum(r["new_fused_s"] for r in rows),
               "new_kernels_fused_s_per_arch": sum(r["new_fused_s"] for r in rows) / len(rows),
               "entry_ratio_total": sum(r["separate_s"] + len(r["separate"]) * r["build_s"] for r in rows)
               / sum(r["fused_s"] + r["build_s"] for r in rows), **proj}
    print(f"total: fused {fused:.1f}s, separate {sep:.1f}s, ratio {summary['ratio_total']:.2f} "
          f"(entry point {summary['entry_ratio_total']:.2f}; without the unshareable grasp and croze passes "
          f"{summary['ratio_without_grasp_croze']:.2f}; the {len(rows[0]['separate']) - 15} kernels added after the "
          f"paper {summary['ratio_new_kernels']:.2f}); all 2000 archs, all proxies: "
          f"{proj['one_core_h']:.1f} h on one core, {proj['two_cores_h']:.1f} h on two")
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": args.threads,
               "load_avg": os.getloadavg(), "torch": torch.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
