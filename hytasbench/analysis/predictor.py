"""The paper's random-forest study (RQ4): predict OA of unseen architectures from a few trained ones.

A scikit-learn ``RandomForestRegressor`` is trained on a fraction of the architectures and scored
by Spearman's rho between its predictions and the true OA of all the others. The split is the
authors' own: ``sklearn.model_selection.train_test_split(train_size=fraction, random_state=seed,
shuffle=True)`` over the rows in table order (architecture id, the order of the authors' CSV), with
the split seeds of their notebook (``analysis.ipynb``: 0, 1, 42, 1000, 65535). The same split of a
seed serves every encoding and feature set (a paired comparison). Three architecture encodings:

- ``paper``: the notebook's pipeline. One-hot (``OneHotEncoder(handle_unknown='ignore')``) of the
  four CSV columns ``layer_num``, ``embed_dim``, ``num_heads`` and ``mlp_ratio`` as whole values.
  The CSV's ``embed_dim`` is the per-layer list (``[192, 192, ...]``), so that column encodes depth
  and width *together*; with 20 training rows most (depth, width) pairs are unseen and an unseen
  category is all zeros. Whole per-layer lists almost never repeat.
- ``onehot-separate``: the same, but with the width as its own category, so a forest can learn
  "wider is better" across depths.
- ``numeric``: depth, width and the per-layer heads and MLP ratios as numbers, padded with 0 to the
  maximal depth, so trees can split on "heads of layer 3 >= 5".

Feature sets: ``arch`` (the encoding alone), ``arch+proxies`` (plus the notebook's proxy columns
dss, snip, zico, grad_norm, fisher and synflow; like the notebook, without the model size ``m_size``)
and ``arch+params`` (plus one size feature, the parameter count), which asks how much of what the
proxies add a plain size count gives too. Rows lacking OA or any of these features are left out
(n is reported), so every feature set sees the same rows. Scaling of the proxies (the notebook
standardises them) is left out: a tree's splits do not change under an increasing affine map.

Speed: a fit's cost grows with training rows times columns, and a one-hot encoding has about one
column per training architecture; so one-hot columns that are empty or identical on the training
rows are dropped before fitting (a tree can only tell rows apart by a column's pattern of ones, so
copies offer the very same splits). The fits are independent and run in ``n_jobs`` worker
processes, each forest single-threaded. The number of trees is a setting (``n_trees``; the
notebook's default forest has 100); docs/analysis.md measures what fewer trees change. Results can
be kept in a cache folder under a key made of the exact inputs (encoded data, settings,
scikit-learn version), so a rerun on the same table reads them back instead of refitting.
"""
from __future__ import annotations

import hashlib
import io
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..encoding import MAX_DEPTH, padded_layers
from ..errors import InvalidSettingError, UnknownFieldError
from ..schema import proxy_column
from ..tables import atomic_write_bytes
from .correlation import spearman
from .data import TARGET, layer_lists, present

FRACTIONS: Tuple[float, ...] = (0.01, 0.025, 0.05, 0.10, 0.20, 0.30, 0.50)
SEEDS: Tuple[int, ...] = (0, 1, 42, 1000, 65535)  # the split seeds of the authors' notebook
ENCODINGS: Tuple[str, ...] = ("paper", "onehot-separate", "numeric")
FEATURE_SETS: Tuple[str, ...] = ("arch", "arch+proxies", "arch+params")
PROXY_FEATURES: Tuple[str, ...] = ("dss", "snip", "zico", "grad_norm", "fisher", "synflow")  # the notebook's
SIZE_FEATURE = "cost_params"
N_TREES = 100  # scikit-learn's default forest, as in the notebook
# The report's default study, sized to run in about a minute on 2 cores (docs/analysis.md measures
# what it changes against the full study: all encodings, FRACTIONS, N_TREES).
REPORT_TREES = 20
REPORT_FRACTIONS: Tuple[float, ...] = (0.01, 0.025, 0.05, 0.10, 0.50)
REPORT_ENCODINGS: Tuple[str, ...] = ("paper", "numeric")
# One-hot fields of each one-hot encoding: "depth_width" is the CSV's per-layer embed_dim list.
ONEHOT_FIELDS: Dict[str, Tuple[str, ...]] = {
    "paper": ("depth", "depth_width", "num_heads", "mlp_ratio"),
    "onehot-separate": ("depth", "width", "num_heads", "mlp_ratio"),
}
STUDY_VERSION = 2  # bump when a change here changes results, so cached ones are not reused
Progress = Callable[[int, int], None]


