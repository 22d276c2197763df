"""Throughput of the builder's units on this machine, and the projected cost of the full build.

Proxy units (every proxy and variant) run through ``builders.units.UnitRunner`` in this process
(one worker, ``--threads`` torch threads), on the real cube where present and otherwise on a
synthetic cube of the real shape (same compute); ``--from-work`` adds the finished proxy units of
a real build. Training at 300 epochs is far too long to time on a CPU, so a training unit is run
for ``--epochs`` epochs with the evaluation on ``--eval-pixels`` test pixels, and the full
protocol is projected as 300 x (seconds per epoch) + 15 x (seconds per whole-test-set evaluation).

On a CPU, times are CPU seconds of the worker process (with one torch thread, what an unloaded
core would take as wall time), so the figures hold on a busy machine too; with ``--device cuda``
they are wall seconds on the GPU. Unit times grow with the work they do, so the seconds are fitted as a + b * work, with work =
classes x FLOPs for a proxy unit (one pixel per class), training pixels x FLOPs for an epoch and
test pixels x FLOPs for an evaluation, and summed over all 2000 architectures of every dataset
(exact FLOPs and split sizes are cheap); the four datasets not measured are extrapolated that way.

    python benchmarks/bench_build.py [--archs 4] [--train-archs 2] [--from-work DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

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
    """Training and test pixels of a dataset's split (from its label maps; where they are not in
    ``root``, the per-class counts of the dataset's spec, which the label maps are checked against)."""
    from hytasbench.datasets.load import load_labels, split_maps
    from hytasbench.datasets.specs import get_spec
    from hytasbench.errors import DatasetFilesError

    spec = get_spec(ds)
    try:
        train, test, _ = split_maps(spec, load_labels(ds, root), None)
    except DatasetFilesError:
        return {"train": spec.train_count, "test": spec.test_count}
    return {"train": int((train > 0).sum()), "test": int((test > 0).sum())}


def quantile_picks(flops: List[int], n: int, lo: float, hi: float) -> List[int]:
    """Indices of n architectures at evenly spaced FLOPs quantiles in [lo, hi] (covers the range cheaply)."""
    order = np.argsort(flops)
    return [int(order[int(q * (len(order) - 1))]) for q in np.linspace(lo, hi, n)] if n else []


def from_work(work: Path, dataset: str, timer: str = "cpu_seconds") -> List[Tuple[float, float]]:
    """(FLOPs, seconds) of the finished proxy units of a build's work directory. ``timer``: the
    recorded ``cpu_seconds`` on CPU (units without them are left out: their wall time depends on
    the machine's load), the wall ``seconds`` on a GPU."""
    out = []
    for path in (work / "done").glob(f"{dataset}__proxies__*.json"):
        r = json.loads(path.read_text())
        if r["columns"].get("cost_flops") and timer in r:
            out.append((float(r["columns"]["cost_flops"]), float(r[timer])))
    return out


def evaluations(epochs: int, every: int = 20) -> int:
    """How many test-set evaluations a run of ``epochs`` makes (every ``every`` epochs and the last)."""
    return len([e for e in range(1, epochs + 1) if e % every == 0 or e == epochs])


def time_train(arch: str, data: Any, epochs: int, eval_pixels: int, device: str, threads: int) -> Tuple[float, float]:
    """(seconds per epoch, seconds per whole-test-set evaluation) of a training unit, from a run of
    ``epochs`` epochs evaluated on ``eval_pixels`` test pixels. On CPU: CPU seconds of this process
    (load-independent); on a GPU: wall seconds."""
    from hytasbench.train import TrainConfig, train_and_evaluate

    cpu = time.process_time()
    r = train_and_evaluate(arch, data, TrainConfig(epochs=epochs, device=device, threads=threads,
                                                   test_subset=eval_pixels))
    per_wall = 1.0 if device != "cpu" else (time.process_time() - cpu) / r.train_seconds
    n_eval = evaluations(epochs)
    epoch = per_wall * (r.train_seconds - r.eval_seconds) / epochs
    test = len(data.test_labels)
    return epoch, per_wall * r.eval_seconds / n_eval * test / min(eval_pixels, test)


