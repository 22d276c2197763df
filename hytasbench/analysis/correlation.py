"""How well a score ranks architectures: rank correlations, top-k precision, top-1 accuracy, bootstrap CIs.

"Oriented" statistics multiply a score by its orientation first (GraSP's raw value is negatively
correlated with accuracy), so that higher is always better; "raw" ones use the stored value. Every
function drops NaN pairs itself and the table functions report how many pairs were left (n).

The bootstrap resamples architectures with replacement. Instead of re-sorting each resample it
works on multiplicities: a resample is a count per architecture, its average ranks follow from the
original order by cumulative sums, and Spearman's rho is the count-weighted Pearson correlation of
those ranks. That is exactly rho of the explicit resample, in O(n) per resample instead of
O(n log n), which keeps 1000 resamples for 15 scores on 5 datasets to a second or two.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InvalidArgumentError
from .data import TARGET, column_orientation, paired, score_columns

TOP_FRACTIONS: Tuple[float, ...] = (0.01, 0.05, 0.10)
N_BOOT = 1000
CI_LEVEL = 0.95
_CHUNK = 100  # resamples per vectorised block: small enough to stay in the CPU cache


def _pair(x: Sequence[float], y: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.shape != b.shape:
        raise InvalidArgumentError(f"x and y differ in length ({a.shape} vs {b.shape})")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho over the finite pairs; NaN with fewer than 3 pairs or a constant side."""
    a, b = _pair(x, y)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (tie-corrected) over the finite pairs; NaN where undefined."""
    a, b = _pair(x, y)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.kendalltau(a, b, variant="b").statistic)


def _k(n: int, fraction: float) -> int:
    return max(1, int(round(fraction * n)))


def top_k_precision(score: Sequence[float], target: Sequence[float], fraction: float) -> float:
    """Share of the score's top-k architectures that are in the target's top k (k = fraction of n).

    "In the target's top k" means a target at least the k-th largest, so ties in accuracy at the
    cut never make the answer depend on row order. Ties in the score at its cut are broken by row
    order (stable), which is what a search that takes the first k would do.
    """
    s, t = _pair(score, target)
    if len(s) == 0:
        return float("nan")
    k = _k(len(s), fraction)
    picked = np.argsort(-s, kind="stable")[:k]
    threshold = np.sort(t)[-k]
    return float(np.mean(t[picked] >= threshold))


def top1(score: Sequence[float], target: Sequence[float]) -> float:
    """Target of the architecture the score ranks first (the mean over ties for the top score).

    Averaging over ties is the expected outcome of picking one of them at random, so a proxy
    that cannot separate its favourites gets neither credit nor blame for row order.
    """
    s, t = _pair(score, target)
    if len(s) == 0:
        return float("nan")
    return float(np.mean(t[s == s.max()]))


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multiplicities of n draws with replacement from n items, one row per resample."""
    draws = rng.integers(0, n, size=(n_boot, n))
    flat = draws + (np.arange(n_boot) * n)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_boot * n).reshape(n_boot, n)
    return counts.astype(np.int16 if n < np.iinfo(np.int16).max else np.int32)


