"""The one place that opens a dataset for training or scoring: the real cube, or a synthetic cube
over the real label maps, loaded once per process.

A build worker trains and scores many architectures on the same few datasets, and live recompute
scores again and again in one session: loading a cube takes seconds, so every caller goes through
this cache (keyed by dataset, data root, synthetic and split seed).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Tuple

from .files import PathLike
from .load import HSIData, load_dataset
from .specs import canonical_name
from .synthetic import synthetic_dataset

#: the five datasets, real or synthetic, fit; more evicts the least recently used
CACHE_SIZE = 5

_Key = Tuple[str, Optional[str], bool, Optional[int]]
_cache: "OrderedDict[_Key, HSIData]" = OrderedDict()


def open_dataset(name: str, root: Optional[PathLike] = None, *, synthetic: bool = False,
                 split_seed: Optional[int] = None, download: bool = False) -> HSIData:
    """Dataset ``name`` from ``root`` (default $HYTASBENCH_DATA or <cache>/datasets): the real files
    (DatasetFilesError says which are missing; ``download`` fetches those with a public URL), or
    with ``synthetic`` a synthetic cube over the real label maps. ``split_seed`` picks the random
    split of Salinas and KSC (default 0). The same arguments return the same object, which callers
    must not modify."""
    key = (canonical_name(name), None if root is None else str(root), bool(synthetic), split_seed)
    data = _cache.get(key)
    if data is None:
        if synthetic:
            data = synthetic_dataset(key[0], root, split_seed=split_seed)
        else:
            data = load_dataset(key[0], root, seed=split_seed, download=download)
        _cache[key] = data
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    _cache.move_to_end(key)
    return data


def clear_cache() -> None:
    """Forget every opened dataset (e.g. after the files under a data root changed)."""
    _cache.clear()
