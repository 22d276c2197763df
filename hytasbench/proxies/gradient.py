"""Gradient saliencies from the cross-entropy pass: grad_norm, SNIP and GraSP.

All three share one forward/backward (GraSP adds a double backward of the same graph).
GraSP keeps its raw sign: the sum of -(W * Hg) falls as accuracy rises (orientation -1).
"""
from __future__ import annotations

from typing import Any, FrozenSet, Mapping, Tuple

from .ce_pass import CEState
from .registry import PassKey, Proxy, Reduction, pass_key, register
from .target import Target


def ce_key(opts: Mapping[str, Any]) -> PassKey:
    """The plain cross-entropy pass on the freshly initialised model, in float32."""
    return pass_key("ce", precision=opts.get("precision") or "float32", init="fresh", seed=0)


def _plan(*needs: str):
    def plan(opts: Mapping[str, Any]) -> Tuple[PassKey, FrozenSet[str]]:
        return ce_key(opts), frozenset(needs)
    return plan


def grad_norm(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = [float(g.norm()) for g in state.grads]
    return layers, sum(layers)


def snip(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = [float((g * w).abs().sum()) for g, w in zip(state.grads, state.weights)]
    return layers, sum(layers)


def grasp(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = [float(-(w * h).sum()) for w, h in zip(state.weights, state.hvp)]
    return layers, sum(layers)


_OPTS = {"precision": None}
register(Proxy("grad_norm", _plan("grad"), grad_norm, dict(_OPTS), nonneg_layers=True,
               doc="sum over layers of the Frobenius norm of dL/dW (Abdelfattah et al. 2021)"))
register(Proxy("snip", _plan("grad"), snip, dict(_OPTS), nonneg_layers=True,
               doc="sum |dL/dW * W| (Lee et al. 2019)"))
register(Proxy("grasp", _plan("grad", "hvp"), grasp, dict(_OPTS), orientation=-1,
               doc="sum -(W * Hg), g = dL/dW (Wang et al. 2020); raw value, orientation -1"))
