"""A surrogate benchmark for the whole HyTAS space: predicted OA and training seconds, with intervals.

``Benchmark(...).predict(arch, dataset)`` (or :func:`surrogate_for`) fits a model to a table's
trained architectures at first use and predicts any architecture of the space. Predictions are
:class:`Prediction` records, never table records. Torch-free. See docs/surrogate.md for the
validation.
"""
from __future__ import annotations

from .fitted import Surrogate, surrogate_for, table_digest
from .model import ALL_MODELS, DEFAULT_MODEL, LEVEL, features
from .record import Prediction

__all__ = ["ALL_MODELS", "DEFAULT_MODEL", "LEVEL", "Prediction", "Surrogate", "features", "surrogate_for",
           "table_digest"]