def proxy_feature_columns(frame: pd.DataFrame, proxies: Sequence[str] = PROXY_FEATURES) -> List[str]:
    """The proxy columns the frame holds, in the notebook's order."""
    return [proxy_column(p) for p in proxies if present(frame, proxy_column(p))]


def numeric_features(frame: pd.DataFrame) -> Tuple[np.ndarray, List[str]]:
    """depth, embed_dim, heads_1..heads_10, ratio_1..ratio_10 (0 past the last layer)."""
    pad = padded_layers(layer_lists(frame, "num_heads"), layer_lists(frame, "mlp_ratio"))
    base = frame[["depth", "embed_dim"]].to_numpy(dtype=float)
    names = ["depth", "embed_dim"] + [f"heads_{i + 1}" for i in range(MAX_DEPTH)] + \
        [f"ratio_{i + 1}" for i in range(MAX_DEPTH)]
    return np.hstack([base, pad]), names


def _field_values(frame: pd.DataFrame, field: str) -> List[str]:
    depth = frame["depth"].astype(int).tolist()
    if field == "depth":
        return [str(d) for d in depth]
    if field == "width":
        return [str(int(w)) for w in frame["embed_dim"]]
    if field == "depth_width":  # the CSV's embed_dim cell: the width repeated once per layer
        return [str([int(w)] * d) for w, d in zip(frame["embed_dim"], depth)]
    if field in ("num_heads", "mlp_ratio"):
        return [str(v) for v in layer_lists(frame, field)]
    raise UnknownFieldError(field, ["depth", "width", "depth_width", "num_heads", "mlp_ratio"], kind="one-hot field")


def onehot_features(frame: pd.DataFrame, fields: Sequence[str] = ONEHOT_FIELDS["paper"]
                    ) -> Tuple[sp.csc_matrix, List[str]]:
    """One indicator column per distinct value of each field (a whole list counts as one value).

    Built over all rows; choosing the columns seen in the training rows afterwards
    (:func:`distinct_columns`) gives ``OneHotEncoder(handle_unknown='ignore')`` fitted on them.
    """
    blocks, names = [], []
    for field in fields:
        vals = _field_values(frame, field)
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
    """Everything a fit needs for one dataset: the rows used, every encoding, extra features and OA."""

    dataset: str
    onehot: Dict[str, sp.csc_matrix]
    numeric: np.ndarray
    extras: Dict[str, np.ndarray]  # feature set -> its columns beyond the architecture
    proxy_names: List[str]
    target: np.ndarray

    @property
    def n(self) -> int:
        return len(self.target)

    def features(self, encoding: str, feature_set: str, rows: np.ndarray, fit_rows: np.ndarray):
        """Feature matrix of ``rows`` (one-hot columns chosen on ``fit_rows``, the training rows)."""
        if feature_set not in FEATURE_SETS:
            raise UnknownFieldError(feature_set, list(FEATURE_SETS), kind="feature set")
        extra = self.extras.get(feature_set)
        if encoding in self.onehot:
            matrix = self.onehot[encoding]
            arch = matrix[rows][:, distinct_columns(matrix[fit_rows])]
            return arch if extra is None else sp.hstack([arch, sp.csc_matrix(extra[rows])], format="csc")
        if encoding == "numeric":
            return self.numeric[rows] if extra is None else np.hstack([self.numeric[rows], extra[rows]])
        raise UnknownFieldError(encoding, list(ENCODINGS), kind="encoding")


