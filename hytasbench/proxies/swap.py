"""SWAP and regularised SWAP (Peng et al., ICLR 2024): sample-wise activation patterns.

Every unit of every activation gets a pattern: the bits (pre-activation > 0) it shows over the
batch's samples. SWAP is the number of distinct patterns over all units of all activations (here
the GELU of every MLP, at every token: the units whose sign GELU's ReLU-like part reads).
Regularised SWAP multiplies it by exp(-(P - mu)^2 / sigma), P the parameter count in thousands,
which steers a search towards models of about mu thousand parameters. mu and sigma are free
choices of whoever searches; our defaults centre on the HyTAS-2000 sizes on Indian Pines (median
1428k parameters, quartiles 782k and 2519k, from tables/): mu 1400, sigma 1.2e6 (a factor of
about 1/2 at the quartiles). They are options: ``{"reg_swap": {"mu": ..., "sigma": ...}}``.
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping

import torch

from .features import FeatureState
from .meco import feature_key
from .registry import Proxy, Reduction, register
from .target import Target


def distinct_patterns(codes: torch.Tensor) -> int:
    """Number of distinct columns of a (samples, units) boolean matrix."""
    s = codes.shape[0]
    if s <= 62:  # pack each unit's pattern into one integer
        weights = (2 ** torch.arange(s, dtype=torch.int64)).to(codes.device)
        return int(torch.unique((codes.to(torch.int64) * weights[:, None]).sum(0)).numel())
    return int(torch.unique(codes.T, dim=0).shape[0])


def _codes(state: FeatureState) -> torch.Tensor:
    per: List[torch.Tensor] = [torch.cat(chunks) for chunks in state.codes]
    if not per:
        raise ValueError("SWAP needs activation modules; the target has none")
    return torch.cat(per, dim=1)


def swap(state: FeatureState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    return None, distinct_patterns(_codes(state))


def regularisation(params: int, mu: float, sigma: float) -> float:
    return math.exp(-((params / 1e3 - mu) ** 2) / sigma)


def reg_swap(state: FeatureState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    params = sum(p.numel() for p in target.model.parameters())
    return None, distinct_patterns(_codes(state)) * regularisation(params, float(opts["mu"]), float(opts["sigma"]))


register(Proxy("swap", lambda o: (feature_key(o), frozenset({"swap_codes"})), swap, {"precision": None}, data="pixels",
               doc="SWAP (Peng et al. 2024): distinct sample-wise activation patterns of the MLP units"))
register(Proxy("reg_swap", lambda o: (feature_key(o), frozenset({"swap_codes"})), reg_swap,
               {"precision": None, "mu": 1400.0, "sigma": 1.2e6}, data="pixels",
               doc="regularised SWAP (Peng et al. 2024): SWAP x exp(-(params/1e3 - mu)^2 / sigma)"))