class Fits(NamedTuple):
    """Unit seconds as functions of their work: proxies (classes x FLOPs), one epoch (training
    pixels x FLOPs), one whole-test-set evaluation (test pixels x FLOPs)."""

    proxy: Callable
    epoch: Callable
    evaluation: Callable

    @classmethod
    def of(cls, proxy_points: List[Tuple[float, float]], epoch_points: List[Tuple[float, float]],
           eval_points: List[Tuple[float, float]]) -> "Fits":
        return cls(*(fit([a for a, _ in v], [b for _, b in v]) for v in (proxy_points, epoch_points, eval_points)))

    def train_seconds(self, flops: Any, train_px: int, test_px: int, epochs: int = 300) -> Any:
        """Projected seconds of training units (``flops`` per sample, scalar or array)."""
        f = np.asarray(flops, float)
        return epochs * self.epoch(train_px * f) + evaluations(epochs) * self.evaluation(test_px * f)


def project(fits: Fits, root: Any, epochs: int = 300) -> Dict[str, Any]:
    """Hours of one worker on the measuring device for every HyTAS-2000 unit of every dataset:
    per dataset, and in total (``proxies_hours``, ``training_hours``)."""
    from hytasbench.datasets import DATASETS, get_spec
    from hytasbench.model import count_flops
    from hytasbench.space import hytas2000

    archs = hytas2000()
    out: Dict[str, Any] = {"datasets": {}, "proxies_hours": 0.0, "training_hours": 0.0}
    for d in DATASETS:
        spec, sizes = get_spec(d), split_sizes(d, root)
        f = np.asarray([count_flops(a, spec.bands, spec.num_classes, spec.band_patch) for a in archs], float)
        proxy_s = float(np.sum(fits.proxy(spec.num_classes * f)))
        train_s = float(np.sum(fits.train_seconds(f, sizes["train"], sizes["test"], epochs)))
        out["proxies_hours"] += proxy_s / 3600
        out["training_hours"] += train_s / 3600
        out["datasets"][d] = {"proxy_units_per_hour": 3600 * len(archs) / proxy_s, "proxy_2000_hours": proxy_s / 3600,
                              "train_units_per_hour": 3600 * len(archs) / train_s, "train_2000_hours": train_s / 3600,
                              "train_pixels": sizes["train"], "test_pixels": sizes["test"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=4, help="proxy units to run, at FLOPs quantiles 5..95%%")
    ap.add_argument("--train-archs", type=int, default=2, help="training units to time, at FLOPs quantiles 5..50%%")
    ap.add_argument("--epochs", type=int, default=1, help="epochs timed per training unit")
    ap.add_argument("--eval-pixels", type=int, default=1024, help="test pixels evaluated (scaled to the whole set)")
    ap.add_argument("--dataset", default="indian_pines", help="dataset to measure on; the other four are "
                    "extrapolated per FLOP and per pixel")
    ap.add_argument("--from-work", type=Path, help="also use the finished proxy units of this build work dir")
    ap.add_argument("--data-root", default=os.environ.get("HYTASBENCH_DATA"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu (CPU seconds are timed) or cuda (wall seconds)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import torch

    from builders.units import RunnerConfig, Unit, UnitRunner
    from hytasbench.datasets import DATASETS, canonical_name, get_spec
    from hytasbench.errors import DatasetFilesError
    from hytasbench.model import count_flops
    from hytasbench.space import hytas2000

    ds = canonical_name(args.dataset)
    archs = [str(a) for a in hytas2000()]
    load0 = os.getloadavg()
    gpu = args.device != "cpu"
    runner = UnitRunner(RunnerConfig(args.data_root, threads=args.threads), args.device)
    specs = {d: get_spec(d) for d in DATASETS}  # analytic FLOPs: no model is built
    flops = {d: [count_flops(a, s.bands, s.num_classes, s.band_patch) for a in archs] for d, s in specs.items()}
    sizes = {d: split_sizes(d, args.data_root) for d in DATASETS}
    try:
        runner.data(ds, False)
        synthetic = False
    except DatasetFilesError:
        synthetic = True
    report: Dict[str, Any] = {
        "command": "python benchmarks/bench_build.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{args.threads} thread(s) per worker, device {runner.device_name()}", "load_average_before": load0,
        "dataset": ds, "cube": "synthetic (real shape)" if synthetic else "real", "units": []}
    classes = get_spec(ds).num_classes
    px: List[Tuple[float, float]] = [(classes * f, sec) for f, sec in from_work(args.from_work, ds)] \
        if args.from_work else []
    report["proxy_units_from_work"] = len(px)
    for i in quantile_picks(flops[ds], args.archs, 0.05, 0.95):
        sec = runner.run(Unit("proxies", ds, archs[i], 0, "", synthetic))["seconds" if gpu else "cpu_seconds"]
        px.append((classes * flops[ds][i], sec))
        report["units"].append({"arch": archs[i], "kind": "proxies", "flops": flops[ds][i], "seconds": sec})
        print(report["units"][-1], flush=True)
    ep, ev = [], []
    for i in quantile_picks(flops[ds], args.train_archs, 0.05, 0.5):  # what a train unit runs, shortened
        epoch, full_eval = time_train(archs[i], runner.data(ds, synthetic), args.epochs, args.eval_pixels,
                                      args.device, args.threads)
        ep.append((sizes[ds]["train"] * flops[ds][i], epoch))
        ev.append((sizes[ds]["test"] * flops[ds][i], full_eval))
        report["units"].append({"arch": archs[i], "kind": "train", "flops": flops[ds][i], "epoch_seconds": epoch,
                                "full_eval_seconds": full_eval, "unit_hours_300_epochs":
                                (300 * epoch + EVALS_PER_RUN * full_eval) / 3600})
        print(report["units"][-1], flush=True)
    proj = project(Fits.of(px, ep, ev), args.data_root)
    report["datasets"] = {}
    for d, r in proj["datasets"].items():
        report["datasets"][d] = {
            "how": "measured" if d == ds else f"extrapolated per FLOP and pixel from {ds}",
            "proxy_units_per_core_hour": r["proxy_units_per_hour"], "proxy_2000_core_hours": r["proxy_2000_hours"],
            "train_units_per_core_hour": r["train_units_per_hour"], "train_2000_core_hours": r["train_2000_hours"]}
        r_ = report["datasets"][d]
        print(f"{d:13s} ({r_['how']}): proxies {r_['proxy_units_per_core_hour']:7.1f} units/h, 2000 in "
              f"{r_['proxy_2000_core_hours']:6.1f} core-h; training (300 epochs) {r_['train_units_per_core_hour']:.3f} "
              f"units/h, 2000 in {r_['train_2000_core_hours']:8.0f} core-h", flush=True)
    total_proxy, total_train = 3600 * proj["proxies_hours"], 3600 * proj["training_hours"]
    report["load_average_after"] = os.getloadavg()
    report["projection"] = {"proxies_core_hours": total_proxy / 3600, "training_core_hours": total_train / 3600,
                            "note": f"one worker on {runner.device_name()}; hours are {'GPU' if gpu else 'CPU core'}-hours"}
    unit = "GPU-hours" if gpu else "CPU core-hours"
    print(f"projected for 2000 architectures x 5 datasets: proxies {total_proxy / 3600:.1f} {unit}, "
          f"training {total_train / 3600:.0f} {unit} (load average {load0[0]:.1f} -> "
          f"{report['load_average_after'][0]:.1f} on {os.cpu_count()} cores)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
