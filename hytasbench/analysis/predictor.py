"""The paper's random-forest study (RQ4): predict OA of unseen architectures from a few trained ones.

A scikit-learn ``RandomForestRegressor`` with default settings is trained on a random fraction of
the architectures and scored by Spearman's rho between its predictions and the true OA of all
the others. Two architecture encodings, each with and without proxy features:

- ``onehot``: as the paper, one-hot of the architecture's columns taken as whole values (depth,
  embed_dim, the whole ``num_heads`` list and the whole ``mlp_ratio`` list, as the upstream CSV
  strings). Whole per-layer lists almost never repeat, so this encoding keeps depth and width
  and little of the per-layer choices; an architecture whose lists were never seen in training
  only shares its depth and width columns with the training set.
- ``numeric``: depth, embed_dim and the per-layer heads and MLP ratios as numbers, padded with 0
  to the maximal depth, so trees can split on "heads of layer 3 >= 5".

Proxy features are snip, grad_norm, synflow, dss, zico, fisher and the model size. For each
seed the same random split serves every encoding and feature set (a paired comparison), and the
training sets of one seed are nested across fractions. Rows lacking OA or any used proxy are
left out of the study (n is reported), so "with" and "without" proxies see the same rows.

Speed: the ~700 fits of a five-dataset study are independent, so they run in ``n_jobs`` worker
processes, each forest single-threaded (a forest's own thread pool costs more than it saves at
these sizes). One-hot columns that are empty or identical on the training rows are dropped
before fitting: a tree can only tell rows apart by a column's pattern of ones, so copies offer
the very same splits, and without them a one-hot forest fits about 1.7x faster. A full study still costs
minutes of CPU (700 default forests), so :func:`rf_study` can keep each dataset's result rows in a
cache folder under a key made of the exact inputs (encoded data, settings, scikit-learn version);
a rerun on the same table then reads them back instead of refitting.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..encoding import MAX_DEPTH, padded_layers
from ..tables import atomic_write_bytes
from .correlation import spearman
from .data import TARGET, layer_lists, present

FRACTIONS: Tuple[float, ...] = (0.01, 0.025, 0.05, 0.10, 0.20, 0.30, 0.50)
SEEDS: Tuple[int, ...] = (0, 1, 2, 3, 4)
ENCODINGS: Tuple[str, ...] = ("onehot", "numeric")
FEATURE_SETS: Tuple[str, ...] = ("arch", "arch+proxies")
PROXY_FEATURES: Tuple[str, ...] = ("snip", "grad_norm", "synflow", "dss", "zico", "fisher")
STUDY_VERSION = 1  # bump when a change here changes results, so cached ones are not reused


def size_column(frame: pd.DataFrame) -> Optional[str]:
    """The model-size feature: upstream's ``cost_model_size`` where published, else the parameter count."""
    for col in ("cost_model_size", "cost_params"):
        if present(frame, col):
            return col
    return None


def proxy_feature_columns(frame: pd.DataFrame, proxies: Sequence[str] = PROXY_FEATURES) -> List[str]:
    """The proxy columns (and model size) the frame holds, in a fixed order."""
    cols = [f"proxy_{p}" for p in proxies if present(frame, f"proxy_{p}")]
    size = size_column(frame)
    return cols + ([size] if size else [])


def numeric_features(frame: pd.DataFrame) -> Tuple[np.ndarray, List[str]]:
    """depth, embed_dim, heads_1..heads_10, ratio_1..ratio_10 (0 past the last layer)."""
    pad = padded_layers(layer_lists(frame, "num_heads"), layer_lists(frame, "mlp_ratio"))
    base = frame[["depth", "embed_dim"]].to_numpy(dtype=float)
    names = ["depth", "embed_dim"] + [f"heads_{i + 1}" for i in range(MAX_DEPTH)] + \
        [f"ratio_{i + 1}" for i in range(MAX_DEPTH)]
    return np.hstack([base, pad]), names


