"""Loading a dataset: cube (bands removed, min-max scaled), label maps and the train/test split.

Numpy/scipy only (no torch): samples are built from :class:`HSIData` by ``samples.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import DatasetFormatError
from .files import PathLike, digests, locate
from .specs import DatasetSpec, get_spec

DEFAULT_SPLIT_SEED = 0


@dataclass
class LabelMaps:
    """Per-pixel class maps of one dataset: 0 = unlabelled, k = class index k-1."""

    train: Optional[np.ndarray] = None  # fixed splits
    test: Optional[np.ndarray] = None
    gt: Optional[np.ndarray] = None  # random splits draw from this


@dataclass
class HSIData:
    """A dataset ready for sampling: cube (H, W, bands) float32 in [0, 1], pixel coordinates
    (N, 2) as (row, col) and 0-based labels of the training and test pixels."""

    name: str
    cube: np.ndarray
    train_rc: np.ndarray
    train_labels: np.ndarray
    test_rc: np.ndarray
    test_labels: np.ndarray
    class_names: Tuple[str, ...]
    band_patch: int
    split_seed: Optional[int] = None  # None for fixed split maps
    synthetic: bool = False
    files: Dict[str, str] = field(default_factory=dict)  # file name -> sha256 (provenance)

    @property
    def bands(self) -> int:
        return int(self.cube.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def spec(self) -> DatasetSpec:
        return get_spec(self.name)


def read_tiff(path: PathLike) -> np.ndarray:
    """The first image of a TIFF file (tifffile): (H, W) for one sample per pixel, else
    (H, W, samples); samples stored as planes (or one page per band) are moved last."""
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            series = tif.series[0]
            img, axes = series.asarray(), series.axes
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, zlib.error, ... on bad files
        raise DatasetFormatError(path, f"not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
    if img.ndim not in (2, 3) or img.size == 0:
        raise DatasetFormatError(path, f"not a readable TIFF file: its first image has shape {img.shape} ({axes})")
    if img.ndim == 3 and axes.endswith("YX"):  # (samples, H, W) -> (H, W, samples)
        img = np.moveaxis(img, 0, -1)
    return img


def read_array(path: PathLike, key: str = "") -> np.ndarray:
    """An array from a .mat (by key) or .tif file, with errors naming the file and the keys found."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return read_tiff(path)
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many kinds (MatReadError, zlib.error, IndexError, ...) on bad files
        raise DatasetFormatError(path, f"not a readable MATLAB (v5) file: {type(exc).__name__}: {exc}") from exc
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetFormatError(path, f"has no variable {key!r}; found {keys}")
    return np.asarray(mat[key])


def check_labels(arr: np.ndarray, spec: DatasetSpec, path: PathLike, classes: int) -> np.ndarray:
    """Shape and range check of a label map; returns it as int64."""
    if arr.shape != spec.shape:
        raise DatasetFormatError(path, f"label map has shape {arr.shape}, expected {spec.shape}")
    if not np.issubdtype(arr.dtype, np.integer) and not np.array_equal(arr, np.round(arr)):
        raise DatasetFormatError(path, "label map holds non-integer values")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > classes:
        raise DatasetFormatError(path, f"labels range over {lo}..{hi}, allowed 0 (unlabelled) to {classes}")
    return arr.astype(np.int64)


def load_labels(name: str, root: Optional[PathLike] = None, download: bool = False,
                verify: bool = True) -> LabelMaps:
    """The label maps of a dataset (no cube needed): train/test maps or the ground truth."""
    spec = get_spec(name)
    roles = ("train", "test") if spec.split == "fixed" else ("gt",)
    paths = locate(spec, root, roles, download=download, verify=verify)
    maps: Dict[str, np.ndarray] = {}
    for role in roles:
        f = spec.file(role)
        classes = len(spec.split_label_map) or spec.num_classes
        arr = check_labels(read_array(paths[role], f.key), spec, paths[role], classes)
        if spec.split_label_map:
            arr = np.concatenate([[0], spec.split_label_map])[arr]
        maps[role] = arr
    if spec.split == "fixed":
        both = (maps["train"] > 0) & (maps["test"] > 0)
        if both.any():
            raise DatasetFormatError(paths["train"], f"{int(both.sum())} pixels are in both the train and test maps")
    return LabelMaps(**maps)


