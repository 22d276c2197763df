"""CRoZe (Jeong et al. 2023): consistency of a linearised network with an adversarially
moved copy of itself, as in the CRoZe authors' code (float64).

Pass: linearise a copy (sign operation); take the cross-entropy gradient g of the data batch;
move a second copy one norm-rescaled gradient-ascent step, W' = W + 2.0 * ||W|| * g/||g|| (every
'*weight' parameter of two or more dimensions); perturb the input by FGSM on the moved copy,
x' = clamp(x - 0.01 * sign(dL/dx), 0, 1) (the authors' sign); take the moved copy's layer outputs
z' on x' and its gradient g' (which, as in the authors' code, also holds the FGSM pass's
gradient). Per scored layer, with cos along dim 0 (over output rows for W and g, over samples
for z) summed over the rest: |sum(1 + cos(W, W')) * sum|cos(g, g')| * sum(1 + cos(z, z'))|;
summed over layers.

Upstream HyTAS (``hytas_compat=True``): float32, and the log of each layer's term.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, FrozenSet, List, Mapping, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .passes import chunk_slices, dtype_of, register_pass, working_copy
from .registry import PassKey, Proxy, Reduction, pass_key, register
from .stats import SampleCosine
from .target import Target

STEP, EPSILON, NORM_EPS = 2.0, 0.01, 1e-30


@dataclass
class CrozeState:
    weights: List[torch.Tensor]
    moved: List[torch.Tensor]
    grads: List[torch.Tensor]
    moved_grads: List[torch.Tensor]
    feature_cos: List[torch.Tensor]


def _step_params(model: nn.Module) -> List[nn.Parameter]:
    return [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]


class _Outputs:
    """Forward hooks keeping the scored layers' outputs of one forward."""

    def __init__(self, layers: List[nn.Linear]):
        self.values: List[torch.Tensor] = [None] * len(layers)
        self.handles = [lin.register_forward_hook(self._hook(i)) for i, lin in enumerate(layers)]

    def _hook(self, i: int):
        def hook(module, inputs, out):
            self.values[i] = out.detach()
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _ce_grads(model: nn.Module, params: List[torch.Tensor], x: torch.Tensor, y: torch.Tensor, n: int):
    loss = F.cross_entropy(model(x), y, reduction="sum") / n
    return [g.detach() for g in torch.autograd.grad(loss, params)]


@register_pass("croze")
def croze_pass(target: Target, batch: Any, config: Tuple, needs: FrozenSet[str], chunks: int) -> CrozeState:
    cfg = dict(config)
    dtype = dtype_of(cfg["precision"])
    net, layers = working_copy(target, dtype, sign=cfg["sign"])
    moved, moved_layers = working_copy(target, dtype, sign=cfg["sign"])
    n = batch.x.shape[0]
    x_all, y_all = batch.x.to(dtype), batch.y
    slices = list(chunk_slices(n, chunks))
    step = _step_params(net)
    scored = [lin.weight for lin in layers]
    all_params = scored + [p for p in step if all(p is not w for w in scored)]
    # 1. gradient of the linearised net on the data; its layer outputs
    grads = [torch.zeros_like(p) for p in all_params]
    outputs: List[List[torch.Tensor]] = []
    for sl in slices:
        rec = _Outputs(layers)
        try:
            grads = [a + b for a, b in zip(grads, _ce_grads(net, all_params, x_all[sl], y_all[sl], n))]
        finally:
            rec.remove()
        outputs.append(rec.values)
    by_param = {id(p): g for p, g in zip(all_params, grads)}
    # 2. the moved copy: one norm-rescaled ascent step
    with torch.no_grad():
        for p_net, p_mov in zip(step, _step_params(moved)):
            g = by_param[id(p_net)]
            p_mov.add_(STEP * p_net.norm() / (g.norm() + NORM_EPS) * g)
    moved_w = [lin.weight for lin in moved_layers]
    moved_grads = [torch.zeros_like(w) for w in moved_w]
    cos = [SampleCosine() for _ in layers]
    for k, sl in enumerate(slices):
        # 3. FGSM input on the moved copy
        x = x_all[sl].detach().clone().requires_grad_(True)
        loss = F.cross_entropy(moved(x), y_all[sl], reduction="sum") / n
        gx, *gw = torch.autograd.grad(loss, [x] + moved_w)
        moved_grads = [a + b for a, b in zip(moved_grads, gw)]
        x_adv = (x.detach() - EPSILON * gx.sign()).clamp(0, 1)
        # 4. the moved copy's gradient and outputs on the perturbed input
        rec = _Outputs(moved_layers)
        try:
            moved_grads = [a + b for a, b in zip(moved_grads, _ce_grads(moved, moved_w, x_adv, y_all[sl], n))]
        finally:
            rec.remove()
        for c, z, z_adv in zip(cos, outputs[k], rec.values):
            c.update(z, z_adv)
        outputs[k] = None  # free the chunk's outputs
    return CrozeState([w.detach() for w in scored], [w.detach() for w in moved_w], grads[:len(scored)],
                      moved_grads, [c.value() for c in cos])


def _col_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a.to(torch.float64), b.to(torch.float64), dim=0)


def croze(state: CrozeState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = []
    for w, w2, g, g2, fc in zip(state.weights, state.moved, state.grads, state.moved_grads, state.feature_cos):
        term = abs(float((1 + _col_cos(w, w2)).sum() * _col_cos(g, g2).abs().sum() * (1 + fc).sum()))
        if opts["hytas_compat"]:
            term = math.log(term) if term > 0 else -math.inf
        layers.append(term)
    return layers, sum(layers)


def _plan(opts: Mapping[str, Any]) -> Tuple[PassKey, FrozenSet[str]]:
    precision = opts["precision"] or ("float32" if opts["hytas_compat"] else "float64")
    return pass_key("croze", precision=precision, sign=bool(opts["sign"])), frozenset()


register(Proxy("croze", _plan, croze,
               {"sign": True, "precision": None, "hytas_compat": False, "nosign_variants": False},
               signed=True, nonneg_layers=True, revision=2,  # 2: the authors' procedure (float64, FGSM sign)
               doc="CRoZe (Jeong et al. 2023): weight, gradient and feature consistency under attack"))
