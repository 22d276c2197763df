"""The record a surrogate returns: a prediction, labelled as one, never a table record."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

from ..space import Arch


@dataclass(frozen=True)
class Prediction:
    """Predicted OA and training seconds of one architecture, with ``level`` predictive intervals.

    ``model``/``source``/``table_sha256`` say which surrogate of which table made it; ``support``
    counts the training architectures with the same depth and width (0 means the surrogate
    extrapolates: do not trust it there); ``tabulated`` says whether the table itself holds the
    architecture (then ``Benchmark.query`` gives the measured value, which this never replaces).
    """

    arch: Arch
    dataset: str
    oa: float
    oa_interval: Tuple[float, float]
    train_seconds: float
    train_seconds_interval: Tuple[float, float]
    level: float
    model: str
    source: str
    table_sha256: str
    n_train: int
    support: int
    tabulated: bool
    kind: str = "prediction"

    @property
    def is_prediction(self) -> bool:
        return True

    @property
    def extrapolated(self) -> bool:
        """True when no training architecture shares this depth and width."""
        return self.support == 0

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "arch": str(self.arch), "dataset": self.dataset, "oa": self.oa,
                "oa_interval": list(self.oa_interval), "train_seconds": self.train_seconds,
                "train_seconds_interval": list(self.train_seconds_interval), "level": self.level,
                "model": self.model, "source": self.source, "table_sha256": self.table_sha256,
                "n_train": self.n_train, "support": self.support, "extrapolated": self.extrapolated,
                "tabulated": self.tabulated}

    def __repr__(self) -> str:
        lo, hi = self.oa_interval
        return (f"Prediction({self.arch}, {self.dataset}, oa={self.oa:.4f} [{lo:.4f}, {hi:.4f}] at "
                f"{self.level:.0%}, model={self.model!r}, source={self.source!r}, support={self.support})")
