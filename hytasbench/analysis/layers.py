"""Per-layer score decay: how a proxy's per-layer scores change from the first layer to the last.

The paper's supplement plots DSS and synflow per layer and finds that deep layers score orders of
magnitude lower, so the sum is decided by the first few layers. Our builders record the list of
per-layer scores in ``proxy_<name>__layers`` (one entry per scored layer, input to output);
sources without it (the HyTAS reference) get an empty result and the report says so.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .correlation import spearman
from ..schema import PROXY_PREFIX, proxy_column, split_proxy_column

LAYERS = "layers"


def layer_proxies(frame: pd.DataFrame) -> List[str]:
    """Proxies whose per-layer score lists the frame holds (at least one non-empty list)."""
    names = []
    for col in frame.columns:
        if col.startswith(PROXY_PREFIX) and split_proxy_column(col)[1] == LAYERS:
            if any(_as_list(v) is not None for v in frame[col]):
                names.append(split_proxy_column(col)[0])
    return names


def _as_list(value: object) -> Optional[np.ndarray]:
    if value is None or isinstance(value, float):  # NaN / missing
        return None
    arr = np.asarray(value, dtype=float)
    return arr if arr.ndim == 1 and len(arr) > 0 else None


def layer_profile(frame: pd.DataFrame, proxy: str) -> pd.DataFrame:
    """Per list length (number of scored layers) and position: n, median, quartiles and median log10.

    Architectures are grouped by list length because position i means something different in a
    4-block and a 10-block network.
    """
    rows = []
    lists = [a for a in (_as_list(v) for v in frame[proxy_column(proxy, LAYERS)]) if a is not None]
    for length in sorted({len(a) for a in lists}):
        stack = np.vstack([a for a in lists if len(a) == length])
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(stack > 0, np.log10(stack), np.nan)
        for pos in range(length):
            col = stack[:, pos]
            rows.append({"proxy": proxy, "length": length, "layer": pos + 1, "n": len(col),
                         "median": float(np.median(col)), "q25": float(np.percentile(col, 25)),
                         "q75": float(np.percentile(col, 75)), "median_log10": float(np.nanmedian(logs[:, pos]))
                         if np.isfinite(logs[:, pos]).any() else float("nan")})
    return pd.DataFrame(rows, columns=["proxy", "length", "layer", "n", "median", "q25", "q75", "median_log10"])


def layer_decay(frames: Dict[str, pd.DataFrame], proxies: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """One row per (dataset, proxy): how strongly scores fall with depth.

    Columns: n (architectures with a list); trend = median over architectures of Spearman's rho
    between layer position and score (-1: strictly decaying); log10_last_first = median of
    log10(last layer / first layer).
    """
    rows = []
    for ds, frame in frames.items():
        for name in (layer_proxies(frame) if proxies is None else proxies):
            col = proxy_column(name, LAYERS)
            if col not in frame.columns:
                continue
            lists = [a for a in (_as_list(v) for v in frame[col]) if a is not None and len(a) >= 3]
            if not lists:
                continue
            trends = [spearman(np.arange(len(a)), a) for a in lists]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = [np.log10(a[-1] / a[0]) for a in lists if a[0] > 0 and a[-1] > 0]
            rows.append({"dataset": ds, "proxy": name, "n": len(lists), "trend": float(np.nanmedian(trends)),
                         "log10_last_first": float(np.median(ratios)) if ratios else float("nan")})
    return pd.DataFrame(rows, columns=["dataset", "proxy", "n", "trend", "log10_last_first"])