def _sorted_ranks(values: np.ndarray, counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Doubled average ranks in every resample, items in ascending order of ``values``.

    Returns (order, ranks, ties): ``ranks[:, j]`` is twice the mean rank of item ``order[j]`` (an
    integer: mean ranks are multiples of 1/2, so all sums below are exact); ``ties[b]`` is
    sum(g**3 - g) over the tie groups of resample b, where copies of one item tie with each
    other and items of equal value tie as a group.
    """
    order = np.argsort(values, kind="stable")
    v = values[order]
    c = counts[:, order].astype(_int_type(counts))
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    if len(starts) == len(v):  # distinct values: each item is its own tie group
        ranks = 2 * np.cumsum(c, axis=1) - c + 1
        ties = (c * c * c - c).sum(axis=1, dtype=np.int64)
    else:
        groups = np.add.reduceat(c, starts, axis=1).astype(np.int64)
        group_ranks = 2 * np.cumsum(groups, axis=1) - groups + 1
        ranks = group_ranks[:, np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(v)]))].astype(c.dtype)
        ties = (groups ** 3 - groups).sum(axis=1)
    return order, ranks, ties


def _int_type(counts: np.ndarray) -> type:
    """int32 when count * (doubled rank)^2 cannot overflow it (always, for tables of HyTAS size)."""
    n = counts.shape[1]
    big = int(counts.max(initial=0)) ** 3 + int(counts.max(initial=0)) * (2 * n + 1) ** 2
    return np.int32 if big < np.iinfo(np.int32).max else np.int64


def doubled_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Twice the average rank of every item in every resample (ties share the mean rank).

    Items drawn zero times get a rank too; their weight is zero.
    """
    order, sorted_ranks, _ = _sorted_ranks(values, counts)
    ranks = np.empty_like(sorted_ranks)
    ranks[:, order] = sorted_ranks
    return ranks


def _square_sum(total: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Sum over a resample of (doubled rank)^2: 4 * (N(N+1)(2N+1)/6 - ties/12), exactly."""
    return (2 * total * (total + 1) * (2 * total + 1) - ties) // 3


def weighted_spearman(x: np.ndarray, y: np.ndarray, counts: np.ndarray,
                      y_ranks: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """Spearman's rho of each resample given by a row of ``counts`` (x, y: finite, paired).

    With doubled ranks r, the sums over a resample of N draws are known in closed form:
    sum r = N(N+1) and sum r^2 from N and the ties, so only sum r_x r_y is computed per
    resample. ``y_ranks`` = (doubled ranks of y, ties of y) may be passed when many x share one y.
    """
    out = np.empty(len(counts))
    if y_ranks is None:
        y_ranks = (doubled_ranks(y, counts), _sorted_ranks(y, counts)[2])
    ry_all, ties_y = y_ranks
    for lo in range(0, len(counts), _CHUNK):
        chunk = counts[lo:lo + _CHUNK]
        order, rx, ties_x = _sorted_ranks(x, chunk)
        c = chunk[:, order].astype(rx.dtype)
        ry = ry_all[lo:lo + _CHUNK][:, order]
        total = c.sum(axis=1, dtype=np.int64)
        s = total * (total + 1)
        cov = total * (c * rx * ry).sum(axis=1, dtype=np.int64) - s * s
        vx = total * _square_sum(total, ties_x) - s * s
        vy = total * _square_sum(total, ties_y[lo:lo + _CHUNK]) - s * s
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo:lo + _CHUNK] = np.where((vx > 0) & (vy > 0), cov / np.sqrt(vx.astype(float) * vy), np.nan)
    return out


def bootstrap_top1(score: np.ndarray, target: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """:func:`top1` of each resample: the best-scored architecture drawn at least once.

    An item is missing from a resample with probability about 1/e, so the answer nearly always
    lies among the first few best-scored items; only those columns are read (extended to the end
    of a tie group), and the rare resample that misses all of them is handled in full.
    """
    order = np.argsort(-score, kind="stable")
    s, t = score[order], target[order]
    group = np.cumsum(np.r_[True, s[1:] != s[:-1]])
    k = min(len(s), 64)
    k = int(np.searchsorted(group, group[k - 1], side="right"))
    out = _top1_prefix(counts[:, order[:k]] > 0, group[:k], t[:k])
    missed = np.flatnonzero(np.isnan(out))
    if len(missed):
        out[missed] = _top1_prefix(counts[np.ix_(missed, order)] > 0, group, t)
    return out


def _top1_prefix(present: np.ndarray, group: np.ndarray, t: np.ndarray) -> np.ndarray:
    first = group[np.argmax(present, axis=1)]
    mask = present & (group[None, :] == first[:, None])
    with np.errstate(invalid="ignore"):
        return (mask * t).sum(axis=1) / mask.sum(axis=1)


class Bootstrap:
    """Resamples shared by every score of one table, with the target's ranks computed once.

    Sharing the resamples also makes the intervals of different proxies comparable: each
    resample is the same set of architectures for all of them.
    """

    def __init__(self, n_boot: int = N_BOOT, seed: int = 0):
        self.n_boot, self.seed = n_boot, seed
        self._counts: Dict[int, np.ndarray] = {}
        self._target_ranks: Dict[bytes, Tuple[np.ndarray, np.ndarray]] = {}

    def counts(self, n: int) -> np.ndarray:
        if n not in self._counts:
            self._counts[n] = resample_counts(n, self.n_boot, np.random.default_rng(self.seed))
        return self._counts[n]

    def rho(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        counts = self.counts(len(x))
        key = y.tobytes()
        if key not in self._target_ranks:
            self._target_ranks[key] = (doubled_ranks(y, counts), _sorted_ranks(y, counts)[2])
        return weighted_spearman(x, y, counts, self._target_ranks[key])

    def top1(self, score: np.ndarray, target: np.ndarray) -> np.ndarray:
        return bootstrap_top1(score, target, self.counts(len(score)))


def percentile_ci(samples: np.ndarray, level: float = CI_LEVEL) -> Tuple[float, float]:
    """Percentile interval of bootstrap samples (NaN samples ignored)."""
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def score_quality(score: np.ndarray, target: np.ndarray, sign: int = 1,
                  fractions: Iterable[float] = TOP_FRACTIONS, boot: Optional[Bootstrap] = None,
                  level: float = CI_LEVEL) -> Dict[str, float]:
    """Every ranking statistic of one score against one target (arrays already paired).

    Without ``boot`` (or with ``n_boot=0``) the confidence bounds are NaN.
    """
    oriented = sign * score
    rho_raw = spearman(score, target)
    tau_raw = kendall_tau_b(score, target)
    row: Dict[str, float] = {
        "n": len(score), "orientation": sign,
        "rho": sign * rho_raw, "rho_raw": rho_raw, "tau": sign * tau_raw, "tau_raw": tau_raw,
    }
    for f in fractions:
        row[f"prec_top{f * 100:g}pct"] = top_k_precision(oriented, target, f)
    row["top1"] = top1(oriented, target)
    row["best"] = float(np.max(target)) if len(target) else float("nan")
    row["rho_lo"] = row["rho_hi"] = row["top1_lo"] = row["top1_hi"] = float("nan")
    if boot is not None and boot.n_boot > 0 and len(score) >= 3:
        row["rho_lo"], row["rho_hi"] = percentile_ci(boot.rho(oriented, target), level)
        row["top1_lo"], row["top1_hi"] = percentile_ci(boot.top1(oriented, target), level)
    return row


def proxy_quality(frame: pd.DataFrame, scores: Optional[Dict[str, str]] = None, target: str = TARGET,
                  fractions: Iterable[float] = TOP_FRACTIONS, n_boot: int = N_BOOT,
                  level: float = CI_LEVEL, seed: int = 0) -> pd.DataFrame:
    """One row per score (every proxy plus params and FLOPs by default) against ``target`` on one dataset.

    Columns: proxy, column, n, orientation, rho / rho_raw (Spearman), tau / tau_raw (Kendall
    tau-b), prec_top<k>pct, top1 (target of the top-ranked architecture), best (the best target in
    the table, over the same rows), rho_lo/rho_hi and top1_lo/top1_hi (bootstrap percentile CIs).
    """
    scores = score_columns(frame) if scores is None else scores
    boot = Bootstrap(n_boot, seed)
    rows = []
    for label, col in scores.items():
        x, y = paired(frame, col, target)
        row = score_quality(x, y, column_orientation(col), fractions, boot, level)
        rows.append({"proxy": label, "column": col, **row})
    return pd.DataFrame(rows)


def quality_table(results: Dict[str, pd.DataFrame], value: str = "rho") -> pd.DataFrame:
    """Proxies x datasets table of one statistic from :func:`proxy_quality` results (paper layout)."""
    cols = {ds: res.set_index("proxy")[value] for ds, res in results.items()}
    table = pd.DataFrame(cols)
    order = list(dict.fromkeys(p for res in results.values() for p in res["proxy"]))
    return table.reindex(order)
