"""The tabulated search space: how search moves stay inside the architectures a table holds.

A table holds ~2000 architectures of a space of ~7.9e14, so a one-edit mutation
(:func:`hytasbench.space.mutate`) almost never lands on a tabulated architecture: the nearest
other tabulated architecture is typically 5 edits away under :func:`hytasbench.space.distance`.
Rather than invent values for untabulated architectures, every move is redefined on the table:

* the *neighbourhood* of a tabulated architecture is its ``k`` nearest other tabulated
  architectures under :func:`hytasbench.space.distance`, ties broken by table position
  (i.e. architecture id, which is itself a random draw, so the tie-break is unbiased);
* a *mutation* is a uniform draw from that neighbourhood;
* :meth:`TabulatedSpace.snap` maps any architecture of the space to its nearest tabulated one,
  for user algorithms that generate free-form architectures.

The full pairwise distance matrix is computed once, vectorised (2000 x 2000 int16, 8 MB); a test
checks it equals :func:`hytasbench.space.distance` on sampled pairs.
"""
from __future__ import annotations

import random
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..arguments import check_int
from ..errors import ArchitectureNotInTableError, InvalidArgumentError, InvalidSettingError
from ..space import DEPTHS, EMBED_DIMS, Arch, ArchLike, parse
from .features import encode

DEFAULT_NEIGHBOURS = 3
_MAX_DEPTH = max(DEPTHS)


def _layout(archs: Sequence[Arch]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Width index, depth, and per-layer heads/ratios padded with 0 beyond each depth."""
    n = len(archs)
    width = np.fromiter((EMBED_DIMS.index(a.embed_dim) for a in archs), dtype=np.int16, count=n)
    depth = np.fromiter((a.depth for a in archs), dtype=np.int16, count=n)
    heads = np.zeros((n, _MAX_DEPTH), dtype=np.int8)
    ratios = np.zeros((n, _MAX_DEPTH), dtype=np.int8)
    for i, a in enumerate(archs):
        heads[i, :a.depth] = a.num_heads
        ratios[i, :a.depth] = a.mlp_ratio
    return width, depth, heads, ratios


def _distances(rows: Sequence[Arch], cols: Sequence[Arch]) -> np.ndarray:
    """``space.distance`` between every row and column architecture, as an int16 matrix."""
    wr, dr, hr, rr = _layout(rows)
    wc, dc, hc, rc = _layout(cols)
    out = np.abs(wr[:, None] - wc[None, :]) + 2 * np.abs(dr[:, None] - dc[None, :])
    common = np.minimum(dr[:, None], dc[None, :])
    for layer in range(_MAX_DEPTH):
        mismatch = (hr[:, None, layer] != hc[None, :, layer]).astype(np.int16)
        mismatch += rr[:, None, layer] != rc[None, :, layer]
        out += mismatch * (layer < common)
    return out.astype(np.int16)


class TabulatedSpace:
    """What a searcher may know for free: the tabulated architectures, their features, moves.

    Holds no accuracy and no proxy score: those cost simulated time and come from the runner.
    Indices are positions ``0..n-1`` in this space (not HyTAS-2000 ids). ``features`` default to
    the architecture-only encoding of :mod:`hytasbench.nas.features`.
    """

    def __init__(self, archs: Sequence[Arch], features: Optional[np.ndarray] = None,
                 feature_names: Sequence[str] = (), neighbours: int = DEFAULT_NEIGHBOURS,
                 proxies: Sequence[str] = (), orientation: Optional[Dict[str, int]] = None):
        if len(archs) < 2:
            raise InvalidArgumentError(f"a search space needs at least 2 architectures, got {len(archs)}")
        self.k = check_int(neighbours, "neighbours", minimum=1, error=InvalidSettingError)
        self.archs: Tuple[Arch, ...] = tuple(archs)
        self.strings = np.array([str(a) for a in self.archs], dtype=object)
        if features is None:
            features, feature_names = encode(self.archs)
        self.features = np.asarray(features, dtype=float)
        self.feature_names: Tuple[str, ...] = tuple(feature_names)
        if self.features.shape != (len(self.archs), len(self.feature_names)):
            raise InvalidArgumentError(f"features have shape {self.features.shape}, expected "
                             f"({len(self.archs)}, {len(self.feature_names)}) from the names")
        self.proxies: Tuple[str, ...] = tuple(proxies)
        self._orientation = dict(orientation or {})
        self._index = {a: i for i, a in enumerate(self.archs)}
        self._neighbour_lists: Optional[List[List[int]]] = None
        self._neighbour_distance: Optional[np.ndarray] = None

    def _neighbourhood(self) -> List[List[int]]:
        """Every candidate's ``k`` nearest others, computed when a move first needs them: an
        algorithm that makes no move (random search) neither pays for them nor fails on a ``k``
        that this table is too small for."""
        if self._neighbour_lists is None:
            check_int(self.k, f"neighbours (the table has {self.n} candidate architectures, trained with a recorded "
                              f"OA, so at most {self.n - 1} others each)", 1, self.n - 1, InvalidSettingError)
            dist = _distances(self.archs, self.archs)
            np.fill_diagonal(dist, np.iinfo(np.int16).max)
            nearest = np.argsort(dist, axis=1, kind="stable")[:, :self.k]
            self._neighbour_distance = np.take_along_axis(dist, nearest, axis=1)
            self._neighbour_lists = nearest.tolist()
        return self._neighbour_lists

    @property
    def neighbour_distance(self) -> np.ndarray:
        """``space.distance`` from each candidate to each of its neighbours, nearest first."""
        self._neighbourhood()
        return self._neighbour_distance

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def n(self) -> int:
        return len(self.archs)

    def index(self, arch: ArchLike) -> int:
        """Position of a tabulated architecture; raises if the table does not hold it."""
        a = parse(arch)
        try:
            return self._index[a]
        except KeyError:
            raise ArchitectureNotInTableError(
                a, "this search", "candidate set",
                "only tabulated architectures with a recorded OA can be evaluated; "
                "use TabulatedSpace.snap(arch) for the nearest tabulated one") from None

    def neighbours(self, i: int) -> List[int]:
        """The ``k`` nearest other tabulated architectures of position ``i``, nearest first."""
        return self._neighbourhood()[i]

    def mutate(self, i: int, rng: random.Random) -> int:
        """A uniform draw from the tabulated neighbourhood of ``i`` (never ``i`` itself)."""
        return self._neighbourhood()[i][rng.randrange(self.k)]

    def snap(self, arch: ArchLike) -> int:
        """Position of the nearest tabulated architecture under ``space.distance`` (ties: lowest position)."""
        a = parse(arch)
        if a in self._index:
            return self._index[a]
        return int(np.argmin(_distances([a], self.archs)[0]))

    def add_proxy(self, name: str, orientation: int) -> None:
        """A score derived after construction (an ensemble of the tabulated proxies)."""
        if name not in self.proxies:
            self.proxies += (name,)
        self._orientation[name] = orientation

    def orientation(self, proxy: str) -> int:
        """+1 if a higher raw score of ``proxy`` predicts higher accuracy, -1 if lower does."""
        return self._orientation.get(proxy, 1)