def study_data(frame: pd.DataFrame, dataset: str = "", proxies: Sequence[str] = PROXY_FEATURES,
               target: str = TARGET) -> StudyData:
    """Encode one dataset's rows that have the target, every available proxy and the size feature."""
    cols = proxy_feature_columns(frame, proxies)
    size = [SIZE_FEATURE] if present(frame, SIZE_FEATURE) else []
    values = frame[[target] + cols + size].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(values).all(axis=1)
    sub = frame.loc[keep].reset_index(drop=True)
    values = values[keep]
    extras = {"arch+proxies": values[:, 1:1 + len(cols)]}
    if size:
        extras["arch+params"] = values[:, -1:]
    onehot = {enc: onehot_features(sub, fields)[0] for enc, fields in ONEHOT_FIELDS.items()}
    return StudyData(dataset, onehot, numeric_features(sub)[0], extras, cols, values[:, 0])


def split(n: int, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Train and test rows as the notebook draws them: ``train_test_split`` with ``random_state=seed``."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(n), train_size=fraction, random_state=seed, shuffle=True)
    return np.asarray(train), np.asarray(test)


def fit_score(data: StudyData, encoding: str, feature_set: str, fraction: float, seed: int,
              n_trees: int = N_TREES) -> Dict[str, object]:
    """Fit one random forest and return its held-out Spearman rho (one result row)."""
    from sklearn.ensemble import RandomForestRegressor

    train, test = split(data.n, fraction, seed)
    x_train = data.features(encoding, feature_set, train, train)
    x_test = data.features(encoding, feature_set, test, train)
    model = RandomForestRegressor(n_estimators=n_trees, random_state=seed, n_jobs=1).fit(x_train, data.target[train])
    pred = model.predict(x_test.tocsr() if sp.issparse(x_test) else x_test)
    return {"dataset": data.dataset, "encoding": encoding, "features": feature_set, "fraction": fraction,
            "seed": seed, "n_train": len(train), "n_test": len(test), "rho": spearman(pred, data.target[test])}


def study_key(data: StudyData, settings: Tuple) -> str:
    """Hash of everything a dataset's study result depends on (inputs, settings, library versions)."""
    import sklearn

    h = hashlib.sha256(repr((STUDY_VERSION, sklearn.__version__, settings, data.proxy_names)).encode())
    arrays = [data.numeric, data.target] + [data.extras[k] for k in sorted(data.extras)]
    for name in sorted(data.onehot):
        arrays += [data.onehot[name].indptr, data.onehot[name].indices]
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:20]


