"""The authors' CSV files of one dataset -> one table of our format (all 2000 architectures).

Joins are on the architecture, never on row position; every value is checked while it is read
(TableContentError names the file, line and column), and nothing is filled: a value upstream
does not publish stays null with a reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .. import space
from ..errors import TableContentError, TableError
from ..protocols import PUBLISHED
from ..schema import ARCH_COLUMNS, SIZE_PROXIES, TRAIN_METRICS, arch_columns, cost_column, metric_column, proxy_column
from . import layout as L
from .fetch import Provenance

SOURCE = "hytas"
PROTOCOL = PUBLISHED  # "hytas-upstream"
_ARCH_COLS = ["layer_num", "embed_dim", "num_heads", "mlp_ratio"]
_ID_OF: Dict[str, int] = {str(a): i for i, a in enumerate(space.hytas2000(), start=1)}
_RETRAIN_RANGES = {"OA": (0.0, 1.0), "AA": (0.0, 1.0), "Kappa": (-1.0, 1.0), "max_OA": (0.0, 100.0)}

#: The training metrics upstream publishes (every one of ours but the per-class accuracies)
PUBLISHED_METRICS = tuple(m for m in TRAIN_METRICS if m != "class_acc")


@dataclass
class Converted:
    """One dataset's table and what the manifest says about it."""

    frame: pd.DataFrame
    absent: Dict[str, str] = field(default_factory=dict)  # column -> why none of its values exist
    notes: List[str] = field(default_factory=list)
    modified: Dict[str, str] = field(default_factory=dict)  # column -> which differing file it came from


# ---- reading the authors' files ---------------------------------------------------------------

class ArchKeys:
    """Maps the authors' four architecture columns to our canonical string, memoised."""

    def __init__(self) -> None:
        self._memo: Dict[Tuple, str] = {}

    def __call__(self, frame: pd.DataFrame, path: Path) -> pd.Series:
        for col in _ARCH_COLS:
            if col not in frame:
                raise TableContentError(path, None, col, "missing; every row needs the architecture columns "
                                                         + ", ".join(_ARCH_COLS))
        out = []
        for key in zip(*(frame[c].tolist() for c in _ARCH_COLS)):
            if key not in self._memo:
                try:
                    arch = space.parse(dict(zip(_ARCH_COLS, key)))
                except Exception as exc:
                    raise TableError(path, f"architecture {key} cannot be read: {exc}") from None
                if arch.id is None:
                    raise TableError(path, f"architecture {arch} is not one of the HyTAS-2000")
                self._memo[key] = str(arch)
            out.append(self._memo[key])
        return pd.Series(out, index=frame.index)


def read_csv(path: Path) -> pd.DataFrame:
    """The CSV with only empty cells as missing: a text such as 'n/a' stays text, so that an
    error can quote it (upstream's pinned files hold no empty cell and no such text)."""
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise TableError(path, "missing from the reference folder") from None
    except Exception as exc:
        raise TableError(path, f"unreadable CSV ({exc})") from None


def _value_column(frame: pd.DataFrame, path: Path) -> str:
    cols = [c for c in frame.columns if c not in _ARCH_COLS and c not in ("id", "Unnamed: 0")]
    if len(cols) != 1:
        raise TableError(path, f"expected one score column besides the architecture, found {cols}")
    return cols[0]


def numbers(frame: pd.DataFrame, col: str, path: Path, what: str,
            ok: Callable[[np.ndarray], np.ndarray] = np.isfinite, blank_ok: bool = False) -> pd.Series:
    """``frame[col]`` as floats, every value satisfying ``ok`` (a blank cell too when ``blank_ok``:
    it stays NaN, i.e. absent); TableContentError naming the CSV line of the first that does not
    (text, a bool, inf, out of range) and saying it is not ``what``, or that the column is missing."""
    if col not in frame:
        raise TableContentError(path, None, col, f"missing; every line must hold {what}")
    raw = frame[col]
    if raw.dtype == bool:  # True/False is not a number
        values = pd.Series(np.nan, index=raw.index)
        blank = np.zeros(len(raw), bool)
    else:
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        blank = raw.isna().to_numpy()
    with np.errstate(invalid="ignore"):
        good = np.asarray(ok(values.to_numpy()), bool) | (blank & blank_ok)
    if not good.all():
        i = int(np.argmin(good))
        cell = raw.iloc[i]
        problem = (f"missing value (an empty cell, or a line cut short); every line must hold {what}" if pd.isna(cell)
                   else f"{cell.item() if isinstance(cell, np.generic) else cell!r} is not {what}")
        raise TableContentError(path, i + 2, col, problem)  # line 1 is the header
    return values


