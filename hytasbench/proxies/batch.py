"""The proxies' batch protocol: one training pixel per class, drawn with a fixed seed, from the
real dataset (or, for tests and machines without the cube, a synthetic cube over the real label
maps), as (classes, bands, 49 * band_patch) samples ordered by class.

Datasets are loaded once per process (hytasbench.datasets.opener; scoring 2000 architectures
reuses one cube).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
import torch

from ..datasets import canonical_name
from ..errors import DatasetFormatError

DEFAULT_SEED = 0


@dataclass(frozen=True)
class ProxyBatch:
    dataset: str
    x: torch.Tensor  # (B, bands, 49 * band_patch), float32
    y: torch.Tensor  # (B,) class indices
    pixels: Tuple[Tuple[int, int], ...]  # (row, col) of each sample
    seed: int
    synthetic: bool = False
    shape_only: bool = False  # zeros of the dataset's shape: for data-free kernels, which read no pixels

    @property
    def size(self) -> int:
        return int(self.y.shape[0])


def one_per_class(labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Index of one training pixel per class, classes in order, drawn with numpy PCG64(seed)."""
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            raise DatasetFormatError("training split", f"class {c} has no training pixel")
        picks.append(int(rng.choice(idx)))
    return np.asarray(picks)


@lru_cache(maxsize=16)
def proxy_batch(dataset: str, seed: int = DEFAULT_SEED, data_root: Optional[str] = None,
                synthetic: bool = False, device: str = "cpu") -> ProxyBatch:
    """The scoring batch of a dataset (needs its files: DatasetFilesError says which are missing)."""
    from ..datasets.opener import open_dataset
    from ..datasets.samples import sampler_for

    name = canonical_name(dataset)
    data = open_dataset(name, data_root, synthetic=synthetic)
    pick = one_per_class(data.train_labels, data.num_classes, seed)
    rc = torch.as_tensor(data.train_rc[pick])
    x = sampler_for(data, device)(rc)
    y = torch.as_tensor(data.train_labels[pick], device=device)
    return ProxyBatch(name, x, y, tuple(map(tuple, data.train_rc[pick].tolist())), seed, synthetic)


def shape_batch(dataset: str, device: str = "cpu") -> ProxyBatch:
    """A batch with the dataset's shape and no data (zeros, one sample per class): what the
    data-free kernels (``Proxy.data == "none"``) need, so that a dataset whose cube is not on this
    machine can be scored from its band and class counts alone."""
    from ..datasets import get_spec

    spec = get_spec(dataset)
    x = torch.zeros(spec.num_classes, spec.bands, 49 * spec.band_patch, device=device)
    y = torch.arange(spec.num_classes, device=device)
    return ProxyBatch(canonical_name(dataset), x, y, (), 0, shape_only=True)
