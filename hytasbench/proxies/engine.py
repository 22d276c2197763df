"""The fused engine: any set of proxies for one architecture and one batch, running every
distinct pass once (the linearised pass serves synflow, logsynflow and dss; the cross-entropy
pass serves grad_norm, snip, grasp, fisher, jacob_cov, naswot, zico, zico_pp and tcet; croze
has its own), then reducing each kernel's share.

Robustness: a pass that runs out of memory is retried with the batch split in 2, 4, ... chunks
(every pass gives the same numbers on a split batch); an exception or a non-finite value becomes
NaN with the reason in the result's ``error``, never an exception that loses the other proxies.
The scored model's parameters are restored bit for bit after every pass.

Entry points: :func:`score` (builds and live recompute), :func:`score_architecture` (its result as
table columns).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..errors import InvalidArgumentError, short_repr
from ..schema import SIZE_PROXIES
from . import registry
from .passes import PASSES, restore_mode
from .registry import PassKey, Proxy
from .result import ProxyResult, finite_or_nan
from .target import Target, part, target_for

Options = Mapping[str, Mapping[str, Any]]


@dataclass
class _Job:
    label: str  # the result's key: the proxy name, or "name:tag" for a second option set
    proxy: Proxy
    options: Dict[str, Any]
    role: str  # "main" or "nosign"
    key: PassKey
    needs: FrozenSet[str]


@dataclass
class _PassRun:
    state: Any = None
    seconds: float = 0.0
    chunks: int = 1
    error: Optional[str] = None
    users: int = 0


@dataclass
class EngineReport:
    """Per-proxy results plus how the passes went (for provenance and the benchmark)."""

    results: Dict[str, ProxyResult]
    passes: Dict[PassKey, float] = field(default_factory=dict)  # pass -> seconds
    batch_splits: int = 1  # largest number of chunks any pass needed

    def columns(self) -> Dict[str, Any]:
        """Every result's table columns (``ProxyResult.columns``)."""
        out: Dict[str, Any] = {}
        for res in self.results.values():
            out.update(res.columns())
        return out


def requests(proxies: Optional[Sequence[str]]) -> List[Tuple[str, Proxy]]:
    """(label, kernel) for each requested entry: a proxy name, or "name:tag" (the same kernel
    under another key, so that one run can hold two option sets, e.g. clean and hytas_compat)."""
    if proxies is None or isinstance(proxies, str):
        return [(p.name, p) for p in registry.resolve(proxies)]
    out: Dict[str, Proxy] = {}
    for label in proxies:
        out.setdefault(label, registry.get(str(label).partition(":")[0]))
    return list(out.items())


def check_options(entries: Sequence[Tuple[str, Proxy]], options: Optional[Options]) -> None:
    """Refuse ``options`` unless it is None or maps proxies or "name:tag" labels to mappings of
    options their kernel has (InvalidArgumentError, UnknownProxyError, UnknownProxyOptionError).
    One dict may serve several calls: a valid entry for a kernel this call does not score is unused."""
    if options is None:
        return
    if not isinstance(options, Mapping):
        raise InvalidArgumentError(f"options must map a proxy to its options, e.g. {{'synflow': {{'hytas_compat': "
                                   f"True}}}}, got {short_repr(options)}")
    kernels = dict(entries)
    for label, opts in options.items():
        kernel = kernels.get(label) or registry.get(label.partition(":")[0] if isinstance(label, str) else label)
        if not isinstance(opts, Mapping):
            raise InvalidArgumentError(f"options[{short_repr(label)}] must map option names to values, "
                                       f"got {short_repr(opts)}")
        kernel.options(opts)


def plan(entries: Sequence[Tuple[str, Proxy]], options: Optional[Options] = None) -> List[_Job]:
    check_options(entries, options)
    jobs = []
    for label, p in entries:
        opts = p.options((options or {}).get(label))
        key, needs = p.plan(opts)
        jobs.append(_Job(label, p, opts, "main", key, needs))
        if p.signed and opts["sign"] and opts["nosign_variants"]:
            unsigned = dict(opts, sign=False)
            key, needs = p.plan(unsigned)
            jobs.append(_Job(label, p, unsigned, "nosign", key, needs))
    return jobs


