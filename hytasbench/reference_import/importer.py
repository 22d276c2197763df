"""Verify, convert and write: the authors' repository (a local copy or a download) -> a table set."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Union

from .. import __version__
from ..cache import tables_dir
from ..errors import ReferenceFileError, TableError
from ..paths import writable_dir
from ..protocols import describe
from ..tables import write_table_set
from . import layout as L
from .convert import PROTOCOL, SOURCE, ArchKeys, convert_dataset, proxy_times
from .fetch import CHECKSUMS, Mismatches, Provenance, check_files, download, integrity_error

PathLike = Union[str, Path]
_TIMES = "outputs/indian/times.txt"


def import_reference(source: Optional[PathLike] = None, dest: Optional[PathLike] = None,
                     allow_modified: bool = False) -> Path:
    """Convert a local copy (``source``) or a fresh download into a table set at ``dest``
    (default ``<cache>/tables/hytas``); returns ``dest``.

    Every pinned file is checked first: ReferenceFileError (and nothing written) when one is
    missing or differs, unless ``allow_modified``. An empty ``source`` or ``dest`` string is
    refused (ReferenceFileError) rather than read as the current folder.
    """
    if source is not None and str(source).strip() == "":
        raise ReferenceFileError(source, "an empty --from path; give the folder of the authors' repository")
    if dest is not None and str(dest).strip() == "":
        raise ReferenceFileError("--out", "an empty path; give the destination folder")
    if source is not None and not Path(source).is_dir():
        what = "not a folder" if Path(source).exists() else "no such folder"
        raise ReferenceFileError(source, f"{what}; give the folder of a copy of the authors' repository")
    dest = writable_dir(Path(dest) if dest is not None else tables_dir(SOURCE), "import destination")
    source = download(dest.parent / f".{SOURCE}-download") if source is None else Path(source)
    if not (source / "results").is_dir():
        raise TableError(source, "not a copy of the authors' repository (no results/ folder)")
    bad = check_files(source)
    if bad and not allow_modified:
        raise integrity_error(source, bad)
    prov = Provenance(bad)
    keys = ArchKeys()
    frames, absent, modified, notes = {}, {}, {}, [L.NOT_IMPORTED, L.SEED_NOTE]
    times_notes: List[str] = []
    proxy_seconds = _proxy_seconds(source, times_notes)  # read first: a bad times.txt fails before the long part
    for dataset in L.DATASETS:
        conv = convert_dataset(source, dataset, keys, prov)
        frames[dataset], absent[dataset], modified[dataset] = conv.frame, conv.absent, conv.modified
        notes += conv.notes
    notes += times_notes
    if bad:
        notes.append(f"imported with --allow-modified: {len(bad)} file(s) differ from the pinned upstream files "
                     f"({', '.join(sorted(bad))}); values from them say so in their reason")
    write_table_set(
        dest, frames, source=SOURCE, protocol=PROTOCOL,
        description=("The HyTAS authors' published results (arXiv 2407.16269): test-set OA/AA/kappa after "
                     "300 epochs on GPUs with base seed 0 (not varied; see notes), and their zero-cost proxy scores, imported "
                     f"from github.com/{L.REPOSITORY} at {L.COMMIT}"),
        build=_build_info(bad, allow_modified), absent=absent, notes=notes,
        extra={"protocol_description": describe(PROTOCOL), "proxy_seconds_mean": proxy_seconds,
               "proxy_seconds_note": "mean seconds per architecture on one GPU, from upstream times.txt "
                                     "(hours for 2000 subnets / 2000); Indian Pines only"
                                     + (f"; {prov.modified(_TIMES)}" if prov.modified(_TIMES) else ""),
               "modified": {ds: cols for ds, cols in modified.items() if cols}})
    return dest


def _proxy_seconds(source: Path, notes: List[str]) -> Dict[str, Dict[str, float]]:
    """The authors' proxy times (Indian Pines only); ambiguous lines are noted, not guessed."""
    if not (source / _TIMES).is_file():
        return {}
    means, skipped = proxy_times(source / _TIMES)
    if skipped:
        notes.append(f"times.txt lines not imported (ambiguous upstream): {skipped}")
    return {"indian_pines": means}


def _build_info(bad: Mismatches, allow_modified: bool) -> Dict[str, object]:
    return {"command": "python -m builders.import_hytas" + (" --allow-modified" if allow_modified else ""),
            "importer_version": __version__,
            "upstream_repository": L.REPOSITORY, "upstream_commit": L.COMMIT,
            "files_matching_pinned_sha256": len(CHECKSUMS) - len(bad), "files_checked": len(CHECKSUMS),
            "allow_modified": bool(allow_modified),
            "modified_files": {rel: {"expected_sha256": e, "actual_sha256": a} for rel, (e, a) in bad.items()}}
