"""Kernel revisions of finished proxy units: which scores an older kernel computed, leaving them out
of the tables (with the reason) and recomputing just those (``--refresh-stale``), and which
registered kernels a finished unit lacks (added to the library later, or left out by
``--proxies``), computed for it by the same refresh without recomputing the others.

A proxies unit records the revision of every kernel it ran (each kernel declares its own, ``Proxy.revision``);
units written before revisions were recorded count as revision 1 throughout. Refreshing rewrites a
unit's result atomically with the stale proxies' columns replaced, so a kill at any moment leaves
either the old result or the new one, and the other proxies' numbers are kept as they were.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from hytasbench.schema import SIZE_PROXIES, proxy_column, proxy_error_column, proxy_revisions, score_names
from hytasbench.tables import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from .units import Unit
    from .workdir import WorkDir


def proxy_names(columns: Dict[str, Any]) -> List[str]:
    """Proxies whose score columns a result holds (``proxy_<name>``, variants aside)."""
    return sorted(score_names(columns, variants=False))


def current_revisions(names: Sequence[str]) -> Dict[str, int]:
    """The current revision of each kernel (importing the kernels registers their revisions)."""
    import hytasbench.proxies  # noqa: F401  (registration)

    return proxy_revisions(names)


def proxy_revision(name: str) -> int:
    return current_revisions([name])[name]


def stale_proxies(result: Dict[str, Any]) -> Dict[str, int]:
    """Proxy name -> the older revision it was computed with, for every score of a proxies unit's
    result that the current kernel would compute differently."""
    recorded = result.get("revisions") or {}
    out = {}
    for name in proxy_names(result.get("columns", {})):
        old = int(recorded.get(name, 1))
        if old < proxy_revision(name):
            out[name] = old
    return out


def kernels(wanted: Optional[Sequence[str]] = None) -> List[str]:
    """The proxies whose scores a proxies unit should hold: ``wanted``, or every registered
    kernel; params and FLOPs are cost columns, never missing from a proxies unit."""
    import hytasbench.proxies as proxies

    names = list(wanted) if wanted else proxies.available()
    return [n for n in names if n not in SIZE_PROXIES]


def missing_proxies(result: Dict[str, Any], wanted: Optional[Sequence[str]] = None) -> List[str]:
    """Kernels of ``wanted`` (every registered one when None) whose score a proxies unit's result lacks."""
    have = set(proxy_names(result.get("columns", {})))
    return [n for n in kernels(wanted) if n not in have]


def missing_reason(name: str) -> str:
    return (f"missing: this unit was scored without the {name} kernel (added to the library later, or left out "
            "by --proxies); python -m builders.build --refresh-stale computes it without recomputing the others")


def data_free_reason(name: str) -> str:
    return (f"missing: {name} reads pixels, and this build scored the dataset from its shape alone (--data-free: "
            "data-free kernels only)")


def _own(column: str, name: str) -> bool:
    return column == proxy_column(name) or column.startswith(proxy_column(name) + "__")


def without_stale(columns: Dict[str, Any], stale: Dict[str, int]) -> Dict[str, Any]:
    """The columns with every stale proxy's scores nulled and its error column saying why."""
    out = dict(columns)
    for name, old in stale.items():
        for col in [c for c in out if _own(c, name)]:
            out[col] = None
        out[proxy_error_column(proxy_column(name))] = (
            f"stale: computed by revision {old} of the {name} kernel, the current is {proxy_revision(name)}; "
            "python -m builders.build --refresh-stale recomputes it")
    return out


def refresh(wd: "WorkDir", units: Sequence["Unit"], *, data_root: Optional[str], device: str, threads: int,
            deadline: Optional[float] = None, log: Callable[[str], None] = print,
            wanted: Optional[Sequence[str]] = None) -> int:
    """Recompute the stale proxies of the finished proxies units among ``units`` and compute the
    kernels of ``wanted`` (all registered when None) they lack, one unit at a time in this process;
    stop starting units after ``deadline``. Returns how many were refreshed."""
    todo = []
    for u in units:
        r = wd.result(u.key) if u.kind == "proxies" else None
        if r is None or u.fidelity:  # user-proxy and data-free units hold what they were asked for
            continue
        stale: Dict[str, Optional[int]] = dict(stale_proxies(r))
        stale.update({n: None for n in missing_proxies(r, wanted)})
        if stale:
            todo.append((u, r, stale))
    if not todo:
        return 0
    import torch

    log(f"refreshing stale proxy scores of {len(todo)} finished units")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    done = 0
    try:
        for u, r, stale in todo:
            if deadline is not None and time.time() > deadline:
                log(f"time limit: {len(todo) - done} units left stale")
                break
            seconds = _refresh_unit(wd, u, r, stale, data_root, device)
            done += 1
            log(f"refreshed {u.key} ({', '.join(sorted(stale))}) in {seconds:.1f}s [{done}/{len(todo)}]")
    finally:
        torch.set_num_threads(before)
    return done


def _refresh_unit(wd: "WorkDir", u: "Unit", r: Dict[str, Any], stale: Dict[str, Optional[int]],
                  data_root: Optional[str], device: str) -> float:
    """Recompute one unit's stale proxies (old revision None: missing) and rewrite its result
    atomically; returns the seconds."""
    from hytasbench.proxies.engine import score_architecture

    start = time.perf_counter()
    fresh = score_architecture(u.arch, u.dataset, proxies=sorted(stale), seed=int(u.seed or 0), data_root=data_root,
                               device=device, synthetic=u.synthetic)
    columns = {c: v for c, v in r["columns"].items() if not any(_own(c, n) for n in stale)}
    columns.update({c: v for c, v in fresh.items() if any(_own(c, n) for n in stale)})
    seconds = time.perf_counter() - start
    doc = dict(r, columns=columns, revisions={**(r.get("revisions") or {}), **current_revisions(sorted(stale))})
    doc["refreshed"] = list(r.get("refreshed") or []) + [{
        "proxies": {n: [old, proxy_revision(n)] for n, old in stale.items()}, "seconds": seconds,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}]
    atomic_write_bytes(wd.done_path(u.key), json.dumps(doc).encode())
    return seconds
