"""Regret curves: best OA among the candidates minus the incumbent's OA, against simulated cost.

Each seed's regret is a step function that changes only when a training finishes; it is read on a
common grid (simulated seconds or number of trainings) and summarised over seeds: mean, standard
deviation, standard error, median and quartiles. Before a seed's first training its regret is
undefined (NaN): summaries use the seeds that have an incumbent, and ``n`` says how many that is,
so the early part of a curve is never silently averaged over fewer runs. matplotlib (extra
``plot``) is imported only by :func:`plot_regret` and :func:`check_plot_file`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from ..errors import InvalidArgumentError, InvalidSettingError, NoAccuracyError, require, short_repr
from .interface import TRAIN
from .runner import SearchResults

AXES = ("seconds", "trainings")
Results = Union[SearchResults, Iterable[SearchResults]]


def _as_list(results: Results) -> list:
    try:
        items = [results] if isinstance(results, SearchResults) else list(results)
    except TypeError:  # not iterable
        items = []
    if not items or not all(isinstance(r, SearchResults) for r in items):
        raise InvalidArgumentError(f"expected SearchResults or an iterable of them (from hytasbench.nas.run_many), "
                                   f"got {short_repr(results)}")
    return items


def _check_axis(x: str) -> None:
    if x not in AXES:
        raise InvalidSettingError(f"x must be one of {AXES}, got {short_repr(x)}")


def _check_grid(grid: Sequence[float]) -> np.ndarray:
    """Budgets to read regret at: a non-empty sequence of finite numbers >= 0."""
    try:
        g = np.asarray(grid, dtype=float)
    except (TypeError, ValueError):
        g = np.full(0, np.nan)
    if g.ndim != 1 or not len(g) or not np.all(np.isfinite(g) & (g >= 0)):
        raise InvalidArgumentError(f"budgets to read regret at must be a non-empty sequence of finite numbers >= 0, "
                                   f"got {short_repr(grid)}")
    return g


def regret_matrix(results: SearchResults, grid: np.ndarray, x: str = "seconds") -> np.ndarray:
    """Regret of every seed (rows) at every grid point (columns); NaN before the first training."""
    _check_axis(x)
    grid = np.asarray(grid, dtype=float)
    out = np.full((len(results.trajectories), len(grid)), np.nan)
    for row, t in enumerate(results.trajectories):
        trained = t.kind == TRAIN
        at = t.elapsed[trained] if x == "seconds" else np.arange(1, trained.sum() + 1, dtype=float)
        pos = np.searchsorted(at, grid, side="right") - 1
        regret = results.problem.best_oa - t.best_oa[trained]
        out[row] = np.where(pos >= 0, regret[np.maximum(pos, 0)], np.nan)
    return out


def default_grid(results: Results, x: str = "seconds", points: int = 100) -> np.ndarray:
    """Log-spaced from the earliest first training to the largest budget or end reached."""
    _check_axis(x)
    items = _as_list(results)
    firsts, ends = [], []
    for r in items:
        for t in r.trajectories:
            trained = t.kind == TRAIN
            if trained.any():
                firsts.append(t.elapsed[trained][0] if x == "seconds" else 1.0)
            ends.append(t.end_seconds if x == "seconds" else float(trained.sum()))
        if x == "seconds" and r.budget.seconds is not None:
            ends.append(float(r.budget.seconds))
    if not firsts:
        raise NoAccuracyError("no run trained anything, so no regret is defined")
    lo, hi = min(firsts), max(max(ends), min(firsts))
    return np.unique(np.geomspace(lo, hi, points)) if x == "seconds" else np.unique(
        np.round(np.geomspace(lo, hi, points)))


def regret_curve(results: Results, grid: Optional[Sequence[float]] = None, x: str = "seconds",
                 points: int = 100):
    """Tidy DataFrame, one row per (algorithm, grid point): mean, std, sem, median, q25, q75 of
    regret over the seeds with an incumbent, ``n`` of them out of ``seeds``."""
    import pandas as pd

    items = _as_list(results)
    g = default_grid(items, x, points) if grid is None else _check_grid(grid)
    frames = []
    for r in items:
        m = regret_matrix(r, g, x)
        n = np.sum(~np.isnan(m), axis=0)
        safe = np.where(np.isnan(m), 0.0, m)
        mean = np.where(n > 0, safe.sum(axis=0) / np.maximum(n, 1), np.nan)
        var = np.where(n > 1, ((safe - mean) ** 2 * ~np.isnan(m)).sum(axis=0) / np.maximum(n - 1, 1), np.nan)
        std = np.sqrt(var)
        quart = np.full((3, len(g)), np.nan)
        for j in np.flatnonzero(n):
            quart[:, j] = np.percentile(m[~np.isnan(m[:, j]), j], [25, 50, 75])
        frames.append(pd.DataFrame({"algorithm": r.algorithm, x: g, "mean": mean, "std": std,
                                    "sem": std / np.sqrt(np.maximum(n, 1)), "median": quart[1],
                                    "q25": quart[0], "q75": quart[2], "n": n, "seeds": m.shape[0]}))
    return pd.concat(frames, ignore_index=True)


def regret_table(results: Results, at: Sequence[float], x: str = "seconds"):
    """Regret summary at a few budgets: rows algorithms, columns ``mean``/``sem``/``n`` per budget."""
    curve = regret_curve(results, grid=at, x=x)
    table = curve.pivot(index="algorithm", columns=x, values=["mean", "sem", "n"])
    order = list(dict.fromkeys(curve["algorithm"]))
    return table.reindex(order)


def check_plot_file(path: str, what: str = "--plot") -> None:
    """Refuse, before a search runs, a plot file matplotlib cannot write: an unwritable path
    (paths.writable_file), or a name whose extension is not one of its image formats (without
    one, savefig would write another file, ``name.png``)."""
    from ..paths import writable_file

    formats = sorted(require("matplotlib.backend_bases", "plot", what).FigureCanvasBase.get_supported_filetypes())
    suffix = Path(path).suffix  # checked before writable_file, which makes the folder
    if suffix[1:].lower() not in formats:
        kind = f"{suffix} is not an image format matplotlib writes" if suffix else "the name has no extension"
        raise InvalidArgumentError(f"{what} {path}: {kind}; end the name with one of: .{', .'.join(formats)}")
    writable_file(path, what)


def plot_regret(results: Results, x: str = "seconds", spread: str = "sem", ax=None, points: int = 100,
                logx: bool = True):
    """Regret per algorithm, drawn where every seed has an incumbent: the mean with a ``sem`` or
    ``std`` band, or the median with the interquartile band (``iqr``). Returns the Axes."""
    plt = require("matplotlib.pyplot", "plot", "plot_regret")
    if spread not in ("sem", "std", "iqr"):
        raise InvalidSettingError(f"spread must be 'sem', 'std' or 'iqr', got {spread!r}")
    curve = regret_curve(results, x=x, points=points)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for name, c in curve.groupby("algorithm", sort=False):
        c = c[c["n"] == c["seeds"]]
        centre = c["median"] if spread == "iqr" else c["mean"]
        lo, hi = (c["q25"], c["q75"]) if spread == "iqr" else (centre - c[spread], centre + c[spread])
        line, = ax.plot(c[x], centre, label=name)
        ax.fill_between(c[x], lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("simulated seconds" if x == "seconds" else "trainings")
    ax.set_ylabel("regret (best OA in table - incumbent OA)")
    ax.legend()
    return ax
