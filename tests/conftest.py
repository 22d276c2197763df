"""Shared fixtures: where the real data lives, and the imported HyTAS reference (built once)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HYTASBENCH_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference" / "hytas"
DATASETS_DIR = SHARED / "datasets"


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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The hostile suite's closing count (tests/hostile_tally.py), when any of its cases ran."""
    import sys

    tally = sys.modules.get("hostile_tally") or sys.modules.get("tests.hostile_tally")
    if tally is not None and sum(tally.TALLY.values()):
        terminalreporter.write_sep("-", tally.summary())
