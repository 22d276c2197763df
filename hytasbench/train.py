"""The HyTAS training protocol (DESIGN 5) and its CLI.

AdamW (lr 3.125e-4, weight decay 0.005 on weight matrices only; biases, norms, class token and
position embedding undecayed, as timm does), a per-epoch cosine schedule with 5 linear warm-up
epochs from 1e-6 and a floor of 1e-5 (timm's CosineLRScheduler as AutoFormer/HyTAS step it),
300 epochs of plain shuffled passes over the training pixels in batches of 64, cross-entropy,
drop path 0.1, fp16 autocast on CUDA; OA/AA/kappa/per-class accuracy on the whole test set after
the last epoch, and the best OA over evaluations every 20 epochs.

Data never leaves the device: the padded cube, pixel coordinates and labels sit there, and each
batch is gathered by index arithmetic (``datasets.samples``); losses and accuracies are summed
on the device and read once per epoch.

CLI: ``python -m hytasbench.train --arch <id|string|spectralformer> --dataset indian_pines --out r.json``
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .datasets.load import HSIData
from .datasets.samples import PatchSampler
from .metrics import summarize
from .model import SubNet, build_model, count_flops, count_params, spectralformer_reference
from .space import ArchLike, parse

PROTOCOL = "hytasbench-v1"
SPECTRALFORMER = "spectralformer"


@dataclass
class TrainConfig:
    """Protocol settings (defaults = DESIGN 5) and run settings (device, threads, progress)."""

    epochs: int = 300
    batch_size: int = 64
    lr: float = 3.125e-4
    weight_decay: float = 0.005
    warmup_epochs: int = 5
    warmup_lr: float = 1e-6
    min_lr: float = 1e-5
    drop_path: float = 0.1
    eval_every: int = 20
    test_subset: Optional[int] = None  # evaluate on this many seeded random test pixels (smoke runs only)
    # "epoch": every training pixel once per epoch. "hytas": upstream's DeiT repeated-augmentation
    # sampler on 5 GPUs with drop_last (hytas_epoch_order); batch_size is then per GPU, and an
    # optimiser step takes 5 x batch_size samples.
    epoch_sampler: str = "epoch"
    seed: int = 0
    # run settings: they do not change what is computed (up to floating point)
    device: str = "auto"
    amp: bool = True  # fp16 autocast + grad scaling, CUDA only
    eval_batch_size: int = 512
    threads: Optional[int] = None
    progress: bool = False

    _PROTOCOL_FIELDS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "warmup_lr", "min_lr",
                        "drop_path", "eval_every", "test_subset", "epoch_sampler")

    def protocol_name(self) -> str:
        """``hytasbench-v1`` for the published protocol, else the deviations spelled out."""
        default = TrainConfig()
        diffs = [f"{k}={getattr(self, k)}" for k in self._PROTOCOL_FIELDS if getattr(self, k) != getattr(default, k)]
        return PROTOCOL if not diffs else f"{PROTOCOL}+custom({','.join(diffs)})"


@dataclass
class TrainResult:
    """One training run: metrics as fractions, times in seconds, and everything needed to trust it."""

    arch: str
    arch_id: Optional[int]
    dataset: str
    seed: int
    split_seed: Optional[int]
    epochs: int
    protocol: str
    device: str
    oa: float
    aa: float
    kappa: float
    oa_best: float
    oa_best_epoch: int
    class_acc: List[float]
    train_seconds: float  # wall time of the whole run: training, periodic and final evaluation
    eval_seconds: float  # the part of train_seconds spent evaluating
    params: int
    flops: int
    synthetic: bool
    history: List[Dict[str, float]] = field(default_factory=list)
    config: Dict[str, Any] = field(default_factory=dict)
    data_files: Dict[str, str] = field(default_factory=dict)
    library_version: str = __version__
    torch_version: str = torch.__version__
    python_version: str = platform.python_version()

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def lr_at(epoch: int, cfg: TrainConfig) -> float:
    """Learning rate of an epoch (0-based): linear warm-up from warmup_lr, then cosine to min_lr
    over ``epochs`` counted from epoch 0 (timm's default, no warm-up prefix)."""
    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr + epoch * (cfg.lr - cfg.warmup_lr) / cfg.warmup_epochs
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * epoch / cfg.epochs))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_model(arch: Union[ArchLike, SubNet], data: HSIData, drop_path: float) -> SubNet:
    if isinstance(arch, SubNet):
        return arch
    if isinstance(arch, str) and arch.strip().lower() == SPECTRALFORMER:
        return spectralformer_reference(data.bands, data.num_classes, data.band_patch, drop_path)
    return build_model(arch, data.bands, data.num_classes, data.band_patch, drop_path)


