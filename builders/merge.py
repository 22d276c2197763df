"""Finished units -> Parquet table set plus manifest.

A merge is a pure function of the work directory and the selected units: it rebuilds the whole
table set every time (no incremental appends, so no duplicates), takes a lock (in the work
directory, named after the output folder) so that concurrent builders never interleave their writes, and writes through
``hytasbench.tables.write_table_set`` (content-addressed files, manifest replaced last).

One row per (architecture, dataset, seed): ``run`` is the seed's position among the build's seeds.
Cost units are seed-free and fill every run of their architecture. A row exists when any unit of
it finished; what is missing is null, with the reason in ``absent_reason`` (metrics, costs) or
``proxy_<name>__error`` (proxies of a failed proxy unit) and counted in the manifest.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from hytasbench import __version__, space
from hytasbench.errors import BuildError
from hytasbench.protocols import SYNTHETIC_SUFFIX, describe
from hytasbench.schema import (ARCH_COLUMNS, COST_PREFIX, KIND_PREFIXES, METRIC_PREFIX, PROVENANCE_COLUMNS,
                               PROXY_PREFIX, SIZE_PROXIES, TRAIN_METRICS, arch_columns, cost_column, known_proxies,
                               metric_column, proxy_column, proxy_error_column, split_proxy_column)
from hytasbench.tables import write_table_set

from .revisions import data_free_reason, missing_proxies, missing_reason, stale_proxies, without_stale
from .units import DATA_FREE_TAG, Unit
from .workdir import WorkDir


def git_commit(path: Path) -> Optional[str]:
    """HEAD of the checkout holding ``path`` (with '+dirty' for local changes), or None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _order(arch: str) -> Tuple[int, str]:
    aid = space.parse(arch).id
    return (aid if aid is not None else 1 << 30, arch)


