"""Factor analysis: which architecture choices go with high OA, and with high proxy scores.

The paper reports that OA and proxies correlate with depth, width and size in different ways,
that the largest models overfit (OA stops growing with size) while proxies keep preferring larger
models, and that rankings transfer only partly between datasets. The functions here measure each
of those on any source, so the report can say whether the data agrees.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..space import DEPTHS
from .data import TARGET, column_orientation, layer_lists, present, score_columns

SIZE = "cost_params"


def architecture_factors(frame: pd.DataFrame) -> pd.DataFrame:
    """depth, embed_dim, mean_heads, heads_L1..heads_L10 (NaN past the last layer), mean_mlp_ratio, params."""
    heads, ratios = layer_lists(frame, "num_heads"), layer_lists(frame, "mlp_ratio")
    out = pd.DataFrame({"depth": frame["depth"].astype(float).to_numpy(),
                        "embed_dim": frame["embed_dim"].astype(float).to_numpy(),
                        "mean_heads": [float(np.mean(h)) for h in heads]})
    for i in range(max(DEPTHS)):
        out[f"heads_L{i + 1}"] = [float(h[i]) if i < len(h) else np.nan for h in heads]
    out["mean_mlp_ratio"] = [float(np.mean(r)) for r in ratios]
    if SIZE in frame.columns:
        out["params"] = pd.to_numeric(frame[SIZE], errors="coerce").to_numpy(dtype=float)
    return out


def factor_correlations(frame: pd.DataFrame, scores: Optional[Dict[str, str]] = None,
                        target: str = TARGET) -> pd.DataFrame:
    """Long table (quantity, factor, rho, n): Spearman of OA and of each oriented score with each factor.

    Scores are oriented, so a positive rho with params means "this proxy favours larger models".
    Per-layer head factors use only the architectures that have that layer (n says how many).
    """
    factors = architecture_factors(frame)
    quantities = {"OA": (target, 1)}
    for label, col in (score_columns(frame, baselines=False) if scores is None else scores).items():
        quantities[label] = (col, column_orientation(col))
    values = pd.DataFrame({label: sign * pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                           for label, (col, sign) in quantities.items() if present(frame, col)})
    if values.empty:
        return pd.DataFrame(columns=["quantity", "factor", "rho", "n"])
    rho, n = _pairwise_spearman(values, factors)
    long = rho.stack(future_stack=True).rename("rho").to_frame().join(n.stack(future_stack=True).rename("n"))
    return long.rename_axis(["quantity", "factor"]).reset_index()


def _pairwise_spearman(left: pd.DataFrame, right: Optional[pd.DataFrame] = None) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Spearman rho of every left column with every right column (default: left) over pairwise complete rows, and n.

    pandas ranks each pair's complete rows separately, so this equals
    :func:`hytasbench.analysis.correlation.spearman` pair by pair (NaN below 3 pairs or for a
    constant side) at a fraction of the cost.
    """
    if right is None:
        right = left
        both = left
    else:
        both = pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)
    rho = both.corr(method="spearman", min_periods=3).loc[left.columns, right.columns]
    ok = both.notna().astype(int)
    n = (ok[left.columns].T @ ok[right.columns]).astype(int)
    return rho, n


def size_bins(frame: pd.DataFrame, bins: int = 5, target: str = TARGET, top_fraction: float = 0.10) -> pd.DataFrame:
    """OA by model-size quantile bin: n, size range, OA median/mean/max, and the bin's share of the OA top 10%.

    If large models overfit, OA's median and max flatten or fall in the last bins even though
    the parameter count keeps rising.
    """
    if not (present(frame, SIZE) and present(frame, target)):
        sub = pd.DataFrame()
    else:
        sub = frame[[SIZE, target]].apply(pd.to_numeric, errors="coerce").dropna()
    if sub.empty:
        return pd.DataFrame(columns=["bin", "n", "params_min", "params_max", "oa_median", "oa_mean", "oa_max",
                                     "share_of_top"])
    labels = pd.qcut(sub[SIZE].rank(method="first"), bins, labels=False)
    cut = np.sort(sub[target].to_numpy())[-max(1, int(round(top_fraction * len(sub))))]
    rows = []
    for b in range(bins):
        part = sub[labels == b]
        rows.append({"bin": b + 1, "n": len(part), "params_min": part[SIZE].min(), "params_max": part[SIZE].max(),
                     "oa_median": part[target].median(), "oa_mean": part[target].mean(),
                     "oa_max": part[target].max(), "share_of_top": float((part[target] >= cut).sum())
                     / max(1, int((sub[target] >= cut).sum()))})
    return pd.DataFrame(rows)


