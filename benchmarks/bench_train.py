"""Training/evaluation throughput, memory and FLOP/s of our trainer against a plain PyTorch loop.

Side by side, for the same architecture and data:
- ours: ``hytasbench.train.train_one_epoch`` (batches gathered on the device from the padded cube,
  fused attention, fused AdamW, loss summed on the device) and ``evaluate``;
- baseline: the straightforward loop a user would write: pre-built samples in a TensorDataset,
  a shuffling DataLoader, ``.to(device)`` per batch, ``loss.item()`` per step, the model as
  ``build_model`` returns it (explicit attention), default AdamW. A second baseline row uses the
  fused attention too, to separate the data path from the attention kernel.
- peak memory of a full evaluation of the largest test sets (synthetic Salinas and PaviaU cubes
  over the real label maps), measured in a fresh subprocess, next to what materialising the test
  samples would take;
- achieved FLOP/s (FLOPs of ``count_flops``: forward x1 for evaluation, x3 for a training step)
  against a measured large-matmul peak.

Usage: python benchmarks/bench_train.py [--device cpu|cuda] [--threads N] [--steps 20] [--out r.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hytasbench.datasets.load import HSIData, load_dataset  # noqa: E402
from hytasbench.datasets.samples import PatchSampler  # noqa: E402
from hytasbench.datasets.synthetic import synthetic_dataset  # noqa: E402
from hytasbench.model import SubNet, build_model, count_flops, spectralformer_reference  # noqa: E402
from hytasbench.space import hytas2000  # noqa: E402
from hytasbench.devices import cpu_model  # noqa: E402
from hytasbench.train import evaluate, param_groups, train_one_epoch  # noqa: E402

SHARED = Path(os.environ.get("HYTASBENCH_SHARED", REPO.parent / "shared"))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """Best FLOP/s of an n x n matmul over a few repeats."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t))
    return best


def by_flops(bands: int = 200, classes: int = 16, band_patch: int = 3) -> List:
    """HyTAS-2000 sorted by FLOPs per sample (ties by id)."""
    return sorted(hytas2000(), key=lambda a: (count_flops(a, bands, classes, band_patch), a.id))


MODELS = ("smallest", "median", "largest", "spectralformer")