class _Dataset:
    """Collects one dataset's finished units into rows."""

    def __init__(self, dataset: str, units: List[Unit], wd: WorkDir, max_attempts: int):
        self.dataset = dataset
        self.seeds = sorted({u.seed for u in units if u.seed is not None}) or [0]
        self.kinds = sorted({u.kind for u in units})
        self.synthetic = any(u.synthetic for u in units)
        self.results: Dict[Tuple[str, str, Optional[int]], Dict[str, Any]] = {}
        self.errors: Dict[Tuple[str, str, Optional[int]], str] = {}
        self.counts: Dict[str, Dict[str, int]] = {k: {"selected": 0, "done": 0, "failed": 0} for k in self.kinds}
        self.stale: Dict[str, int] = {}  # proxy -> finished units whose score an older kernel computed
        self.missing: Dict[str, int] = {}  # proxy -> finished units scored without that kernel
        self.archs: List[str] = sorted({u.arch for u in units}, key=_order)
        self.selected = {(u.kind, u.arch, u.seed) for u in units}
        # one result per (kind, arch, seed): a full proxies unit wins over a --data-free one of the
        # same architecture and seed (a superset of its columns), so each is counted once
        chosen: Dict[Tuple[str, str, Optional[int]], Tuple[Unit, Dict[str, Any]]] = {}
        for u in sorted(units, key=lambda u: u.fidelity != DATA_FREE_TAG):
            r = wd.result(u.key)
            if r is not None:
                chosen[(u.kind, u.arch, u.seed)] = (u, r)
        for key in self.selected:
            self.counts[key[0]]["selected"] += 1
        for key, (u, r) in chosen.items():
            if u.kind == "proxies":
                r = self._checked(u, r)
            self.results[key] = r
            self.counts[u.kind]["done"] += 1
        for u in units:
            key = (u.kind, u.arch, u.seed)
            if key in chosen or key in self.errors:
                continue
            fails = wd.failures(u.key)
            if fails and wd.gave_up(u.key, max_attempts):  # failed for good (or deterministically)
                self.errors[key] = fails[-1]["error"]
                self.counts[u.kind]["failed"] += 1
        # the scope of what the rows hold (of what was selected while nothing is finished)
        used = [u for u, _ in chosen.values() if u.kind == "proxies"] or [u for u in units if u.kind == "proxies"]
        self.data_free = bool(used) and all(u.fidelity == DATA_FREE_TAG for u in used)

    def _checked(self, u: Unit, r: Dict[str, Any]) -> Dict[str, Any]:
        """A proxies result without its stale scores, with a reason for each kernel it lacks (counted)."""
        stale = stale_proxies(r)
        for name in stale:
            self.stale[name] = self.stale.get(name, 0) + 1
        if stale:
            r = dict(r, columns=without_stale(r["columns"], stale))
        missing = [] if u.fidelity.startswith("user-") else missing_proxies(r)
        if missing:
            why = (data_free_reason if u.fidelity == DATA_FREE_TAG else missing_reason)
            errors = {proxy_error_column(proxy_column(n)): why(n) for n in missing}
            r = dict(r, columns={**r["columns"], **errors})
            for name in missing:
                self.missing[name] = self.missing.get(name, 0) + 1
        return r

    def _why(self, kind: str, arch: str, seed: Optional[int]) -> str:
        c = self.counts[kind]
        if (kind, arch, seed) not in self.selected:
            what = "trained" if kind == "train" else f"given {kind} units"
            return (f"{kind}: this architecture was not part of this build's {kind} selection "
                    f"({c['done']} of the {len(self.archs)} architectures were {what})")
        err = self.errors.get((kind, arch, seed))
        if err:
            return f"{kind} failed: {err}"
        return f"{kind} not finished yet ({c['done']} of {c['selected']} {kind} units of this build are)"

    def rows(self, source: str, protocol: str) -> List[Dict[str, Any]]:
        out = []
        for arch in self.archs:
            cost = self.results.get(("cost", arch, None))
            seeds = [s for s in self.seeds if any((k, arch, s) in self.results for k in ("proxies", "train"))]
            if not seeds and cost is not None:
                seeds = self.seeds[:1]
            a = space.parse(arch)
            for seed in seeds:
                row: Dict[str, Any] = OrderedDict(arch_columns(a))
                reasons, device = [], None
                for kind in ("cost", "proxies", "train"):
                    if kind not in self.kinds:
                        continue
                    r = self.results.get((kind, arch, None if kind == "cost" else seed))
                    if r is None:
                        reasons.append(self._why(kind, arch, None if kind == "cost" else seed))
                        continue
                    cols = r["columns"]
                    row.update({k: v for k, v in cols.items() if k.startswith(KIND_PREFIXES)})
                    if kind != "cost" or device is None:
                        device = cols.get("device") or r.get("device")
                row.update(dataset=self.dataset, source=source, run=self.seeds.index(seed), seed=seed,
                           protocol=protocol, device=device, library_version=__version__,
                           absent_reason="; ".join(reasons) or None)
                out.append(row)
        return out


