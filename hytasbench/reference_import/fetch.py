"""The authors' files at the pinned commit: download them, and say which of a local copy differ.

Every file the importer reads has a pinned sha256 (``hytas_files.json``); a download is verified
file by file, and a local copy is checked before anything is converted.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import DownloadError, ReferenceFileError
from ..tables import atomic_write_bytes, sha256_file
from . import layout as L

#: path relative to the authors' repository -> sha256 at the pinned commit
CHECKSUMS: Dict[str, str] = json.loads(Path(__file__).with_name("hytas_files.json").read_text())

#: path -> (pinned sha256, actual sha256 or None when missing)
Mismatches = Dict[str, Tuple[str, Optional[str]]]


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
        got = hashlib.sha256(blob).hexdigest()
        if got != digest:
            raise DownloadError(f"{url}: sha256 {got} does not match the pinned {digest}; "
                                "the upstream file changed or the download was damaged")
        atomic_write_bytes(target, blob)
    return dest


def _get(session: Any, url: str, timeout: float, retries: int) -> bytes:
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
                            "hytasbench import --from <that folder>") from None
    raise DownloadError(f"download failed after {retries} attempts: {last}") from None


def check_files(root: Path) -> Mismatches:
    """Pinned files of ``root`` that are missing or differ: path -> (expected sha256, actual or None)."""
    bad: Mismatches = {}
    for rel, digest in sorted(CHECKSUMS.items()):
        path = root / rel
        actual = sha256_file(path) if path.is_file() else None
        if actual != digest:
            bad[rel] = (digest, actual)
    return bad


def integrity_error(root: Path, bad: Mismatches) -> ReferenceFileError:
    """The error that stops an import of a copy whose files differ from the pinned ones."""
    rel, (expected, actual) = next(iter(bad.items()))
    what = "missing" if actual is None else f"modified or truncated: sha256 {actual}"
    more = f" ({len(bad) - 1} more: {', '.join(list(bad)[1:4])}{', ...' if len(bad) > 4 else ''})" if len(bad) > 1 else ""
    return ReferenceFileError(root / rel, f"{what}, but the pinned upstream file has sha256 {expected}{more}; "
                                          "nothing was imported. Restore the authors' files at commit "
                                          f"{L.COMMIT[:7]}, or pass --allow-modified to import them as they are",
                              expected=expected, actual=actual)


class Provenance:
    """Why a column's values are suspect or absent, given the files that differ from upstream."""

    def __init__(self, bad: Mismatches):
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
