"""Live recompute: the proxy kernels that built the tables, on demand for any architecture of
the space (torch and the dataset files needed; imported lazily by Benchmark.score/query).

Same protocol as the tables: freshly initialised subnet (seeded), one training pixel per class
(fixed seed), every proxy from one fused engine run.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

from .arguments import check_seed
from .errors import InvalidArgumentError, UnknownFieldError, short_repr
from .record import Record
from .schema import COSTS, METRIC_PREFIX, METRICS, arch_columns, cost_column, metric_column, proxy_error_column
from .space import ArchLike, parse
from .view import TableView

NOT_TRAINED = "not trained: live recompute scores proxies only"
LIVE = "live"  # the source name of recomputed records
PROTOCOL = "proxies: fresh init, one pixel per class"
DESCRIPTION = "proxies scored live by hytasbench.live (Benchmark.query(..., recompute=True))"


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

    ``options`` maps a proxy to option overrides (``{"synflow": {"hytas_compat": True}}``); those
    of a proxy this call does not score are checked and unused, so one dict can serve many calls.
    Raises DatasetFilesError (saying which files go where) when the dataset is not available,
    UnknownProxyError for a name that is not a proxy (in ``proxies`` or as an ``options`` key),
    UnknownProxyOptionError for an option the kernel lacks, InvalidArgumentError for a bad seed,
    device, ``options`` or ``synthetic``; all before any data is loaded.
    """
    from .datasets import canonical_name
    from .proxies import engine

    a = parse(arch)
    _check_options(seed, device, synthetic)
    name, report = engine.score(a, canonical_name(dataset), proxies, seed, data_root, device, options, synthetic)
    return LiveScores(a, name, seed, report.results, report.columns())


def _check_options(seed: Any, device: Any, synthetic: Any = False) -> None:
    """Refuse a bad seed, an unavailable device or a non-bool ``synthetic`` before any data is loaded."""
    if not isinstance(synthetic, bool):
        raise InvalidArgumentError(f"synthetic must be True or False, got {short_repr(synthetic)}")
    check_seed(seed)
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


def recompute_record(arch: ArchLike, dataset: str, **kwargs: Any) -> Record:
    """Every proxy, the exact costs and provenance of ``arch`` scored live, as a table record of
    source "live" (a one-row table: the same lookup, short names and reasons as any table)."""
    from . import __version__
    from .devices import device_name

    live = score(arch, dataset, **kwargs)
    a = live.arch
    values: Dict[str, Any] = arch_columns(a)
    values.update({metric_column(m): None for m in METRICS})
    values.update(live.columns)
    values.update({"dataset": live.dataset, "source": LIVE, "protocol": PROTOCOL, "run": 0, "seed": live.seed,
                   "device": device_name(kwargs.get("device", "cpu")), "library_version": __version__,
                   "absent_reason": NOT_TRAINED})
    for c in COSTS:
        values.setdefault(cost_column(c), None)
    # why each empty value is empty: metrics are not trained; a proxy that failed says why in its
    # error column, which the table lookup reads; anything else was not computed
    absent = {c: NOT_TRAINED if c.startswith(METRIC_PREFIX) else "no value" for c, v in values.items()
              if v is None and not values.get(proxy_error_column(c))}
    manifest = {"source": LIVE, "protocol": PROTOCOL, "description": DESCRIPTION, "absent": {live.dataset: absent}}
    view = TableView({c: [v] for c, v in values.items()}, live.dataset, LIVE, manifest)
    return Record(view, 0)
