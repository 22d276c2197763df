"""Zero-cost proxy kernels and the fused engine (needs torch).

``score_architecture(arch, dataset)`` gives every proxy's table columns for one architecture;
``run_engine(model, batch, proxies)`` scores any model prepared as a :class:`Target`.
Kernels register by name in :mod:`.registry`, one module per family.
"""
from . import (activation, aznas, croze, gradient, gradsign, jacob, linearised, meco, size,  # noqa: F401
               swap, zico)  # (registration)
from .batch import ProxyBatch, proxy_batch  # noqa: F401
from .engine import EngineReport, run_engine, score_architecture  # noqa: F401
from .registry import REGISTRY, Proxy, available, data_free, get  # noqa: F401
from .result import ProxyResult  # noqa: F401
from .target import Target, target_for  # noqa: F401
