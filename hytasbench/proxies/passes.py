"""Pass runners and the helpers they share.

A pass is one forward/backward computation over a model (or a modified copy of it); it records
only what the requested kernels need (its ``needs``). Passes never change the scored model:
those that modify parameters (linearisation, croze's gradient step, another dtype or init)
work on a deep copy, the others take gradients with ``torch.autograd.grad`` so that not even
the ``.grad`` fields are touched.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch
from torch import nn

from ..errors import InvalidSettingError
from .target import Target

#: kind -> runner(target, batch, config, needs, chunks) -> state
PASSES: Dict[str, Callable[..., Any]] = {}

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def register_pass(kind: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        PASSES[kind] = fn
        return fn
    return deco


def dtype_of(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise InvalidSettingError(f"precision must be one of {sorted(DTYPES)}, got {name!r}") from None


def working_copy(target: Target, dtype: torch.dtype, sign: bool = False) -> Tuple[nn.Module, List[nn.Linear]]:
    """A deep copy of the model in ``dtype``; ``sign`` applies the sign operation (every
    parameter replaced by its absolute value). Returns the copy and its scored layers."""
    model = copy.deepcopy(target.model).to(dtype)
    if sign:
        with torch.no_grad():
            for p in model.parameters():
                p.abs_()
    modules = dict(model.named_modules())
    return model, [modules[name] for name in target.names]


def chunk_slices(n: int, chunks: int) -> Iterator[slice]:
    """``chunks`` near-equal consecutive slices of range(n) (the OOM retry's batch split)."""
    chunks = max(1, min(chunks, n))
    bounds = [round(i * n / chunks) for i in range(chunks + 1)]
    for a, b in zip(bounds, bounds[1:]):
        yield slice(a, b)


def flat_tokens(t: torch.Tensor) -> torch.Tensor:
    """(B, ..., C) -> (B, tokens, C), treating a 2-D (B, C) output as one token."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def per_sample_weight_grads(inp: torch.Tensor, gout: torch.Tensor) -> torch.Tensor:
    """(B, out, in) gradients of a Linear weight, one per sample, from its input and the
    gradient of its output: the sum over tokens of the outer products."""
    return torch.bmm(flat_tokens(gout).transpose(1, 2), flat_tokens(inp))


def restore_mode(model: nn.Module) -> Callable[[], None]:
    """Put the model in eval mode (no stochastic depth: scores are deterministic) and return
    a function that restores its previous mode."""
    was = model.training
    model.eval()
    return lambda: model.train(was)
