"""Throughput of the builder's units on this machine, and the projected cost of the full build.

Runs real proxy units (every proxy and variant) through ``builders.units.UnitRunner`` in this
process (one worker, ``--threads`` torch threads) and the training of a train unit, on the real Indian Pines
where its cube is present and on synthetic cubes of the real shapes otherwise (the compute is the
same: only the pixel values differ). Training at 300 epochs is far too long to time on a CPU, so a
training unit is timed for ``--epochs`` epochs and the full protocol is projected as
300 x (seconds per epoch) + 15 x (seconds per full test-set evaluation).

Unit times grow with the work they do, so the measured seconds are fitted as a + b * work, with work
= classes x FLOPs for a proxy unit (one pixel per class), training pixels x FLOPs for an epoch and
test pixels x FLOPs for an evaluation, and summed over all 2000 architectures of every dataset (exact
FLOPs and split sizes are cheap). Datasets that were not measured are thereby extrapolated per FLOP.

    python benchmarks/bench_build.py [--archs 6] [--train-archs 2] [--datasets indian_pines] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # builders/ lives beside hytasbench/ in a checkout

EVALS_PER_RUN = 15  # every 20 epochs over 300 (the last one is the final evaluation)


def fit(x: List[float], y: List[float]):
    """Least-squares y = a + b * x (a flat or single sample gives the proportional fit through its mean)."""
    x_, y_ = np.asarray(x, float), np.asarray(y, float)
    if len(x_) < 2 or np.ptp(x_) == 0:
        return lambda v: np.asarray(v, float) * (y_.mean() / x_.mean())
    b, a = np.polyfit(x_, y_, 1)
    return lambda v: np.maximum(a + b * np.asarray(v, float), y_.min() * 0.5)


def split_sizes(ds: str, root) -> Dict[str, int]:
    """Training and test pixels of a dataset's split (from its label maps only)."""
    from hytasbench.datasets.load import load_labels, split_maps
    from hytasbench.datasets.specs import get_spec

    train, test, _ = split_maps(get_spec(ds), load_labels(ds, root), None)
    return {"train": int((train > 0).sum()), "test": int((test > 0).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=6, help="architectures sampled for proxy units")
    ap.add_argument("--train-archs", type=int, default=2, help="architectures sampled for training units")
    ap.add_argument("--epochs", type=int, default=1, help="epochs timed per training unit")
    ap.add_argument("--datasets", default="indian_pines", help="datasets to measure (comma-separated, or all); "
                    "the others of the five are extrapolated per FLOP")
    ap.add_argument("--data-root", default=os.environ.get("HYTASBENCH_DATA"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import torch

    from builders.units import RunnerConfig, Unit, UnitRunner
    from hytasbench.datasets import DATASETS, canonical_name, get_spec
    from hytasbench.errors import DatasetFilesError
    from hytasbench.model import build_model_for, count_flops
    from hytasbench.space import hytas2000
    from hytasbench.train import TrainConfig, train_and_evaluate

    measured = list(DATASETS) if args.datasets == "all" else [canonical_name(d) for d in args.datasets.split(",")]
    archs = [str(a) for a in hytas2000()]
    rng = random.Random(args.seed)
    sample = rng.sample(range(len(archs)), args.archs)
    load0 = os.getloadavg()
    runner = UnitRunner(RunnerConfig(args.data_root, threads=args.threads), "cpu")
    report: Dict[str, Any] = {
        "command": "python benchmarks/bench_build.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, {args.threads} thread(s) per worker",
        "load_average_before": load0, "samples": {}, "datasets": {}}
    flops = {ds: [count_flops(build_model_for(a, ds)) for a in archs] for ds in DATASETS}
    sizes = {ds: split_sizes(ds, args.data_root) for ds in DATASETS}
    # per-unit work measures: proxies ~ classes x FLOPs, an epoch ~ train pixels x FLOPs, an evaluation ~ test pixels x FLOPs
    px_x, px_y, ep_x, ep_y, ev_x, ev_y = [], [], [], [], [], []
    for ds in measured:
        try:
            runner.data(ds, False)
            synthetic = False
        except DatasetFilesError:
            synthetic = True
        rows = []
        for i in sample:
            sec = runner.run(Unit("proxies", ds, archs[i], 0, "", synthetic))["seconds"]
            px_x.append(get_spec(ds).num_classes * flops[ds][i])
            px_y.append(sec)
            rows.append({"arch": archs[i], "kind": "proxies", "seconds": sec})
        for i in sample[:args.train_archs]:  # what a train unit runs, for fewer epochs
            r = train_and_evaluate(archs[i], runner.data(ds, synthetic),
                                   TrainConfig(epochs=args.epochs, device="cpu", threads=args.threads))
            epoch = (r.train_seconds - r.eval_seconds) / args.epochs
            ep_x.append(sizes[ds]["train"] * flops[ds][i])
            ep_y.append(epoch)
            ev_x.append(sizes[ds]["test"] * flops[ds][i])
            ev_y.append(r.eval_seconds)  # one evaluation on the whole test set (the last epoch's)
            rows.append({"arch": archs[i], "kind": "train", "epoch_seconds": epoch, "eval_seconds": r.eval_seconds})
        report["samples"][ds] = {"cube": "synthetic (real shape)" if synthetic else "real", "units": rows}
        print(f"measured {ds}: {rows}", flush=True)
    proxy_fit, epoch_fit, eval_fit = fit(px_x, px_y), fit(ep_x, ep_y), fit(ev_x, ev_y)
    total_proxy = total_train = 0.0
    for ds in DATASETS:
        f = np.asarray(flops[ds], float)
        proxy_s = float(np.sum(proxy_fit(get_spec(ds).num_classes * f)))
        train_s = float(np.sum(300 * epoch_fit(sizes[ds]["train"] * f) + EVALS_PER_RUN * eval_fit(sizes[ds]["test"] * f)))
        total_proxy += proxy_s
        total_train += train_s
        report["datasets"][ds] = {
            "how": "measured" if ds in measured else "extrapolated per FLOP from " + ", ".join(measured),
            "proxy_units_per_core_hour": 3600 * len(archs) / proxy_s, "proxy_2000_core_hours": proxy_s / 3600,
            "train_units_per_core_hour": 3600 * len(archs) / train_s, "train_2000_core_hours": train_s / 3600}
        d = report["datasets"][ds]
        print(f"{ds:13s} ({d['how']}): proxies {d['proxy_units_per_core_hour']:7.1f} units/h, 2000 in "
              f"{d['proxy_2000_core_hours']:6.1f} core-h; training (300 epochs) {d['train_units_per_core_hour']:.3f} "
              f"units/h, 2000 in {d['train_2000_core_hours']:8.0f} core-h", flush=True)
    report["load_average_after"] = os.getloadavg()
    report["projection"] = {
        "proxies_core_hours": total_proxy / 3600, "training_core_hours": total_train / 3600,
        "note": "one CPU core per worker; GPU throughput was not measured (no GPU was available)"}
    print(f"projected for 2000 architectures x 5 datasets: proxies {total_proxy / 3600:.1f} CPU core-hours, "
          f"training {total_train / 3600:.0f} CPU core-hours (load average {load0[0]:.1f} -> "
          f"{report['load_average_after'][0]:.1f} on {os.cpu_count()} cores)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
