"""Import the authors' published HyTAS results into a hytasbench table set.

    python -m builders.import_hytas                 # download at the pinned commit, then import
    python -m builders.import_hytas --from DIR      # a local copy of the authors' repository

The result lands in ``<cache>/tables/hytas`` (see hytasbench.cache) unless ``--out`` says
otherwise. Every file is first checked against the pinned sha256 list (hytas_files.json): a
missing or different file stops the import (ReferenceFileError) and the previous table set stays
as it was, unless ``--allow-modified`` is given, in which case the manifest lists the files and
every value that came from one says so in its reason. Nothing is filled or fixed silently:
architectures without published training results keep null metrics with a reason, and the one
sign convention we change (jacob_cov on Salinas and PaviaU) is checked against the merged tables
and written into the manifest.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from hytasbench import __version__, space
from hytasbench.cache import tables_dir
from hytasbench.errors import DownloadError, HytasError, ReferenceFileError, TableContentError, TableError
from hytasbench.paths import writable_dir
from hytasbench.schema import SIZE_PROXIES, arch_columns, cost_column, metric_column, proxy_column
from hytasbench.protocols import PUBLISHED, describe
from hytasbench.tables import atomic_write_bytes, sha256_file, write_table_set

from . import hytas_layout as L

SOURCE = "hytas"
PROTOCOL = PUBLISHED  # "hytas-upstream"
CHECKSUMS: Dict[str, str] = json.loads((Path(__file__).with_name("hytas_files.json")).read_text())
_ARCH_COLS = ["layer_num", "embed_dim", "num_heads", "mlp_ratio"]
_ID_OF: Dict[str, int] = {str(a): i for i, a in enumerate(space.hytas2000(), start=1)}


# ---- download ---------------------------------------------------------------------------------

def download(dest: Path, timeout: float = 30.0, retries: int = 3) -> Path:
    """Fetch every needed file at the pinned commit into ``dest`` (sha256-verified, resumable)."""
    import requests

    session = requests.Session()
    for rel, digest in sorted(CHECKSUMS.items()):
        target = dest / rel
        if target.is_file() and sha256_file(target) == digest:
            continue
        url = L.RAW_URL.format(repo=L.REPOSITORY, commit=L.COMMIT, path=rel)
        blob = _get(session, url, timeout, retries)
        got = __import__("hashlib").sha256(blob).hexdigest()
        if got != digest:
            raise DownloadError(f"{url}: sha256 {got} does not match the pinned {digest}; "
                                "the upstream file changed or the download was damaged")
        atomic_write_bytes(target, blob)
    return dest


def _get(session, url: str, timeout: float, retries: int) -> bytes:
    import requests

    last: Optional[Exception] = None
    for attempt in range(retries):
        try:
            resp = session.get(url, timeout=timeout)
            if resp.status_code == 200:
                return resp.content
            last = DownloadError(f"{url}: HTTP {resp.status_code}")
            if resp.status_code < 500 and resp.status_code != 429:
                break
        except requests.RequestException as exc:
            last = exc
        time.sleep(min(2 ** attempt, 8))
    if isinstance(last, requests.ConnectionError):
        raise DownloadError(f"could not reach {url} ({last.__class__.__name__}); you seem to be offline. "
                            f"Clone github.com/{L.REPOSITORY} at commit {L.COMMIT} elsewhere and run "
                            "python -m builders.import_hytas --from <that folder>") from None
    raise DownloadError(f"download failed after {retries} attempts: {last}") from None


# ---- integrity --------------------------------------------------------------------------------

def check_files(root: Path) -> Dict[str, Tuple[str, Optional[str]]]:
    """Pinned files of ``root`` that are missing or differ: path -> (expected sha256, actual or None)."""
    bad: Dict[str, Tuple[str, Optional[str]]] = {}
    for rel, digest in sorted(CHECKSUMS.items()):
        path = root / rel
        actual = sha256_file(path) if path.is_file() else None
        if actual != digest:
            bad[rel] = (digest, actual)
    return bad


def _integrity_error(root: Path, bad: Dict[str, Tuple[str, Optional[str]]]) -> ReferenceFileError:
    rel, (expected, actual) = next(iter(bad.items()))
    what = "missing" if actual is None else f"modified or truncated: sha256 {actual}"
    more = f" ({len(bad) - 1} more: {', '.join(list(bad)[1:4])}{', ...' if len(bad) > 4 else ''})" if len(bad) > 1 else ""
    return ReferenceFileError(root / rel, f"{what}, but the pinned upstream file has sha256 {expected}{more}; "
                                          "nothing was imported. Restore the authors' files at commit "
                                          f"{L.COMMIT[:7]}, or pass --allow-modified to import them as they are",
                              expected=expected, actual=actual)


class _Provenance:
    """Why a column's values are suspect or absent, given the files that differ from upstream."""

    def __init__(self, bad: Dict[str, Tuple[str, Optional[str]]]):
        self.bad = bad

    def modified(self, rel: str) -> Optional[str]:
        if rel not in self.bad or self.bad[rel][1] is None:
            return None
        expected, actual = self.bad[rel]
        return (f"from the local copy of {rel}, which differs from the pinned upstream file (sha256 {actual[:16]}..., "
                f"upstream {expected[:16]}...); imported with --allow-modified")

    def absent(self, rel: str, dataset: str) -> str:
        if rel in CHECKSUMS:
            return (f"{rel} is missing from the local copy although upstream publishes it "
                    f"(sha256 {CHECKSUMS[rel][:16]}...); imported with --allow-modified")
        return f"not published upstream for {dataset}"


