"""OA of the same architectures under different training protocols: level, spread and ranking.

A training protocol decides what a benchmark's accuracy measures (docs/training.md): the same
architectures under two protocols can differ in level, in how uniform they are, and in how they
rank. The comparison is always on the architectures both protocols trained, never a subset's
value against a full set's.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats


def compare(oa: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of protocols (columns of ``oa``, indexed by architecture) with at least one
    architecture in common: n, mean and standard deviation of each on those n, the mean and
    standard deviation of the per-architecture difference (first - second), and Spearman's rho
    across the n (from 3 architectures on)."""
    rows = []
    for a, b in combinations(oa.columns, 2):
        both = oa[[a, b]].dropna()
        n = len(both)
        if n == 0:
            continue
        diff = both[a] - both[b]
        rho = stats.spearmanr(both[a], both[b])[0] if n >= 3 else np.nan
        rows.append({"first": a, "second": b, "n": n, "first_mean": both[a].mean(), "first_sd": both[a].std(ddof=1),
                     "second_mean": both[b].mean(), "second_sd": both[b].std(ddof=1), "mean_diff": diff.mean(),
                     "diff_sd": diff.std(ddof=1), "spearman": rho})
    return pd.DataFrame(rows, columns=["first", "second", "n", "first_mean", "first_sd", "second_mean", "second_sd",
                                       "mean_diff", "diff_sd", "spearman"])


def shared_architectures(oa: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``oa`` (OA per protocol by architecture) that have an OA under two protocols or more."""
    return oa[oa.notna().sum(axis=1) >= 2]
