"""``python -m hytasbench.datasets [--root DIR] [--download] [NAME ...]``: where each dataset's files
go, which are present and verified, and (with --download) fetch the ones that have a public URL."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..errors import HytasError
from .files import checksum_problem, data_root, describe, download
from .specs import DATASETS, get_spec


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hytasbench.datasets", description=__doc__)
    p.add_argument("names", nargs="*", help="datasets (default: all five)")
    p.add_argument("--root", default=None, help="data root (default $HYTASBENCH_DATA, else <cache>/datasets)")
    p.add_argument("--download", action="store_true", help="fetch missing files that have a public URL")
    a = p.parse_args(argv)
    failed = False
    try:
        specs = [get_spec(name) for name in a.names or list(DATASETS)]
    except HytasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for spec in specs:
        folder = data_root(a.root) / spec.name
        if a.download:
            try:
                download(spec, a.root)
            except HytasError as exc:
                print(f"{spec.name}: {exc}")
                failed = True
        print(f"{spec.title} ({spec.name}) in {folder}:")
        raw = spec.file("raw_cube")
        have_raw = raw is not None and (folder / raw.name).is_file()
        for f in spec.files:
            path = folder / f.name
            if path.is_file():
                why = checksum_problem(path, f)
                state = f"WRONG: {why}" if why else "ok"
                failed = failed or bool(why)
            elif f.role == "raw_cube" or (f.role == "cube" and have_raw):
                state = "absent, not needed" if f.role == "cube" else "optional, absent"
            else:
                state = "MISSING"
                failed = True
            print(f"  [{state}]" + describe(f, folder)[3:])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
