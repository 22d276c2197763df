"""Regret against simulated wall-clock with 1, 4 and 16 parallel workers (the table of docs/nas.md).

    PYTHONPATH=. python benchmarks/nas_workers.py --source work/hytas [--dataset indian_pines] [--seeds 20]
"""
from __future__ import annotations

import argparse
import warnings

from hytasbench import Benchmark
from hytasbench.analysis.markdown import number, table
from hytasbench.nas import Budget, SearchProblem, make_searcher, run_many
from hytasbench.nas.regret import regret_table

ALGOS = ("random_search", "regularized_evolution", "local_search", "zero_cost_evolution")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=None)
    ap.add_argument("--dataset", default="indian_pines")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--hours", type=float, nargs="+", default=[0.5, 1, 2, 6])
    ap.add_argument("--synchronous", action="store_true", help="synchronous batches instead of asynchronous workers")
    args = ap.parse_args()
    bench = Benchmark(source=args.source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = SearchProblem.from_benchmark(bench, args.dataset)
    at = [h * 3600 for h in args.hours]
    budget = Budget(seconds=max(at))
    rows = []
    for workers in (1, 4, 16):
        results = [run_many(make_searcher(a), problem, budget, seeds=args.seeds, name=a, n_workers=workers,
                            synchronous=args.synchronous) for a in ALGOS]
        t = regret_table(results, at)
        for algo in t.index:
            rows.append({"workers": workers, "algorithm": algo,
                         **{f"{h:g} h": f"{t.loc[algo, ('mean', a)]:.4f} ({t.loc[algo, ('sem', a)]:.4f})"
                            for h, a in zip(args.hours, at)}})
    import pandas as pd

    mode = "synchronous batches" if args.synchronous else "asynchronous workers"
    print(f"{args.dataset} ({problem.source}), {args.seeds} seeds, {mode}: mean regret (sem) at simulated wall-clock")
    print(table(pd.DataFrame(rows), default=number(0), index=False))


if __name__ == "__main__":
    main()
