"""Registry of proxy kernels (zero-cost-nas style): each kernel says which pass it needs (and
what that pass must capture) and how to reduce the pass's state to per-layer scores.

A kernel never runs a pass itself: the engine runs every distinct pass once for all requested
kernels (see engine.py), which is what makes fused scoring cheap and fused == separate exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Hashable, List, Mapping, Optional, Sequence, Tuple

from ..errors import UnknownProxyError, UnknownProxyOptionError
from ..schema import ORIENTATION

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
    attention/MLP parts are defined.
    """

    name: str
    plan: Callable[[Mapping[str, Any]], Tuple[PassKey, FrozenSet[str]]]
    reduce: Callable[[Any, Any, Mapping[str, Any]], Reduction]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    signed: bool = False
    nonneg_layers: bool = False
    doc: str = ""

    @property
    def orientation(self) -> int:
        return ORIENTATION.get(self.name, 1)

    def options(self, overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Defaults merged with ``overrides``; an unknown option is an error, not ignored."""
        opts = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in opts:
                raise UnknownProxyOptionError(self.name, key, sorted(opts))
            opts[key] = value
        return opts


REGISTRY: Dict[str, Proxy] = {}


def register(proxy: Proxy) -> Proxy:
    if proxy.name in REGISTRY:
        raise ValueError(f"proxy {proxy.name!r} registered twice")
    if proxy.name not in ORIENTATION:
        raise ValueError(f"proxy {proxy.name!r} has no orientation in schema.ORIENTATION")
    REGISTRY[proxy.name] = proxy
    return proxy


def available() -> List[str]:
    """Registered proxy names, in the paper's order."""
    return [n for n in ORIENTATION if n in REGISTRY]


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