# ---- parsing ----------------------------------------------------------------------------------

class _ArchKeys:
    """Maps the authors' four architecture columns to our canonical string, memoised."""

    def __init__(self) -> None:
        self._memo: Dict[Tuple, str] = {}

    def __call__(self, frame: pd.DataFrame, path: Path) -> pd.Series:
        out = []
        for key in zip(*(frame[c].tolist() for c in _ARCH_COLS)):
            if key not in self._memo:
                try:
                    arch = space.parse(dict(zip(_ARCH_COLS, key)))
                except Exception as exc:
                    raise TableError(path, f"architecture {key} cannot be read: {exc}") from None
                if arch.id is None:
                    raise TableError(path, f"architecture {arch} is not one of the HyTAS-2000")
                self._memo[key] = str(arch)
            out.append(self._memo[key])
        return pd.Series(out, index=frame.index)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise TableError(path, "missing from the reference folder") from None
    except Exception as exc:
        raise TableError(path, f"unreadable CSV ({exc})") from None


def _value_column(frame: pd.DataFrame, path: Path) -> str:
    cols = [c for c in frame.columns if c not in _ARCH_COLS and c not in ("id", "Unnamed: 0")]
    if len(cols) != 1:
        raise TableError(path, f"expected one score column besides the architecture, found {cols}")
    return cols[0]


def _proxy_series(path: Path, keys: _ArchKeys) -> pd.Series:
    frame = _read_csv(path)
    col = _value_column(frame, path)
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = frame[col].notna() & values.isna()
    if bad.any():
        i = int(bad.values.argmax())
        raise TableContentError(path, i + 2, col, f"{frame[col].iloc[i]!r} is not a number")
    arch = keys(frame, path)
    if "Unnamed: 0" in frame:  # the unnamed index is config id - 1: check it, never rely on it
        ids = arch.map(_ID_OF) - 1
        bad = int((ids != frame["Unnamed: 0"]).sum())
        if bad:
            raise TableError(path, f"{bad} rows whose index column disagrees with their architecture")
    if arch.duplicated().any():
        raise TableError(path, "an architecture appears twice")
    return pd.Series(values.astype(float).values, index=arch.values)


def _seconds(text: object) -> float:
    """'H:MM:SS' -> seconds; ValueError when unreadable or negative."""
    if not isinstance(text, str):
        if isinstance(text, float) and text != text:
            return float("nan")
        raise ValueError(f"{text!r} is not a time such as 0:04:15")
    parts = [float(p) for p in text.split(":")]
    if not 1 <= len(parts) <= 3 or any(not (p >= 0) or p == float("inf") for p in parts):
        raise ValueError(f"{text!r} is not a time such as 0:04:15")
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


_RETRAIN_RANGES = {"OA": (0.0, 1.0), "AA": (0.0, 1.0), "Kappa": (-1.0, 1.0), "max_OA": (0.0, 100.0)}


