"""The importer's command line, shared by ``hytasbench import`` and ``python -m builders.import_hytas``."""
from __future__ import annotations

import argparse
from typing import Any

from ..cache import tables_dir
from .convert import SOURCE
from .importer import import_reference


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", help="local copy of the authors' repository")
    parser.add_argument("--out", help=f"destination table set (default: {tables_dir(SOURCE)})")
    parser.add_argument("--allow-modified", action="store_true",
                        help="import files that differ from the pinned upstream ones anyway; the manifest and "
                             "every value from such a file say so")


def run(args: argparse.Namespace) -> int:
    """Import as the parsed flags say; a HytasError is left to the caller (one ``error:`` line, exit 2)."""
    dest = import_reference(args.source, args.out, allow_modified=args.allow_modified)
    print(f"imported the HyTAS reference into {dest}")
    return 0


def add_parser(sub: Any) -> None:
    """``hytasbench import`` (registered by hytasbench.cli)."""
    p = sub.add_parser("import", help="import the authors' published results into the cache")
    add_arguments(p)
    p.set_defaults(func=run)
