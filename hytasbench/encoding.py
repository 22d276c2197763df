"""Numeric architecture encoding shared by the analysis predictor and the NAS surrogate."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .space import DEPTHS

MAX_DEPTH = max(DEPTHS)


def padded_layers(heads: Sequence[Sequence[int]], ratios: Sequence[Sequence[int]]) -> np.ndarray:
    """(n, 2*MAX_DEPTH): per-layer heads, then per-layer MLP ratios, 0 past each architecture's depth."""
    out = np.zeros((len(heads), 2 * MAX_DEPTH))
    for i, (h, r) in enumerate(zip(heads, ratios)):
        out[i, :len(h)] = h
        out[i, MAX_DEPTH:MAX_DEPTH + len(r)] = r
    return out
