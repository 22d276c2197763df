"""hytasbench: the HyTAS transformer-architecture-search benchmark as a torch-free tabular API."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (ArchitectureNotInTableError, DatasetFilesError, DownloadError, HytasError,  # noqa: F401
                     InvalidArchitectureError, TableError, UnknownDatasetError, UnknownFieldError,
                     UnknownSourceError)
from .space import Arch, parse  # noqa: F401


def __getattr__(name: str):
    # Benchmark pulls in pandas/pyarrow; keep `import hytasbench` itself cheap.
    if name == "Benchmark":
        from .benchmark import Benchmark
        return Benchmark
    if name == "evaluate_proxy":  # bring your own proxy (hytasbench.evaluate; scoring needs torch)
        from .evaluate import evaluate_proxy
        return evaluate_proxy
    raise AttributeError(f"module 'hytasbench' has no attribute {name!r}")
