"""The HyTAS training protocol (docs/training.md) and its CLI.

AdamW (lr 3.125e-4, weight decay 0.005 on weight matrices only; biases, norms, class token and
position embedding undecayed, as timm does), a per-epoch cosine schedule with 5 linear warm-up
epochs from 1e-6 and a floor of 1e-5 (timm's CosineLRScheduler as AutoFormer/HyTAS step it),
300 epochs of plain shuffled passes over the training pixels in batches of 64, cross-entropy,
drop path 0.1, fp16 autocast on CUDA; OA/AA/kappa/per-class accuracy on the whole test set after
the last epoch, and the best OA over evaluations every 20 epochs.

Data never leaves the device: the padded cube, pixel coordinates and labels sit there, and each
batch is gathered by index arithmetic (``datasets.samples``); losses and accuracies are summed
on the device and read once per epoch.

Protocol names (hytasbench.protocols): ``hytasbench-v1`` is ours; ``hytas-sampler`` emulates the
authors' epoch sampler, and its switches (``+lag``, ``+caf8``, ``+epoch-order`` for the training
procedure, ``+embed-init``, ``+shared-init`` for the initialisation) emulate further differences
of upstream's code; ``TrainConfig.for_protocol(name)`` sets them.

CLI: ``python -m hytasbench.train --arch <id|string|spectralformer|vit> --dataset indian_pines
[--protocol hytas-sampler+lag+caf8+epoch-order] --out r.json``
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
from .datasets.opener import open_dataset
from .datasets.samples import PatchSampler
from .devices import device_name
from .metrics import summarize
from . import checkpoint, protocols
from .arguments import MAX_SEED, check_int, check_seed
from .cli import reporting_errors
from .datasets.specs import canonical_name
from .errors import InvalidArgumentError, InvalidProtocolError, short_repr
from .model import (EMBED_INITS, SubNet, build_model, count_flops, count_params, spectralformer_reference,
                    vit_reference)
from .paths import writable_file
from .protocols import (HYTAS_SAMPLER, HYTAS_SAMPLER_FULL, HYTAS_SAMPLER_INIT, HYTAS_SAMPLER_SINGLE,  # noqa: F401
                        PROTOCOL, SWITCHES)
from .space import ArchLike, parse
from .supernet_init import init_from_supernet
from .tables import atomic_write_bytes

SPECTRALFORMER, VIT = "spectralformer", "vit"
#: Switches that model upstream's supernet: they apply to the space's architectures only, and a
#: model built by the caller cannot be given them afterwards.
SUPERNET_SWITCHES = ("caf8", "embed-init", "shared-init")
#: Reference models outside the search space, by the name ``--arch`` and results use.
REFERENCES = {SPECTRALFORMER: spectralformer_reference, VIT: vit_reference}


@dataclass
class TrainConfig:
    """Protocol settings (defaults: the protocol of docs/training.md) and run settings (device, threads, progress)."""

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
    # Switches emulating further differences of upstream's code (protocol name tokens lag, caf8,
    # epoch-order; see hytasbench.protocols). schedule_lag: epoch e trains at the rate of e-1
    # (timm's scheduler stepped after the epoch), so epochs 0 and 1 at warmup_lr.
    schedule_lag: bool = False
    caf_fusions: Optional[int] = None  # None: depth - 2 (ours); 8: upstream's supernet
    # Epoch e's permutation from a generator seeded with e (upstream's RASampler.set_epoch): the same
    # data order for every run and architecture; False: one generator seeded with `seed`.
    epoch_seeded_order: bool = False
    # Upstream's initialisation (switches embed-init, shared-init): the patch embedding at PyTorch's
    # default init ("default"; ours "trunc-normal"), and every weight a slice of one supernet-shaped
    # draw seeded with `seed` (hytasbench.supernet_init), so one seed's architectures share their start.
    embed_init: str = "trunc-normal"
    shared_init: bool = False
    seed: int = 0
    # run settings: they do not change what is computed (up to floating point)
    device: str = "auto"
    amp: bool = True  # fp16 autocast + grad scaling, CUDA only
    eval_batch_size: int = 512
    threads: Optional[int] = None
    progress: bool = False

    _PROTOCOL_FIELDS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "warmup_lr", "min_lr",
                        "drop_path", "eval_every", "test_subset")

    def protocol_name(self) -> str:
        """The base (``hytasbench-v1``, or ``hytas-sampler`` for the emulated upstream sampler), the
        emulation switches in use, and any other deviation spelled out as ``+custom(k=v,...)``."""
        default = TrainConfig()
        diffs = [(k, str(getattr(self, k))) for k in self._PROTOCOL_FIELDS if getattr(self, k) != getattr(default, k)]
        return protocols.make_name(HYTAS_SAMPLER if self.epoch_sampler == "hytas" else PROTOCOL, self.switches(), diffs)

    def switches(self) -> Tuple[str, ...]:
        """The emulation switches these settings turn on, in name order."""
        on = (self.schedule_lag, self.caf_fusions == 8, self.epoch_seeded_order, self.embed_init == "default",
              self.shared_init)
        return tuple(s for s, used in zip(SWITCHES, on) if used)

    @classmethod
    def for_protocol(cls, name: str, **settings: Any) -> "TrainConfig":
        """The config of a protocol name (e.g. ``hytas-sampler+lag``), with further fields (run
        settings, epochs) from ``settings``."""
        return cls(**{**protocols.switch_fields(name), **settings})

    def validate(self) -> None:
        """Raise InvalidProtocolError for protocol settings the trainer cannot run and
        InvalidArgumentError for a bad run setting (seed, device, threads), before anything is
        set up: a library caller gets the CLI's typed errors, not numpy's or torch's mid-run."""
        if self.epoch_sampler not in ("epoch", "hytas"):
            raise InvalidProtocolError(f"epoch_sampler {self.epoch_sampler!r}", ("epoch", "hytas"))
        if self.caf_fusions not in (None, 8):
            raise InvalidProtocolError(f"caf_fusions {self.caf_fusions!r}", (None, 8))
        if self.embed_init not in EMBED_INITS:
            raise InvalidProtocolError(f"embed_init {self.embed_init!r}", EMBED_INITS)
        if not isinstance(self.shared_init, bool):
            raise InvalidProtocolError(f"shared_init {self.shared_init!r}", (False, True))
        for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
            check_int(getattr(self, name), name, 1, error=InvalidProtocolError)
        check_int(self.test_subset, "test_subset", 1, error=InvalidProtocolError, optional=True)
        check_seed(self.seed)  # what numpy's and torch's generators take
        check_int(self.threads, "threads", 1, optional=True)
        resolve_device(self.device)


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
        """The record as JSON-ready values; a class without test pixels has no recall: null, not NaN
        (which is not JSON)."""
        out = dataclasses.asdict(self)
        out["class_acc"] = [None if math.isnan(v) else v for v in self.class_acc]
        return out


