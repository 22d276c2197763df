"""``hytasbench predict ARCH DATASET``: the surrogate's prediction for any architecture of the space."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``predict`` on the main parser's subparsers; returns the new parser."""
    from .model import ALL_MODELS, DEFAULT_MODEL

    p = subparsers.add_parser("predict", help="surrogate prediction (OA, training seconds, 90%% intervals) for "
                                              "any architecture of the space")
    p.add_argument("arch", help="canonical string such as e48-h466533-r451343, or an id 1..2000")
    p.add_argument("dataset", help="indian_pines, salinas, houston2013, paviau, ksc (or an alias)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"one of {', '.join(ALL_MODELS)} (default {DEFAULT_MODEL})")
    p.add_argument("--source", help="table source the surrogate is fitted to (default: the first available)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    from ..benchmark import Benchmark
    from ..cli import to_json

    bench = Benchmark(source=args.source)
    pred = bench.predict(args.arch, args.dataset, model=args.model)
    if args.json:
        print(to_json(pred.to_dict()))
        return 0
    lo, hi = pred.oa_interval
    slo, shi = pred.train_seconds_interval
    print(f"PREDICTION (not a measurement) for {pred.arch} on {pred.dataset}")
    print(f"  oa             {pred.oa:.4f}   {pred.level:.0%} interval [{lo:.4f}, {hi:.4f}]")
    print(f"  train_seconds  {pred.train_seconds:.1f}   {pred.level:.0%} interval [{slo:.1f}, {shi:.1f}]")
    print(f"  model {pred.model}, fitted to {pred.n_train} architectures of source {pred.source!r} "
          f"(table sha256 {pred.table_sha256[:12]})")
    print(f"  {pred.support} training architectures share its depth and width"
          + ("; EXTRAPOLATION: do not trust this value" if pred.extrapolated else ""))
    if pred.tabulated:
        print("  the table holds this architecture: `hytasbench query` gives its measured values")
    return 0
