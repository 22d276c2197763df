"""How many trees the random-forest study needs (a measurement, not a test).

Fits every forest of the study once with ``--max-trees`` trees and scores the forests made of its
first k trees for every k of ``--trees``: with one ``random_state`` a k-tree forest is exactly the
first k trees of a larger one (checked below), so one fit gives every curve. Prints, per k, the
largest change of a curve point (mean rho over the split seeds) against the full forest, next to the
seed spread (std over seeds) of that point, and the CPU seconds a k-tree study costs (fit time
scales with the number of trees; prediction is included in the total).

    python benchmarks/rf_trees.py --source work/hytas_ref [--datasets indian_pines] [--trees 10 20 30 50 100] [--jobs 2] [--csv out.csv]
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


def prefix_scores(data, encoding: str, feature_set: str, fraction: float, seed: int, max_trees: int,
                  trees: Sequence[int]) -> List[Dict[str, object]]:
    """One fit of ``max_trees`` trees; the held-out rho of the forest of its first k trees, per k."""
    from sklearn.ensemble import RandomForestRegressor

    from hytasbench.analysis.correlation import spearman
    from hytasbench.analysis.predictor import split

    train, test = split(data.n, fraction, seed)
    x_train = data.features(encoding, feature_set, train, train)
    x_test = data.features(encoding, feature_set, test, train)
    x_test = x_test.tocsr() if sp.issparse(x_test) else x_test
    start = time.process_time()
    model = RandomForestRegressor(n_estimators=max_trees, random_state=seed, n_jobs=1).fit(x_train, data.target[train])
    per_tree = np.array([t.predict(x_test) for t in model.estimators_])
    seconds = time.process_time() - start
    if encoding == "numeric" and fraction == 0.01:  # the prefix claim, checked on a cheap fit
        small = RandomForestRegressor(n_estimators=trees[0], random_state=seed, n_jobs=1).fit(x_train, data.target[train])
        assert np.allclose(small.predict(x_test), per_tree[:trees[0]].mean(axis=0))
    base = {"dataset": data.dataset, "encoding": encoding, "features": feature_set, "fraction": fraction,
            "seed": seed, "cpu_s_full": seconds}
    return [{**base, "trees": k, "rho": spearman(per_tree[:k].mean(axis=0), data.target[test])} for k in trees]


def main() -> None:
    from hytasbench import Benchmark
    from hytasbench.analysis import predictor as P

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--trees", type=int, nargs="+", default=[10, 20, 30, 50, 100])
    ap.add_argument("--datasets", nargs="+", help="only these datasets (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", help="also write every row here")
    args = ap.parse_args()
    trees, max_trees = sorted(args.trees), max(args.trees)
    bench = Benchmark(source=args.source)
    names = [ds for ds in bench.datasets() if not args.datasets or ds in args.datasets]
    data = {ds: P.study_data(bench.frame(ds, runs="first"), ds) for ds in names}
    tasks = [(d, e, f, fr, s) for d in data.values() for e in P.ENCODINGS for f in P.FEATURE_SETS
             for fr in P.FRACTIONS for s in P.SEEDS]
    wall = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(prefix_scores, *t, max_trees, trees) for t in tasks]
        rows = [r for fut in futures for r in fut.result()]
    wall = time.perf_counter() - wall
    res = pd.DataFrame(rows)
    if args.csv:
        res.to_csv(args.csv, index=False)
    keys = ["dataset", "encoding", "features", "fraction"]
    curve = res.groupby(keys + ["trees"])["rho"].agg(["mean", "std"]).reset_index()
    full = curve[curve["trees"] == max_trees].set_index(keys)
    print(f"{len(tasks)} fits of {max_trees} trees, {len(data)} datasets, wall {wall:.0f} s, "
          f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    cpu_full = res.drop_duplicates(keys + ["seed"])["cpu_s_full"].sum()
    print("| trees | max abs change of a curve point | median abs change | points off by more than their seed std "
          "| median seed std | study CPU s (estimated: linear in trees) |")
    print("|---|---|---|---|---|---|")
    for k in trees:
        part = curve[curve["trees"] == k].set_index(keys)
        diff = (part["mean"] - full["mean"]).abs()
        over = int((diff > full["std"]).sum())
        print(f"| {k} | {diff.max():.3f} | {diff.median():.3f} | {over} of {len(diff)} | {full['std'].median():.3f} "
              f"| {cpu_full * k / max_trees:.0f} |")


if __name__ == "__main__":
    main()