def _check_retrain(frame: pd.DataFrame, path: Path) -> None:
    """Impossible values of the retrain file, named by CSV line and column."""
    for col in ("OA", "AA", "Kappa", "max_OA", "num_params_subnet", "flops", "retrain_time"):
        if col not in frame:
            raise TableContentError(path, None, col, "missing from the retrain results")
    for i, r in enumerate(frame.to_dict("records")):
        line = i + 2  # CSV line (header is line 1)
        for col, (lo, hi) in _RETRAIN_RANGES.items():
            v = pd.to_numeric(r[col], errors="coerce")
            if not lo <= v <= hi:
                raise TableContentError(path, line, col, f"{r[col]!r} is not a number in [{lo:g}, {hi:g}]")
        for col in ("num_params_subnet", "flops"):
            v = pd.to_numeric(r[col], errors="coerce")
            if not v > 0:
                raise TableContentError(path, line, col, f"{r[col]!r} is not a positive number")
        try:
            _seconds(r["retrain_time"])
        except ValueError as exc:
            raise TableContentError(path, line, "retrain_time", str(exc)) from None


def _proxy_times(path: Path) -> Tuple[Dict[str, float], List[str]]:
    """Mean seconds per architecture from times.txt ('<name>: <hours>h' for 2000 nets)."""
    means: Dict[str, float] = {}
    skipped: List[str] = []
    for line in path.read_text().splitlines():
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not value.endswith("h") or name not in L.TIMES_NAMES:
            continue  # a header line, or a proxy we do not import
        number = value[:-1]
        if not number.startswith("0."):  # e.g. 'NASWOT: 014h': which decimal point was meant is unknowable
            skipped.append(line.strip())
            continue
        means[L.TIMES_NAMES[name]] = float(number) * 3600 / 2000
    return means, skipped


# ---- conversion -------------------------------------------------------------------------------

