"""Model inputs built on the fly (torch): 7x7 neighbourhoods and group-wise spectral embedding.

A sample of pixel (r, c) is (bands, 49 * band_patch): token b holds, for each band offset
k = -band_patch//2 .. band_patch//2 in that order, the 7x7 patch (row-major) of band
(b + k) mod bands. The image is mirror-padded by 3 with the edge pixel repeated (numpy
'symmetric', as SpectralFormer). Batches are gathered from the padded cube on the training
device by index arithmetic, so nothing but the padded cube and one batch is ever in memory.
(SpectralFormer orders the band groups b-1, b-2, .., b, b+1, ..: a fixed permutation of the
input features, which a linear patch embedding absorbs; ours is the natural order.)
"""
from __future__ import annotations

from typing import Iterator, Union

import numpy as np
import torch

from ..errors import InvalidArgumentError
from .load import HSIData

PATCH = 7


class PatchSampler:
    """Builds batches of samples from a cube held (padded) on ``device``."""

    def __init__(self, cube: np.ndarray, band_patch: int, device: Union[str, torch.device] = "cpu",
                 patch: int = PATCH, dtype: torch.dtype = torch.float32):
        if cube.ndim != 3:
            raise InvalidArgumentError(f"cube must be (H, W, bands), got shape {cube.shape}")
        if band_patch < 1 or band_patch % 2 == 0 or band_patch > cube.shape[2]:
            raise InvalidArgumentError(f"band_patch must be odd and between 1 and {cube.shape[2]}, got {band_patch}")
        pad = patch // 2
        padded = np.pad(cube, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
        self.height, self.width, self.bands = cube.shape
        self.band_patch, self.patch = band_patch, patch
        self.device = torch.device(device)
        self._padded_width = padded.shape[1]
        self._table = torch.from_numpy(padded.reshape(-1, self.bands)).to(self.device, dtype)
        dr, dc = np.meshgrid(np.arange(patch), np.arange(patch), indexing="ij")
        self._offsets = torch.as_tensor((dr * self._padded_width + dc).ravel(), device=self.device)
        half = band_patch // 2
        groups = (np.arange(self.bands)[:, None] + np.arange(-half, half + 1)[None, :]) % self.bands
        self._groups = torch.as_tensor(groups, device=self.device)

    @property
    def token_dim(self) -> int:
        return self.patch * self.patch * self.band_patch

    def __call__(self, rc: torch.Tensor) -> torch.Tensor:
        """Samples (N, bands, 49 * band_patch) for (N, 2) (row, col) pixel coordinates on the device."""
        if rc.dim() != 2 or rc.shape[1] != 2:
            raise InvalidArgumentError(f"pixel coordinates must be (N, 2) (row, col), got shape {tuple(rc.shape)}")
        base = rc[:, 0] * self._padded_width + rc[:, 1]  # top-left of the window in the padded image
        windows = self._table[base[:, None] + self._offsets].transpose(1, 2)  # (N, bands, 49)
        return windows[:, self._groups].reshape(rc.shape[0], self.bands, self.token_dim)

    def batches(self, rc: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        for start in range(0, rc.shape[0], batch_size):
            yield self(rc[start:start + batch_size])


def sampler_for(data: HSIData, device: Union[str, torch.device] = "cpu") -> PatchSampler:
    return PatchSampler(data.cube, data.band_patch, device)


def build_samples(data: HSIData, which: str = "train") -> torch.Tensor:
    """All samples of a (small) pixel set at once, on the CPU: for tests and baselines only."""
    rc = torch.as_tensor(data.train_rc if which == "train" else data.test_rc)
    return sampler_for(data)(rc)
