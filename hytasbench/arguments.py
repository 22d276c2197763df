"""Shared checks of user arguments: one validator per kind of argument, each raising a typed error
that names the bad value and what is allowed. A bool is never an integer, a float never a seed."""
from __future__ import annotations

import numbers
from typing import Any, List, Optional, Type

from .errors import HytasError, InvalidArgumentError, short_repr

#: Seeds are what numpy's and torch's generators take from us: 0..2**32-1.
MAX_SEED = 2 ** 32 - 1


def is_integer(value: Any) -> bool:
    """An int or a numpy integer, never a bool (nor a float with an integral value)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value: Any, what: str, minimum: Optional[int] = None, maximum: Optional[int] = None,
              error: Type[HytasError] = InvalidArgumentError, optional: bool = False) -> Any:
    """``value`` as an int when it is an integer in ``minimum..maximum`` (or None when
    ``optional``), else ``error`` naming ``what``, the value and what is allowed."""
    if optional and value is None:
        return None
    ok = is_integer(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            allowed = f"an integer in {minimum}..{maximum}"
        elif minimum is not None:
            allowed = f"an integer >= {minimum}"
        else:
            allowed = "an integer"
        allowed += " or None" if optional else ""
        raise error(f"{what} must be {allowed}, got {short_repr(value)}")  # type: ignore[call-arg]
    return int(value)


def check_seed(value: Any, what: str = "seed", error: Type[HytasError] = InvalidArgumentError) -> int:
    """A seed: an integer in 0..2**32-1."""
    return check_int(value, what, 0, MAX_SEED, error)


def check_seed_count(value: Any, what: str = "seeds (a count)", error: Type[HytasError] = InvalidArgumentError) -> int:
    """A number n of runs seeded 0..n-1: each must be a seed, so 1..2**32."""
    return check_int(value, what, 1, MAX_SEED + 1, error)


def check_seeds(values: Any, what: str = "seeds", error: Type[HytasError] = InvalidArgumentError) -> List[int]:
    """A non-empty list (or tuple, range, array) of seeds, each checked by :func:`check_seed`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or isinstance(values, dict):
        raise error(f"{what} must be a non-empty list of integers in 0..{MAX_SEED}, "  # type: ignore[call-arg]
                    f"got {short_repr(values)}")
    seeds = [check_seed(v, f"each of {what}", error) for v in values]
    if not seeds:
        raise error(f"{what} must name at least one seed, got {short_repr(values)}")  # type: ignore[call-arg]
    return seeds
