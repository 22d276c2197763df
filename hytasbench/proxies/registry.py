"""Registry of proxy kernels (zero-cost-nas style): each kernel says which pass it needs (and
what that pass must capture) and how to reduce the pass's state to per-layer scores.

A kernel never runs a pass itself: the engine runs every distinct pass once for all requested
kernels (see engine.py), which is what makes fused scoring cheap and fused == separate exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Hashable, List, Mapping, Optional, Sequence, Tuple

from ..errors import InvalidSettingError, UnknownProxyError, UnknownProxyOptionError
from ..schema import ORIENTATION, declare_proxy

#: (pass kind, sorted config items): runs once per architecture whatever the number of kernels.
PassKey = Tuple[str, Tuple[Tuple[str, Hashable], ...]]
#: A reduction returns per-layer scores (None for whole-network proxies) and the score.
Reduction = Tuple[Optional[List[float]], float]


def pass_key(kind: str, **config: Hashable) -> PassKey:
    return kind, tuple(sorted(config.items()))


@dataclass(frozen=True)
class Proxy:
    """One registered kernel.

    ``plan(options)`` -> (pass key, captures the pass must record); ``reduce(state, target,
    options)`` -> (per-layer scores or None, score). ``signed``: the kernel has the sign
    (linearisation) option, and its ``nosign`` variants come from a second, unsigned pass.
    ``nonneg_layers``: per-layer scores are >= 0 by construction, so the log-transformed
    attention/MLP parts are defined. ``orientation``: +1 when a higher raw score predicts higher
    accuracy, -1 when a lower one does. ``revision``: bump it whenever the kernel's numbers change
    (builders leave scores of an older revision out and ``--refresh-stale`` recomputes them).
    ``data``: what the kernel reads from the batch: "labelled" (pixels and labels), "pixels"
    (pixels, no labels) or "none" (the input's shape only: data-free, so any dataset can be
    scored from its band and class counts).
    """

    name: str
    plan: Callable[[Mapping[str, Any]], Tuple[PassKey, FrozenSet[str]]]
    reduce: Callable[[Any, Any, Mapping[str, Any]], Reduction]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    signed: bool = False
    nonneg_layers: bool = False
    doc: str = ""
    orientation: int = 1
    revision: int = 1
    data: str = "labelled"

    @property
    def data_free(self) -> bool:
        return self.data == "none"

    def declaration(self) -> Dict[str, Any]:
        """What a table set's manifest records of this kernel (the query path reads it torch-free)."""
        return {"orientation": self.orientation, "revision": self.revision, "data": self.data, "doc": self.doc}

    def options(self, overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Defaults merged with ``overrides``; an unknown option is an error, not ignored."""
        opts = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in opts:
                raise UnknownProxyOptionError(self.name, key, sorted(opts))
            opts[key] = value
        return opts


REGISTRY: Dict[str, Proxy] = {}


DATA_NEEDS = ("labelled", "pixels", "none")


def register(proxy: Proxy) -> Proxy:
    """Add a kernel: the one place a proxy is declared (name, pass, orientation, revision, data)."""
    if proxy.name in REGISTRY:
        raise InvalidSettingError(f"proxy {proxy.name!r} registered twice")
    if proxy.data not in DATA_NEEDS:
        raise InvalidSettingError(f"proxy {proxy.name!r}: data must be one of {DATA_NEEDS}, got {proxy.data!r}")
    declare_proxy(proxy.name, proxy.orientation, proxy.revision)
    REGISTRY[proxy.name] = proxy
    return proxy


def available() -> List[str]:
    """Registered proxy names: the paper's in its order, then the later ones as registered."""
    return [n for n in ORIENTATION if n in REGISTRY] + [n for n in REGISTRY if n not in ORIENTATION]


def data_free() -> List[str]:
    """Registered proxies that read no pixels (scorable from a dataset's shape alone)."""
    return [n for n in available() if REGISTRY[n].data_free]


def get(name: str) -> Proxy:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownProxyError(name, available()) from None


def resolve(names: Optional[Sequence[str]]) -> List[Proxy]:
    """The kernels for ``names`` (all when None), de-duplicated, in the given order."""
    if isinstance(names, str):
        names = [names]
    if names is None:
        names = available()
    out: List[Proxy] = []
    for n in names:
        p = get(n)
        if p not in out:
            out.append(p)
    return out
