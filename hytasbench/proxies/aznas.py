"""AZ-NAS's three network-level proxies (Lee and Ham, CVPR 2024), from the feature pass; its
fourth, complexity, is our FLOPs, and its rank aggregation is the table-level ensemble
``az_nas`` (hytasbench.ensembles).

The token-feature maps are the residual stream: the first block's input (embedded tokens with
class token and positions, f_0), then every block's output (f_1 .. f_depth); a CAF fusion acts
between blocks, so each block's own input is its fused input.

az_expressivity: per map, the entropy of the normalised eigenvalues of the C x C covariance of
its features over samples x tokens (isotropy of the feature space), summed over the maps.
az_progressivity: the smallest increase of that entropy from one map to the next.
az_trainability: per block, sigma = largest singular value of mean over samples x tokens of
(J^T r) r^T, r a seeded Rademacher probe at the block output and J the block's input-output
Jacobian (an estimate of J's spectral norm); the score -sigma - 1/sigma + 2 peaks at sigma = 1;
mean over blocks.
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping

import torch

from .features import FeatureState
from .meco import feature_key
from .registry import Proxy, Reduction, register
from .target import Target


def spectral_entropy(acc: Mapping[str, Any]) -> float:
    """Entropy of the normalised eigenvalues of the covariance behind the sums (negative
    rounding-level eigenvalues count 0; 0 log 0 = 0)."""
    n = acc["rows"]
    mean = acc["sum"] / n
    cov = acc["outer"] / n - torch.outer(mean, mean)
    lam = torch.linalg.eigvalsh(cov).clamp_min(0)
    p = lam / lam.sum()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def expressivities(state: FeatureState) -> List[float]:
    return [spectral_entropy(acc) for acc in state.cov]


def az_expressivity(state: FeatureState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    return None, sum(expressivities(state))


def az_progressivity(state: FeatureState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    e = expressivities(state)
    if len(e) < 2:
        raise ValueError("progressivity needs at least one block")
    return None, min(b - a for a, b in zip(e, e[1:]))


def az_trainability(state: FeatureState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = []
    for m, rows in zip(state.jacobian, state.rows):
        sigma = float(torch.linalg.matrix_norm(m / rows, ord=2))
        layers.append(-sigma - 1.0 / sigma + 2.0 if sigma > 0 else -math.inf)
    if not layers:
        raise ValueError("trainability needs at least one block")
    return None, sum(layers) / len(layers)


_OPTS = {"precision": None, "probe_seed": 0}
for _name, _fn, _need, _doc in (
        ("az_expressivity", az_expressivity, "block_cov", "AZ-NAS expressivity: spectral entropy of the token features"),
        ("az_progressivity", az_progressivity, "block_cov", "AZ-NAS progressivity: least entropy gain between blocks"),
        ("az_trainability", az_trainability, "block_jacobian", "AZ-NAS trainability: block Jacobian norm near 1")):
    register(Proxy(_name, lambda o, _need=_need: (feature_key(o), frozenset({_need})), _fn, dict(_OPTS),
                   data="pixels", doc=_doc))
