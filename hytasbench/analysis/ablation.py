"""The sign ablation: synflow-style proxies with and without the "sign" (linearisation) step.

Synflow, logsynflow, DSS and Croze score a copy of the network whose parameters are replaced by
their absolute values. The paper asks what that step is worth; a source answers where it holds
the ``__nosign`` variant (the HyTAS reference: Indian Pines only).
"""
from __future__ import annotations

from typing import Dict, Sequence

import pandas as pd

from .correlation import spearman, top1
from .data import TARGET, column_orientation, paired, present
from ..schema import proxy_column

SIGN_PROXIES: Sequence[str] = ("synflow", "logsynflow", "dss", "croze")


def sign_ablation(frames: Dict[str, pd.DataFrame], proxies: Sequence[str] = SIGN_PROXIES,
                  target: str = TARGET) -> pd.DataFrame:
    """One row per (dataset, proxy) where both variants exist: rho and top-1 target with and without sign.

    Columns: dataset, proxy, n, rho_sign, rho_nosign, top1_sign, top1_nosign, best. Empty when
    no dataset of the source holds a ``__nosign`` column.
    """
    rows = []
    for ds, frame in frames.items():
        for name in proxies:
            with_sign, without = proxy_column(name), proxy_column(name, "nosign")
            if not (present(frame, with_sign) and present(frame, without) and present(frame, target)):
                continue
            both = frame[[with_sign, without, target]].dropna()
            sign = column_orientation(with_sign)
            xs, ys = paired(both, with_sign, target)
            xn, yn = paired(both, without, target)
            rows.append({"dataset": ds, "proxy": name, "n": len(both),
                         "rho_sign": sign * spearman(xs, ys), "rho_nosign": sign * spearman(xn, yn),
                         "top1_sign": top1(sign * xs, ys), "top1_nosign": top1(sign * xn, yn),
                         "best": float(both[target].max())})
    return pd.DataFrame(rows, columns=["dataset", "proxy", "n", "rho_sign", "rho_nosign", "top1_sign",
                                       "top1_nosign", "best"])
