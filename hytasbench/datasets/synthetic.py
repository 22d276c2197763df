"""Synthetic cubes of a dataset's real shape over its real label maps (numpy only).

For tests, benchmarks and machines without the real cubes: every labelled pixel gets its class's
smooth random mean spectrum plus Gaussian noise, unlabelled pixels a random mixture of two class
spectra, so the classes are separable but not trivially (``noise`` sets how hard). The train/test
split is the dataset's own (fixed maps, or the seeded per-class draw).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .files import PathLike
from .load import HSIData, LabelMaps, assemble, load_labels, scale_bands
from .specs import get_spec

_CHUNK = 1 << 16


def class_spectra(num_classes: int, bands: int, rng: np.random.Generator) -> np.ndarray:
    """(classes, bands) smooth curves: a few random sinusoids each, roughly in [-1, 1]."""
    t = np.linspace(0.0, 1.0, bands)[None, :, None]
    freq = rng.uniform(0.5, 4.0, size=(num_classes, 1, 4))
    phase = rng.uniform(0, 2 * np.pi, size=(num_classes, 1, 4))
    return (np.sin(2 * np.pi * freq * t + phase).sum(axis=2) / 2.0).astype(np.float32)


def synthetic_cube(labels: np.ndarray, num_classes: int, bands: int, seed: int = 0,
                   noise: float = 2.0) -> np.ndarray:
    """(H, W, bands) float32 in [0, 1] for a label map (0 = unlabelled, k = class k-1)."""
    rng = np.random.default_rng(seed)
    spectra = class_spectra(num_classes, bands, rng)
    flat = labels.ravel()
    cube = np.empty((flat.size, bands), dtype=np.float32)
    for start in range(0, flat.size, _CHUNK):  # chunks keep the peak memory near the cube's own size
        lab = flat[start:start + _CHUNK]
        n = lab.size
        a, b = rng.integers(0, num_classes, size=n), rng.integers(0, num_classes, size=n)
        mix = rng.uniform(size=(n, 1)).astype(np.float32)
        part = spectra[a] * mix + spectra[b] * (1 - mix)
        part[lab > 0] = spectra[lab[lab > 0] - 1]
        part += rng.standard_normal(part.shape, dtype=np.float32) * np.float32(noise)
        cube[start:start + n] = part
    return scale_bands(cube.reshape(labels.shape + (bands,)), inplace=True)


def synthetic_dataset(name: str, root: Optional[PathLike] = None, seed: int = 0, split_seed: Optional[int] = None,
                      noise: float = 2.0, labels: Optional[LabelMaps] = None) -> HSIData:
    """A dataset whose cube is synthetic and whose label maps and split are real (read from ``root``)."""
    spec = get_spec(name)
    labels = labels if labels is not None else load_labels(spec.name, root)
    full = labels.gt if labels.gt is not None else labels.train + labels.test
    cube = synthetic_cube(full, spec.num_classes, spec.bands, seed, noise)
    return assemble(spec, cube, labels, split_seed, synthetic=True)
