"""The size baselines: parameter count and FLOPs of the model as built (exact; FLOP convention
in :mod:`hytasbench.model`). No pass: they need only the model's shapes."""
from __future__ import annotations

from .registry import Proxy, Reduction, pass_key, register
from .target import Target


def params(state: None, target: Target, opts) -> Reduction:
    from ..model import count_params

    return None, count_params(target.model)


def flops(state: None, target: Target, opts) -> Reduction:
    from ..model import SubNet, count_flops

    if not isinstance(target.model, SubNet):
        raise TypeError("flops are defined for HyTAS subnets only")
    return None, count_flops(target.model)


for _name, _fn, _doc in (("params", params, "trainable parameters of the subnet"),
                         ("flops", flops, "forward FLOPs of one sample")):
    register(Proxy(_name, lambda o: (pass_key("none"), frozenset()), _fn, {}, doc=_doc, data="none"))
