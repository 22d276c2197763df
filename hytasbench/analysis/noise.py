"""How noisy the numbers are: repeated trainings of one architecture, and proxies scored with several seeds.

Training noise comes from architectures a source trained more than once (``run`` 0 and 1 ...).
Pairs trained with the same ``seed`` measure only what changes between two runs of the same
program (on GPUs, nondeterministic kernels); pairs with different seeds measure seed variance too.

The noise bounds what any proxy can show. If measured OA = true OA + independent noise, the
correlation of any score with measured OA is at most sqrt(reliability), where reliability is the
share of OA's variance across the dataset's architectures that is not noise (Spearman's
attenuation formula; a Pearson statement, close for ranks when the noise is small). The noise
variance is estimated from the repeat pairs as var(difference) / 2 and set against the variance of
OA over all architectures of the dataset, so the bound is for the full set, assuming every
architecture is as noisy as the repeated ones.

Proxy seed noise comes from tables whose rows hold a proxy scored with several seeds (rows of
one architecture with different ``seed`` values): the rank agreement of the scores between seeds,
the spread of rho(score, OA) across seeds, and rho of the seed-averaged rank with OA.
"""
from __future__ import annotations

from itertools import combinations
from typing import Dict, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from .correlation import CI_LEVEL, spearman
from .data import TARGET, column_orientation, score_columns

NOISE_COLUMNS = ["pairs", "same_seed_pairs", "rho_runs", "identical", "mean_abs_diff", "max_abs_diff",
                 "noise_sd", "oa_sd", "n_all", "reliability", "rho_ceiling"]


def repeat_pairs(runs: pd.DataFrame, target: str = TARGET) -> pd.DataFrame:
    """One row per architecture trained at least twice: run 0 and run 1's value and seed."""
    have = runs[runs[target].notna()]
    first = have[have["run"] == 0].set_index("arch")
    second = have[have["run"] == 1].set_index("arch")
    both = first.index.intersection(second.index)
    out = pd.DataFrame({"arch": both, "value_0": first.loc[both, target].to_numpy(dtype=float),
                        "value_1": second.loc[both, target].to_numpy(dtype=float)})
    if "seed" in runs.columns:
        out["seed_0"] = first.loc[both, "seed"].to_numpy()
        out["seed_1"] = second.loc[both, "seed"].to_numpy()
    return out


def training_noise(runs: pd.DataFrame, target: str = TARGET) -> Dict[str, float]:
    """Agreement of repeated trainings and the highest rho a score could reach on this dataset."""
    pairs = repeat_pairs(runs, target)
    a, b = pairs["value_0"].to_numpy(), pairs["value_1"].to_numpy()
    diff = a - b
    headline = pd.to_numeric(runs.loc[runs["run"] == 0, target], errors="coerce").dropna().to_numpy(dtype=float)
    noise_var = float(np.var(diff, ddof=1) / 2) if len(diff) >= 2 else float("nan")
    oa_var = float(np.var(headline, ddof=1)) if len(headline) >= 2 else float("nan")
    reliability = max(0.0, 1.0 - noise_var / oa_var) if oa_var > 0 and np.isfinite(noise_var) else float("nan")
    known = "seed_0" in pairs and bool(pairs[["seed_0", "seed_1"]].notna().all(axis=None))
    same = int((pairs["seed_0"] == pairs["seed_1"]).sum()) if known else float("nan")  # NaN: seeds not recorded
    return {"pairs": len(pairs), "same_seed_pairs": same, "rho_runs": spearman(a, b),
            "identical": int((diff == 0).sum()), "mean_abs_diff": float(np.mean(np.abs(diff))) if len(diff) else
            float("nan"), "max_abs_diff": float(np.max(np.abs(diff))) if len(diff) else float("nan"),
            "noise_sd": float(np.sqrt(noise_var)), "oa_sd": float(np.sqrt(oa_var)), "n_all": len(headline),
            "reliability": reliability, "rho_ceiling": float(np.sqrt(reliability))}


def noise_table(runs: Dict[str, pd.DataFrame], target: str = TARGET) -> pd.DataFrame:
    """:func:`training_noise` of every dataset with at least one repeat pair (index: dataset)."""
    rows = {ds: training_noise(f, target) for ds, f in runs.items() if {target, "run", "arch"} <= set(f.columns)}
    rows = {ds: r for ds, r in rows.items() if r["pairs"] > 0}
    return pd.DataFrame.from_dict(rows, orient="index", columns=NOISE_COLUMNS)


def seed_scores(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Architecture x seed table of one score (mean over rows of the same architecture and seed)."""
    if not {"seed", "arch"} <= set(runs.columns):
        return pd.DataFrame()
    have = runs[runs[column].notna() & runs["seed"].notna()]
    values = pd.to_numeric(have[column], errors="coerce")
    return values.groupby([have["arch"], have["seed"].astype(int)]).mean().unstack("seed")


def proxy_seed_noise(runs: pd.DataFrame, headline: pd.DataFrame, target: str = TARGET,
                     level: float = CI_LEVEL) -> pd.DataFrame:
    """Per score scored with two or more seeds: between-seed rank agreement and the spread of its rho with OA.

    Every number of a row is on the same architectures, those scored with every seed (``n``): a
    table with seed 0 for all and further seeds for a sample compares the seeds on the sample only.
    ``rho_lo``/``rho_hi`` is a t interval for the mean over seeds of rho(score, OA), taken on Fisher's
    z = atanh(rho) and mapped back, so that it stays inside (-1, 1) with the few seeds a table has;
    ``rho_of_mean_rank`` is rho with OA of the score's rank averaged over seeds.
    """
    oa = pd.to_numeric(headline.set_index("arch")[target], errors="coerce") if target in headline.columns else None
    rows = []
    for label, col in score_columns(runs, baselines=False).items():
        table = seed_scores(runs, col).dropna()
        if table.shape[1] < 2:
            continue
        sign = column_orientation(col)
        between = [spearman(table[s], table[t]) for s, t in combinations(table.columns, 2)]
        row = {"proxy": label, "seeds": table.shape[1], "n": len(table),
               "rho_between_seeds_mean": float(np.nanmean(between)), "rho_between_seeds_min": float(np.nanmin(between))}
        if oa is not None and oa.notna().any():
            target_values = oa.reindex(table.index).to_numpy(dtype=float)
            per_seed = np.array([spearman(sign * table[s].to_numpy(dtype=float), target_values) for s in table.columns])
            k = int(np.isfinite(per_seed).sum())
            mean, sd = float(np.nanmean(per_seed)), float(np.nanstd(per_seed, ddof=1)) if k > 1 else float("nan")
            lo, hi = _fisher_t_interval(per_seed, level)
            mean_rank = table.rank().mean(axis=1).to_numpy(dtype=float)
            row.update({"rho_mean": mean, "rho_sd": sd, "rho_min": float(np.nanmin(per_seed)),
                        "rho_max": float(np.nanmax(per_seed)), "rho_lo": lo, "rho_hi": hi,
                        "rho_of_mean_rank": spearman(sign * mean_rank, target_values)})
        rows.append(row)
    return pd.DataFrame(rows)


def _fisher_t_interval(rhos: np.ndarray, level: float) -> Tuple[float, float]:
    """t interval of the mean of a few correlations on Fisher's z scale, back in rho units."""
    z = np.arctanh(np.clip(rhos[np.isfinite(rhos)], -0.999999, 0.999999))
    if len(z) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(z) - 1) * z.std(ddof=1) / np.sqrt(len(z))
    return float(np.tanh(z.mean() - half)), float(np.tanh(z.mean() + half))
