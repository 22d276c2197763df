"""A surrogate fitted to one dataset of one table set, and its cache keyed by the table's digest.

:func:`surrogate_for` fits at first use (about a second per target on two cores) and keeps the
fitted model in memory under (table sha256, dataset, model). Calibrating the interval needs
K extra out-of-fold fits; their result (the conformal quantile and the cross-validated scores) is
cached on disk as a small JSON file named by the same key and the scikit-learn version, so a
second process refits only the model itself. Nothing executable is ever stored or loaded.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import NoAccuracyError, UnknownSourceError
from ..space import Arch, ArchLike, parse
from .model import DEFAULT_MODEL, LEVEL, N_FOLDS, Regressor, _members, conformal_quantile, features, out_of_fold
from .record import Prediction

TARGETS: Tuple[str, ...] = ("oa", "train_seconds")
CACHE_VERSION = 1
MIN_ROWS = 4 * N_FOLDS
_FITTED: Dict[Tuple[str, str, str], "Surrogate"] = {}


@dataclass
class Target:
    """One predicted quantity: the fitted regressor, its conformal quantile, its CV scores."""

    regressor: Regressor
    quantile: float
    cv: Dict[str, float]


@dataclass
class Surrogate:
    """OA and training-seconds predictor for any architecture of the space on one dataset."""

    dataset: str
    source: str
    table_sha256: str
    model: str
    archs: Tuple[Arch, ...]
    targets: Dict[str, Target]
    level: float = LEVEL
    _support: Dict[Tuple[int, int], int] = field(default_factory=dict, repr=False)
    _tabulated: frozenset = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        self._tabulated = frozenset(self.archs)
        for a in self.archs:
            key = (a.depth, a.embed_dim)
            self._support[key] = self._support.get(key, 0) + 1

    def support(self, arch: Arch) -> int:
        """How many training architectures share this depth and width (0: extrapolation)."""
        return self._support.get((arch.depth, arch.embed_dim), 0)

    def predict_arrays(self, archs: Sequence[ArchLike]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
        """Target -> (mean, interval half-width) for many architectures at once (fast path for search)."""
        parsed = [parse(a) for a in archs]
        x, _ = features(parsed, self.dataset)
        out = {}
        for name, t in self.targets.items():
            mean, scale = t.regressor.predict(x)
            out[name] = (mean, t.quantile * scale)
        return out

    def predict(self, arch: ArchLike) -> Prediction:
        """A :class:`Prediction` record for one architecture."""
        a = parse(arch)
        arrays = self.predict_arrays([a])
        values = {name: (float(m[0]), float(h[0])) for name, (m, h) in arrays.items()}
        oa, oa_half = values["oa"]
        secs, secs_half = values["train_seconds"]
        return Prediction(arch=a, dataset=self.dataset, oa=oa, oa_interval=(oa - oa_half, oa + oa_half),
                          train_seconds=secs, train_seconds_interval=(secs - secs_half, secs + secs_half),
                          level=self.level, model=self.model, source=self.source, table_sha256=self.table_sha256,
                          n_train=len(self.archs), support=self.support(a), tabulated=a in self._tabulated)

    def cv(self) -> Dict[str, Dict[str, float]]:
        """Cross-validated scores of each target (Spearman, RMSE, interval coverage) from calibration."""
        return {name: dict(t.cv) for name, t in self.targets.items()}


def table_digest(bench: Any, dataset: str, source: Optional[str] = None) -> str:
    """sha256 of the Parquet file that holds ``dataset`` in ``source`` (the surrogate's cache key)."""
    for meta in bench.manifest(source)["files"].values():
        if meta.get("dataset") == dataset:
            return str(meta["sha256"])
    name = bench._source_name(source)
    raise UnknownSourceError(name, bench.sources, f"source {name!r} has no table for {dataset!r}; it holds "
                                                  f"{bench.datasets(name)}")


def training_rows(bench: Any, dataset: str, source: Optional[str] = None) -> Tuple[List[Arch], Dict[str, np.ndarray]]:
    """Headline-run architectures with OA and their targets; raises NoAccuracyError if there are too few."""
    frame = bench.frame(dataset, source=source)
    name = bench._source_name(source)
    if "metric_oa" not in frame.columns or frame["metric_oa"].notna().sum() < MIN_ROWS:
        have = 0 if "metric_oa" not in frame.columns else int(frame["metric_oa"].notna().sum())
        raise NoAccuracyError(f"the {name!r} table for {dataset!r} has {have} architectures with a trained OA; "
                              f"a surrogate needs at least {MIN_ROWS} (a table of trained architectures, "
                              "e.g. the imported HyTAS reference)")
    frame = frame[frame["metric_oa"].notna()]
    if "metric_train_seconds" not in frame.columns or frame["metric_train_seconds"].isna().any():
        raise NoAccuracyError(f"the {name!r} table for {dataset!r} lacks training seconds for some architectures "
                              "with OA; the surrogate predicts both, so it needs both")
    archs = [parse(a) for a in frame["arch"]]
    return archs, {"oa": frame["metric_oa"].to_numpy(float),
                   "train_seconds": frame["metric_train_seconds"].to_numpy(float)}


def _cache_path(key: Tuple[str, str, str]):
    import sklearn

    from ..cache import cache_dir

    digest, dataset, model = key
    return cache_dir() / "surrogate" / f"{digest[:32]}-{dataset}-{model}-v{CACHE_VERSION}-sklearn{sklearn.__version__}.json"


#: Each target's calibration entry and the range of every value (NaN Spearman: constant predictions).
_CALIBRATION_FIELDS: Dict[str, Tuple[float, float, bool]] = {  # name -> (low, high, NaN allowed)
    "quantile": (0.0, math.inf, False), "spearman": (-1.0, 1.0, True),
    "rmse": (0.0, math.inf, False), "coverage": (0.0, 1.0, False)}


def _cached_calibration(cached: Any, key: Tuple[str, str, str], n: int,
                        max_quantile: Dict[str, float]) -> Optional[Dict[str, Dict[str, float]]]:
    """The calibration of a cache file's parsed JSON when it is what it claims to be, else None.

    It must name this table (full sha256), dataset and model, the same number of training rows and
    exactly these targets, each with finite numbers in range (a quantile >= 0, no bool) and a
    quantile no larger than ``max_quantile`` (the interval at the median training scale would
    span more than every observed value of the target: no calibration of these models gives that).
    """
    if not isinstance(cached, dict) or cached.get("key") != list(key):
        return None
    if type(cached.get("n")) is not int or cached["n"] != n:
        return None
    targets = cached.get("targets")
    if not isinstance(targets, dict) or set(targets) != set(max_quantile):
        return None
    out: Dict[str, Dict[str, float]] = {}
    for name, entry in targets.items():
        if not isinstance(entry, dict) or set(entry) != set(_CALIBRATION_FIELDS):
            return None
        for field_name, (lo, hi, nan_ok) in _CALIBRATION_FIELDS.items():
            v = entry[field_name]
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                return None
            if not ((v != v and nan_ok) or (lo <= v <= hi and math.isfinite(v))):
                return None
        if entry["quantile"] > max_quantile[name]:
            return None
        out[name] = {k: float(v) for k, v in entry.items()}
    return out


def _calibration(key: Tuple[str, str, str], x: np.ndarray, ys: Dict[str, np.ndarray],
                 max_quantile: Dict[str, float]) -> Dict[str, Dict[str, float]]:
    """Conformal quantile and CV scores per target: from the JSON cache when it is valid
    (:func:`_cached_calibration`), else computed and the file rewritten: a cache can always be
    recomputed, so a damaged, foreign or implausible file is a miss, never served or an error."""
    from scipy.stats import spearmanr

    from ..tables import atomic_write_bytes

    path = _cache_path(key)
    try:
        found = _cached_calibration(json.loads(path.read_text(encoding="utf-8")), key, len(x), max_quantile)
    except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
        found = None
    if found is not None:
        return found
    out: Dict[str, Dict[str, float]] = {}
    for name, y in ys.items():
        mean, scale, _ = out_of_fold(key[2], x, y)
        q = conformal_quantile(y, mean, scale)
        out[name] = {"quantile": q, "spearman": float(spearmanr(mean, y)[0]),
                     "rmse": float(np.sqrt(np.mean((mean - y) ** 2))),
                     "coverage": float(np.mean(np.abs(y - mean) <= q * scale))}
    try:
        atomic_write_bytes(path, json.dumps({"key": list(key), "n": len(x), "targets": out}, indent=1).encode())
    except OSError:
        pass  # a read-only cache only costs the calibration time
    return out


def _max_quantile(regressor: Regressor, x: np.ndarray, y: np.ndarray) -> float:
    """The largest plausible conformal quantile: the one whose interval at the median training
    scale spans every observed value of ``y`` (measured quantiles stay below a tenth of it)."""
    _, scale = regressor.predict(x)
    typical = float(np.median(scale))
    return float(np.ptp(y)) / typical if typical > 0 else math.inf  # no spread: no bound to set


def surrogate_for(bench: Any, dataset: str, *, source: Optional[str] = None,
                  model: str = DEFAULT_MODEL) -> Surrogate:
    """The surrogate of ``dataset`` in ``source`` (default: the Benchmark's default source), fitted once."""
    _members(model)  # unknown model names fail first
    ds = bench._dataset(dataset)
    name = bench._source_name(source)
    key = (table_digest(bench, ds, name), ds, model)
    fitted = _FITTED.get(key)
    if fitted is None:
        archs, ys = training_rows(bench, ds, name)
        x, _ = features(archs, ds)
        regressors = {t: Regressor.fit(model, x, y) for t, y in ys.items()}
        calib = _calibration(key, x, ys, {t: _max_quantile(regressors[t], x, y) for t, y in ys.items()})
        targets = {t: Target(regressors[t], calib[t]["quantile"],
                             {k: v for k, v in calib[t].items() if k != "quantile"}) for t in ys}
        if not all(math.isfinite(t.quantile) for t in targets.values()):
            raise NoAccuracyError(f"the {name!r} table for {dataset!r} gave a non-finite interval; check its OA column")
        fitted = _FITTED[key] = Surrogate(ds, name, key[0], model, tuple(archs), targets)
    return fitted
