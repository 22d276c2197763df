"""Activation-based proxies from the cross-entropy pass: Fisher, NASWOT and T-CET.

fisher: per output channel of each scored layer, 0.5 * mean over samples of (sum over tokens
of activation * dL/dactivation)^2, summed. Upstream (``hytas_compat=True``) summed over the
channels of each token instead (its "channels" were the tokens of a (B, tokens, C) output), and
its broadcast of each channel's value over the channel's "parameters" multiplied every layer's
sum by its number of such channels (tokens; classes for the head).

naswot: binary codes of the pre-GELU activations; K = sum over layers of c.c^T + (1-c).(1-c)^T;
score log|det K|. Upstream first re-initialised every Linear weight N(0, 1) (``hytas_compat``).

tcet: per scored layer l, K_l = log|det| of the NASWOT kernel of the layer's outputs (a
singular kernel counts 0, as upstream) and S_l = log(sum(snip_l) / std(snip_l));
score = S_0 + sum over l >= 1 of S_l * K_(l-1). Upstream's list of K lacked the patch
embedding, so its K_(l-1) was in fact the same layer's K_l (``hytas_compat=True``).
"""
from __future__ import annotations

import math
from typing import Any, FrozenSet, List, Mapping, Tuple

import torch

from .ce_pass import CEState
from .gradient import ce_key
from .registry import PassKey, Proxy, Reduction, pass_key, register
from .stats import code_kernel, logabsdet
from .target import Target


def _fisher_plan(opts: Mapping[str, Any]) -> Tuple[PassKey, FrozenSet[str]]:
    return ce_key(opts), frozenset({"fisher_token" if opts["hytas_compat"] else "fisher"})


def fisher(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    sums = state.fisher["fisher_token" if opts["hytas_compat"] else "fisher"]
    layers = [float(0.5 * s.sum() / state.n) * (s.numel() if opts["hytas_compat"] else 1) for s in sums]
    return layers, sum(layers)


def _naswot_plan(opts: Mapping[str, Any]) -> Tuple[PassKey, FrozenSet[str]]:
    if opts["hytas_compat"]:
        return pass_key("ce", precision="float32", init="gaussian", seed=int(opts["init_seed"])), frozenset({"act_codes"})
    return ce_key(opts), frozenset({"act_codes"})


def naswot(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    k = sum(code_kernel(torch.cat(chunks)) for chunks in state.act_codes)
    return None, logabsdet(k)


def layer_logdets(state: CEState) -> List[float]:
    """K_l of every scored layer; 0 for a singular kernel (upstream's guard)."""
    out = []
    for chunks in state.out_codes:
        ld = logabsdet(code_kernel(torch.cat(chunks)))
        out.append(ld if math.isfinite(ld) else 0.0)
    return out


def snip_snr(grad: torch.Tensor, weight: torch.Tensor) -> float:
    """S_l = log(sum / std) of the layer's SNIP saliencies |g * W| (std unbiased; upstream:
    std 0 -> the bare sum, and a zero value stays 0)."""
    s = (grad * weight).abs().reshape(-1).to(torch.float64)
    std = float(s.std()) if s.numel() > 1 else 0.0
    v = float(s.sum()) / std if std > 0 else float(s.sum())
    return math.log(v) if v != 0 else 0.0


def tcet(state: CEState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    ks = layer_logdets(state)
    s = [snip_snr(g, w) for g, w in zip(state.grads, state.weights)]
    shift = 0 if opts["hytas_compat"] else 1
    layers = [s[0]] + [s[i] * ks[i - shift] for i in range(1, len(s))]
    return layers, sum(layers)


register(Proxy("fisher", _fisher_plan, fisher, {"precision": None, "hytas_compat": False}, nonneg_layers=True,
               doc="Fisher information of the layer outputs (Turner et al. 2020)"))
register(Proxy("naswot", _naswot_plan, naswot, {"precision": None, "hytas_compat": False, "init_seed": 0}, data="pixels",
               doc="NASWOT (Mellor et al. 2021): log|det| of the pre-GELU binary-code kernel"))
register(Proxy("tcet", lambda o: (ce_key(o), frozenset({"grad", "out_codes"})), tcet,
               {"precision": None, "hytas_compat": False},
               doc="T-CET (Zhou et al.): SNIP signal-to-noise weighted by NASWOT kernels per layer"))