class StudyRun:
    """A random-forest study under way: fits go to worker processes at once, ``result`` gathers them.

    Starting the study before the report's other sections lets the forests use the cores those
    single-threaded sections leave idle.
    """

    def __init__(self, frames: Dict[str, pd.DataFrame], fractions: Sequence[float] = FRACTIONS,
                 seeds: Sequence[int] = SEEDS, encodings: Sequence[str] = ENCODINGS,
                 feature_sets: Sequence[str] = FEATURE_SETS, n_trees: int = N_TREES, n_jobs: int = 2,
                 cache: Optional[Path] = None):
        if n_trees < 1:
            raise InvalidSettingError(f"n_trees must be a positive number of trees (1 or more), got {n_trees}")
        for enc in encodings:
            if enc not in ENCODINGS:
                raise UnknownFieldError(enc, list(ENCODINGS), kind="encoding")
        for fs in feature_sets:
            if fs not in FEATURE_SETS:
                raise UnknownFieldError(fs, list(FEATURE_SETS), kind="feature set")
        self.settings = {"fractions": tuple(fractions), "seeds": tuple(seeds), "encodings": tuple(encodings),
                         "feature_sets": tuple(feature_sets), "n_trees": n_trees}
        settings = tuple(self.settings.values())
        self.data = {ds: study_data(f, ds) for ds, f in frames.items()}
        self.done: Dict[str, pd.DataFrame] = {}
        self.paths: Dict[str, Path] = {}
        for ds, d in self.data.items():
            if cache is not None:
                self.paths[ds] = Path(cache) / f"rf-{ds}-{study_key(d, settings)}.csv"
                if self.paths[ds].is_file():
                    self.done[ds] = pd.read_csv(self.paths[ds])
        tasks = [(ds, e, fs, fr, s) for ds in self.data if ds not in self.done for e in encodings
                 for fs in feature_sets if fs == "arch" or fs in self.data[ds].extras
                 for fr in fractions for s in seeds]
        tasks.sort(key=lambda t: -t[3])  # largest first, so the slowest fits do not end up alone at the tail
        self.tasks = tasks
        self.n_trees = n_trees
        self.pool: Optional[ProcessPoolExecutor] = None
        self.futures: List[Future] = []
        if n_jobs > 1 and len(tasks) > 1:
            self.pool = ProcessPoolExecutor(max_workers=n_jobs)
            self.futures = [self.pool.submit(fit_score, self.data[ds], e, fs, fr, s, n_trees)
                            for ds, e, fs, fr, s in tasks]

    @property
    def total(self) -> int:
        """Number of forests to fit (those read from the cache not counted)."""
        return len(self.tasks)

    def result(self, progress: Optional[Progress] = None) -> pd.DataFrame:
        """Wait for every fit (calling ``progress(done, total)`` as they finish) and return all rows."""
        rows: List[Dict[str, object]] = []
        try:
            if self.pool is None:
                for ds, e, fs, fr, s in self.tasks:
                    rows.append(fit_score(self.data[ds], e, fs, fr, s, self.n_trees))
                    if progress:
                        progress(len(rows), self.total)
            else:
                for fut in self.futures:
                    rows.append(fut.result())
                    if progress:
                        progress(len(rows), self.total)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        self._store(pd.DataFrame(rows))
        order = ["dataset", "encoding", "features", "fraction", "seed"]
        if not self.done:
            return pd.DataFrame(columns=order + ["n_train", "n_test", "rho"])
        result = pd.concat([self.done[ds] for ds in self.data if ds in self.done], ignore_index=True)
        rank = {ds: i for i, ds in enumerate(self.data)}
        enc_rank = {e: i for i, e in enumerate(ENCODINGS)}
        fs_rank = {f: i for i, f in enumerate(FEATURE_SETS)}

        def key(c: pd.Series) -> pd.Series:
            return c.map({"dataset": rank, "encoding": enc_rank, "features": fs_rank}[c.name]) \
                if c.name in ("dataset", "encoding", "features") else c

        return result.sort_values(order, key=key, kind="stable").reset_index(drop=True)

    def _store(self, fresh: pd.DataFrame) -> None:
        for ds in {t[0] for t in self.tasks}:
            self.done[ds] = fresh[fresh["dataset"] == ds]
            if ds in self.paths:
                buf = io.StringIO()
                self.done[ds].to_csv(buf, index=False)
                atomic_write_bytes(self.paths[ds], buf.getvalue().encode())


def rf_study(frames: Dict[str, pd.DataFrame], fractions: Sequence[float] = FRACTIONS,
             seeds: Sequence[int] = SEEDS, encodings: Sequence[str] = ENCODINGS,
             feature_sets: Sequence[str] = FEATURE_SETS, n_trees: int = N_TREES, n_jobs: int = 2,
             cache: Optional[Path] = None, progress: Optional[Progress] = None) -> pd.DataFrame:
    """Every (dataset, encoding, feature set, fraction, seed) fit; one row each.

    Fits run largest first in ``n_jobs`` processes (1 runs them here). With ``cache`` (a folder),
    each dataset's rows are stored there and reused while its data and the settings stay the same.
    A feature set whose columns a dataset lacks (no parameter counts) is left out for it.
    """
    return StudyRun(frames, fractions, seeds, encodings, feature_sets, n_trees, n_jobs, cache).result(progress)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of rho over seeds per dataset, encoding, feature set and fraction."""
    group = results.groupby(["dataset", "encoding", "features", "fraction"], sort=False)
    out = group["rho"].agg(["mean", "std", "count"]).rename(columns={"mean": "rho_mean", "std": "rho_std",
                                                                     "count": "seeds"})
    out["n_train"] = group["n_train"].first()
    return out.reset_index()


def proxy_gain(summary: pd.DataFrame) -> pd.DataFrame:
    """What proxies and a size count add: rho(arch+X) - rho(arch), per dataset, encoding, fraction."""
    wide = summary.pivot_table(index=["dataset", "encoding", "fraction"], columns="features", values="rho_mean")
    wide = wide.reindex(columns=list(FEATURE_SETS))
    wide["gain"] = wide["arch+proxies"] - wide["arch"]
    wide["gain_params"] = wide["arch+params"] - wide["arch"]
    return wide.reset_index()
