"""The feature pass: one forward of the batch's pixels (labels unused) recording what the
feature-statistics kernels of 2023-2024 need (``needs``):

- ``meco``: per scored layer whose output has a token axis, per sample, the minimum eigenvalue
  of the Pearson correlation of its C output channels over the tokens (MeCo);
- ``swap_codes``: binary codes (> 0) of the input of every activation module (SWAP);
- ``block_cov``: per token-feature map of the residual stream (the first block's input, then
  every block's output), sums of x and x x^T over samples x tokens (AZ-NAS expressivity);
- ``block_jacobian``: per block, sum over samples x tokens of (J^T r) r^T for a seeded
  Rademacher probe r at the block's output, J the block's input-output Jacobian
  (AZ-NAS trainability); this one keeps the graph and back-propagates once per block.

Every quantity is a sum over samples (or a per-sample value), so a batch split into chunks after
running out of memory gives the same numbers; the probe is drawn for the whole batch up front.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import torch
from torch import nn

from .passes import chunk_slices, dtype_of, register_pass, working_copy
from .target import Target


@dataclass
class FeatureState:
    n: int
    meco: List[Optional[torch.Tensor]] = field(default_factory=list)  # per layer: per-sample minima, or None
    codes: List[List[torch.Tensor]] = field(default_factory=list)  # per activation, per chunk: (B, units)
    cov: List[Dict[str, Any]] = field(default_factory=list)  # per feature map: rows, sum, outer
    jacobian: List[Optional[torch.Tensor]] = field(default_factory=list)  # per block: sum (J^T r) r^T
    rows: List[int] = field(default_factory=list)  # per block: samples x tokens of the sums


def min_correlation_eigenvalues(out: torch.Tensor) -> torch.Tensor:
    """(B, tokens, C) -> (B,) minimum eigenvalue of each sample's C x C Pearson correlation of
    channels over tokens, in float64. A constant channel's undefined correlations count 0 (as
    MeCo's authors set NaN entries to 0). With C >= tokens the centred data have rank < C, so the
    matrix is singular and the minimum is 0 exactly: returned without an eigendecomposition."""
    b, t, c = out.shape
    if c >= t:
        return torch.zeros(b, dtype=torch.float64)
    x = out.detach().to(torch.float64)
    x = x - x.mean(1, keepdim=True)
    norm = x.norm(dim=1)  # (B, C)
    corr = x.transpose(1, 2) @ x / (norm[:, :, None] * norm[:, None, :])
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return torch.linalg.eigvalsh(corr)[:, 0].cpu()


def rademacher(shape: Tuple[int, ...], seed: int, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return (torch.randint(0, 2, shape, generator=gen) * 2 - 1).to(dtype)


class _Recorder:
    def __init__(self, target: Target, model: nn.Module, needs: FrozenSet[str], state: FeatureState):
        self.needs, self.state = needs, state
        mods = {id(m): name for name, m in target.model.named_modules()}
        copied = dict(model.named_modules())
        layers = [copied[n] for n in target.names]
        activations = [copied[mods[id(a)]] for a in target.activations]
        self.blocks = [copied[mods[id(b)]] for b in target.blocks]
        self.io: List[Tuple[torch.Tensor, torch.Tensor]] = []
        self.handles = []
        if "meco" in needs:
            state.meco = [None] * len(layers)
            self.handles += [m.register_forward_hook(self._meco_hook(i)) for i, m in enumerate(layers)]
        if "swap_codes" in needs:
            state.codes = [[] for _ in activations]
            self.handles += [m.register_forward_hook(self._code_hook(j)) for j, m in enumerate(activations)]
        if needs & {"block_cov", "block_jacobian"}:
            state.cov = [{"rows": 0, "sum": None, "outer": None} for _ in range(len(self.blocks) + 1)]
            state.jacobian = [None] * len(self.blocks)
            state.rows = [0] * len(self.blocks)
            self.handles += [m.register_forward_hook(self._block_hook(k)) for k, m in enumerate(self.blocks)]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def _meco_hook(self, i: int):
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if out.dim() < 3:  # no token axis (the head): no correlation over tokens
                return
            flat = out.reshape(out.shape[0], -1, out.shape[-1])
            vals = min_correlation_eigenvalues(flat)
            prev = self.state.meco[i]
            self.state.meco[i] = vals if prev is None else torch.cat([prev, vals])
        return hook

    def _code_hook(self, j: int):
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            x = inputs[0].detach()
            self.state.codes[j].append((x > 0).reshape(x.shape[0], -1))
        return hook

    def _block_hook(self, k: int):
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if k == 0:
                self._accumulate(0, inputs[0])
            self._accumulate(k + 1, out)
            self.io.append((inputs[0], out))
        return hook

    def _accumulate(self, f: int, x: torch.Tensor) -> None:
        if "block_cov" not in self.needs:
            return
        rows = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
        acc = self.state.cov[f]
        s, o = rows.sum(0), rows.T @ rows
        acc["rows"] += rows.shape[0]
        acc["sum"] = s if acc["sum"] is None else acc["sum"] + s
        acc["outer"] = o if acc["outer"] is None else acc["outer"] + o


@register_pass("features")
def feature_pass(target: Target, batch: Any, config: Tuple, needs: FrozenSet[str], chunks: int) -> FeatureState:
    cfg = dict(config)
    dtype = dtype_of(cfg["precision"])
    model = target.model if dtype == torch.float32 else working_copy(target, dtype)[0]
    n = batch.x.shape[0]
    state = FeatureState(n)
    rec = _Recorder(target, model, needs, state)
    probes: Dict[int, torch.Tensor] = {}
    grad = "block_jacobian" in needs
    try:
        for sl in chunk_slices(n, chunks):
            rec.io = []
            with torch.set_grad_enabled(grad):
                model(batch.x[sl].to(dtype))
            if not grad:
                continue
            for k, (inp, out) in enumerate(rec.io):
                if k not in probes:  # the whole batch's probe, so that chunks see the same numbers
                    probes[k] = rademacher((n,) + tuple(out.shape[1:]), int(cfg["probe_seed"]) * 1000 + k, dtype)
                r = probes[k][sl].to(out.device)
                g_in = torch.autograd.grad(out, inp, grad_outputs=r, retain_graph=True)[0]
                a = g_in.detach().reshape(-1, g_in.shape[-1]).to(torch.float64)
                b = r.reshape(-1, r.shape[-1]).to(torch.float64)
                m = a.T @ b
                state.jacobian[k] = m if state.jacobian[k] is None else state.jacobian[k] + m
                state.rows[k] += a.shape[0]
            rec.io = []
    finally:
        rec.remove()
    return state