def param_groups(model: torch.nn.Module, weight_decay: float) -> List[Dict[str, Any]]:
    """Decay only weight matrices (ndim >= 2) other than the class token and position embedding."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and name not in ("cls_token", "pos_embed") else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_one_epoch(model: SubNet, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    sampler: PatchSampler, rc: torch.Tensor, labels: torch.Tensor, batch_size: int,
                    amp: bool = False) -> Tuple[float, int]:
    """One pass over (already shuffled) pixels; returns the summed loss and the number of correct
    predictions, accumulated on the device and read once at the end."""
    model.train()
    loss_sum = torch.zeros((), device=rc.device)
    correct = torch.zeros((), dtype=torch.int64, device=rc.device)
    for s in range(0, rc.shape[0], batch_size):
        y = labels[s:s + batch_size]
        with torch.autocast(rc.device.type, dtype=torch.float16, enabled=amp):
            logits = model(sampler(rc[s:s + batch_size]))
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss_sum += loss.detach().float() * y.shape[0]
        correct += (logits.detach().argmax(dim=1) == y).sum()
    return loss_sum.item(), int(correct.item())


@torch.inference_mode()
def evaluate(model: SubNet, sampler: PatchSampler, rc: torch.Tensor, labels: torch.Tensor, num_classes: int,
             batch_size: int = 512, amp: bool = False) -> np.ndarray:
    """Confusion matrix (true x predicted) over all given pixels, built batch by batch on the device."""
    model.eval()
    counts = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=rc.device)
    for start in range(0, rc.shape[0], batch_size):
        with torch.autocast(rc.device.type, dtype=torch.float16, enabled=amp):
            pred = model(sampler(rc[start:start + batch_size])).argmax(dim=1)
        counts += torch.bincount(labels[start:start + batch_size] * num_classes + pred,
                                 minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).cpu().numpy()


HYTAS_GPUS, HYTAS_REPEATS = 5, 3


def hytas_epoch_order(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch of pixel indices as upstream's DeiT RASampler fed 5 data-parallel GPUs together.

    Each index of a permutation is repeated 3 times; GPU r takes entries r, r+5, r+10, ... but
    keeps only floor((n // 256) * 256 / 5) of them, and its loader drops the last incomplete batch.
    All-reduce averages the 5 GPUs' gradients, so step k is one batch made of entries
    [5*b*k, 5*b*(k+1)) of the repeated permutation (b = batch size per GPU). On Indian Pines
    (n = 695, b = 64) that is a single step of 320 entries per epoch (about 107 distinct pixels).
    """
    per_gpu = (n // 256) * 256 // HYTAS_GPUS
    steps = per_gpu // batch_size
    if steps == 0:
        raise ValueError(f"upstream's sampler yields no full batch of {batch_size} per GPU from {n} training pixels")
    order = torch.randperm(n, generator=generator).repeat_interleave(HYTAS_REPEATS)
    return order[:steps * batch_size * HYTAS_GPUS]


def pick_test_pixels(n: int, size: Optional[int], seed: int) -> np.ndarray:
    """Indices of the test pixels to evaluate: all, or a seeded random subset (sorted)."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="epoch", leave=False)


def train_and_evaluate(arch: Union[ArchLike, SubNet], data: HSIData,
                       config: Optional[TrainConfig] = None) -> TrainResult:
    """Train a fresh subnet (or the given model) on ``data`` under the protocol and evaluate it."""
    cfg = config or TrainConfig()
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(arch, data, cfg)
    finally:
        torch.set_num_threads(threads)


def _run(arch: Union[ArchLike, SubNet], data: HSIData, cfg: TrainConfig) -> TrainResult:
    if cfg.epoch_sampler not in ("epoch", "hytas"):
        raise ValueError(f"epoch_sampler must be 'epoch' or 'hytas', got {cfg.epoch_sampler!r}")
    for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    torch.manual_seed(cfg.seed)
    model = make_model(arch, data, cfg.drop_path).to(device).set_fused_attention(True)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    sampler = PatchSampler(data.cube, data.band_patch, device)
    train_rc = torch.as_tensor(data.train_rc, device=device)
    train_y = torch.as_tensor(data.train_labels, device=device)
    keep = pick_test_pixels(len(data.test_labels), cfg.test_subset, cfg.seed)
    test_rc = torch.as_tensor(data.test_rc[keep], device=device)
    test_y = torch.as_tensor(data.test_labels[keep], device=device)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    n, c = train_rc.shape[0], data.num_classes

    history: List[Dict[str, float]] = []
    best, best_epoch, cm = -1.0, 0, None
    eval_seconds = 0.0
    bar = _progress(cfg.epochs, cfg.progress, f"{data.name}")
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        lr = lr_at(epoch, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if cfg.epoch_sampler == "hytas":
            order, step = hytas_epoch_order(n, cfg.batch_size, shuffle).to(device), cfg.batch_size * HYTAS_GPUS
        else:
            order, step = torch.randperm(n, generator=shuffle).to(device), cfg.batch_size
        loss_sum, correct = train_one_epoch(model, optimizer, scaler, sampler, train_rc[order], train_y[order],
                                            step, amp)
        seen = order.shape[0]
        record = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / seen, "train_acc": correct / seen}
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            t0 = time.perf_counter()
            cm = evaluate(model, sampler, test_rc, test_y, c, cfg.eval_batch_size, amp)
            eval_seconds += time.perf_counter() - t0
            record["test_oa"] = float(np.trace(cm) / cm.sum())
            if record["test_oa"] > best:
                best, best_epoch = record["test_oa"], epoch + 1
        history.append(record)
        if bar is not None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", best_oa=f"{best:.3f}" if best >= 0 else "-")
            bar.update(1)
    train_seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    final = summarize(cm)
    arch_obj = model.arch
    return TrainResult(
        arch=str(arch_obj) if arch_obj is not None else SPECTRALFORMER, arch_id=arch_obj.id if arch_obj else None,
        dataset=data.name, seed=cfg.seed, split_seed=data.split_seed, epochs=cfg.epochs,
        protocol=cfg.protocol_name(), device=_device_name(device), oa=final["oa"], aa=final["aa"],
        kappa=final["kappa"], oa_best=best, oa_best_epoch=best_epoch, class_acc=final["class_acc"],
        train_seconds=train_seconds, eval_seconds=eval_seconds, params=count_params(model),
        flops=count_flops(model), synthetic=data.synthetic, history=history,
        config={k: v for k, v in dataclasses.asdict(cfg).items()}, data_files=dict(data.files))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{cpu_model()} x{torch.get_num_threads()} threads"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hytasbench.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", required=True, help="HyTAS-2000 id, canonical string or 'spectralformer'")
    p.add_argument("--dataset", required=True)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=None, help="random split seed (Salinas, KSC); default 0")
    p.add_argument("--root", default=None, help="data root (default $HYTASBENCH_DATA or <cache>/datasets)")
    p.add_argument("--download", action="store_true", help="fetch missing files that have a public URL")
    p.add_argument("--synthetic", action="store_true", help="synthetic cube over the real label maps")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epoch-sampler", choices=("epoch", "hytas"), default="epoch",
                   help="'hytas': upstream's repeated-augmentation sampler on 5 GPUs (few steps per epoch)")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on N random test pixels (smoke runs)")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--out", default=None, help="write the result as JSON here (default: stdout)")
    a = p.parse_args(argv)
    if a.arch.strip().lower() != SPECTRALFORMER:
        parse(a.arch)  # fail fast on a bad architecture
    if a.synthetic:
        from .datasets.synthetic import synthetic_dataset
        data = synthetic_dataset(a.dataset, a.root, split_seed=a.split_seed)
    else:
        from .datasets.load import load_dataset
        data = load_dataset(a.dataset, a.root, seed=a.split_seed, download=a.download)
    cfg = TrainConfig(epochs=a.epochs, seed=a.seed, device=a.device, threads=a.threads, eval_every=a.eval_every,
                      batch_size=a.batch_size, test_subset=a.test_subset, epoch_sampler=a.epoch_sampler, progress=a.progress)
    result = train_and_evaluate(a.arch, data, cfg)
    text = json.dumps(result.to_dict(), indent=1)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
