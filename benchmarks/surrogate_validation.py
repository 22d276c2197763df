"""Validate the surrogate the way NAS-Bench-301 validated theirs (writes the tables of docs/surrogate.md).

1. Model choice on one dataset: 5-fold cross-validated Spearman, Kendall tau and RMSE of every
   candidate model, with 95 % bootstrap intervals over the held-out rows, and fit time.
2. The chosen model on every dataset: the same scores for OA and training seconds, and the
   coverage of its 90 % intervals on held-out rows.
3. The table's own noise: Houston's repeated trainings (Spearman between repeats, identical pairs).
4. NAS on the surrogate restricted to the table's architectures (out-of-fold predictions, so no
   architecture is predicted by a model that saw it) against NAS on the table: the ranking of the
   algorithms by mean final regret and their regret curves.
5. Where not to trust it: held-out error by edit distance to the nearest training architecture,
   and the depth/width support of the table.

    PYTHONPATH=. python benchmarks/surrogate_validation.py --source work/hytas [--seeds 20] [--quick]
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from typing import Dict, List

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from hytasbench import Benchmark
from hytasbench.analysis.markdown import number, table as md
from hytasbench.surrogate.fitted import training_rows
from hytasbench.surrogate.model import ALL_MODELS, DEFAULT_MODEL, conformal_quantile, features, out_of_fold

N_BOOT = 1000


def scores(y: np.ndarray, pred: np.ndarray, rng: np.random.Generator) -> Dict[str, str]:
    """Spearman, Kendall tau, RMSE with 95 % bootstrap intervals over rows."""
    def fmt(fn, digits: int = 3) -> str:
        point = fn(y, pred)
        boot = [fn(y[b], pred[b]) for b in (rng.integers(0, len(y), len(y)) for _ in range(N_BOOT))]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        return f"{point:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    return {"spearman": fmt(lambda a, b: spearmanr(a, b)[0]),
            "kendall_tau": fmt(lambda a, b: kendalltau(a, b)[0]),
            "rmse": fmt(lambda a, b: float(np.sqrt(np.mean((a - b) ** 2))), digits=4)}


def coverage(y: np.ndarray, mean: np.ndarray, scale: np.ndarray, fold: np.ndarray) -> float:
    """Held-out coverage of the 90 % interval, the quantile calibrated on the *other* folds only."""
    hit = np.zeros(len(y), dtype=bool)
    for k in np.unique(fold):
        test = fold == k
        q = conformal_quantile(y[~test], mean[~test], scale[~test])
        hit[test] = np.abs(y[test] - mean[test]) <= q * scale[test]
    return float(hit.mean())


def model_choice(bench: Benchmark, dataset: str, models: List[str]) -> pd.DataFrame:
    archs, ys = training_rows(bench, dataset)
    x, _ = features(archs, dataset)
    rows = []
    for name in models:
        t = time.process_time()
        mean, scale, fold = out_of_fold(name, x, ys["oa"])
        cpu = (time.process_time() - t) / 5
        rows.append({"model": name, **scores(ys["oa"], mean, np.random.default_rng(0)),
                     "coverage_90": f"{coverage(ys['oa'], mean, scale, fold):.3f}", "cpu_s_per_fit": f"{cpu:.1f}"})
    return pd.DataFrame(rows)


def per_dataset(bench: Benchmark, model: str) -> pd.DataFrame:
    rows = []
    for ds in bench.datasets():
        archs, ys = training_rows(bench, ds)
        x, _ = features(archs, ds)
        for target, y in ys.items():
            mean, scale, fold = out_of_fold(model, x, y)
            rows.append({"dataset": ds, "target": target, "n": len(y), **scores(y, mean, np.random.default_rng(0)),
                         "coverage_90": f"{coverage(y, mean, scale, fold):.3f}"})
    return pd.DataFrame(rows)


def repeat_noise(bench: Benchmark) -> pd.DataFrame:
    rows = []
    for ds in bench.datasets():
        f = bench.frame(ds, runs="all")
        twice = f[f["arch"].isin(f.loc[f["run"] > 0, "arch"])].dropna(subset=["metric_oa"])
        pairs = twice.pivot_table(index="arch", columns="run", values="metric_oa").dropna()
        if len(pairs) < 2:
            continue
        a, b = pairs[0].to_numpy(), pairs[1].to_numpy()
        rows.append({"dataset": ds, "pairs": len(pairs), "spearman": f"{spearmanr(a, b)[0]:.3f}",
                     "identical": int(np.sum(a == b)), "rmse_between_runs": f"{np.sqrt(np.mean((a - b) ** 2)):.4f}",
                     "mean_abs_diff": f"{np.mean(np.abs(a - b)):.4f}"})
    return pd.DataFrame(rows)


def nas_agreement(bench: Benchmark, dataset: str, model: str, seeds: int, hours: float):
    """Regret of the algorithms on the table and on out-of-fold surrogate OA of the same architectures."""
    from hytasbench.nas import Budget, SearchProblem, make_searcher, run_many
    from hytasbench.nas.regret import regret_curve

    archs, ys = training_rows(bench, dataset)
    x, _ = features(archs, dataset)
    mean, _, _ = out_of_fold(model, x, ys["oa"])
    frame = bench.frame(dataset)
    frame = frame[frame["metric_oa"].notna()].reset_index(drop=True)
    surrogate_frame = frame.copy()
    surrogate_frame["metric_oa"] = mean
    budget = Budget(seconds=hours * 3600)
    algos = ["random_search", "regularized_evolution", "local_search", "zero_cost", "zero_cost_evolution"]
    out, curves = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problems = {"table": SearchProblem(frame, dataset=dataset, source="table",
                                           published_proxy_seconds=lambda p: bench.proxy_seconds(dataset, p)),
                    "surrogate": SearchProblem(surrogate_frame, dataset=dataset, source="surrogate",
                                               published_proxy_seconds=lambda p: bench.proxy_seconds(dataset, p))}
        for where, problem in problems.items():
            results = [run_many(make_searcher(a), problem, budget, seeds=seeds, name=a) for a in algos]
            for r in results:
                runs = r.runs
                out.append({"benchmark": where, "algorithm": r.algorithm, "final_regret": runs["regret"].mean(),
                            "sem": runs["regret"].std() / np.sqrt(len(runs))})
            curves[where] = regret_curve(results, x="seconds")
    table = pd.DataFrame(out).pivot(index="algorithm", columns="benchmark", values="final_regret")
    tau = kendalltau(table["table"], table["surrogate"])[0]
    return pd.DataFrame(out), table, tau, curves


def trust(bench: Benchmark, dataset: str, model: str) -> pd.DataFrame:
    """Held-out |error| by edit distance to the nearest *training* architecture of the fold."""
    from hytasbench.nas.space_view import _distances

    archs, ys = training_rows(bench, dataset)
    x, _ = features(archs, dataset)
    mean, _, fold = out_of_fold(model, x, ys["oa"])
    dist = _distances(archs, archs).astype(float)
    near = np.empty(len(archs))
    for k in np.unique(fold):
        test = fold == k
        near[test] = dist[np.ix_(test, ~test)].min(axis=1)
    err = np.abs(mean - ys["oa"])
    bins = pd.cut(near, [0, 3, 4, 5, 6, 100], right=True, labels=["<=3", "4", "5", "6", ">=7"])
    return pd.DataFrame({"nearest": bins, "err": err}).groupby("nearest", observed=True)["err"].agg(
        n="size", mean_abs_error="mean", p90_abs_error=lambda e: np.quantile(e, 0.9)).reset_index()


def full_space_distance(bench: Benchmark, dataset: str, n: int = 2000) -> pd.Series:
    """Edit distance from uniform draws of the whole space to the nearest tabulated architecture."""
    import random

    from hytasbench.nas.space_view import _distances
    from hytasbench.space import sample

    archs, _ = training_rows(bench, dataset)
    rng = random.Random(1)
    draws = [sample(rng) for _ in range(n)]
    return pd.Series(_distances(draws, archs).min(axis=1)).value_counts().sort_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=None)
    ap.add_argument("--dataset", default="indian_pines", help="dataset of the model choice and NAS comparison")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--hours", type=float, default=6.0, help="simulated budget of the NAS comparison")
    ap.add_argument("--quick", action="store_true", help="skip the per-dataset table and the NAS comparison")
    ap.add_argument("--curves", help="write both regret curves to this CSV")
    args = ap.parse_args()
    bench = Benchmark(source=args.source)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; source {bench.default_source}")
    pd.set_option("display.width", 200)
    print(f"\n## model choice on {args.dataset} (OA, 5-fold CV, 95 % bootstrap intervals)")
    print(model_choice(bench, args.dataset, list(ALL_MODELS)).pipe(md, index=False))
    print("\n## table noise: repeated trainings")
    print(repeat_noise(bench).pipe(md, index=False))
    if args.quick:
        return
    print(f"\n## chosen model {DEFAULT_MODEL!r}, every dataset")
    print(per_dataset(bench, DEFAULT_MODEL).pipe(md, index=False))
    print(f"\n## where not to trust it ({args.dataset}): held-out |error| by distance to nearest training arch")
    print(trust(bench, args.dataset, DEFAULT_MODEL).pipe(md, default=number(4), index=False))
    print("distance from 2000 uniform draws of the whole space to the nearest tabulated architecture:")
    print(full_space_distance(bench, args.dataset).to_dict())
    print(f"\n## NAS on the table vs on the surrogate (out-of-fold OA), {args.dataset}, {args.seeds} seeds, "
          f"{args.hours:g} h")
    rows, table, tau, curves = nas_agreement(bench, args.dataset, DEFAULT_MODEL, args.seeds, args.hours)
    print(rows.pipe(md, default=number(4), index=False))
    print(f"Kendall tau between the two rankings of the algorithms: {tau:.3f}")
    for where, curve in curves.items():
        grid = curve[curve["seconds"].isin(curve["seconds"].unique()[::max(len(curve["seconds"].unique()) // 6, 1)])]
        print(f"\nregret curve on the {where} (mean over seeds):")
        print(grid.pivot_table(index="seconds", columns="algorithm", values="mean").pipe(md, default=number(4)))
    if args.curves:
        pd.concat([c.assign(benchmark=w) for w, c in curves.items()]).to_csv(args.curves, index=False)


if __name__ == "__main__":
    main()