def convert_dataset(root: Path, dataset: str, keys: _ArchKeys, prov: Optional[_Provenance] = None
                    ) -> Tuple[pd.DataFrame, Dict[str, str], List[str], Dict[str, str]]:
    """One dataset's frame (all 2000 architectures, repeats as extra runs), absent reasons, notes,
    and column -> reason for the columns whose values come from a file that differs from upstream."""
    prov = prov or _Provenance({})
    modified: Dict[str, str] = {}
    folder, retrain_name = L.DATASETS[dataset]
    archs = space.hytas2000()
    arch_str = [str(a) for a in archs]
    notes: List[str] = []
    absent: Dict[str, str] = {
        metric_column("class_acc"): "per-class accuracy is not published upstream",
    }

    merged_rel = f"results/{folder}_2000_new_all.csv"
    merged_path = root / merged_rel
    merged = _read_csv(merged_path)
    merged.index = keys(merged, merged_path)
    if merged.index.duplicated().any():
        raise TableError(merged_path, "an architecture appears twice")

    proxies: Dict[str, pd.Series] = {}
    sources = [(f"outputs/{folder}/search_results_{fname}.csv", proxy_column(name))
               for fname, name in L.PROXY_FILES.items()]
    sources += [(f"outputs/{folder}/test/search_results_{fname}.csv", proxy_column(name, variant or None))
                for fname, (name, variant) in L.VARIANT_FILES.items()]
    for rel, col in sources:
        if (root / rel).is_file():
            proxies[col] = _proxy_series(root / rel, keys)
            if prov.modified(rel):
                modified[col] = prov.modified(rel)
        else:
            absent[col] = prov.absent(rel, dataset)

    jc = proxy_column("jacob_cov")
    if dataset in L.JACOB_COV_NEGATED and jc in proxies:
        proxies[jc] = -proxies[jc]
        notes.append(f"{dataset}: proxy_jacob_cov is the negation of upstream outputs/{folder}/"
                     "search_results_jacob_cov.csv, i.e. the merged table's sign, which the other datasets share")
    for mcol, name in L.MERGED_PROXIES.items():  # the per-proxy files must agree with the merged table
        col = proxy_column(name)
        if col in proxies and mcol in merged:
            a = merged[mcol].astype(float)
            b = proxies[col].reindex(a.index)
            if not np.allclose(a.values, b.values, rtol=1e-5, atol=1e-9, equal_nan=True):
                raise TableError(merged_path, f"column {mcol} disagrees with the per-proxy file of {name}")

    retrain_rel = f"outputs/{folder}/{retrain_name}"
    retrain_path = root / retrain_rel
    if retrain_path.is_file() or retrain_rel not in prov.bad:
        retrain = _read_csv(retrain_path)
        _check_retrain(retrain, retrain_path)
        retrain["arch"] = keys(retrain, retrain_path).values
        untrained = (f"training results not published upstream: the authors' {dataset} tables hold "
                     "{n} of the 2000 architectures")
        if prov.modified(retrain_rel):
            untrained = (f"no training results in the local copy of {retrain_rel}, which differs from the pinned "
                         "upstream file; imported with --allow-modified")
    else:  # missing, imported with --allow-modified
        retrain = pd.DataFrame({c: [] for c in _ARCH_COLS + ["arch"]})
        untrained = prov.absent(retrain_rel, dataset)
    for col in ("oa", "aa", "kappa", "oa_best", "train_seconds"):
        if prov.modified(retrain_rel) or prov.modified(merged_rel):  # the merged file picks the headline run
            modified[metric_column(col)] = prov.modified(retrain_rel) or prov.modified(merged_rel)
    for col in SIZE_PROXIES:
        if prov.modified(retrain_rel):
            modified[cost_column(col)] = prov.modified(retrain_rel)
    if prov.modified(merged_rel):
        modified[cost_column("model_size")] = prov.modified(merged_rel)
    records = retrain.to_dict("records")
    runs: Dict[str, List[int]] = {}
    for i, a in enumerate(retrain["arch"]):
        runs.setdefault(a, []).append(i)

    rows = []
    for arch_id, a in enumerate(arch_str, start=1):
        base = {"arch": a, "arch_id": arch_id}
        published_oa = merged["OA"].get(a, np.nan) if a in merged.index else np.nan
        idx = runs.get(a, [])
        if len(idx) > 1:  # the run whose OA the merged table reports is the headline run 0
            idx = sorted(idx, key=lambda i: (abs(records[i]["OA"] - published_oa) > 1e-9, i))
        if not idx:
            rows.append({**base, "run": 0, "absent_reason": untrained.format(n=len(runs))})
            continue
        for run, i in enumerate(idx):
            r = records[i]
            rows.append({**base, "run": run,
                         metric_column("oa"): float(r["OA"]), metric_column("aa"): float(r["AA"]),
                         metric_column("kappa"): float(r["Kappa"]),
                         metric_column("oa_best"): float(r["max_OA"]) / 100.0,
                         metric_column("train_seconds"): _seconds(r["retrain_time"]),
                         cost_column("params"): float(r["num_params_subnet"]),
                         cost_column("flops"): float(r["flops"]),
                         "absent_reason": None})
    frame = pd.DataFrame(rows)
    for col in map(cost_column, SIZE_PROXIES):
        frame[col] = frame[col].astype("Int64")
    if cost_column("model_size") not in frame:
        frame[cost_column("model_size")] = frame["arch"].map(merged["m_size"].astype(float))
    n_rep = int((frame["run"] > 0).sum())
    if n_rep:
        notes.append(f"{dataset}: {n_rep} architectures were trained twice upstream; both runs kept (run 0 is "
                     "the one the merged results table reports)")
    missing = int(frame[metric_column("oa")].isna().sum())
    if missing:
        notes.append(f"{dataset}: {missing} architectures have no published training results (metrics null)")
    for col, series in proxies.items():
        frame[col] = frame["arch"].map(series)
    by_arch = {s: arch_columns(a) for s, a in zip(arch_str, archs)}
    for col in ("depth", "embed_dim", "num_heads", "mlp_ratio"):  # arch and arch_id are the row's keys
        frame[col] = frame["arch"].map(lambda s: by_arch[s][col])
    frame[["depth", "embed_dim"]] = frame[["depth", "embed_dim"]].astype("int16")
    frame["dataset"] = dataset
    frame["source"] = SOURCE
    frame["protocol"] = PROTOCOL
    # Base seed 0 (upstream train.py's --seed default; train_searched_sf.sh passes none): see L.SEED_NOTE.
    frame["seed"] = pd.array([0 if t else None for t in frame[metric_column("oa")].notna()], dtype="Int64")
    frame["device"] = "GPU (upstream: RTX A6000, 5-GPU data parallel)"
    frame["library_version"] = f"upstream {L.REPOSITORY}@{L.COMMIT[:7]}"
    return frame, absent, notes, modified


