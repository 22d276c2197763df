"""Units of work: one (kind, dataset, architecture, seed) each, idempotent, named by a stable key.

A unit's result is one JSON document (see :meth:`UnitRunner.run`) that the work directory writes
atomically under ``done/<key>.json``. Everything that changes what a unit computes is in its key
(dataset and whether its cube is synthetic, kind and fidelity, seed, architecture), so results of
different configurations never mix in one work directory and re-running a unit is a no-op.

Kinds: ``cost`` (exact params and FLOPs of the built subnet; seed-free), ``proxies`` (every
zero-cost proxy of a freshly initialised subnet, from ``hytasbench.proxies``), ``train`` (the
training protocol of ``hytasbench.train``). Torch is imported lazily, inside the runner only.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from hytasbench import __version__, protocols
from hytasbench.byop import UserProxy
from hytasbench.errors import BuildError, InvalidProtocolError
from hytasbench.schema import (SIZE_PROXIES, TRAIN_METRICS, cost_column, metric_column, proxy_column,
                               proxy_revisions, score_names)

DATA_FREE_TAG = "datafree"  # proxies units scored from the dataset's shape alone (--data-free)
SYNTHETIC_TAG = "~synthetic"


@dataclass(frozen=True)
class Unit:
    """One idempotent piece of work; ``fidelity`` is '' for the published protocol."""

    kind: str
    dataset: str
    arch: str
    seed: Optional[int] = 0  # None for seed-free kinds (cost)
    fidelity: str = ""
    synthetic: bool = False

    @property
    def key(self) -> str:
        data = self.dataset + (SYNTHETIC_TAG if self.synthetic else "")
        kind = self.kind + (f"-{self.fidelity}" if self.fidelity else "")
        seed = "" if self.seed is None else f"__s{self.seed}"
        return f"{data}__{kind}{seed}__{self.arch}"

    def resources(self, gpu: bool) -> Dict[str, float]:
        """What one run of the unit occupies (Ray's resource names): one GPU, or one CPU."""
        if gpu and self.kind != "cost":
            return {"num_gpus": 1}
        return {"num_cpus": 1}

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


_SHORT = {"epochs": "e", "test_subset": "t"}


_SWITCH_SHORT = {"lag": "lag", "caf8": "caf8", "epoch-order": "eo", "embed-init": "ei", "shared-init": "si"}


def train_protocol(epochs: Optional[int], test_subset: Optional[int] = None,
                   protocol: str = protocols.PROTOCOL) -> Tuple[str, str]:
    """(protocol name, key tag) of training under a named protocol with the builder's overrides
    (imports torch)."""
    from hytasbench.train import TrainConfig

    name = TrainConfig.for_protocol(protocol, epochs=epochs or TrainConfig.epochs,
                                    test_subset=test_subset).protocol_name()
    return name, protocol_tag(name)


def protocol_tag(protocol: str) -> str:
    """Key tag of a training protocol name: '' for hytasbench-v1 (so keys of earlier builds stay
    as they were), ``e2-t200`` for its builder overrides (epochs, test subset), ``hs`` for the
    emulated upstream sampler, then its switches (``hs-lag-caf8-eo``) and overrides (``hs-e2``);
    any other deviation a hash of the canonical name. Older spellings of a protocol get the tag of
    its canonical name; never two protocols per tag."""
    try:
        parts = protocols.parse(protocol)
    except InvalidProtocolError:
        return "p" + hashlib.sha1(protocol.encode()).hexdigest()[:8]
    head = ([] if parts.base == protocols.PROTOCOL else ["hs"]) + [_SWITCH_SHORT[s] for s in parts.switches]
    if all(k in _SHORT and v.isdigit() for k, v in parts.custom):
        return "-".join(head + [_SHORT[k] + v for k, v in parts.custom])
    return "p" + hashlib.sha1(protocols.canonical(protocol).encode()).hexdigest()[:8]


def make_units(kinds: Sequence[str], datasets: Sequence[str], archs: Sequence[str], seeds: Sequence[int],
               synthetic: Iterable[str] = (), train_tag: str = "", proxies_tag: str = "") -> List[Unit]:
    """All units of a build in a fixed order: kind (cheap first), dataset, seed, architecture.
    ``proxies_tag`` marks proxies units that run something else than the engine (a user proxy)."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise BuildError(f"unknown unit kind(s) {unknown}; allowed: {', '.join(KINDS)}")
    syn = set(synthetic)
    out: List[Unit] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        for ds in datasets:
            for seed in ([None] if kind == "cost" else seeds):
                fid = {"train": train_tag, "proxies": proxies_tag}.get(kind, "")
                out += [Unit(kind, ds, a, seed, fid, ds in syn) for a in archs]
    return out


def shard(units: Sequence[Unit], index: int, count: int) -> List[Unit]:
    """Shard ``index`` (1-based) of ``count``: a stable hash of the key decides, so every unit lands
    in exactly one shard whatever the order or the other options of the command."""
    if count < 1 or not 1 <= index <= count:
        raise BuildError(f"shard {index}/{count}: need 1 <= K <= N")
    return [u for u in units if int(hashlib.sha1(u.key.encode()).hexdigest(), 16) % count == index - 1]


@dataclass
class RunnerConfig:
    """What a worker needs to run units: where the data is and the protocol overrides."""

    data_root: Optional[str] = None
    epochs: Optional[int] = None  # None: the published 300
    test_subset: Optional[int] = None  # None: the whole test set (the protocol)
    threads: int = 1
    proxies: Optional[List[str]] = None  # None: every proxy the engine has
    protocol: str = protocols.PROTOCOL  # a protocol name without custom deviations (hytasbench.protocols)
    user_proxy: Optional[UserProxy] = None  # proxies units run this user function instead of the engine


class UnitRunner:
    """Runs units in one worker process; keeps each dataset loaded between units."""

    def __init__(self, config: RunnerConfig, device: str = "cpu"):
        self.config = config
        self.device = device
        import torch

        torch.set_num_threads(max(1, config.threads))

    def data(self, dataset: str, synthetic: bool):
        from hytasbench.datasets.opener import open_dataset

        return open_dataset(dataset, self.config.data_root, synthetic=synthetic)

    def run(self, unit: Unit) -> Dict[str, Any]:
        """Do the unit's work and return its result document (columns plus provenance)."""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            runner = self.RUNNERS[unit.kind]
        except KeyError:
            raise BuildError(f"unknown unit kind {unit.kind!r}; allowed: {', '.join(self.RUNNERS)}") from None
        columns = runner(self, unit)
        import torch

        doc = {
            "key": unit.key, "unit": unit.to_dict(), "columns": columns, "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,  # = the wall time of an unloaded 1-thread CPU worker
            "device": self.device_name(),
            "host": socket.gethostname(), "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "library_version": __version__, "torch_version": torch.__version__,
        }
        if unit.kind == "proxies":  # which kernel revisions made these numbers (builders.revisions);
            # the kernels registered their revisions when the unit imported them
            doc["revisions"] = proxy_revisions(sorted(score_names(columns, variants=False)))
        return doc

    def device_name(self) -> str:
        from hytasbench.devices import device_name

        return device_name(self.device)

    def _cost(self, unit: Unit) -> Dict[str, Any]:
        from hytasbench.model import build_model_for, count_flops, count_params

        model = build_model_for(unit.arch, unit.dataset)
        return {cost_column("params"): count_params(model), cost_column("flops"): count_flops(model)}

    def _proxies(self, unit: Unit) -> Dict[str, Any]:
        if self.config.user_proxy is not None:
            return self._user_proxy(unit, self.config.user_proxy)
        try:
            from hytasbench.proxies.engine import score_architecture
        except ImportError as exc:
            raise BuildError(f"the proxy engine (hytasbench.proxies.engine) is not available: {exc}") from None
        return dict(score_architecture(unit.arch, unit.dataset, proxies=self.config.proxies, seed=int(unit.seed or 0),
                                       data_root=self.config.data_root, device=self.device, synthetic=unit.synthetic,
                                       data_free=unit.fidelity == DATA_FREE_TAG))

    def _user_proxy(self, unit: Unit, proxy: UserProxy) -> Dict[str, Any]:
        """A user's proxy on the built-in kernels' model and batch; its failure is the unit's
        recorded result (score None, the reason in the error column), never a retried crash."""
        from hytasbench import byop
        from hytasbench.proxies.batch import proxy_batch
        from hytasbench.proxies.engine import build_scoring_model

        seed = int(unit.seed or 0)
        batch = proxy_batch(unit.dataset, seed, self.config.data_root, unit.synthetic, self.device)
        model = build_scoring_model(unit.arch, unit.dataset, seed, self.device)
        start = time.perf_counter()
        score, error = byop.call(proxy.load(), model, batch, seed)
        return {proxy_column(proxy.name): score, proxy_column(proxy.name, "seconds"): time.perf_counter() - start,
                proxy_column(proxy.name, "error"): error}

    def _train(self, unit: Unit) -> Dict[str, Any]:
        from hytasbench.train import TrainConfig, train_and_evaluate

        cfg = TrainConfig.for_protocol(self.config.protocol, seed=int(unit.seed or 0), device=self.device,
                                       threads=self.config.threads, test_subset=self.config.test_subset)
        if self.config.epochs is not None:
            cfg.epochs = self.config.epochs
        result = train_and_evaluate(unit.arch, self.data(unit.dataset, unit.synthetic), cfg)
        return train_columns(result.to_dict())

    #: kind -> the method that runs a unit of it, cheap kinds first (the order of KINDS)
    RUNNERS: Dict[str, Callable[["UnitRunner", Unit], Dict[str, Any]]] = {
        "cost": _cost, "proxies": _proxies, "train": _train}


KINDS: Tuple[str, ...] = tuple(UnitRunner.RUNNERS)


def train_columns(result: Dict[str, Any]) -> Dict[str, Any]:
    """Table columns of a training result (``hytasbench.train.TrainResult.to_dict()``)."""
    cols = {metric_column(m): result[m] for m in TRAIN_METRICS}
    cols.update({cost_column(c): int(result[c]) for c in SIZE_PROXIES})
    try:  # today's spelling (older results say hytasbench-v1+custom(epoch_sampler=hytas))
        cols["protocol"] = protocols.canonical(result["protocol"])
    except InvalidProtocolError:
        cols["protocol"] = result["protocol"]
    cols["device"] = result["device"]
    cols["split_seed"] = result.get("split_seed")
    return cols
