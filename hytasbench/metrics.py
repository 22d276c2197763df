"""Classification metrics from a confusion matrix (numpy only, so the analysis code can reuse them).

Rows of the confusion matrix are true classes, columns predicted classes. OA is the fraction of
correct pixels, AA the mean per-class recall (over classes that have test pixels), kappa
Cohen's kappa, all as fractions in [0, 1] (kappa can be negative).
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Union

import numpy as np

from .errors import InvalidArgumentError

ArrayLike = Union[Sequence[int], np.ndarray]


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; rejects mismatched lengths and labels out of range."""
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise InvalidArgumentError(f"y_true has {t.size} labels but y_pred has {p.size}")
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= num_classes):
            raise InvalidArgumentError(f"{name} must hold integer class indices in 0..{num_classes - 1}")
    return np.bincount(t.astype(np.int64) * num_classes + p.astype(np.int64), minlength=num_classes * num_classes) \
        .reshape(num_classes, num_classes).astype(np.int64)


def _check(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InvalidArgumentError(f"a confusion matrix must be square, got shape {cm.shape}")
    if cm.sum() == 0:
        raise InvalidArgumentError("the confusion matrix is empty (no test samples)")
    return cm.astype(np.float64)


def overall_accuracy(cm: np.ndarray) -> float:
    cm = _check(cm)
    return float(np.trace(cm) / cm.sum())


def class_accuracy(cm: np.ndarray) -> List[float]:
    """Recall of each class; NaN for a class without test pixels."""
    cm = _check(cm)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.diag(cm) / support).tolist()


def average_accuracy(cm: np.ndarray) -> float:
    return float(np.nanmean(class_accuracy(cm)))


def kappa(cm: np.ndarray) -> float:
    """Cohen's kappa: (p_o - p_e) / (1 - p_e); 1.0 when chance agreement is already perfect and met."""
    cm = _check(cm)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float((cm.sum(axis=0) * cm.sum(axis=1)).sum() / (n * n))
    if pe == 1.0:
        return 1.0 if po == 1.0 else 0.0
    return float((po - pe) / (1.0 - pe))


def summarize(cm: np.ndarray) -> Dict[str, object]:
    """oa, aa, kappa and class_acc of a confusion matrix."""
    return {"oa": overall_accuracy(cm), "aa": average_accuracy(cm), "kappa": kappa(cm),
            "class_acc": class_accuracy(cm)}
