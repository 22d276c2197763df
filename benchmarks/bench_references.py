"""Training and evaluation throughput of the reference models and of the caf8 switch, side by side.

    nice -n 15 python benchmarks/bench_references.py --root /work/shared/datasets [--steps 5]

On the real Indian Pines, one thread, the trainer's own ``train_one_epoch`` and ``evaluate``: the
plain ViT reference, the SpectralFormer reference, id 397 with depth - 2 CAF fusions and with
upstream's 8 (``caf8``), each for ``--steps`` training steps (batch ``--batch``) and one evaluation
of ``--eval-pixels`` test pixels. Reports samples per second of process CPU time (what an idle
core would give: the machine is shared) and of wall time, the ratio to SpectralFormer, and the
projected CPU time of a 300-epoch run: ``epochs x samples per epoch / train rate + 15 x test
pixels / eval rate``, for ``hytasbench-v1`` (every training pixel per epoch, 695) and the
emulated upstream sampler (5 x 64 = 320 per epoch).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hytasbench.datasets.load import load_dataset  # noqa: E402
from hytasbench.datasets.samples import PatchSampler  # noqa: E402
from hytasbench.model import build_model, spectralformer_reference, vit_reference  # noqa: E402
from hytasbench.train import HYTAS_GPUS, evaluate, param_groups, train_one_epoch  # noqa: E402


def measure(model, data, steps: int, batch: int, eval_pixels: int):
    model.set_fused_attention(True)
    opt = torch.optim.AdamW(param_groups(model, 0.005), lr=3.125e-4, fused=True)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    sampler = PatchSampler(data.cube, data.band_patch)
    g = torch.Generator().manual_seed(0)
    order = torch.randint(0, len(data.train_labels), (steps * batch,), generator=g)
    rc, y = torch.as_tensor(data.train_rc)[order], torch.as_tensor(data.train_labels)[order]
    train_one_epoch(model, opt, scaler, sampler, rc[:batch], y[:batch], batch)  # warm-up step
    c0, w0 = time.process_time(), time.perf_counter()
    train_one_epoch(model, opt, scaler, sampler, rc, y, batch)
    c1, w1 = time.process_time(), time.perf_counter()
    test = torch.randperm(len(data.test_labels), generator=g)[:eval_pixels]
    evaluate(model, sampler, torch.as_tensor(data.test_rc)[test], torch.as_tensor(data.test_labels)[test],
             data.num_classes)
    c2, w2 = time.process_time(), time.perf_counter()
    n = steps * batch
    return n / (c1 - c0), n / (w1 - w0), eval_pixels / (c2 - c1), eval_pixels / (w2 - w1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eval-pixels", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("indian_pines", args.root)
    b, c, bp = data.bands, data.num_classes, data.band_patch
    models = {"vit": lambda: vit_reference(b, c, bp), "spectralformer": lambda: spectralformer_reference(b, c, bp),
              "id 397": lambda: build_model(397, b, c, bp), "id 397 caf8": lambda: build_model(397, b, c, bp, fusions=8)}
    rows = {}
    for name, make in models.items():
        torch.manual_seed(0)
        rows[name] = measure(make(), data, args.steps, args.batch, args.eval_pixels)
    ref = rows["spectralformer"]
    n_test = len(data.test_labels)
    print(f"{args.steps} steps of {args.batch}, evaluation of {args.eval_pixels} test pixels, 1 thread; "
          f"samples/s of CPU time (wall); projected CPU hours of 300 epochs incl. 15 evaluations of {n_test}")
    print("| model | train samples/s CPU (wall) | vs SpectralFormer | eval samples/s CPU (wall) | vs SpectralFormer | "
          "300 epochs hytasbench-v1 | 300 epochs emulated sampler |")
    print("|---|---|---|---|---|---|---|")
    for name, (tc, tw, ec, ew) in rows.items():
        evals = 15 * n_test / ec
        v1 = (300 * len(data.train_labels) / tc + evals) / 3600
        hs = (300 * HYTAS_GPUS * 64 / tc + evals) / 3600
        print(f"| {name} | {tc:.1f} ({tw:.1f}) | {tc / ref[0]:.2f} | {ec:.1f} ({ew:.1f}) | {ec / ref[2]:.2f} | "
              f"{v1:.2f} h | {hs:.2f} h |")


if __name__ == "__main__":
    main()