def import_reference(source: Optional[Path] = None, dest: Optional[Path] = None,
                     allow_modified: bool = False) -> Path:
    """Convert a local copy (``source``) or a fresh download into a table set at ``dest``.

    Every pinned file is checked first: ReferenceFileError (and nothing written) when one is
    missing or differs, unless ``allow_modified``.
    """
    if source is not None and str(source).strip() == "":
        raise ReferenceFileError(source, "an empty --from path; give the folder of the authors' repository")
    dest = writable_dir(Path(dest) if dest is not None else tables_dir(SOURCE), "import destination")
    if source is None:
        source = download(dest.parent / f".{SOURCE}-download")
    source = Path(source)
    if not (source / "results").is_dir():
        raise TableError(source, "not a copy of the authors' repository (no results/ folder)")
    bad = check_files(source)
    if bad and not allow_modified:
        raise _integrity_error(source, bad)
    prov = _Provenance(bad)
    keys = _ArchKeys()
    frames, absent, notes, modified = {}, {}, [L.NOT_IMPORTED, L.SEED_NOTE], {}
    for dataset in L.DATASETS:
        frames[dataset], absent[dataset], ds_notes, modified[dataset] = convert_dataset(source, dataset, keys, prov)
        notes += ds_notes
    times_rel = "outputs/indian/times.txt"
    proxy_seconds: Dict[str, Dict[str, float]] = {}
    if (source / times_rel).is_file():
        proxy_seconds["indian_pines"], skipped = _proxy_times(source / times_rel)
        if skipped:
            notes.append(f"times.txt lines not imported (ambiguous upstream): {skipped}")
    if bad:
        notes.append(f"imported with --allow-modified: {len(bad)} file(s) differ from the pinned upstream files "
                     f"({', '.join(sorted(bad))}); values from them say so in their reason")
    write_table_set(
        dest, frames, source=SOURCE, protocol=PROTOCOL,
        description=("The HyTAS authors' published results (arXiv 2407.16269): test-set OA/AA/kappa after "
                     "300 epochs on GPUs with base seed 0 (not varied; see notes), and their zero-cost proxy scores, imported "
                     f"from github.com/{L.REPOSITORY} at {L.COMMIT}"),
        build={"command": "python -m builders.import_hytas" + (" --allow-modified" if allow_modified else ""),
               "importer_version": __version__,
               "upstream_repository": L.REPOSITORY, "upstream_commit": L.COMMIT,
               "files_matching_pinned_sha256": len(CHECKSUMS) - len(bad), "files_checked": len(CHECKSUMS),
               "allow_modified": bool(allow_modified),
               "modified_files": {rel: {"expected_sha256": e, "actual_sha256": a} for rel, (e, a) in bad.items()}},
        absent=absent, notes=notes,
        extra={"protocol_description": describe(PROTOCOL), "proxy_seconds_mean": proxy_seconds,
               "proxy_seconds_note": "mean seconds per architecture on one GPU, from upstream times.txt "
                                     "(hours for 2000 subnets / 2000); Indian Pines only"
                                     + (f"; {prov.modified(times_rel)}" if prov.modified(times_rel) else ""),
               "modified": {ds: cols for ds, cols in modified.items() if cols}})
    return dest


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builders.import_hytas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", help="local copy of the authors' repository")
    parser.add_argument("--out", help=f"destination table set (default: {tables_dir(SOURCE)})")
    parser.add_argument("--allow-modified", action="store_true",
                        help="import files that differ from the pinned upstream ones; the manifest and every "
                             "value from such a file say so")
    args = parser.parse_args(argv)
    try:
        if args.out is not None and args.out.strip() == "":
            raise ReferenceFileError("--out", "an empty path; give the destination folder")
        dest = import_reference(None if args.source is None else Path(args.source) if args.source.strip() else "",
                                None if args.out is None else Path(args.out), allow_modified=args.allow_modified)
    except HytasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"imported the HyTAS reference into {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