def _frame(rows: List[Dict[str, Any]], proxy_errors: Dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    data_cols = sorted(c for c in frame.columns if c.startswith(KIND_PREFIXES))
    metric, cost, proxy = ([c for c in data_cols if c.startswith(p)]
                           for p in (METRIC_PREFIX, COST_PREFIX, PROXY_PREFIX))
    if proxy_errors:  # a failed proxy unit: each proxy's error column says why its scores are missing
        keys = list(zip(frame["arch"], frame["seed"]))
        unit_errors = [proxy_errors.get(f"{a}|{s}") for a, s in keys]
        for col in sorted({proxy_error_column(c) for c in proxy}):
            old = frame[col].tolist() if col in frame else [None] * len(frame)
            frame[col] = [o if isinstance(o, str) and o else u for o, u in zip(old, unit_errors)]
        proxy = sorted(set(proxy) | {proxy_error_column(c) for c in proxy})
    return frame[list(ARCH_COLUMNS) + metric + cost + proxy + list(PROVENANCE_COLUMNS)]


def declarations(frames: Dict[str, pd.DataFrame]) -> Dict[str, Dict[str, Any]]:
    """Orientation, revision, data need and description of every kernel with a score column in
    the tables: a torch-free reader learns them from the manifest (hytasbench.schema.declare_proxy),
    and a later build continuing from these tables (--base) knows which revision made each score."""
    import hytasbench.proxies as proxies

    names = {split_proxy_column(c)[0] for f in frames.values() for c in f.columns if c.startswith(PROXY_PREFIX)}
    return {n: proxies.get(n).declaration() for n in proxies.available() if n in names}


def merge(wd: WorkDir, units: Sequence[Unit], out: os.PathLike, *, source: str, protocol: str,
          build: Dict[str, Any], max_attempts: int, wait: float = 600.0,
          declare: Optional[Dict[str, Dict[str, Any]]] = None) -> Optional[Dict[str, Any]]:
    """Write the table set of the selected units' finished results; None when nothing is finished.
    ``declare``: declarations of proxies that are not registered kernels (a user proxy)."""
    by_ds: Dict[Tuple[str, bool], List[Unit]] = {}
    for u in units:
        by_ds.setdefault((u.dataset, u.synthetic), []).append(u)
    if len({ds for ds, _ in by_ds}) != len(by_ds):
        raise BuildError("a dataset is selected both with its real and a synthetic cube; merge them separately")
    frames: Dict[str, pd.DataFrame] = {}
    absent: Dict[str, Dict[str, str]] = {}
    coverage: Dict[str, Any] = {}
    failures: List[Dict[str, str]] = []
    for (ds, synthetic), us in by_ds.items():
        d = _Dataset(ds, us, wd, max_attempts)
        row_protocol = protocol + (SYNTHETIC_SUFFIX if synthetic else "")
        rows = d.rows(source, row_protocol)
        coverage[ds] = {"architectures": len(d.archs), "seeds": d.seeds, "synthetic_cube": synthetic,
                        "protocol": row_protocol, "units": d.counts, "stale_proxy_scores": d.stale,
                        "missing_proxy_scores": d.missing,
                        "proxy_scope": ("data-free kernels only, scored from the dataset's shape (--data-free): no "
                                        "pixels were read" if d.data_free else "every selected kernel on the cube")}
        failures += [{"unit": f"{ds}/{k}/{a}/s{s}", "error": e} for (k, a, s), e in d.errors.items()]
        if not rows:
            continue
        proxy_errors = {f"{a}|{s}": f"proxies failed: {e}" for (k, a, s), e in d.errors.items() if k == "proxies"}
        frames[ds] = _frame(rows, proxy_errors)
        absent[ds] = _absent(d)
    if not frames:
        return None
    build = dict(build, coverage=coverage, failures=failures[:200], failures_total=len(failures),
                 library_version=__version__, git_commit=git_commit(Path(__file__).resolve().parent))
    name = "merge-" + hashlib.sha1(str(Path(out).resolve()).encode()).hexdigest()[:12]
    deadline = time.time() + wait
    while True:
        lock = wd.locks.acquire(name, out=str(out))
        if lock is not None:
            break
        if time.time() > deadline:
            raise BuildError(f"another builder has been merging into {out} for over {wait:.0f}s; "
                             f"if none runs, remove {wd.locks.folder}/{name}.*.lock")
        time.sleep(0.5)
    try:
        return write_table_set(out, frames, source=source, protocol=protocol, build=build, absent=absent,
                               description=build.get("description", ""), notes=build.get("notes", []),
                               extra={"proxies": {**declarations(frames), **(declare or {})},
                                      "protocol_description": describe(protocol)})
    finally:
        lock.release()


def _absent(d: _Dataset) -> Dict[str, str]:
    """Whole columns this build does not have for a dataset, and why."""
    out: Dict[str, str] = {cost_column("model_size"): "an upstream-only column (the authors' m_size); see cost_params"}
    proxies = [proxy_column(n) for n in known_proxies() if n not in SIZE_PROXIES]
    for kind, cols in (("train", [metric_column(m) for m in TRAIN_METRICS]), ("proxies", proxies)):
        if kind not in d.kinds:
            why = f"{kind} was not part of this build (--kind without {kind})"
        elif d.counts[kind]["done"] == 0:
            errors = sorted({e for (k, _, _), e in d.errors.items() if k == kind})
            why = (f"every {kind} unit of this dataset failed, e.g. {errors[0]}" if errors else
                   f"no {kind} unit of this dataset has finished yet")
        else:
            continue
        out.update({c: why for c in cols})
    return out
