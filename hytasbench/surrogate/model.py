"""The surrogate models: architecture features, candidate regressors, calibrated intervals.

Features are free for any architecture of the space: the architecture encoding of
:mod:`hytasbench.nas.features` plus log10 of the exact parameter count and FLOPs of the subnet as
built for the dataset (:mod:`hytasbench.costs`, torch-free). Every candidate model is a
scikit-learn regressor with a fixed ``random_state``, so fitting the same table gives the same
model. The predictive spread is split-conformal: ``scale(x)`` is the model's own spread (the
standard deviation over the trees of a forest, plus the median of that over the training set so
it never vanishes), and the interval is ``mean +- q * scale(x)`` with ``q`` the 90 % quantile of
|out-of-fold residual| / out-of-fold scale. That makes the 90 % interval hold about 90 % of
held-out OA on architectures drawn like the table's (checked in docs/surrogate.md), whatever the
raw tree spread means.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from ..costs import analytic_params, count_flops
from ..datasets.specs import get_spec
from ..nas.features import encode
from ..space import Arch

LEVEL = 0.90
N_FOLDS = 5
SEED = 0
DEFAULT_MODEL = "extra_trees"


def features(archs: Sequence[Arch], dataset: str) -> Tuple[np.ndarray, Tuple[str, ...]]:
    """Feature matrix of architectures on a dataset: encoding + log10 params and FLOPs (exact, analytic)."""
    spec = get_spec(dataset)
    shape = (spec.bands, spec.num_classes, spec.band_patch)
    params = np.array([analytic_params(a, *shape) for a in archs], dtype=float)
    flops = np.array([count_flops(a, *shape) for a in archs], dtype=float)
    return encode(archs, params, flops)


def _extra_trees():
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=200, min_samples_leaf=2, max_features=0.5, n_jobs=1, random_state=SEED)


def _random_forest():
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=200, min_samples_leaf=2, max_features=0.5, n_jobs=1, random_state=SEED)


def _gradient_boosting():
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=SEED)


#: Candidate regressors by name. Forests give a per-architecture spread (over trees); boosting
#: gives none, so its scale is constant and its interval is a plain conformal band.
MODELS: Dict[str, Callable[[], object]] = {
    "extra_trees": _extra_trees,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
}
#: Ensembles: the mean of members' predictions, the mean of their scales.
ENSEMBLES: Dict[str, Tuple[str, ...]] = {
    "trees_ensemble": ("extra_trees", "random_forest", "gradient_boosting"),
}
ALL_MODELS: Tuple[str, ...] = tuple(MODELS) + tuple(ENSEMBLES)


def _members(name: str) -> Tuple[str, ...]:
    from ..errors import UnknownFieldError

    if not isinstance(name, str):
        raise UnknownFieldError(name, ALL_MODELS, kind="surrogate model")
    if name in MODELS:
        return (name,)
    if name in ENSEMBLES:
        return ENSEMBLES[name]
    raise UnknownFieldError(name, ALL_MODELS, kind="surrogate model")


def _spread(model, x: np.ndarray) -> np.ndarray:
    trees = getattr(model, "estimators_", None)
    if trees is None or not len(trees):
        return np.zeros(len(x))
    return np.stack([t.predict(x) for t in trees]).std(axis=0)


@dataclass
class Regressor:
    """A fitted point model with its raw spread (not yet calibrated)."""

    name: str
    members: list
    floor: float  # median raw spread over the training rows: keeps the scale away from 0

    @classmethod
    def fit(cls, name: str, x: np.ndarray, y: np.ndarray) -> "Regressor":
        members = []
        for member in _members(name):
            model = MODELS[member]()
            model.fit(x, y)
            members.append(model)
        reg = cls(name, members, 0.0)
        raw = reg._raw(x)[1]
        reg.floor = float(np.median(raw)) if np.median(raw) > 0 else float(np.std(y)) or 1.0
        return reg

    def _raw(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        means = np.mean([m.predict(x) for m in self.members], axis=0)
        spreads = np.mean([_spread(m, x) for m in self.members], axis=0)
        return means, spreads

    def predict(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and scale (raw spread + floor) of every row."""
        mean, raw = self._raw(x)
        return mean, raw + self.floor


def out_of_fold(name: str, x: np.ndarray, y: np.ndarray, folds: int = N_FOLDS,
                seed: int = SEED) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold mean and scale of every row (seeded K-fold), and each row's fold."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(len(y)) % folds)
    mean, scale = np.empty(len(y)), np.empty(len(y))
    for k in range(folds):
        test = fold == k
        reg = Regressor.fit(name, x[~test], y[~test])
        mean[test], scale[test] = reg.predict(x[test])
    return mean, scale, fold


def conformal_quantile(y: np.ndarray, mean: np.ndarray, scale: np.ndarray, level: float = LEVEL) -> float:
    """The ``level`` quantile of |residual| / scale, with the finite-sample correction of split conformal."""
    ratio = np.sort(np.abs(y - mean) / scale)
    rank = min(int(np.ceil((len(ratio) + 1) * level)), len(ratio)) - 1
    return float(ratio[rank])