def reference_models(data: HSIData, names: Sequence[str] = MODELS) -> Dict[str, Callable[[], SubNet]]:
    """Factories of the measured models, by label: the smallest, median and largest HyTAS-2000
    architectures by FLOPs and the SpectralFormer reference (those of ``names``, in that order)."""
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; allowed: {', '.join(MODELS)}")
    archs = by_flops(data.bands, data.num_classes, data.band_patch)
    picks = {"smallest": archs[0], "median": archs[len(archs) // 2], "largest": archs[-1]}
    out: Dict[str, Callable[[], SubNet]] = {}
    for name in (n for n in MODELS if n in names):
        if name == "spectralformer":
            out[name] = lambda: spectralformer_reference(data.bands, data.num_classes, data.band_patch)
        else:
            a = picks[name]
            out[f"{name} (id {a.id}, {a})"] = lambda a=a: build_model(a, data.bands, data.num_classes, data.band_patch)
    return out


def ours_train(model, data: HSIData, device, steps: int, batch: int, amp: bool) -> float:
    """Samples/s of our training path over ``steps`` batches (after one warm-up batch)."""
    model = model.to(device).set_fused_attention(True)
    opt = torch.optim.AdamW(param_groups(model, 0.005), lr=1e-4, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    sampler = PatchSampler(data.cube, data.band_patch, device)
    n = steps * batch
    idx = torch.as_tensor(np.random.default_rng(0).integers(0, len(data.train_labels), n + batch))
    rc = torch.as_tensor(data.train_rc, device=device)[idx.to(device)]
    y = torch.as_tensor(data.train_labels, device=device)[idx.to(device)]
    train_one_epoch(model, opt, scaler, sampler, rc[:batch], y[:batch], batch, amp)
    sync(device)
    t = time.perf_counter()
    train_one_epoch(model, opt, scaler, sampler, rc[batch:], y[batch:], batch, amp)
    sync(device)
    return n / (time.perf_counter() - t)


def baseline_train(model, data: HSIData, device, steps: int, batch: int, amp: bool, fused: bool) -> float:
    """Samples/s of a plain DataLoader loop over pre-built CPU samples (building them is not timed)."""
    model = model.to(device).set_fused_attention(fused)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.005)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    n = steps * batch
    idx = np.random.default_rng(0).integers(0, len(data.train_labels), n + batch)
    x = PatchSampler(data.cube, data.band_patch)(torch.as_tensor(data.train_rc[idx]))
    y = torch.as_tensor(data.train_labels[idx])
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, pin_memory=device.type == "cuda")
    model.train()
    it = iter(loader)
    t = None
    for i in range(steps + 1):
        if i == 1:
            sync(device)
            t = time.perf_counter()
        xb, yb = next(it)
        xb, yb = xb.to(device), yb.to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss.item()
    sync(device)
    return n / (time.perf_counter() - t)


def ours_eval(model, data: HSIData, device, n: int, batch: int, amp: bool) -> float:
    model = model.to(device).set_fused_attention(True)
    sampler = PatchSampler(data.cube, data.band_patch, device)
    rc = torch.as_tensor(data.test_rc[:n], device=device)
    y = torch.as_tensor(data.test_labels[:n], device=device)
    evaluate(model, sampler, rc[:batch], y[:batch], data.num_classes, batch, amp)
    sync(device)
    t = time.perf_counter()
    evaluate(model, sampler, rc, y, data.num_classes, batch, amp)
    sync(device)
    return n / (time.perf_counter() - t)


def baseline_eval(model, data: HSIData, device, n: int, batch: int, amp: bool) -> float:
    model = model.to(device).set_fused_attention(False).eval()
    x = PatchSampler(data.cube, data.band_patch)(torch.as_tensor(data.test_rc[:n]))
    loader = DataLoader(TensorDataset(x, torch.as_tensor(data.test_labels[:n])), batch_size=batch)
    sync(device)
    t = time.perf_counter()
    preds = []
    with torch.no_grad():
        for xb, _ in loader:
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                preds.append(model(xb.to(device)).argmax(1).cpu())
    sync(device)
    return n / (time.perf_counter() - t)


def measure_model(label: str, make: Callable[[], SubNet], data: HSIData, device: torch.device, steps: int,
                  batch: int, eval_pixels: int, eval_batch: int, peak: float) -> Dict:
    """One row: our training/evaluation throughput against the plain loops, and FLOP/s as a
    fraction of ``peak``. Mixed precision on CUDA, as the protocol runs."""
    amp = device.type == "cuda"
    torch.manual_seed(0)
    flops = count_flops(make())
    ours = ours_train(make(), data, device, steps, batch, amp)
    base = baseline_train(make(), data, device, steps, batch, amp, fused=False)
    base_fused = baseline_train(make(), data, device, steps, batch, amp, fused=True)
    ev = ours_eval(make(), data, device, eval_pixels, eval_batch, amp)
    ev_base = baseline_eval(make(), data, device, eval_pixels, eval_batch, amp)
    return {"model": label, "flops_per_sample": flops, "train_samples_s": ours,
            "baseline_train_samples_s": base, "baseline_fused_train_samples_s": base_fused,
            "train_speedup": ours / base, "train_speedup_vs_fused_baseline": ours / base_fused,
            "eval_samples_s": ev, "baseline_eval_samples_s": ev_base, "eval_speedup": ev / ev_base,
            "train_flops_s": 3 * flops * ours, "eval_flops_s": flops * ev,
            "train_fraction_of_peak": 3 * flops * ours / peak, "eval_fraction_of_peak": flops * ev / peak}


def describe_row(row: Dict) -> str:
    return (f"{row['model']}: train {row['train_samples_s']:.0f}/s vs loop {row['baseline_train_samples_s']:.0f}/s "
            f"(x{row['train_speedup']:.2f}; fused loop {row['baseline_fused_train_samples_s']:.0f}/s, "
            f"x{row['train_speedup_vs_fused_baseline']:.2f}); eval {row['eval_samples_s']:.0f}/s vs "
            f"{row['baseline_eval_samples_s']:.0f}/s (x{row['eval_speedup']:.2f}); "
            f"{100 * row['train_fraction_of_peak']:.0f}% / {100 * row['eval_fraction_of_peak']:.0f}% of peak")


def peak_settings(device: torch.device) -> Tuple[torch.dtype, int]:
    """The matmul the peak is measured with: fp16 8192^2 on CUDA (what autocast runs), fp32 2048^2 on CPU."""
    return (torch.float16, 8192) if device.type == "cuda" else (torch.float32, 2048)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({os.cpu_count()} cpus), {torch.get_num_threads()} torch threads"


def rss(field: str) -> int:
    """VmRSS / VmHWM of this process in bytes (Linux), else the getrusage peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> None:
    """Linux: make VmHWM restart from the current RSS, so the peak measures what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def memory_child(name: str, device: str, batch: int, limit: int) -> None:
    """Run in a subprocess: full evaluation of a synthetic test set; print peak memory as JSON."""
    dev = torch.device(device)
    data = synthetic_dataset(name, SHARED / "datasets")
    model = build_model(397, data.bands, data.num_classes, data.band_patch).to(dev).set_fused_attention(True)
    sampler = PatchSampler(data.cube, data.band_patch, dev)
    n = min(limit, len(data.test_labels)) if limit else len(data.test_labels)
    rc = torch.as_tensor(data.test_rc[:n], device=dev)
    y = torch.as_tensor(data.test_labels[:n], device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss_data = rss("VmRSS")
    reset_peak_rss()
    t = time.perf_counter()
    evaluate(model, sampler, rc, y, data.num_classes, batch, dev.type == "cuda")
    sync(dev)
    out = {"dataset": name, "test_pixels": n, "seconds": time.perf_counter() - t,
           "peak_rss_bytes": rss("VmHWM"), "rss_after_loading_bytes": rss_data, "cube_bytes": data.cube.nbytes,
           "materialised_test_bytes": len(data.test_labels) * data.bands * sampler.token_dim * 4}
    if dev.type == "cuda":
        out["peak_cuda_bytes"] = torch.cuda.max_memory_allocated(dev)
    print(json.dumps(out))


def measure_memory(name: str, device: str, batch: int, limit: int) -> Dict:
    cmd = [sys.executable, __file__, "--memory-child", name, "--device", device, "--eval-batch", str(batch),
           "--memory-limit", str(limit)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=20, help="timed training batches per measurement")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--eval-pixels", type=int, default=2048)
    p.add_argument("--eval-batch", type=int, default=512)
    p.add_argument("--memory-limit", type=int, default=0, help="test pixels in the memory runs (0 = all)")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--models", default="smallest,median,spectralformer",
                   help="comma-separated: smallest, median, largest (HyTAS-2000 by FLOPs), spectralformer")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.memory_child:
        memory_child(a.memory_child, a.device, a.eval_batch, a.memory_limit)
        return 0
    device = torch.device(a.device)
    try:
        data = load_dataset("indian_pines", SHARED / "datasets")
    except Exception:  # no real cube here: same shapes, synthetic values
        data = synthetic_dataset("indian_pines", SHARED / "datasets")
    peak_dtype, peak_n = peak_settings(device)
    peak = matmul_peak(device, peak_dtype, peak_n)
    report = {"command": " ".join([Path(sys.executable).name] + sys.argv), "device": str(device),
              "machine": machine(device),
              "load_average_at_start": os.getloadavg()[0],
              "torch": torch.__version__, "matmul_peak_flops": peak, "peak_dtype": str(peak_dtype), "rows": []}
    print(f"matmul peak ({peak_dtype}): {peak / 1e9:.1f} GFLOP/s")
    for label, make in reference_models(data, a.models.split(",")).items():
        row = measure_model(label, make, data, device, a.steps, a.batch, a.eval_pixels, a.eval_batch, peak)
        report["rows"].append(row)
        print(describe_row(row))
    report["memory"] = []
    for name in ("salinas", "paviau"):
        m = measure_memory(name, a.device, a.eval_batch, a.memory_limit)
        report["memory"].append(m)
        print(f"memory {name}: {m['test_pixels']} test px in {m['seconds']:.0f}s, peak RSS "
              f"{m['peak_rss_bytes'] / 2**20:.0f} MiB during evaluation (before: {m['rss_after_loading_bytes'] / 2**20:.0f} MiB; "
              f"cube {m['cube_bytes'] / 2**20:.0f} MiB); materialised samples would be "
              f"{m['materialised_test_bytes'] / 2**30:.1f} GiB")
    report["load_average_at_end"] = os.getloadavg()[0]
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
