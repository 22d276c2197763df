"""Architecture features for the surrogate-guided search and tabulated neighbourhoods.

Summary statistics on top of the padded per-layer encoding the analysis predictor also uses
(``hytasbench.encoding``). Everything here is known before training (architecture, parameter
count, FLOPs), so a searcher gets it for free.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..encoding import MAX_DEPTH as _MAX_DEPTH, padded_layers
from ..space import Arch
SUMMARY_NAMES: Tuple[str, ...] = ("depth", "embed_dim", "heads_mean", "heads_min", "heads_max",
                                  "ratio_mean", "ratio_min", "ratio_max", "ratio_sum", "head_dim_mean")
LAYER_NAMES: Tuple[str, ...] = tuple(f"heads_{i}" for i in range(_MAX_DEPTH)) + tuple(
    f"ratio_{i}" for i in range(_MAX_DEPTH))


def _summary(a: Arch) -> Tuple[float, ...]:
    h, r = a.num_heads, a.mlp_ratio
    return (a.depth, a.embed_dim, sum(h) / a.depth, min(h), max(h), sum(r) / a.depth, min(r), max(r), sum(r),
            sum(a.embed_dim // x for x in h) / a.depth)


def encode(archs: Sequence[Arch], params: Optional[np.ndarray] = None,
           flops: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Tuple[str, ...]]:
    """Feature matrix (one row per architecture) and its column names.

    Summary statistics, then per-layer heads and ratios padded with 0 beyond the depth, then
    log10 of parameters and FLOPs when given (their scale spans two decades).
    """
    n = len(archs)
    layers = padded_layers([a.num_heads for a in archs], [a.mlp_ratio for a in archs])
    blocks = [np.array([_summary(a) for a in archs], dtype=float).reshape(n, len(SUMMARY_NAMES)), layers]
    names = SUMMARY_NAMES + LAYER_NAMES
    for name, values in (("log_params", params), ("log_flops", flops)):
        if values is not None:
            blocks.append(np.log10(np.asarray(values, dtype=float)).reshape(n, 1))
            names += (name,)
    return np.hstack(blocks), names
