"""Streaming statistics over samples, so that a batch split into chunks (after running out of
memory) gives the same numbers as the whole batch: moments (mean, std, mean |x|), cosine
similarity along the sample axis, and binary-code kernels (NASWOT)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch


class Moments:
    """Per-element mean, population std and mean absolute value over samples (dim 0), merged
    across chunks with Chan's parallel formula, in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: Optional[torch.Tensor] = None
        self.m2: Optional[torch.Tensor] = None
        self.abs_sum: Optional[torch.Tensor] = None

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to(torch.float64)
        n_b = x.shape[0]
        mean_b = x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        abs_b = x.abs().sum(0)
        if self.mean is None:
            self.n, self.mean, self.m2, self.abs_sum = n_b, mean_b, m2_b, abs_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.abs_sum = self.abs_sum + abs_b
        self.n = n

    @property
    def std(self) -> torch.Tensor:
        return (self.m2 / self.n).sqrt()

    @property
    def mean_abs(self) -> torch.Tensor:
        return self.abs_sum / self.n


class SampleCosine:
    """Cosine similarity of two tensors along the sample axis (dim 0), element-wise over the
    rest, accumulated over chunks (as ``nn.CosineSimilarity(dim=0)``, eps 1e-8)."""

    def __init__(self) -> None:
        self.dot: Optional[torch.Tensor] = None
        self.na: Optional[torch.Tensor] = None
        self.nb: Optional[torch.Tensor] = None

    def update(self, a: torch.Tensor, b: torch.Tensor) -> None:
        a, b = a.detach().to(torch.float64), b.detach().to(torch.float64)
        parts = ((a * b).sum(0), (a * a).sum(0), (b * b).sum(0))
        if self.dot is None:
            self.dot, self.na, self.nb = parts
        else:
            self.dot, self.na, self.nb = self.dot + parts[0], self.na + parts[1], self.nb + parts[2]

    def value(self) -> torch.Tensor:
        eps = 1e-8
        return self.dot / (self.na.sqrt().clamp_min(eps) * self.nb.sqrt().clamp_min(eps))


def code_kernel(codes: torch.Tensor) -> np.ndarray:
    """NASWOT kernel of binary codes (samples, units): c.c^T + (1-c).(1-c)^T (Hamming agreement)."""
    c = codes.to(torch.float64)
    return (c @ c.T + (1 - c) @ (1 - c).T).cpu().numpy()


def logabsdet(k: np.ndarray) -> float:
    """log|det K| (-inf for a singular K)."""
    _, ld = np.linalg.slogdet(k)
    return float(ld)