def proxy_series(path: Path, keys: ArchKeys) -> pd.Series:
    """One per-proxy file as architecture -> score (finite numbers or blank, index column cross-checked).

    A non-finite score is refused, not made absent: upstream publishes none (every score of the
    pinned files is finite), so one can only come from a damaged or edited copy."""
    frame = read_csv(path)
    col = _value_column(frame, path)
    values = numbers(frame, col, path, "a finite number", blank_ok=True)
    arch = keys(frame, path)
    if "Unnamed: 0" in frame:  # the unnamed index is config id - 1: check it, never rely on it
        ids = arch.map(_ID_OF) - 1
        bad = int((ids != frame["Unnamed: 0"]).sum())
        if bad:
            raise TableError(path, f"{bad} rows whose index column disagrees with their architecture")
    if arch.duplicated().any():
        raise TableError(path, "an architecture appears twice")
    return pd.Series(values.values, index=arch.values)


def _seconds(text: object) -> float:
    """'H:MM:SS' -> seconds; ValueError when unreadable or negative."""
    if not isinstance(text, str):
        if isinstance(text, float) and text != text:
            return float("nan")
        raise ValueError(f"{text!r} is not a time such as 0:04:15")
    parts = [float(p) for p in text.split(":")]
    if not 1 <= len(parts) <= 3 or any(not (p >= 0) or p == float("inf") for p in parts):
        raise ValueError(f"{text!r} is not a time such as 0:04:15")
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _positive(v: np.ndarray) -> np.ndarray:
    return (v > 0) & np.isfinite(v)