def onehot_features(frame: pd.DataFrame) -> Tuple[sp.csc_matrix, List[str]]:
    """One indicator column per distinct value of depth, embed_dim, whole num_heads, whole mlp_ratio."""
    values = {
        "depth": frame["depth"].astype(int).astype(str).tolist(),
        "embed_dim": frame["embed_dim"].astype(int).astype(str).tolist(),
        "num_heads": [str(h) for h in layer_lists(frame, "num_heads")],
        "mlp_ratio": [str(r) for r in layer_lists(frame, "mlp_ratio")],
    }
    blocks, names = [], []
    for field, vals in values.items():
        cats, codes = np.unique(np.asarray(vals, dtype=object), return_inverse=True)
        rows = np.arange(len(vals))
        blocks.append(sp.csc_matrix((np.ones(len(vals)), (rows, codes)), shape=(len(vals), len(cats))))
        names += [f"{field}={c}" for c in cats]
    return sp.hstack(blocks, format="csc"), names


def distinct_columns(x: sp.csc_matrix) -> np.ndarray:
    """Indices of the non-empty columns of a 0/1 matrix, one per distinct pattern (first kept)."""
    x = sp.csc_matrix(x)
    x.sort_indices()
    seen: Dict[bytes, int] = {}
    for j in np.flatnonzero(np.diff(x.indptr) > 0):
        seen.setdefault(x.indices[x.indptr[j]:x.indptr[j + 1]].tobytes(), int(j))
    return np.array(sorted(seen.values()), dtype=int)


@dataclass
class StudyData:
    """Everything a fit needs for one dataset: the rows used, both encodings, proxies and OA."""

    dataset: str
    onehot: sp.csc_matrix
    numeric: np.ndarray
    proxies: np.ndarray
    proxy_names: List[str]
    target: np.ndarray

    @property
    def n(self) -> int:
        return len(self.target)

    def features(self, encoding: str, feature_set: str, rows: np.ndarray, fit_rows: np.ndarray):
        """Feature matrix of ``rows`` (columns chosen on ``fit_rows``, the training rows)."""
        with_proxies = feature_set == "arch+proxies"
        if encoding == "onehot":
            keep = distinct_columns(self.onehot[fit_rows])
            arch = self.onehot[rows][:, keep]
            if with_proxies:
                return sp.hstack([arch, sp.csc_matrix(self.proxies[rows])], format="csc")
            return arch
        if encoding == "numeric":
            return np.hstack([self.numeric[rows], self.proxies[rows]]) if with_proxies else self.numeric[rows]
        raise ValueError(f"unknown encoding {encoding!r}; allowed: {', '.join(ENCODINGS)}")


def study_data(frame: pd.DataFrame, dataset: str = "", proxies: Sequence[str] = PROXY_FEATURES,
               target: str = TARGET) -> StudyData:
    """Encode one dataset's rows that have the target and every available proxy feature."""
    cols = proxy_feature_columns(frame, proxies)
    values = frame[[target] + cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(values).all(axis=1)
    sub = frame.loc[keep].reset_index(drop=True)
    onehot, _ = onehot_features(sub)
    numeric, _ = numeric_features(sub)
    return StudyData(dataset, onehot, numeric, values[keep, 1:], cols, values[keep, 0])


def split(n: int, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Train and test rows: the first round(fraction * n) (at least 2) of a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, max(2, int(round(fraction * n))))
    return perm[:k], perm[k:]


def fit_score(data: StudyData, encoding: str, feature_set: str, fraction: float, seed: int) -> Dict[str, object]:
    """Fit one default random forest and return its held-out Spearman rho (one result row)."""
    from sklearn.ensemble import RandomForestRegressor

    train, test = split(data.n, fraction, seed)
    x_train = data.features(encoding, feature_set, train, train)
    x_test = data.features(encoding, feature_set, test, train)
    model = RandomForestRegressor(random_state=seed, n_jobs=1).fit(x_train, data.target[train])
    pred = model.predict(x_test.tocsr() if sp.issparse(x_test) else x_test)
    return {"dataset": data.dataset, "encoding": encoding, "features": feature_set, "fraction": fraction,
            "seed": seed, "n_train": len(train), "n_test": len(test), "rho": spearman(pred, data.target[test])}


def study_key(data: StudyData, settings: Tuple) -> str:
    """Hash of everything a dataset's study result depends on (inputs, settings, library versions)."""
    import sklearn

    h = hashlib.sha256(repr((STUDY_VERSION, sklearn.__version__, settings, data.proxy_names)).encode())
    for arr in (data.onehot.indptr, data.onehot.indices, data.numeric, data.proxies, data.target):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:20]


