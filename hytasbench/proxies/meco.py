"""MeCo (Jiang et al., NeurIPS 2023): the minimum eigenvalue of the Pearson correlation matrix of
feature maps, summed over layers, from one forward pass (feature pass, no labels).

Adapted to these transformers: the feature map of a scored Linear layer is its (tokens, C) output
for one sample; the correlation is of the C channels over the tokens, as MeCo's channels over the
spatial positions of a convolutional map. A layer's value is the mean of that minimum over the
batch's samples (MeCo's authors used one sample; one pixel per class averages out which one).
The head has no token axis and is left out. Channels >= tokens make the matrix singular: 0.
"""
from __future__ import annotations

from typing import Any, Mapping

from .features import FeatureState
from .registry import Proxy, Reduction, pass_key, register
from .target import Target


def feature_key(opts: Mapping[str, Any]) -> Any:
    """The feature pass on the freshly initialised model (``probe_seed`` only matters to AZ-NAS's
    trainability probe, but keying every feature kernel on it lets them share one pass)."""
    return pass_key("features", precision=opts.get("precision") or "float32", probe_seed=int(opts.get("probe_seed", 0)))


def meco(state: FeatureState, target: Target, opts: Mapping[str, Any]) -> Reduction:
    layers = [0.0 if v is None else float(v.mean()) for v in state.meco]
    return layers, sum(layers)


register(Proxy("meco", lambda o: (feature_key(o), frozenset({"meco"})), meco, {"precision": None}, data="pixels",
               doc="MeCo (Jiang et al. 2023): minimum eigenvalue of the channel correlation over tokens"))
