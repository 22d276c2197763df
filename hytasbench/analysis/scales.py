"""The attention-vs-MLP scale gap: how far apart the two parts of a layer-summed proxy lie.

A proxy that sums per-layer scores is dominated by whichever kind of layer scores orders of
magnitude higher, so the other kind barely influences the ranking. The paper shows this for DSS,
synflow and snip and proposes log-transforming each part before adding them. This module measures
the gap (ratio of medians) and what the log-sum does to the correlation with OA, for every source
that holds the ``__attn`` / ``__mlp`` variants (with sign) or ``__attn_nosign`` / ``__mlp_nosign``.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd

from .correlation import spearman
from .data import TARGET, column_orientation, present
from ..schema import proxy_column

PART_PROXIES: Sequence[str] = ("dss", "synflow", "snip", "grad_norm")
# kind -> (attention variant, MLP variant, whole-network variant)
KINDS: Dict[str, Tuple[str, str, str]] = {"sign": ("attn", "mlp", ""),
                                          "nosign": ("attn_nosign", "mlp_nosign", "nosign")}


def part_columns(frame: pd.DataFrame, proxy: str) -> List[Tuple[str, str, str]]:
    """(kind, attention column, MLP column) for each kind of split the frame holds for a proxy."""
    found = []
    for kind, (attn, mlp, _) in KINDS.items():
        a, m = proxy_column(proxy, attn), proxy_column(proxy, mlp)
        if present(frame, a) and present(frame, m):
            found.append((kind, a, m))
    return found


def log_part(values: pd.Series) -> np.ndarray:
    """Natural log of a part; non-positive values become NaN (a log is undefined there)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log(v), np.nan)


def scale_gap(frames: Dict[str, pd.DataFrame], proxies: Sequence[str] = PART_PROXIES,
              target: str = TARGET) -> pd.DataFrame:
    """One row per (dataset, proxy, kind) with both parts present.

    Columns: n (architectures with both parts), n_oa (of those, with OA); median_attn and
    median_mlp; log10_ratio = log10(median_mlp / median_attn) (positive: MLP layers dominate); rho_attn, rho_mlp (each part alone with OA); rho_whole (the
    stored whole-network score, where present); rho_sum (attention + MLP, raw); rho_logsum
    (log attention + log MLP, the paper's fix). Correlations are oriented.
    """
    rows = []
    for ds, frame in frames.items():
        oa_all = pd.to_numeric(frame[target], errors="coerce") if target in frame.columns else \
            pd.Series(np.nan, index=frame.index)
        for name in proxies:
            for kind, a_col, m_col in part_columns(frame, name):
                sign = column_orientation(a_col)
                sub = frame[[a_col, m_col]].apply(pd.to_numeric, errors="coerce").dropna()
                attn, mlp = sub[a_col].to_numpy(dtype=float), sub[m_col].to_numpy(dtype=float)
                oa = oa_all.loc[sub.index].to_numpy(dtype=float)
                whole_col = proxy_column(name, KINDS[kind][2] or None)
                rho_whole = float("nan")
                if present(frame, whole_col):
                    rho_whole = sign * spearman(pd.to_numeric(frame[whole_col], errors="coerce").to_numpy(dtype=float),
                                                oa_all.to_numpy(dtype=float))
                med_a, med_m = float(np.median(attn)), float(np.median(mlp))
                ratio = np.log10(med_m / med_a) if med_a > 0 and med_m > 0 else float("nan")
                rows.append({"dataset": ds, "proxy": name, "kind": kind, "n": len(sub),
                             "n_oa": int(np.isfinite(oa).sum()),
                             "median_attn": med_a, "median_mlp": med_m, "log10_ratio": float(ratio),
                             "rho_attn": sign * spearman(attn, oa), "rho_mlp": sign * spearman(mlp, oa),
                             "rho_whole": rho_whole, "rho_sum": sign * spearman(attn + mlp, oa),
                             "rho_logsum": sign * spearman(log_part(sub[a_col]) + log_part(sub[m_col]), oa)})
    return pd.DataFrame(rows, columns=["dataset", "proxy", "kind", "n", "n_oa", "median_attn", "median_mlp",
                                       "log10_ratio", "rho_attn", "rho_mlp", "rho_whole", "rho_sum", "rho_logsum"])
