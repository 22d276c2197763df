"""Where the analyses get their numbers: one DataFrame per dataset, and which columns score architectures.

Every analysis takes plain pandas DataFrames with the table columns (docs/table_format.md), so it
works the same on the imported reference, the shipped tables, a user's own build, or a frame built
by hand in a notebook. Missing values stay NaN: functions here drop them pairwise and report n.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..datasets.specs import DATASETS, canonical_name
from ..errors import UnknownFieldError, UnknownSourceError
from ..schema import (KIND_PREFIXES, METRIC_PREFIX, ORIENTATION, PROXY_PREFIX, SIZE_PROXIES, cost_column,
                      metric_column, orientation, proxy_column, score_names)

TARGET = metric_column("oa")
# Size baselines evaluated next to the proxies (the paper lists params and FLOPs with them).
BASELINES: Dict[str, str] = {name: cost_column(name) for name in SIZE_PROXIES}
Source = Union[str, "os.PathLike[str]"]


@dataclass
class SourceData:
    """The headline-run frame of every dataset of one source, with the source's manifest.

    ``runs`` holds every row of a dataset (repeated trainings, proxies scored with other seeds)
    where the source has more than the headline run; the noise analysis reads it.
    """

    source: str
    frames: Dict[str, pd.DataFrame]
    manifest: Dict[str, Any] = field(default_factory=dict)
    runs: Dict[str, pd.DataFrame] = field(default_factory=dict)
    oa_source: Optional[str] = None  # where the metric_* columns came from when not from ``source``
    #: per dataset: headline-run OA by architecture (index ``arch``), one column per training
    #: protocol the source holds (its own, then the protocol sets its manifest lists) and, with
    #: ``oa_source``, one for that source's OA; only protocols with at least one OA on the dataset
    protocol_oa: Dict[str, pd.DataFrame] = field(default_factory=dict)


def load(source: Optional[Source] = None, datasets: Optional[Sequence[str]] = None,
         scores: Sequence[str] = (), oa_source: Optional[Source] = None) -> SourceData:
    """Run 0 of every dataset a source holds, in the canonical dataset order.

    ``source`` is a source name ("hytas", "hytasbench"), a table-set folder, or None for the
    first available (as :class:`hytasbench.Benchmark` picks it). Loading goes through
    ``Benchmark``, which verifies every file's checksum first. ``scores``: further scores by
    name (rank ensembles such as ``az_nas`` or ``ensemble:synflow+naswot+flops``), added as
    ``proxy_<name>`` columns. ``oa_source``: take the metrics (OA, AA, kappa, ...) from another
    source, matched by architecture, for a table set that holds only scores (a user's proxy, our
    own proxy tables); the report says so.
    """
    from ..benchmark import Benchmark

    bench = Benchmark(source=source)
    names = bench.datasets()
    if datasets is not None:
        wanted = [canonical_name(d) for d in datasets]  # raises UnknownDatasetError on unknown ones
        lacking = [d for d in wanted if d not in names]
        if lacking:
            raise UnknownSourceError(bench.default_source, bench.sources,
                                     f"source {bench.default_source!r} has no table for {', '.join(lacking)}; "
                                     f"it holds {', '.join(names)}")
        names = [d for d in names if d in wanted]
    every = {ds: bench.frame(ds, runs="all") for ds in names}
    frames = {ds: f[f["run"] == 0].reset_index(drop=True) for ds, f in every.items()}
    protocol_oa = {ds: _protocol_oa(bench, ds, f) for ds, f in frames.items()}
    for ds, f in frames.items():
        for name in scores:  # computed over the whole table by the query path, read per architecture
            values = [bench.query(a, ds)[name] for a in f["arch"]]
            f[proxy_column(name)] = pd.array([float("nan") if v is None else v for v in values], dtype="float64")
    oa_name = None
    if oa_source is not None:
        other = Benchmark(source=oa_source)
        oa_name = other.default_source
        for ds, f in list(frames.items()):
            if ds not in other.datasets():
                del frames[ds]
                continue
            theirs = other.frame(ds)
            metrics = [c for c in theirs.columns if c.startswith(METRIC_PREFIX)]
            frames[ds] = f.drop(columns=[c for c in f.columns if c.startswith(METRIC_PREFIX)]).merge(
                theirs[["arch"] + metrics], on="arch", how="left")
            if TARGET in theirs.columns and theirs[TARGET].notna().any():
                label = f"{oa_name} ({other.manifest().get('protocol')})"
                protocol_oa[ds] = protocol_oa[ds].join(theirs.set_index("arch")[TARGET].rename(label), how="outer")
    runs = {ds: f for ds, f in every.items() if len(f) > len(frames.get(ds, f))}
    protocol_oa = {ds: t for ds, t in protocol_oa.items() if ds in frames}
    return SourceData(bench.default_source, frames, bench.manifest(), runs, oa_name, protocol_oa)


def _protocol_oa(bench: Any, dataset: str, own: pd.DataFrame) -> pd.DataFrame:
    """Headline-run OA by architecture under each protocol the source holds for the dataset."""
    own_name = bench.manifest().get("protocol")
    frames = {own_name if isinstance(own_name, str) else f"{bench.default_source} (no protocol named)": own}
    frames.update({p: bench.frame(dataset, protocol=p) for p in bench.protocols()
                   if p != own_name and dataset in bench.datasets(protocol=p)})
    columns = {label: frame.set_index("arch")[TARGET].astype(float) for label, frame in frames.items()
               if TARGET in frame.columns and frame[TARGET].notna().any()}
    out = pd.DataFrame(columns)
    out.index.name = "arch"
    return out


def dataset_title(dataset: str) -> str:
    """Human name for headings ("Indian Pines"); unknown ids are shown as they are."""
    spec = DATASETS.get(dataset)
    return spec.title if spec is not None else dataset


def score_columns(frame: pd.DataFrame, baselines: bool = True) -> Dict[str, str]:
    """Label -> column of every whole-network proxy score the frame holds, plus params and FLOPs.

    Variants (``proxy_dss__attn`` ...) are left out: they have their own analyses. The paper's
    proxies come first in a fixed order so tables line up across sources; extras follow by name.
    Columns that are entirely NaN count as absent.
    """
    found = {name: proxy_column(name) for name in score_names(frame.columns, variants=False)
             if frame[proxy_column(name)].notna().any()}
    known = [n for n in ORIENTATION if n in found]
    labels = {n: found[n] for n in known + sorted(set(found) - set(known))}
    if baselines:
        for label, col in BASELINES.items():
            if col in frame.columns and frame[col].notna().any():
                labels[label] = col
    return labels


def column_orientation(column: str) -> int:
    """+1 when higher values predict higher accuracy, -1 otherwise (GraSP); size columns are +1."""
    return orientation(column) if column.startswith(PROXY_PREFIX) else 1


def paired(frame: pd.DataFrame, x: str, y: str = TARGET) -> Tuple[np.ndarray, np.ndarray]:
    """The two columns as float arrays, rows where either is NaN dropped (pairwise deletion)."""
    for col in (x, y):
        if col not in frame.columns:
            raise UnknownFieldError(col, [c for c in frame.columns if c.startswith(KIND_PREFIXES)],
                                    kind="column")
    a = pd.to_numeric(frame[x], errors="coerce").to_numpy(dtype=float)
    b = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def layer_lists(frame: pd.DataFrame, column: str) -> List[List[int]]:
    """``num_heads`` / ``mlp_ratio`` as plain int lists, whether Parquet gave lists or arrays."""
    return [[int(v) for v in cell] for cell in frame[column]]


def present(frame: pd.DataFrame, column: str) -> bool:
    """True when the column exists and holds at least one value."""
    return column in frame.columns and frame[column].notna().any()