def scale_bands(cube: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Per-band min-max scaling to [0, 1] over the whole image, as float32 (a constant band -> 0).
    ``inplace`` reuses a float32 input's memory."""
    out = cube.astype(np.float32, copy=not inplace)
    lo = out.min(axis=(0, 1), keepdims=True)
    span = out.max(axis=(0, 1), keepdims=True) - lo
    out -= lo
    out /= np.where(span > 0, span, 1.0)
    return out


def drop_raw_bands(cube: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    keep = np.setdiff1d(np.arange(spec.raw_bands), np.asarray(spec.drop_bands) - 1)
    return cube[:, :, keep]


def load_cube(name: str, root: Optional[PathLike] = None, download: bool = False,
              verify: bool = True) -> Tuple[np.ndarray, Path]:
    """The dataset's cube with water/noisy bands removed (if given raw) and scaled to [0, 1]."""
    spec = get_spec(name)
    path = locate(spec, root, ("cube",), download=download, verify=verify)["cube"]
    f = next(f for f in spec.files if f.name == path.name)
    cube = read_array(path, f.key)
    if cube.ndim != 3 or cube.shape[:2] != spec.shape:
        raise DatasetFormatError(path, f"cube has shape {cube.shape}, expected {spec.shape + (spec.bands,)}")
    if spec.raw_bands and cube.shape[2] == spec.raw_bands:
        cube = drop_raw_bands(cube, spec)
    if cube.shape[2] != spec.bands:
        allowed = f"{spec.bands}" + (f" (or {spec.raw_bands} before band removal)" if spec.raw_bands else "")
        raise DatasetFormatError(path, f"cube has {cube.shape[2]} bands, expected {allowed}")
    return scale_bands(cube), path


def pixels(label_map: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Labelled pixels in row-major order: (N, 2) (row, col) coordinates and 0-based labels."""
    rows, cols = np.nonzero(label_map)
    return np.stack([rows, cols], axis=1).astype(np.int64), label_map[rows, cols].astype(np.int64) - 1


def random_split(gt: np.ndarray, per_class: Tuple[int, ...], seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Train/test maps drawing ``per_class[c]`` pixels of each class c uniformly (numpy PCG64, seeded)."""
    rng = np.random.default_rng(seed)
    flat = gt.ravel()
    train = np.zeros_like(flat)
    for c, n in enumerate(per_class):
        idx = np.flatnonzero(flat == c + 1)
        if len(idx) < n:
            raise DatasetFormatError("ground truth", f"class {c} has {len(idx)} pixels, fewer than the {n} to draw")
        train[rng.choice(idx, size=n, replace=False)] = c + 1
    test = np.where(train > 0, 0, flat)
    return train.reshape(gt.shape), test.reshape(gt.shape)


def split_maps(spec: DatasetSpec, labels: LabelMaps, seed: Optional[int]) -> Tuple[np.ndarray, np.ndarray, Optional[int]]:
    """(train map, test map, seed used): the fixed maps, or a seeded per-class draw from the gt."""
    if spec.split == "fixed":
        return labels.train, labels.test, None
    seed = DEFAULT_SPLIT_SEED if seed is None else seed
    train, test = random_split(labels.gt, spec.train_per_class, seed)
    return train, test, seed


def assemble(spec: DatasetSpec, cube: np.ndarray, labels: LabelMaps, seed: Optional[int],
             synthetic: bool = False, files: Optional[Dict[str, str]] = None) -> HSIData:
    train, test, used = split_maps(spec, labels, seed)
    tr_rc, tr_y = pixels(train)
    te_rc, te_y = pixels(test)
    return HSIData(spec.name, cube, tr_rc, tr_y, te_rc, te_y, spec.class_names, spec.band_patch, used,
                   synthetic, dict(files or {}))


def load_dataset(name: str, root: Optional[PathLike] = None, seed: Optional[int] = None,
                 download: bool = False, verify: bool = True) -> HSIData:
    """A dataset from the data root: verified files, scaled cube and its train/test split.

    ``seed`` picks the per-class random split of Salinas and KSC (default 0); fixed splits ignore it.
    """
    spec = get_spec(name)
    locate(spec, root, download=download, verify=verify)  # one error listing every missing or wrong file
    labels = load_labels(spec.name, root, verify=False)
    cube, cube_path = load_cube(spec.name, root, verify=False)
    roles = ("train", "test") if spec.split == "fixed" else ("gt",)
    label_paths = [cube_path.parent / spec.file(r).name for r in roles]
    files = {p.name: digests(p)["sha256"] for p in [cube_path] + label_paths}
    return assemble(spec, cube, labels, seed, files=files)