def is_oom(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def _run_pass(target: Target, batch: Any, key: PassKey, needs: FrozenSet[str], max_chunks: int,
              first_chunks: int = 1) -> _PassRun:
    kind, config = key
    run = _PassRun(chunks=first_chunks)
    if kind == "none":
        return run
    start = time.perf_counter()
    while True:
        try:
            run.state = PASSES[kind](target, batch, config, needs, run.chunks)
            break
        except Exception as exc:  # noqa: BLE001 - a failed pass must not lose the other passes
            if is_oom(exc) and run.chunks < max_chunks:
                run.chunks = min(run.chunks * 2, max_chunks)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            run.error = f"{kind} pass failed: {type(exc).__name__}: {exc}"
            break
    run.seconds = time.perf_counter() - start
    return run


def _snapshot(model: nn.Module) -> List[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _restore(model: nn.Module, snap: List[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, s in zip(model.parameters(), snap):
            if not torch.equal(p, s):
                p.copy_(s)


def run_engine(target: Union[Target, nn.Module], batch: Any, proxies: Optional[Sequence[str]] = None,
               options: Optional[Options] = None, chunks: int = 1) -> EngineReport:
    """Score ``proxies`` (all when None) for one model and one batch with fused passes.

    ``proxies`` entries are names or "name:tag" labels (results are keyed by them); ``options``
    maps an entry to option overrides (``{"synflow": {"hytas_compat": True}}``);
    ``chunks`` > 1 splits the batch from the start (the OOM retry doubles it from there).
    """
    if not isinstance(target, Target):
        target = target_for(target)
    jobs = plan(requests(proxies), options)
    groups: Dict[PassKey, FrozenSet[str]] = {}
    for j in jobs:
        groups[j.key] = groups.get(j.key, frozenset()) | j.needs
    reset = restore_mode(target.model)
    snap = _snapshot(target.model)
    runs: Dict[PassKey, _PassRun] = {}
    try:
        for key, needs in groups.items():
            runs[key] = _run_pass(target, batch, key, needs, max(batch.x.shape[0], 1), chunks)
            _restore(target.model, snap)
    finally:
        reset()
    for j in jobs:
        runs[j.key].users += 1
    results: Dict[str, ProxyResult] = {}
    for j in jobs:
        res = results.setdefault(j.label, ProxyResult(j.proxy.name, math.nan))
        _reduce_into(res, j, runs[j.key], target)
    return EngineReport(results, {k: r.seconds for k, r in runs.items()},
                        max((r.chunks for r in runs.values()), default=1))


def _reduce_into(res: ProxyResult, job: _Job, run: _PassRun, target: Target) -> None:
    start = time.perf_counter()
    layers, score, error = None, math.nan, run.error
    if error is None:
        try:
            layers, score = job.proxy.reduce(run.state, target, job.options)
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
    res.seconds += time.perf_counter() - start + run.seconds / max(run.users, 1)
    if error is None and not math.isfinite(float(score)):
        error = f"non-finite score ({score})"
    suffix = "" if job.role == "main" else "_nosign"
    if job.role == "main":
        res.score = score if isinstance(score, int) else finite_or_nan(score)
        res.layers = None if layers is None else [finite_or_nan(v) for v in layers]
        res.layer_names = None if layers is None else target.names
    else:
        res.variants["nosign"] = finite_or_nan(score)
    if error is not None:
        res.error = error if res.error is None else f"{res.error}; {job.role}: {error}"
    if layers is not None:
        for kind in ("attn", "mlp"):
            res.variants[kind + suffix] = finite_or_nan(part(layers, target.kinds, kind))
            if job.proxy.nonneg_layers and job.role == "main" and not job.options.get("hytas_compat"):
                res.variants[kind + "_log"] = finite_or_nan(part(layers, target.kinds, kind, log=True))


def build_scoring_model(arch: Any, dataset: str, seed: int = 0, device: str = "cpu") -> nn.Module:
    """The freshly initialised subnet the proxies score: seeded, on ``device``, eval mode;
    the global RNG state is left as it was."""
    from ..model import build_model_for

    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = build_model_for(arch, dataset)
    return model.to(device).eval()


def score(arch: Any, dataset: str, proxies: Optional[Sequence[str]] = None, seed: int = 0,
          data_root: Optional[str] = None, device: str = "cpu", options: Optional[Options] = None,
          synthetic: bool = False, data_free: bool = False) -> Tuple[str, EngineReport]:
    """The one scoring path (table builds and live recompute): the dataset's batch, the freshly
    initialised subnet and one fused engine run. Returns the canonical dataset name and the report.

    ``proxies`` entries are names or "name:tag" labels; an unknown name fails before any data is
    loaded. ``seed`` fixes both the subnet's initialisation and the pixel drawn per class.
    ``data_free``: score from the dataset's shape alone (no files needed); every requested kernel
    must read no pixels (``registry.data_free()``), so the numbers equal those on the real cube.
    """
    from .batch import proxy_batch, shape_batch

    entries = requests(proxies)
    check_options(entries, options)  # before any data is loaded
    if data_free:
        needs_pixels = list(dict.fromkeys(p.name for _, p in entries if not p.data_free))
        if needs_pixels:
            raise InvalidArgumentError(f"data_free scoring reads no pixels, but {needs_pixels} need them; "
                             f"data-free kernels: {registry.data_free()}")
        batch = shape_batch(dataset, str(device))
    else:
        batch = proxy_batch(dataset, seed, None if data_root is None else str(data_root), synthetic, str(device))
    model = build_scoring_model(arch, batch.dataset, seed, device)
    return batch.dataset, run_engine(model, batch, [label for label, _ in entries], options)


def score_architecture(arch: Any, dataset: str, proxies: Optional[Sequence[str]] = None, seed: int = 0,
                       data_root: Optional[str] = None, device: str = "cpu",
                       options: Optional[Options] = None, synthetic: bool = False,
                       data_free: bool = False) -> Dict[str, Any]:
    """All table columns of one architecture on one dataset (:func:`score` as a table row):
    ``proxy_<name>`` (+ variants, ``__layers``, ``__seconds``, ``__error``), ``cost_params``,
    ``cost_flops`` and ``batch_splits`` (1 unless a pass ran out of memory and was retried on a
    split batch)."""
    if proxies is not None and not isinstance(proxies, str) and any(":" in str(p) for p in proxies):
        raise InvalidArgumentError("score_architecture returns one set of table columns per proxy; "
                         "use run_engine for 'name:tag' entries")
    names = [p.name for p in registry.resolve(proxies)]
    names += [s for s in SIZE_PROXIES if s not in names]
    _, report = score(arch, dataset, names, seed, data_root, device, options, synthetic, data_free)
    columns = report.columns()
    columns["batch_splits"] = report.batch_splits
    return columns
