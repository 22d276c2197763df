"""Bring your own proxy: a user's scoring function, loaded, called and checked like a kernel.

A user proxy is a plain function ``def my_proxy(model, batch) -> float``:

- ``model``: the freshly initialised HyTAS subnet (``hytasbench.model.SubNet``, eval mode, on the
  scoring device), seeded exactly as the built-in kernels' (``proxies.engine.build_scoring_model``);
- ``batch``: a :class:`hytasbench.proxies.batch.ProxyBatch`: ``batch.x`` the (classes, bands,
  49 * band_patch) float32 inputs, one training pixel per class drawn with the unit's seed,
  ``batch.y`` their class indices, ``batch.pixels`` their (row, col); a private copy, so that
  changing it in place cannot reach the next architecture.

It returns one real number; higher means "predicts higher accuracy" unless the proxy is declared
with orientation -1. A function that raises, or returns NaN, infinity, a bool, a tensor, an array
or anything but a real number gives that architecture no score and a recorded reason; the other
architectures go on. The torch RNG is seeded with the unit's seed before each call, so a proxy
that draws random numbers is reproducible.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import numbers
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Set, Tuple, Union

from .errors import UserProxyError, short_repr
from .schema import is_orientation

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def reserved_names() -> Set[str]:
    """Names a user proxy may not take: the built-in proxies (the kernels and the paper's), the
    rank-ensemble names (``az_nas``), and the table's metric, cost and key columns, all of which a
    record resolves before a ``proxy_<name>`` column."""
    from .ensembles import ALIASES
    from .schema import ARCH_COLUMNS, COSTS, KERNELS, METRICS, ORIENTATION, PROVENANCE_COLUMNS

    return set(ORIENTATION) | set(KERNELS) | set(ALIASES) | set(METRICS) | set(COSTS) \
        | set(ARCH_COLUMNS) | set(PROVENANCE_COLUMNS)


def check_name(name: Any) -> str:
    """A user proxy's name: 1-40 lower-case letters, digits and single underscores, not reserved."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or "__" in name:
        raise UserProxyError(f"user proxy name {short_repr(name)}: use a string of 1-40 lower-case letters, digits "
                             "and single underscores, starting with a letter (it names the table column "
                             "proxy_<name>)")
    if name in reserved_names():
        raise UserProxyError(f"user proxy name {name!r} is a built-in proxy's, an ensemble's or a table field's "
                             "(a record would resolve it to that); pass another name")
    return name


def check_orientation(orientation: Any) -> int:
    """1 (higher is better) or -1, as an int: never a bool or a float."""
    if not is_orientation(orientation):
        raise UserProxyError(f"orientation must be the integer 1 (higher is better) or -1, "
                             f"got {short_repr(orientation)}")
    return int(orientation)


@dataclass(frozen=True)
class UserProxy:
    """Where a user proxy lives (file and function) and what its table columns are called.
    Picklable, so that builder workers load the function themselves."""

    name: str
    path: str
    function: str
    sha256: str
    orientation: int = 1

    @property
    def tag(self) -> str:
        """Unit-key tag: a changed file is a different proxy, so its results never mix."""
        return f"user-{self.name}-{self.sha256[:10]}"

    @property
    def spec(self) -> str:
        return f"{self.path}:{self.function}"

    def declaration(self) -> dict:
        return {"orientation": self.orientation, "revision": 1, "data": "labelled",
                "doc": f"user proxy {self.function} from {Path(self.path).name} (sha256 {self.sha256[:16]})"}

    @classmethod
    def from_spec(cls, spec: str, name: Optional[str] = None, orientation: int = 1) -> "UserProxy":
        """``"path/to/file.py:function"`` (the function may be nested in a class: ``Cls.fn``)."""
        path, sep, function = str(spec).rpartition(":")
        if not sep or not path or not function:
            raise UserProxyError(f"user proxy {spec!r}: give FILE.py:FUNCTION, e.g. my_proxy.py:my_proxy")
        return cls._make(Path(path), function, name, orientation)

    @classmethod
    def from_function(cls, fn: Callable, name: Optional[str] = None, orientation: int = 1) -> "UserProxy":
        """The proxy a function defined at a file's top level (or in a class there) is."""
        if not callable(fn):
            raise UserProxyError(f"user proxy {fn!r} is not callable; give a function (model, batch) -> float")
        qual = getattr(fn, "__qualname__", "")
        try:
            path = Path(inspect.getfile(fn))
        except TypeError:
            path = Path("")
        if not qual or "<" in qual or not path.suffix == ".py":
            raise UserProxyError(f"user proxy {qual or fn!r} must be defined at the top level of a .py file "
                                 "(not a lambda, closure or interactive definition): worker processes load it "
                                 "from its file")
        return cls._make(path, qual, name, orientation)

    @classmethod
    def _make(cls, path: Path, function: str, name: Optional[str], orientation: Any) -> "UserProxy":
        if not path.is_file():
            raise UserProxyError(f"user proxy file {str(path)!r} does not exist")
        name = check_name(function.rpartition(".")[2].lower() if name is None else name)
        orientation = check_orientation(orientation)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        proxy = cls(name, str(path.resolve()), function, digest, orientation)
        proxy.load()  # fail now, not in every worker
        return proxy

    def load(self) -> Callable:
        """Import the file (as a private module) and return the function."""
        mod_name = f"_hytasbench_user_{self.sha256[:16]}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, self.path)
            if spec is None or spec.loader is None:
                raise UserProxyError(f"cannot import {self.path} as Python")
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 - the user's file, any error: say which
                raise UserProxyError(f"importing {self.path} failed: {type(exc).__name__}: {exc}") from None
            sys.modules[mod_name] = module
        obj: Any = module
        for part in self.function.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise UserProxyError(f"{self.path} has no function {self.function!r}")
        if not callable(obj):
            raise UserProxyError(f"{self.path}:{self.function} is not callable")
        return obj


def as_proxy(fn: Union[str, Callable, UserProxy], name: Optional[str] = None, orientation: int = 1) -> UserProxy:
    """The UserProxy of a function, a "file.py:function" spec or a UserProxy (returned as is)."""
    if isinstance(fn, UserProxy):
        return fn
    if isinstance(fn, (str, Path)):
        return UserProxy.from_spec(str(fn), name, orientation)
    return UserProxy.from_function(fn, name, orientation)


def checked_value(value: Any) -> Tuple[Optional[float], Optional[str]]:
    """(score, None) for a real number that is a finite float, else (None, why it is not one);
    never raises (an int too large for a float, a number type whose conversion fails)."""
    if isinstance(value, bool):
        return None, "returned a bool, not a number"
    if isinstance(value, numbers.Real):  # int, float, numpy scalars
        try:
            v = float(value)
        except Exception as exc:  # noqa: BLE001 - e.g. OverflowError for 10**400: a reason, not a crash
            return None, f"returned {short_repr(value)}, which is not a float ({type(exc).__name__}: {exc})"
        if not math.isfinite(v):
            return None, f"returned a non-finite value ({v})"
        return v, None
    kind = type(value).__module__ + "." + type(value).__qualname__
    hint = " (return tensor.item() for a one-element tensor)" if "Tensor" in kind or "ndarray" in kind else ""
    return None, f"returned a {kind}, not a real number{hint}"


def call(fn: Callable, model: Any, batch: Any, seed: int) -> Tuple[Optional[float], Optional[str]]:
    """Run the user's function on a private copy of the batch, the torch RNG seeded with ``seed``;
    whatever it does or returns, the result is a score or a reason, never an exception."""
    import dataclasses

    import torch

    private = dataclasses.replace(batch, x=batch.x.clone(), y=batch.y.clone())
    devices = [batch.x.device] if batch.x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            return checked_value(fn(model, private))
        except Exception as exc:  # noqa: BLE001 - a failing proxy costs its score, not the run
            return None, f"the proxy raised {type(exc).__name__}: {exc}"
