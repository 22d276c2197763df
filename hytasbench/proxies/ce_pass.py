"""The cross-entropy pass: one forward of the data batch and one backward of the batch-mean
cross-entropy, recording whatever the requested kernels need (``needs``):

- ``grad``: dL/dW of every scored layer (grad_norm, snip, tcet);
- ``hvp``: the Hessian-gradient product H.g (GraSP), from a double backward of the same graph;
- ``jacobian``: d(sum of logits)/dx per sample (jacob_cov), from a second backward;
- ``fisher`` / ``fisher_token``: per output channel / per token sums of activation x gradient;
- ``act_grad_moments``: moments over samples of (activation x gradient)^2 (ZiCo++);
- ``sample_grad_moments`` / ``sample_grad_cum_moments``: moments over samples of the
  per-sample weight gradients (ZiCo), or of their running sums (upstream ZiCo's accumulation);
- ``sample_grad_sign``: sums over samples of the sign of the per-sample weight gradients (GradSign);
- ``out_codes``: binary codes (> 0) of every scored layer's output (tcet);
- ``act_codes``: binary codes of the input of every activation module (NASWOT's pre-GELU).

Samples are independent in these models (LayerNorm only, eval mode), so per-sample quantities
come from the batch gradient (each sample's share is its own loss gradient / batch size), and
the batch can be split into chunks (after running out of memory) without changing a number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .passes import chunk_slices, dtype_of, flat_tokens, per_sample_weight_grads, register_pass, working_copy
from .stats import Moments
from .target import Target

SAMPLE_GRAD_NEEDS = frozenset({"sample_grad_moments", "sample_grad_cum_moments", "sample_grad_sign"})
GRAD_HOOK_NEEDS = frozenset({"fisher", "fisher_token", "act_grad_moments"}) | SAMPLE_GRAD_NEEDS
BACKWARD_NEEDS = frozenset({"grad", "hvp", "jacobian"}) | GRAD_HOOK_NEEDS


@dataclass
class CEState:
    n: int  # samples
    weights: List[torch.Tensor]
    grads: Optional[List[torch.Tensor]] = None
    hvp: Optional[List[torch.Tensor]] = None
    jacobian: Optional[torch.Tensor] = None  # (B, input numel)
    fisher: Dict[str, List[torch.Tensor]] = field(default_factory=dict)  # need -> per layer sum_b s^2
    moments: Dict[str, List[Moments]] = field(default_factory=dict)  # need -> per layer
    sign_sums: List[torch.Tensor] = field(default_factory=list)  # per layer: sum over samples of sign(g_i)
    out_codes: List[List[torch.Tensor]] = field(default_factory=list)  # per layer, per chunk
    act_codes: List[List[torch.Tensor]] = field(default_factory=list)  # per activation, per chunk


class _Recorder:
    """Forward/tensor hooks on the scored layers and activations of one model."""

    def __init__(self, layers: List[nn.Linear], activations: List[nn.Module], needs: FrozenSet[str],
                 state: CEState, n_total: int):
        self.needs, self.state, self.n_total = needs, state, n_total
        self.active = True  # gradient hooks record only during the cross-entropy backward
        self.carry: List[Optional[torch.Tensor]] = [None] * len(layers)  # running per-sample grad sums
        self.handles = [lin.register_forward_hook(self._layer_hook(i)) for i, lin in enumerate(layers)]
        if "act_codes" in needs:
            self.handles += [m.register_forward_hook(self._act_hook(j)) for j, m in enumerate(activations)]
        for key in ("fisher", "fisher_token"):
            if key in needs:
                state.fisher[key] = [None] * len(layers)
        for key in ("act_grad_moments", "sample_grad_moments", "sample_grad_cum_moments"):
            if key in needs:
                state.moments[key] = [Moments() for _ in layers]
        if "sample_grad_sign" in needs:
            state.sign_sums = [None] * len(layers)
        state.out_codes = [[] for _ in layers] if "out_codes" in needs else []
        state.act_codes = [[] for _ in activations] if "act_codes" in needs else []

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def _layer_hook(self, i: int):
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if not self.active:
                return
            if "out_codes" in self.needs:
                self.state.out_codes[i].append((out.detach() > 0).reshape(out.shape[0], -1))
            if out.requires_grad and GRAD_HOOK_NEEDS & self.needs:
                inp, act = inputs[0].detach(), out.detach()
                out.register_hook(lambda g: self._on_grad(i, inp, act, g))
        return hook

    def _act_hook(self, j: int):
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if self.active:
                x = inputs[0].detach()
                self.state.act_codes[j].append((x > 0).reshape(x.shape[0], -1))
        return hook

    def _on_grad(self, i: int, inp: torch.Tensor, act: torch.Tensor, grad: torch.Tensor) -> None:
        if not self.active:
            return
        g = grad.detach()
        st, needs = self.state, self.needs
        prod = flat_tokens(act * g)  # (B, tokens, channels); a 2-D output is one token
        for key, dim in (("fisher", 1), ("fisher_token", 2 if act.dim() > 2 else 1)):
            if key in needs:
                s2 = (prod.sum(dim) ** 2).sum(0).to(torch.float64)
                st.fisher[key][i] = s2 if st.fisher[key][i] is None else st.fisher[key][i] + s2
        if "act_grad_moments" in needs:
            st.moments["act_grad_moments"][i].update((prod ** 2).reshape(prod.shape[0], -1))
        if needs & SAMPLE_GRAD_NEEDS:
            per = per_sample_weight_grads(inp, g).to(torch.float64) * self.n_total  # each sample's own loss
            per = per.reshape(per.shape[0], -1)
            if "sample_grad_sign" in needs:
                s = torch.sign(per).sum(0)
                st.sign_sums[i] = s if st.sign_sums[i] is None else st.sign_sums[i] + s
            if "sample_grad_moments" in needs:
                st.moments["sample_grad_moments"][i].update(per)
            if "sample_grad_cum_moments" in needs:
                cum = per.cumsum(0)
                if self.carry[i] is not None:
                    cum = cum + self.carry[i]
                self.carry[i] = cum[-1]
                st.moments["sample_grad_cum_moments"][i].update(cum)


def _gaussian_init(model: nn.Module, seed: int) -> None:
    """Upstream NASWOT's re-initialisation: Linear (and convolution) weights N(0, 1), biases 0."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            weight = getattr(m, "weight", None)
            if isinstance(m, nn.LayerNorm) or not isinstance(weight, nn.Parameter) or weight.dim() < 2:
                continue
            weight.copy_(torch.randn(weight.shape, generator=gen, dtype=weight.dtype))
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()