def _within(lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda v: (lo <= v) & (v <= hi)


def check_retrain(frame: pd.DataFrame, path: Path) -> None:
    """Impossible values of the retrain file, named by CSV line and column."""
    for col in ("OA", "AA", "Kappa", "max_OA", "num_params_subnet", "flops", "retrain_time"):
        if col not in frame:
            raise TableContentError(path, None, col, "missing from the retrain results")
    for col, (lo, hi) in _RETRAIN_RANGES.items():
        numbers(frame, col, path, f"a number in [{lo:g}, {hi:g}]", _within(lo, hi))
    for col in ("num_params_subnet", "flops"):
        numbers(frame, col, path, "a positive number", _positive)
    for i, text in enumerate(frame["retrain_time"].tolist()):
        try:
            _seconds(text)
        except ValueError as exc:
            raise TableContentError(path, i + 2, "retrain_time", str(exc)) from None


def proxy_times(path: Path) -> Tuple[Dict[str, float], List[str]]:
    """Mean seconds per architecture from times.txt ('<name>: <hours>h' for 2000 nets); TableError
    for a file that is not UTF-8 text, TableContentError (line, proxy) for an unreadable time."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TableError(path, f"not UTF-8 text (byte {exc.start}); expected lines such as 'snip: 0.12h'") from None
    except OSError as exc:
        raise TableError(path, f"unreadable ({exc.strerror or exc})") from None
    means: Dict[str, float] = {}
    skipped: List[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not value.endswith("h") or name not in L.TIMES_NAMES:
            continue  # a header line, or a proxy we do not import
        number = value[:-1]
        if not number.startswith("0."):  # e.g. 'NASWOT: 014h': which decimal point was meant is unknowable
            skipped.append(line.strip())
            continue
        try:
            hours = float(number)
        except ValueError:
            hours = float("nan")
        if not math.isfinite(hours):
            raise TableContentError(path, lineno, name, f"{value!r} is not a time in hours such as '0.12h'")
        means[L.TIMES_NAMES[name]] = hours * 3600 / 2000
    return means, skipped


# ---- one dataset, step by step ----------------------------------------------------------------

def _merged_table(root: Path, folder: str, keys: ArchKeys) -> Tuple[str, pd.DataFrame]:
    """results/<ds>_2000_new_all.csv keyed by architecture: the headline OA (a number in [0, 1])
    and model size (a positive number), checked."""
    rel = f"results/{folder}_2000_new_all.csv"
    path = root / rel
    merged = read_csv(path)
    merged.index = keys(merged, path)
    if merged.index.duplicated().any():
        raise TableError(path, "an architecture appears twice")
    merged["OA"] = numbers(merged, "OA", path, "a number in [0, 1]", _within(0.0, 1.0)).values
    merged["m_size"] = numbers(merged, "m_size", path, "a positive number", _positive).values
    return rel, merged


def _proxies(root: Path, dataset: str, folder: str, keys: ArchKeys, prov: Provenance,
             out: Converted) -> Dict[str, pd.Series]:
    """Every published proxy file of the dataset as column -> series; unpublished ones go to
    ``out.absent``, ones from a differing file to ``out.modified``."""
    sources = [(f"outputs/{folder}/search_results_{fname}.csv", proxy_column(name))
               for fname, name in L.PROXY_FILES.items()]
    sources += [(f"outputs/{folder}/test/search_results_{fname}.csv", proxy_column(name, variant or None))
                for fname, (name, variant) in L.VARIANT_FILES.items()]
    proxies: Dict[str, pd.Series] = {}
    for rel, col in sources:
        if (root / rel).is_file():
            proxies[col] = proxy_series(root / rel, keys)
            if prov.modified(rel):
                out.modified[col] = prov.modified(rel)
        else:
            out.absent[col] = prov.absent(rel, dataset)
    jc = proxy_column("jacob_cov")
    if dataset in L.JACOB_COV_NEGATED and jc in proxies:
        proxies[jc] = -proxies[jc]
        out.notes.append(f"{dataset}: proxy_jacob_cov is the negation of upstream outputs/{folder}/"
                         "search_results_jacob_cov.csv, i.e. the merged table's sign, which the other datasets share")
    return proxies


def _cross_check(proxies: Dict[str, pd.Series], merged: pd.DataFrame, merged_path: Path) -> None:
    """The per-proxy files must agree with the merged table wherever both have the architecture."""
    for mcol, name in L.MERGED_PROXIES.items():
        col = proxy_column(name)
        if col in proxies and mcol in merged:
            a = numbers(merged, mcol, merged_path, "a finite number", blank_ok=True)
            b = proxies[col].reindex(a.index)
            if not np.allclose(a.values, b.values, rtol=1e-5, atol=1e-9, equal_nan=True):
                raise TableError(merged_path, f"column {mcol} disagrees with the per-proxy file of {name}")


def _retrain(root: Path, dataset: str, folder: str, retrain_name: str, keys: ArchKeys,
             prov: Provenance) -> Tuple[str, pd.DataFrame, str]:
    """The training results (checked) with an ``arch`` column, and the reason of the architectures
    they lack (a format string taking ``n``, the number they hold)."""
    rel = f"outputs/{folder}/{retrain_name}"
    path = root / rel
    if not path.is_file() and rel in prov.bad:  # missing, imported with --allow-modified
        return rel, pd.DataFrame({c: [] for c in _ARCH_COLS + ["arch"]}), prov.absent(rel, dataset)
    retrain = read_csv(path)
    check_retrain(retrain, path)
    retrain["arch"] = keys(retrain, path).values
    if prov.modified(rel):
        return rel, retrain, (f"no training results in the local copy of {rel}, which differs from the pinned "
                              "upstream file; imported with --allow-modified")
    return rel, retrain, (f"training results not published upstream: the authors' {dataset} tables hold "
                          "{n} of the 2000 architectures")


def _mark_modified(prov: Provenance, retrain_rel: str, merged_rel: str, out: Converted) -> None:
    """Metric and cost columns whose values come from a file that differs from upstream."""
    train_reason = prov.modified(retrain_rel) or prov.modified(merged_rel)  # the merged file picks run 0
    if train_reason:
        for col in PUBLISHED_METRICS:
            out.modified[metric_column(col)] = train_reason
    if prov.modified(retrain_rel):
        for col in SIZE_PROXIES:
            out.modified[cost_column(col)] = prov.modified(retrain_rel)
    if prov.modified(merged_rel):
        out.modified[cost_column("model_size")] = prov.modified(merged_rel)


def _training_rows(retrain: pd.DataFrame, merged: pd.DataFrame, untrained: str) -> List[Dict]:
    """One row per architecture and run; run 0 is the run whose OA the merged table reports, and
    an architecture without training results gets one row with ``absent_reason``."""
    records = retrain.to_dict("records")
    runs: Dict[str, List[int]] = {}
    for i, a in enumerate(retrain["arch"]):
        runs.setdefault(a, []).append(i)
    rows = []
    for arch_id, arch in enumerate(space.hytas2000(), start=1):
        a = str(arch)
        base = {"arch": a, "arch_id": arch_id}
        idx = runs.get(a, [])
        if len(idx) > 1:
            published_oa = merged["OA"].get(a, np.nan) if a in merged.index else np.nan
            idx = sorted(idx, key=lambda i: (abs(records[i]["OA"] - published_oa) > 1e-9, i))
        if not idx:
            rows.append({**base, "run": 0, "absent_reason": untrained.format(n=len(runs))})
            continue
        for run, i in enumerate(idx):
            r = records[i]
            rows.append({**base, "run": run,
                         metric_column("oa"): float(r["OA"]), metric_column("aa"): float(r["AA"]),
                         metric_column("kappa"): float(r["Kappa"]),
                         metric_column("oa_best"): float(r["max_OA"]) / 100.0,
                         metric_column("train_seconds"): _seconds(r["retrain_time"]),
                         cost_column("params"): float(r["num_params_subnet"]),
                         cost_column("flops"): float(r["flops"]),
                         "absent_reason": None})
    return rows


def _describe_runs(frame: pd.DataFrame, dataset: str, out: Converted) -> None:
    n_rep = int((frame["run"] > 0).sum())
    if n_rep:
        out.notes.append(f"{dataset}: {n_rep} architectures were trained twice upstream; both runs kept (run 0 is "
                         "the one the merged results table reports)")
    missing = int(frame[metric_column("oa")].isna().sum())
    if missing:
        out.notes.append(f"{dataset}: {missing} architectures have no published training results (metrics null)")


def _arch_columns(frame: pd.DataFrame) -> None:
    """depth, embed_dim, num_heads, mlp_ratio of each row's architecture."""
    by_arch = {str(a): arch_columns(a) for a in space.hytas2000()}
    for col in ARCH_COLUMNS[2:]:  # arch and arch_id are the row's keys
        frame[col] = frame["arch"].map(lambda s: by_arch[s][col])


def _provenance_columns(frame: pd.DataFrame, dataset: str) -> None:
    frame["dataset"] = dataset
    frame["source"] = SOURCE
    frame["protocol"] = PROTOCOL
    # Base seed 0 (upstream train.py's --seed default; train_searched_sf.sh passes none): see L.SEED_NOTE.
    frame["seed"] = pd.array([0 if t else None for t in frame[metric_column("oa")].notna()], dtype="Int64")
    frame["device"] = "GPU (upstream: RTX A6000, 5-GPU data parallel)"
    frame["library_version"] = f"upstream {L.REPOSITORY}@{L.COMMIT[:7]}"


def convert_dataset(root: Path, dataset: str, keys: ArchKeys, prov: Optional[Provenance] = None) -> Converted:
    """One dataset's table (all 2000 architectures, repeats as extra runs), its absent columns,
    notes, and the columns whose values come from a file that differs from upstream."""
    prov = prov or Provenance({})
    folder, retrain_name = L.DATASETS[dataset]
    out = Converted(pd.DataFrame(), absent={metric_column("class_acc"): "per-class accuracy is not published upstream"})
    merged_rel, merged = _merged_table(root, folder, keys)
    proxies = _proxies(root, dataset, folder, keys, prov, out)
    _cross_check(proxies, merged, root / merged_rel)
    retrain_rel, retrain, untrained = _retrain(root, dataset, folder, retrain_name, keys, prov)
    _mark_modified(prov, retrain_rel, merged_rel, out)

    frame = pd.DataFrame(_training_rows(retrain, merged, untrained))
    frame[cost_column("model_size")] = frame["arch"].map(merged["m_size"])
    _describe_runs(frame, dataset, out)
    for col, series in proxies.items():
        frame[col] = frame["arch"].map(series)
    _arch_columns(frame)
    _provenance_columns(frame, dataset)
    out.frame = frame
    return out
