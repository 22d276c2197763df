"""Import the authors' published HyTAS results into a hytasbench table set (docs/reference_import.md).

``import_reference(source, dest, allow_modified)`` is the one entry point; ``hytasbench import``
and ``python -m builders.import_hytas`` both call it. Modules: ``layout`` (which upstream file
becomes which column), ``fetch`` (download and sha256 checks), ``convert`` (one dataset's files
-> one table), ``importer`` (verify, convert, write).
"""
from __future__ import annotations

from .convert import PROTOCOL, SOURCE
from .fetch import CHECKSUMS, check_files, download
from .importer import import_reference

__all__ = ["CHECKSUMS", "PROTOCOL", "SOURCE", "check_files", "download", "import_reference"]
