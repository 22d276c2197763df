"""ZiCo and the paper's ZiCo++ (gradient signal-to-noise over samples), from the
cross-entropy pass.

zico: per layer, log(sum over weights with non-zero std of mean|g| / std(g)), g the per-sample
weight gradients (each sample's own loss); summed over layers. Upstream HyTAS never zeroed the
gradients between samples, so its "per-sample" gradient of sample i was the running sum over
samples 0..i (``hytas_compat=True`` reproduces that; it depends on sample order).

zico_pp: the same ratio on per-sample (activation * output-gradient)^2 of each scored layer;
layer i with 4 < i < last is weighted 1/(i-4) (deeper layers down-weighted, as upstream).
"""
from __future__ import annotations

import math
from typing import Any, FrozenSet, List, Mapping, Tuple

from .ce_pass import CEState
from .gradient import ce_key
from .registry import PassKey, Proxy, Reduction, register
from .stats import Moments
from .target import Target


def snr_term(m: Moments) -> float:
    """log(sum of mean|x| / std(x) over elements with non-zero std); 0 when none has any
    (a NaN std counts as non-zero, so that a failed gradient shows as NaN, not as 0)."""
    std = m.std
    keep = std != 0
    if not bool(keep.any()):
        return 0.0
    return math.log(float((m.mean_abs[keep] / std[keep]).sum()))


def _zico_plan(opts: Mapping[str, Any]) -> Tuple[PassKey, FrozenSet[str]]:
    need = "sample_grad_cum_moments" if opts["hytas_compat"] else "sample_grad_moments"
    return ce_key(opts), frozenset({need})


def zico(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    key = "sample_grad_cum_moments" if opts["hytas_compat"] else "sample_grad_moments"
    layers = [snr_term(m) for m in state.moments[key]]
    return layers, sum(layers)


def depth_weights(n_layers: int) -> List[float]:
    """ZiCo++'s layer weights: 1/(i-4) for 4 < i < n_layers-1, else 1."""
    return [1.0 / (i - 4) if 4 < i < n_layers - 1 else 1.0 for i in range(n_layers)]


def zico_pp(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    ms = state.moments["act_grad_moments"]
    layers = [w * snr_term(m) for w, m in zip(depth_weights(len(ms)), ms)]
    return layers, sum(layers)


register(Proxy("zico", _zico_plan, zico, {"precision": None, "hytas_compat": False},
               doc="ZiCo (Li et al. 2023): per-layer log of summed mean|g|/std(g) over samples"))
register(Proxy("zico_pp", lambda o: (ce_key(o), frozenset({"act_grad_moments"})), zico_pp, {"precision": None},
               doc="ZiCo++ (HyTAS): ZiCo on per-sample (activation*gradient)^2, depth-decayed"))
