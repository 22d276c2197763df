"""GradSign (Zhang and Jia, ICLR 2022), from the cross-entropy pass: per weight, the absolute
value of the sum over samples of the sign of that sample's own loss gradient, summed over the
weights of every scored Linear layer (biases and LayerNorms left out, as for the other gradient
kernels). Samples whose gradients agree in sign mark a smooth, shared optimum nearby.
"""
from __future__ import annotations

from typing import Any, Mapping

from .ce_pass import CEState
from .gradient import ce_key
from .registry import Proxy, Reduction, register
from .target import Target


def gradsign(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = [float(s.abs().sum()) for s in state.sign_sums]
    return layers, sum(layers)


register(Proxy("gradsign", lambda o: (ce_key(o), frozenset({"sample_grad_sign"})), gradsign, {"precision": None},
               nonneg_layers=True, doc="GradSign (Zhang and Jia 2022): sum |sum over samples of sign(dL_i/dW)|"))
