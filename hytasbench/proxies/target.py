"""What the kernels score: a model, its scored Linear layers (with their kind), the
activation modules whose input is a pre-activation (NASWOT's and SWAP's binary codes) and the
residual blocks whose input and output are the token features (AZ-NAS).

Kept apart from :mod:`hytasbench.model` so that the kernels run unchanged on any small model
(the hand-checked tests use a two-layer toy) as well as on a HyTAS subnet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from torch import nn

@dataclass
class Target:
    """A model prepared for scoring. ``layers`` are (name, Linear, kind) in forward order;
    ``blocks`` map (B, tokens, C) features to features of the same shape, in forward order."""

    model: nn.Module
    layers: List[Tuple[str, nn.Linear, str]]
    activations: List[nn.Module] = field(default_factory=list)
    blocks: List[nn.Module] = field(default_factory=list)

    @property
    def names(self) -> List[str]:
        return [n for n, _, _ in self.layers]

    @property
    def kinds(self) -> List[str]:
        return [k for _, _, k in self.layers]

    @property
    def weights(self) -> List[nn.Parameter]:
        return [lin.weight for _, lin, _ in self.layers]


def target_for(model: nn.Module) -> Target:
    """The scoring target of a HyTAS :class:`~hytasbench.model.SubNet`."""
    from ..model import scored_layers

    return Target(model, scored_layers(model), [blk.mlp.act for blk in model.blocks], list(model.blocks))


def part(layers: Sequence[float], kinds: Sequence[str], kind: str, log: bool = False) -> Optional[float]:
    """Sum of the per-layer scores of one kind (``log``: sum of their logs, as the paper's
    log-transformed attention/MLP parts); None when the model has no layer of that kind."""
    vals = [v for v, k in zip(layers, kinds) if k == kind]
    if not vals:
        return None
    if log:
        return float(sum(math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan) for v in vals))
    return float(sum(vals))
