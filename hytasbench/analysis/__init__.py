"""Analysis that reproduces the HyTAS paper on any table source, and the ``hytasbench report`` command.

Modules, one job each: :mod:`.data` (loading, which columns are scores), :mod:`.correlation`
(rank correlations, top-k precision, top-1 OA, bootstrap CIs), :mod:`.ablation` (sign
ablation), :mod:`.scales` (attention vs MLP scale gap), :mod:`.layers` (per-layer decay),
:mod:`.factors` (architecture factors, model size, transfer between datasets),
:mod:`.predictor` (the random-forest study), :mod:`.noise` (repeated trainings, proxy seed
noise), :mod:`.figures` (matplotlib, optional) and
:mod:`.report` (Markdown + CSV + PNG). None imports torch; matplotlib is imported only to draw.

Typical notebook use::

    from hytasbench.analysis import load, correlation, figures
    data = load("hytas")
    res = {ds: correlation.proxy_quality(f) for ds, f in data.frames.items()}
    figures.rho_intervals(res)
"""
from __future__ import annotations

from .data import SourceData, load  # noqa: F401


def __getattr__(name: str):
    # Imported lazily so that `python -m hytasbench.analysis.report` does not import the module twice.
    if name == "build_report":
        from .report import build_report
        return build_report
    raise AttributeError(f"module 'hytasbench.analysis' has no attribute {name!r}")