def lr_at(epoch: int, cfg: TrainConfig) -> float:
    """Learning rate of an epoch (0-based): linear warm-up from warmup_lr, then cosine to min_lr
    over ``epochs`` counted from epoch 0 (timm's default, no warm-up prefix). With
    ``schedule_lag`` the rate of the epoch before (upstream stepped timm's scheduler after each
    epoch; before the first step it holds warmup_lr), so epochs 0 and 1 both train at warmup_lr."""
    if cfg.schedule_lag:
        epoch = max(epoch - 1, 0)
    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr + epoch * (cfg.lr - cfg.warmup_lr) / cfg.warmup_epochs
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * epoch / cfg.epochs))


def resolve_device(name: str) -> torch.device:
    """The device of a ``device`` setting: 'auto' (CUDA when available), 'cpu', or a CUDA device
    this machine has; InvalidArgumentError otherwise (other device types: the trainer's autocast,
    scaler and provenance know CPU and CUDA only)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    n = torch.cuda.device_count()
    try:
        device = torch.device(name) if isinstance(name, str) else None
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.type == "cuda" and (device.index or 0) >= n):
        raise InvalidArgumentError(f"device {short_repr(name)} is not a device of this machine; allowed: auto, cpu"
                                   + (f", cuda, cuda:0..{n - 1}" if n else " (torch sees no CUDA device)"))
    return device


def reference_name(arch: object) -> Optional[str]:
    """The reference model an ``arch`` names ('spectralformer', 'vit'), or None."""
    name = arch.strip().lower() if isinstance(arch, str) else None
    return name if name in REFERENCES else None


def check_arch(arch: ArchLike, cfg: Optional[TrainConfig] = None) -> Optional[str]:
    """The reference model ``arch`` names, or None for an architecture of the space (which must
    parse). The switches that model upstream's supernet (caf8, embed-init, shared-init) only apply
    to the space's architectures. Needs no data, so the CLI checks it before loading any."""
    ref = reference_name(arch)
    if ref is None:
        parse(arch)
        return None
    on = [s for s in (cfg or TrainConfig()).switches() if s in SUPERNET_SWITCHES]
    if on:
        raise InvalidProtocolError(f"the {', '.join(on)} switch{'es apply' if len(on) > 1 else ' applies'} to HyTAS "
                                   f"subnets, not to the {ref} reference",
                                   (PROTOCOL, HYTAS_SAMPLER, protocols.make_name(
                                       HYTAS_SAMPLER, tuple(s for s in SWITCHES if s not in SUPERNET_SWITCHES))))
    return ref


