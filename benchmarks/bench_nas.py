"""Speed of the simulated-cost runner (a benchmark, not a test).

Reports (1) simulated evaluations per second of the runner loop itself, driven by random search
over a trainings budget, with 1 and 16 asynchronous workers, and (2) wall time of 100 seeds x 1000-step regularised evolution,
DataFrame construction included. Runs on the imported reference when available
(``--source``), otherwise on a synthetic table of the same shape, which times the same code.

    python benchmarks/bench_nas.py [--source hytas|PATH] [--dataset indian_pines] [--repeat 3]
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np


def synthetic_frame(n: int = 2000, seed: int = 0):
    """A table with the reference's columns and plausible value ranges (for timing only)."""
    import pandas as pd

    from hytasbench.space import hytas2000

    rng = np.random.default_rng(seed)
    archs = hytas2000()[:n]
    size = np.array([a.embed_dim ** 2 * a.depth for a in archs], dtype=float)
    return pd.DataFrame({"arch": [str(a) for a in archs], "metric_oa": rng.uniform(0.4, 0.85, n),
                         "metric_train_seconds": 60 + size / size.max() * 300, "cost_params": size * 12,
                         "cost_flops": size * 600, "proxy_snip": np.log(size) + rng.normal(0, 1, n)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=None, help="table source; default: synthetic table")
    ap.add_argument("--dataset", default="indian_pines")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    args = ap.parse_args()
    from hytasbench.nas import Budget, RandomSearch, RegularizedEvolution, SearchProblem, run_many

    t0 = time.perf_counter()
    if args.source:
        from hytasbench import Benchmark

        problem = SearchProblem.from_benchmark(Benchmark(source=args.source), args.dataset)
        where = f"{args.source}/{args.dataset}"
    else:
        problem = SearchProblem(synthetic_frame(), dataset="synthetic")
        where = "synthetic 2000-architecture table"
    build = time.perf_counter() - t0
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; table: {where}")
    print(f"problem construction (arrays + 2000x2000 distance matrix): {build:.2f} s")

    def best_of(fn) -> float:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    seeds, steps = 100, 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rs = best_of(lambda: run_many(RandomSearch(), problem, Budget(trainings=steps), seeds=seeds))
        re_t = best_of(lambda: run_many(RegularizedEvolution(), problem, Budget(trainings=steps), seeds=seeds))
        re_df = best_of(lambda: run_many(RegularizedEvolution(), problem, Budget(trainings=steps), seeds=seeds).frame)
    print(f"runner, random search, {seeds} seeds x {steps} trainings: {rs:.3f} s = {seeds * steps / rs:,.0f} evaluations/s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for workers in (1, 16):
            for name, cls in (("random search", RandomSearch), ("regularised evolution", RegularizedEvolution)):
                t = best_of(lambda: run_many(cls(), problem, Budget(trainings=steps), seeds=seeds, n_workers=workers))
                print(f"{workers:2d} asynchronous worker(s), {name}, {seeds} seeds x {steps} trainings: {t:.3f} s = "
                      f"{seeds * steps / t:,.0f} evaluations/s")
    print(f"regularised evolution, {seeds} seeds x {steps} steps: {re_t:.3f} s "
          f"({seeds * steps / re_t:,.0f} evaluations/s); with the results DataFrame: {re_df:.3f} s")


if __name__ == "__main__":
    main()
