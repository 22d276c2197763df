"""Import the authors' published HyTAS results into a hytasbench table set.

    python -m builders.import_hytas                 # download at the pinned commit, then import
    python -m builders.import_hytas --from DIR      # a local copy of the authors' repository

The same as ``hytasbench import``: both are hytasbench.reference_import (``import_reference``
does the work; this module is its command line, kept for the documented command). The result
lands in ``<cache>/tables/hytas`` unless ``--out`` says otherwise; every file is first checked
against the pinned sha256 list, and ``--allow-modified`` imports a copy that differs, saying so.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from hytasbench.errors import HytasError
from hytasbench.reference_import import CHECKSUMS, download, import_reference
from hytasbench.reference_import.cli import add_arguments, run

__all__ = ["CHECKSUMS", "download", "import_reference", "main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builders.import_hytas", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except HytasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