def size_preference(frame: pd.DataFrame, scores: Optional[Dict[str, str]] = None, target: str = TARGET,
                    top_fraction: float = 0.10) -> pd.DataFrame:
    """For OA ("oracle") and each score: the median size percentile of its top-10% architectures.

    A score whose picks sit at a higher size percentile than the oracle's favours models larger
    than the best ones. Columns: quantity, n, top_k, median_size_pct, oa_of_picks (median OA).
    """
    scores = score_columns(frame, baselines=False) if scores is None else scores
    if not (present(frame, SIZE) and present(frame, target)):
        return pd.DataFrame(columns=["quantity", "n", "top_k", "median_size_pct", "oa_of_picks"])
    size = pd.to_numeric(frame[SIZE], errors="coerce")
    pct = size.rank(pct=True).to_numpy()
    oa = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
    rows = []
    for label, col, sign in [("oracle (OA)", target, 1)] + [(k, v, column_orientation(v)) for k, v in scores.items()]:
        values = sign * pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        ok = np.flatnonzero(np.isfinite(values) & np.isfinite(pct) & np.isfinite(oa))
        if len(ok) == 0:
            continue
        k = max(1, int(round(top_fraction * len(ok))))
        picks = ok[np.argsort(-values[ok], kind="stable")[:k]]
        rows.append({"quantity": label, "n": len(ok), "top_k": k, "median_size_pct": float(np.median(pct[picks])),
                     "oa_of_picks": float(np.median(oa[picks]))})
    return pd.DataFrame(rows)


def transfer(frames: Dict[str, pd.DataFrame], columns: Optional[Sequence[str]] = None,
             target: str = TARGET) -> pd.DataFrame:
    """Spearman between datasets of OA and of each score, joined on the architecture.

    Long table (quantity, dataset_a, dataset_b, rho, n) over every pair a < b; a proxy that
    ignores the data would transfer perfectly, OA transfers as far as the datasets agree.
    """
    names = list(frames)
    if columns is None:
        first = next(iter(frames.values()), pd.DataFrame())
        columns = [target] + list(score_columns(first, baselines=False).values())
    rows = []
    for col in columns:
        label = "OA" if col == target else col[len("proxy_"):] if col.startswith("proxy_") else col
        have = [ds for ds in names if present(frames[ds], col)]
        wide = pd.concat({ds: pd.to_numeric(frames[ds].set_index("arch")[col], errors="coerce") for ds in have},
                         axis=1)
        rho, n = _pairwise_spearman(wide)
        for i, a in enumerate(have):
            for b in have[i + 1:]:
                rows.append({"quantity": label, "dataset_a": a, "dataset_b": b, "rho": rho.loc[a, b],
                             "n": int(n.loc[a, b])})
    return pd.DataFrame(rows, columns=["quantity", "dataset_a", "dataset_b", "rho", "n"])


def transfer_matrix(pairs: pd.DataFrame, quantity: str = "OA") -> pd.DataFrame:
    """Square datasets x datasets matrix of one quantity from :func:`transfer` (1 on the diagonal)."""
    sub = pairs[pairs["quantity"] == quantity]
    names = list(dict.fromkeys(list(sub["dataset_a"]) + list(sub["dataset_b"])))
    m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for r in sub.itertuples():
        m.loc[r.dataset_a, r.dataset_b] = m.loc[r.dataset_b, r.dataset_a] = r.rho
    return m
