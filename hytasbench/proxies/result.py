"""The result of one proxy on one architecture, and its table columns (see schema.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..schema import SIZE_PROXIES, cost_column, orientation, proxy_column


def finite_or_nan(value: Optional[float]) -> Optional[float]:
    """NaN for inf/NaN (the caller records why), None stays None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else math.nan


@dataclass
class ProxyResult:
    """Score, per-layer scores, attention/MLP parts and wall time of one proxy.

    ``variants`` holds the other scores under their schema variant names (``attn``, ``mlp``,
    ``attn_log``, ``mlp_log``, ``nosign``, ...). ``error`` says why a value is NaN (non-finite
    result, failed pass); None when all is well. ``seconds`` is this proxy's reduction time plus
    an equal share of every pass it shared with other proxies.
    """

    name: str
    score: float
    layers: Optional[List[float]] = None
    layer_names: Optional[List[str]] = None
    variants: Dict[str, Optional[float]] = field(default_factory=dict)
    seconds: float = 0.0
    error: Optional[str] = None

    @property
    def orientation(self) -> int:
        return orientation(self.name)

    @property
    def attn(self) -> Optional[float]:
        return self.variants.get("attn")

    @property
    def mlp(self) -> Optional[float]:
        return self.variants.get("mlp")

    def columns(self) -> Dict[str, Any]:
        """Table columns: ``proxy_<name>`` and its variants, ``__layers``, ``__seconds``,
        ``__error``; the size baselines go to ``cost_<name>``."""
        if self.name in SIZE_PROXIES:
            return {cost_column(self.name): self.score}
        out: Dict[str, Any] = {proxy_column(self.name): self.score}
        for variant, value in self.variants.items():
            out[proxy_column(self.name, variant)] = value
        if self.layers is not None:
            out[proxy_column(self.name, "layers")] = list(self.layers)
        out[proxy_column(self.name, "seconds")] = self.seconds
        out[proxy_column(self.name, "error")] = self.error
        return out