def rf_study(frames: Dict[str, pd.DataFrame], fractions: Sequence[float] = FRACTIONS,
             seeds: Sequence[int] = SEEDS, encodings: Sequence[str] = ENCODINGS,
             feature_sets: Sequence[str] = FEATURE_SETS, n_jobs: int = 2,
             cache: Optional[Path] = None) -> pd.DataFrame:
    """Every (dataset, encoding, feature set, fraction, seed) fit; one row each.

    Fits run largest first in ``n_jobs`` processes (1 runs them here), so the slowest ones do
    not end up alone at the tail. With ``cache`` (a folder), each dataset's rows are stored there
    and reused while its data and the settings stay the same.
    """
    settings = (tuple(fractions), tuple(seeds), tuple(encodings), tuple(feature_sets))
    data = {ds: study_data(f, ds) for ds, f in frames.items()}
    done: Dict[str, pd.DataFrame] = {}
    paths: Dict[str, Path] = {}
    for ds, d in data.items():
        if cache is not None:
            paths[ds] = Path(cache) / f"rf-{ds}-{study_key(d, settings)}.csv"
            if paths[ds].is_file():
                done[ds] = pd.read_csv(paths[ds])
    tasks = [(ds, e, fs, fr, s) for ds in data if ds not in done for e in encodings for fs in feature_sets
             for fr in fractions for s in seeds]
    tasks.sort(key=lambda t: -t[3])
    if n_jobs == 1 or len(tasks) <= 1:
        rows = [fit_score(data[ds], e, fs, fr, s) for ds, e, fs, fr, s in tasks]
    else:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=n_jobs)(delayed(fit_score)(data[ds], e, fs, fr, s) for ds, e, fs, fr, s in tasks)
    fresh = pd.DataFrame(rows)
    for ds in {t[0] for t in tasks}:
        done[ds] = fresh[fresh["dataset"] == ds]
        if ds in paths:
            buf = io.StringIO()
            done[ds].to_csv(buf, index=False)
            atomic_write_bytes(paths[ds], buf.getvalue().encode())
    order = ["dataset", "encoding", "features", "fraction", "seed"]
    result = pd.concat([done[ds] for ds in data if ds in done], ignore_index=True) if done else \
        pd.DataFrame(columns=order + ["n_train", "n_test", "rho"])
    rank = {ds: i for i, ds in enumerate(data)}
    return result.sort_values(order, key=lambda c: c.map(rank) if c.name == "dataset" else c,
                              kind="stable").reset_index(drop=True)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of rho over seeds per dataset, encoding, feature set and fraction."""
    group = results.groupby(["dataset", "encoding", "features", "fraction"], sort=False)
    out = group["rho"].agg(["mean", "std", "count"]).rename(columns={"mean": "rho_mean", "std": "rho_std",
                                                                     "count": "seeds"})
    out["n_train"] = group["n_train"].first()
    return out.reset_index()


def proxy_gain(summary: pd.DataFrame) -> pd.DataFrame:
    """How much the proxy features add: rho(arch+proxies) - rho(arch), per dataset, encoding, fraction."""
    wide = summary.pivot_table(index=["dataset", "encoding", "fraction"], columns="features", values="rho_mean")
    wide = wide.reindex(columns=list(FEATURE_SETS))
    wide["gain"] = wide["arch+proxies"] - wide["arch"]
    return wide.reset_index()
