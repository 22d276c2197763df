"""Shared fixtures: where the real data lives, and the imported HyTAS reference (built once)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HYTASBENCH_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference" / "hytas"
# without HYTASBENCH_SHARED, the library's own data root (benchmarks/gpu_check.py sets it for pytest -m cuda)
DATASETS_DIR = SHARED / "datasets" if "HYTASBENCH_SHARED" in os.environ or "HYTASBENCH_DATA" not in os.environ \
    else Path(os.environ["HYTASBENCH_DATA"])


def need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (set HYTASBENCH_SHARED to the folder holding "
                    "datasets/ and reference/hytas/)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return need(REFERENCE, "the authors' published HyTAS results")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    return need(DATASETS_DIR, "the shared dataset files")


@pytest.fixture(scope="session")
def reference_tables(reference_dir, tmp_path_factory) -> Path:
    """The whole reference imported once into a temporary table set (the importer under test)."""
    from builders.import_hytas import import_reference

    return import_reference(reference_dir, tmp_path_factory.mktemp("hytas") / "hytas")


@pytest.fixture(scope="session")
def reference_bench(reference_tables):
    from hytasbench import Benchmark

    return Benchmark(source=reference_tables)