def make_model(arch: Union[ArchLike, SubNet], data: HSIData, cfg: TrainConfig) -> SubNet:
    """A fresh model of a space architecture or a reference (checked by :func:`check_arch`),
    initialised as ``cfg`` says. Under ``shared_init`` torch's generator is then seeded again
    with the seed, so the training-time random stream (drop-path masks) is the same for every
    architecture of one depth, as upstream's, drawn from the CUDA generator that building the
    model on the CPU leaves untouched. A model built by the caller must agree with ``cfg``'s
    switches: a record names its protocol, so a switch it did not get is refused."""
    if isinstance(arch, SubNet):
        built = {"caf8": arch.config.fusions == 8, "embed-init": arch.embed_init == "default", "shared-init": False}
        wanted = cfg.switches()
        wrong = [s for s in SUPERNET_SWITCHES if built[s] != (s in wanted)]
        if wrong:
            raise InvalidProtocolError(f"the built model does not match the protocol's {', '.join(wrong)} switch "
                                       "setting; pass the architecture instead, and the trainer builds it",
                                       (cfg.protocol_name(),))
        return arch
    ref = check_arch(arch, cfg)
    if ref is not None:
        return REFERENCES[ref](data.bands, data.num_classes, data.band_patch, cfg.drop_path)
    model = build_model(arch, data.bands, data.num_classes, data.band_patch, cfg.drop_path, cfg.caf_fusions,
                        cfg.embed_init)
    if cfg.shared_init:
        init_from_supernet(model, cfg.seed)
        torch.manual_seed(cfg.seed)
    return model


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
    All-reduce averages the 5 GPUs' gradients of their mean losses over b entries each, which is
    the gradient of the mean loss over the union, so step k is one batch made of entries
    [5*b*k, 5*b*(k+1)) of the repeated permutation (b = batch size per GPU; tests check the
    union and the gradient against five separate batches). On Indian Pines
    (n = 695, b = 64) that is a single step of 320 entries per epoch (about 107 distinct pixels).
    """
    per_gpu = (n // 256) * 256 // HYTAS_GPUS
    steps = per_gpu // batch_size
    if steps == 0:
        raise InvalidProtocolError(f"upstream's sampler yields no full batch of {batch_size} per GPU from {n} "
                                   "training pixels (its KSC runs cannot have used these settings)",
                                   ("epoch_sampler='epoch'", f"batch_size <= {per_gpu}"))
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


def train_and_evaluate(arch: Union[ArchLike, SubNet], data: HSIData, config: Optional[TrainConfig] = None,
                       checkpoint: Optional[Union[str, Path]] = None) -> TrainResult:
    """Train a fresh subnet (or the given model) on ``data`` under the protocol and evaluate it.

    ``checkpoint``: a file where the run's state is saved at every evaluation and from which a
    killed run of the same architecture, data and config continues (hytasbench.checkpoint);
    removed when the run finishes. ``train_seconds`` then adds up the wall time of every segment."""
    cfg = config or TrainConfig()
    cfg.validate()
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(arch, data, cfg, Path(checkpoint) if checkpoint is not None else None)
    finally:
        torch.set_num_threads(threads)


def epoch_generator(cfg: TrainConfig, epoch: int, run_generator: torch.Generator) -> torch.Generator:
    """The generator of an epoch's permutation: the run's (seeded once with ``seed``), or with
    ``epoch_seeded_order`` a fresh one seeded with the epoch number, as upstream's sampler."""
    return torch.Generator().manual_seed(epoch) if cfg.epoch_seeded_order else run_generator