def _model_for(target: Target, cfg: Dict[str, Any]) -> Tuple[nn.Module, List[nn.Linear], List[nn.Module]]:
    dtype = dtype_of(cfg["precision"])
    if dtype == torch.float32 and cfg["init"] == "fresh":
        return target.model, [lin for _, lin, _ in target.layers], target.activations
    model, layers = working_copy(target, dtype)
    if cfg["init"] == "gaussian":
        _gaussian_init(model, cfg["seed"])
    modules = {id(m): name for name, m in target.model.named_modules()}
    copied = dict(model.named_modules())
    return model, layers, [copied[modules[id(a)]] for a in target.activations]


@register_pass("ce")
def ce_pass(target: Target, batch: Any, config: Tuple, needs: FrozenSet[str], chunks: int) -> CEState:
    cfg = dict(config)
    model, layers, activations = _model_for(target, cfg)
    dtype = dtype_of(cfg["precision"])
    weights = [lin.weight for lin in layers]
    n = batch.x.shape[0]
    state = CEState(n, [w.detach() for w in weights])
    rec = _Recorder(layers, activations, needs, state, n)
    backward = bool(needs & BACKWARD_NEEDS)
    weight_grads = bool(needs & (BACKWARD_NEEDS - {"jacobian"}))  # jacob_cov alone needs no dL/dW
    slices = list(chunk_slices(n, chunks))
    inline_hvp = "hvp" in needs and len(slices) == 1
    try:
        for sl in slices:
            x = batch.x[sl].to(dtype)
            if "jacobian" in needs:
                x = x.detach().clone().requires_grad_(True)
            with torch.set_grad_enabled(backward):
                out = model(x)
            if not backward:
                continue
            if weight_grads:
                loss = F.cross_entropy(out, batch.y[sl], reduction="sum") / n
                rec.active = True
                g = torch.autograd.grad(loss, weights, create_graph=inline_hvp,
                                        retain_graph=inline_hvp or "jacobian" in needs)
                rec.active = False
                state.grads = [gi.detach() for gi in g] if state.grads is None else \
                    [a + b.detach() for a, b in zip(state.grads, g)]
            rec.active = False
            if "jacobian" in needs:
                jac = torch.autograd.grad(out.sum(), x, retain_graph=inline_hvp)[0]
                jac = jac.detach().reshape(jac.shape[0], -1).to(torch.float64)
                state.jacobian = jac if state.jacobian is None else torch.cat([state.jacobian, jac])
            if inline_hvp:
                z = sum((gi * gi.detach()).sum() for gi in g)
                state.hvp = [h.detach() for h in torch.autograd.grad(z, weights)]
            rec.active = True
        rec.active = False
        if "hvp" in needs and not inline_hvp:
            state.hvp = _chunked_hvp(model, weights, batch, slices, state.grads, dtype, n)
    finally:
        rec.remove()
    return state


def _chunked_hvp(model: nn.Module, weights: List[torch.Tensor], batch: Any, slices: List[slice],
                 grads: List[torch.Tensor], dtype: torch.dtype, n: int) -> List[torch.Tensor]:
    """H.g with g the whole batch's gradient, summed over chunks (a second forward per chunk)."""
    hvp = [torch.zeros_like(g) for g in grads]
    for sl in slices:
        loss = F.cross_entropy(model(batch.x[sl].to(dtype)), batch.y[sl], reduction="sum") / n
        gc = torch.autograd.grad(loss, weights, create_graph=True)
        z = sum((a * b).sum() for a, b in zip(gc, grads))
        hvp = [h + d.detach() for h, d in zip(hvp, torch.autograd.grad(z, weights))]
    return hvp
