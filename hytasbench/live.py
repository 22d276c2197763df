"""Live recompute: the proxy kernels that built the tables, on demand for any architecture of
the space (torch and the dataset files needed; imported lazily by Benchmark.score/query).

Same protocol as the tables: freshly initialised subnet (seeded), one training pixel per class
(fixed seed), every proxy from one fused engine run.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

from .errors import InvalidArgumentError, UnknownFieldError, short_repr
from .record import RecordAccess
from .schema import (COSTS, KIND_PREFIXES, METRIC_PREFIX, METRICS, PROVENANCE_COLUMNS, arch_columns, cost_column,
                     error_reason, metric_column, proxy_error_column)
from .space import ArchLike, parse

NOT_TRAINED = "not trained: live recompute scores proxies only"


class LiveScores(Mapping[str, float]):
    """Proxy name -> score of one live run; ``results[name]`` has the per-layer scores,
    attention/MLP parts, seconds and error flag; ``columns`` the table columns."""

    def __init__(self, arch: Any, dataset: str, seed: int, results: Dict[str, Any], columns: Dict[str, Any]):
        self.arch, self.dataset, self.seed = arch, dataset, seed
        self.results, self.columns = results, columns

    def __getitem__(self, name: str) -> float:
        try:
            return self.results[name].score
        except KeyError:
            raise UnknownFieldError(name, list(self.results), kind="proxy") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v.score:.6g}" for k, v in self.results.items())
        return f"LiveScores({self.arch}, {self.dataset}, seed={self.seed}: {body})"


def score(arch: ArchLike, dataset: str, proxies: Optional[Sequence[str]] = None, *, seed: int = 0,
          data_root: Optional[str] = None, device: str = "cpu", options: Optional[Mapping[str, Mapping]] = None,
          synthetic: bool = False) -> LiveScores:
    """Score ``proxies`` (all when None) for any architecture of the space on ``dataset``.

    Raises DatasetFilesError (saying which files go where) when the dataset is not available,
    UnknownProxyError for a name that is not a proxy.
    """
    from .datasets import canonical_name
    from .proxies import proxy_batch, run_engine
    from .proxies.engine import build_scoring_model, requests

    a = parse(arch)
    _check_options(seed, device)
    names = [label for label, _ in requests(proxies)]  # unknown names fail before any work
    batch = proxy_batch(canonical_name(dataset), seed, None if data_root is None else str(data_root),
                        synthetic, str(device))
    model = build_scoring_model(a, batch.dataset, seed, device)
    report = run_engine(model, batch, names, options)
    columns: Dict[str, Any] = {}
    for res in report.results.values():
        columns.update(res.columns())
    return LiveScores(a, batch.dataset, seed, report.results, columns)


def _check_options(seed: Any, device: Any) -> None:
    """Refuse a bad seed or an unavailable device before any data is loaded."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise InvalidArgumentError(f"seed must be an integer in 0..2**32-1, got {short_repr(seed)}")
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or
                                           (device.startswith("cuda:") and device[5:].isdigit())):
        raise InvalidArgumentError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {short_repr(device)}")
    if device != "cpu":
        import torch

        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device[5:]) if ":" in device else 0
        if index >= have:
            raise InvalidArgumentError(f"device {device!r} is not available: torch sees {have} CUDA device(s); "
                                       "use device='cpu'")


class LiveRecord(RecordAccess):
    """Record-like result of ``Benchmark.query(..., recompute=True)``: the same short names as
    table records (``rec.snip``, ``rec["dss__attn"]``, ``rec.params``); metrics are None, and
    ``rec.reason("oa")`` says why."""

    def __init__(self, arch: Any, dataset: str, values: Dict[str, Any]):
        self._arch, self._dataset, self._values = arch, dataset, values

    def _resolve(self, key: str) -> Optional[str]:
        if key in self._values:
            return key
        for p in KIND_PREFIXES:
            if p + key in self._values:
                return p + key
        return None

    def __getitem__(self, key: str) -> Any:
        col = self._resolve(key)
        if col is None:
            raise UnknownFieldError(key, list(self._values), kind="field")
        value = self._values[col]
        return None if isinstance(value, float) and value != value else value

    def _columns(self) -> Sequence[str]:
        return list(self._values)

    def __repr__(self) -> str:
        return f"LiveRecord({self._arch}, {self._dataset}, source='live')"

    @property
    def arch(self):
        return self._arch

    @property
    def provenance(self) -> Dict[str, Any]:
        return {c: self._values[c] for c in PROVENANCE_COLUMNS if c in self._values}

    def reason(self, name: str) -> Optional[str]:
        col = self._resolve(name)
        if col is None:
            raise UnknownFieldError(name, list(self._values), kind="field")
        if self[col] is not None:
            return None
        if col.startswith(METRIC_PREFIX):
            return NOT_TRAINED
        error = self._values.get(proxy_error_column(col))
        return error_reason(error) if error else "no value"

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._values)


def recompute_record(bench: Any, arch: ArchLike, dataset: str, **kwargs: Any) -> LiveRecord:
    """A LiveRecord with every proxy, the exact costs and provenance (source "live")."""
    from . import __version__

    live = score(arch, dataset, **kwargs)
    a = live.arch
    values: Dict[str, Any] = arch_columns(a)
    values.update({metric_column(m): None for m in METRICS})
    values.update({k: v for k, v in live.columns.items()})
    values.update({"dataset": live.dataset, "source": "live", "protocol": "proxies: fresh init, one pixel per class",
                   "run": 0, "seed": live.seed, "device": str(kwargs.get("device", "cpu")),
                   "library_version": __version__, "absent_reason": NOT_TRAINED})
    for c in COSTS:
        values.setdefault(cost_column(c), None)
    return LiveRecord(a, live.dataset, values)

