"""Metrics against confusion matrices computed by hand."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from hytasbench.errors import InvalidArgumentError
from hytasbench.metrics import (average_accuracy, class_accuracy, confusion_matrix, kappa, overall_accuracy,
                                summarize)

Y_TRUE = [0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0, 2]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]  # rows true, columns predicted
    assert cm.dtype == np.int64


def test_metrics_by_hand():
    cm = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert overall_accuracy(cm) == pytest.approx(5 / 7)
    assert class_accuracy(cm) == pytest.approx([1 / 2, 1.0, 2 / 3])
    assert average_accuracy(cm) == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    # p_o = 5/7; row sums (2, 2, 3), column sums (2, 3, 2): p_e = (4 + 6 + 6) / 49
    assert kappa(cm) == pytest.approx((5 / 7 - 16 / 49) / (1 - 16 / 49))
    assert kappa(cm) == pytest.approx(19 / 33)
    s = summarize(cm)
    assert set(s) == {"oa", "aa", "kappa", "class_acc"}


def test_perfect_and_chance():
    assert kappa(np.diag([3, 4, 5])) == 1.0
    assert overall_accuracy(np.diag([3, 4, 5])) == 1.0
    # every pixel predicted as class 0: OA = share of class 0, kappa = 0
    cm = np.array([[6, 0], [4, 0]])
    assert overall_accuracy(cm) == pytest.approx(0.6)
    assert kappa(cm) == pytest.approx(0.0)
    assert kappa(np.array([[5, 0], [0, 0]])) == 1.0  # one class only, all right


def test_class_without_test_pixels_is_left_out_of_aa():
    cm = np.array([[2, 0, 0], [0, 0, 0], [1, 0, 1]])
    acc = class_accuracy(cm)
    assert math.isnan(acc[1])
    assert average_accuracy(cm) == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize("t, p, n, match", [
    ([0, 1], [0], 2, "2 labels"),
    ([0, 2], [0, 1], 2, "0..1"),
    ([0, -1], [0, 1], 2, "0..1"),
    ([0, 1], [0.5, 1], 2, "integer"),
])
def test_confusion_matrix_errors(t, p, n, match):
    with pytest.raises(InvalidArgumentError, match=match):
        confusion_matrix(t, p, n)


def test_bad_matrices():
    with pytest.raises(InvalidArgumentError, match="square"):
        overall_accuracy(np.zeros((2, 3)))
    with pytest.raises(InvalidArgumentError, match="empty"):
        kappa(np.zeros((2, 2)))


def test_metrics_module_is_torch_free():
    code = "import sys, hytasbench.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
