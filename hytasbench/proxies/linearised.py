"""SynFlow, LogSynFlow and DSS (TF-TAS): one linearised pass serves all three.

The pass takes a copy of the network, applies the sign operation (every parameter replaced by
its absolute value; ``sign=False`` skips it: the paper's "without sign" ablation), feeds one
all-ones input and back-propagates the sum of the logits R. No data is used.

Clean definitions (defaults) vs upstream HyTAS (``hytas_compat=True``):
- precision: float64 here, as the original SynFlow (overflow-safe); upstream ran float32.
- synflow: a layer scores the sum of |W * dR/dW|; the published HyTAS numbers are each
  layer's mean over output rows of the row sums (sum / out_features). The code at the pinned
  commit adds the two; the published values match the row mean alone (checked on Indian Pines).
- logsynflow: here |W * log(|dR/dW| + 1)|; upstream took log(dR/dW + 1) (NaN where the
  gradient is below -1; such a layer, usually the patch embedding, was dropped), row mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, FrozenSet, List, Mapping, Tuple

import torch

from .passes import dtype_of, register_pass, working_copy
from .registry import PassKey, Proxy, Reduction, pass_key, register
from .target import Target


@dataclass
class LinearisedState:
    weights: List[torch.Tensor]  # scored Linear weights of the (linearised) copy
    grads: List[torch.Tensor]  # dR/dW


@register_pass("linearised")
def linearised_pass(target: Target, batch: Any, config: Tuple, needs: FrozenSet[str], chunks: int) -> LinearisedState:
    cfg = dict(config)
    dtype = dtype_of(cfg["precision"])
    model, layers = working_copy(target, dtype, sign=cfg["sign"])
    ones = torch.ones((1,) + tuple(batch.x.shape[1:]), dtype=dtype, device=batch.x.device)
    weights = [lin.weight for lin in layers]
    grads = torch.autograd.grad(model(ones).sum(), weights, allow_unused=True)
    return LinearisedState([w.detach() for w in weights],
                           [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)])


def _plan(opts: Mapping[str, Any]) -> Tuple[PassKey, FrozenSet[str]]:
    precision = opts["precision"] or ("float32" if opts.get("hytas_compat") else "float64")
    return pass_key("linearised", precision=precision, sign=bool(opts["sign"])), frozenset()


def _reduce(per_weight: torch.Tensor, compat: bool) -> float:
    """A layer's score: the sum, or (upstream) the mean over output rows of the row sums."""
    return float(per_weight.sum(dim=1).mean()) if compat else float(per_weight.sum())


def synflow(state: LinearisedState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = [_reduce((w * g).abs(), opts["hytas_compat"]) for w, g in zip(state.weights, state.grads)]
    return layers, sum(layers)


def logsynflow(state: LinearisedState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    compat = opts["hytas_compat"]
    layers = []
    for w, g in zip(state.weights, state.grads):
        v = _reduce((w * torch.log((g if compat else g.abs()) + 1)).abs(), compat)
        layers.append(0.0 if compat and math.isnan(v) else v)
    return layers, sum(layers)


def nuclear_norm(a: torch.Tensor) -> float:
    """Sum of the singular values, from the eigenvalues of the smaller Gram matrix (in float64:
    several times faster than an SVD of the tall qkv weights, same value to ~1e-12)."""
    a = a.to(torch.float64)
    gram = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    return float(torch.linalg.eigvalsh(gram).clamp_min(0).sqrt().sum())


def dss(state: LinearisedState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    """Attention layers: |nuc(dR/dW) * nuc(W)|; the other scored layers: sum |W * dR/dW|."""
    layers = []
    for w, g, kind in zip(state.weights, state.grads, target.kinds):
        if kind == "attn":
            layers.append(abs(nuclear_norm(g) * nuclear_norm(w)))
        else:
            layers.append(float((w * g).abs().sum()))
    return layers, sum(layers)


_DEFAULTS = {"sign": True, "precision": None, "hytas_compat": False, "nosign_variants": True}
for _name, _fn, _doc in (
        ("synflow", synflow, "sum |W * dR/dW| on the linearised net (Tanaka et al. 2020)"),
        ("logsynflow", logsynflow, "sum |W * log(|dR/dW| + 1)| on the linearised net (Cavagnero et al. 2023)"),
        ("dss", dss, "TF-TAS DSS: nuclear-norm products on attention, |W * dR/dW| elsewhere (Zhou et al. 2022)")):
    register(Proxy(_name, _plan, _fn, dict(_DEFAULTS), signed=True, nonneg_layers=True, doc=_doc, data="none"))