def training_pixels(data: HSIData, cfg: TrainConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Training coordinates and labels in the order the epoch permutation indexes: ours (row-major),
    or with ``epoch_seeded_order`` class by class, row-major within a class, as upstream's loader
    (``chooose_train_and_test_point``) lists them, so that index i is the same pixel as theirs."""
    if not cfg.epoch_seeded_order:
        return data.train_rc, data.train_labels
    order = np.argsort(data.train_labels, kind="stable")
    return data.train_rc[order], data.train_labels[order]


def _run(arch: Union[ArchLike, SubNet], data: HSIData, cfg: TrainConfig, ckpt: Optional[Path]) -> TrainResult:
    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    torch.manual_seed(cfg.seed)
    model = make_model(arch, data, cfg).to(device).set_fused_attention(True)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    sampler = PatchSampler(data.cube, data.band_patch, device)
    train_rc, train_y = training_pixels(data, cfg)
    train_rc, train_y = torch.as_tensor(train_rc, device=device), torch.as_tensor(train_y, device=device)
    keep = pick_test_pixels(len(data.test_labels), cfg.test_subset, cfg.seed)
    test_rc = torch.as_tensor(data.test_rc[keep], device=device)
    test_y = torch.as_tensor(data.test_labels[keep], device=device)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    n, c = train_rc.shape[0], data.num_classes

    if ckpt is not None:
        ident = checkpoint.identity(str(model.arch) if model.arch is not None else reference_name(arch) or "custom",
                                    data, cfg)
        done = checkpoint.restore(ckpt, ident, model, optimizer, scaler, shuffle, device)
    else:
        done = checkpoint.Progress()
    history, best, best_epoch, cm, eval_seconds = done.history, done.best, done.best_epoch, done.cm, done.eval_seconds
    bar = _progress(cfg.epochs, cfg.progress, f"{data.name}")
    if bar is not None and done.epoch:
        bar.update(done.epoch)
    start = time.perf_counter()
    for epoch in range(done.epoch, cfg.epochs):
        lr = lr_at(epoch, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        gen = epoch_generator(cfg, epoch, shuffle)
        if cfg.epoch_sampler == "hytas":
            order, step = hytas_epoch_order(n, cfg.batch_size, gen).to(device), cfg.batch_size * HYTAS_GPUS
        else:
            order, step = torch.randperm(n, generator=gen).to(device), cfg.batch_size
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
            if ckpt is not None and epoch + 1 < cfg.epochs:
                checkpoint.save(ckpt, ident, checkpoint.Progress(
                    epoch + 1, history + [record], best, best_epoch, cm, eval_seconds,
                    done.seconds + time.perf_counter() - start), model, optimizer, scaler, shuffle, device)
        history.append(record)
        if bar is not None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", best_oa=f"{best:.3f}" if best >= 0 else "-")
            bar.update(1)
    train_seconds = done.seconds + time.perf_counter() - start
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    if bar is not None:
        bar.close()
    final = summarize(cm)
    arch_obj = model.arch
    return TrainResult(
        arch=str(arch_obj) if arch_obj is not None else (reference_name(arch) or "custom"),
        arch_id=arch_obj.id if arch_obj else None,
        dataset=data.name, seed=cfg.seed, split_seed=data.split_seed, epochs=cfg.epochs,
        protocol=cfg.protocol_name(), device=device_name(device), oa=final["oa"], aa=final["aa"],
        kappa=final["kappa"], oa_best=best, oa_best_epoch=best_epoch, class_acc=final["class_acc"],
        train_seconds=train_seconds, eval_seconds=eval_seconds, params=count_params(model),
        flops=count_flops(model), synthetic=data.synthetic, history=history,
        config={k: v for k, v in dataclasses.asdict(cfg).items()}, data_files=dict(data.files))


def parser() -> argparse.ArgumentParser:
    d = TrainConfig()  # the CLI's defaults are the protocol's
    p = argparse.ArgumentParser(prog="python -m hytasbench.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", required=True, help="HyTAS-2000 id, canonical string, or a reference: "
                   + ", ".join(REFERENCES))
    p.add_argument("--dataset", required=True)
    p.add_argument("--epochs", type=int, default=d.epochs, help="default %(default)s")
    p.add_argument("--seed", type=int, default=d.seed, help=f"0..{MAX_SEED}, default %(default)s")
    p.add_argument("--split-seed", type=int, default=None, help="random split seed (Salinas, KSC); default 0")
    p.add_argument("--root", default=None, help="data root (default $HYTASBENCH_DATA or <cache>/datasets)")
    p.add_argument("--download", action="store_true", help="fetch missing files that have a public URL")
    p.add_argument("--synthetic", action="store_true", help="synthetic cube over the real label maps")
    p.add_argument("--device", default=d.device, help="default %(default)s")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="default %(default)s")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default %(default)s")
    p.add_argument("--protocol", default=PROTOCOL,
                   help=f"{PROTOCOL} (ours), {HYTAS_SAMPLER} (emulated upstream sampler) with optional switches "
                        f"{', '.join('+' + s for s in SWITCHES)} (upstream's training procedure: "
                        f"{HYTAS_SAMPLER_FULL}; with its initialisation too: {HYTAS_SAMPLER_INIT})")
    p.add_argument("--epoch-sampler", choices=("epoch", "hytas"), default=None,
                   help="older spelling: 'hytas' = --protocol hytas-sampler")
    p.add_argument("--test-subset", type=int, default=d.test_subset,
                   help="evaluate on N random test pixels (smoke runs)")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--out", default=None, help="write the result as JSON here (default: stdout)")
    p.add_argument("--checkpoint", default=None, help="save the run's state here at every evaluation and continue "
                   "from it when it exists (a killed run resumes; the file is removed when the run finishes)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """The CLI: a bad argument is one line ``error: ...`` and exit status 2 (hytasbench.cli)."""
    return reporting_errors(_main, parser().parse_args(argv))


def _main(a: argparse.Namespace) -> int:
    fields = protocols.switch_fields(a.protocol)
    if a.epoch_sampler:
        fields["epoch_sampler"] = a.epoch_sampler
    cfg = TrainConfig(epochs=a.epochs, seed=a.seed, device=a.device, threads=a.threads, eval_every=a.eval_every,
                      batch_size=a.batch_size, test_subset=a.test_subset, progress=a.progress, **fields)
    # every argument is checked before any data is loaded, and the outputs before hours of training
    cfg.validate()
    check_arch(a.arch, cfg)
    canonical_name(a.dataset)
    if a.split_seed is not None:
        check_seed(a.split_seed, "--split-seed")
    for option in ("out", "checkpoint"):
        if getattr(a, option) is not None:
            writable_file(getattr(a, option), f"--{option}")
    data = open_dataset(a.dataset, a.root, synthetic=a.synthetic, split_seed=a.split_seed, download=a.download)
    result = train_and_evaluate(a.arch, data, cfg, checkpoint=a.checkpoint)
    text = json.dumps(result.to_dict(), indent=1)
    if a.out:  # atomically: a killed run leaves no half-written result for a resuming runner
        atomic_write_bytes(Path(a.out), text.encode())
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
