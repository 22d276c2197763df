"""Shared fixtures: a small table set the tests write themselves (runs anywhere), where the real data
lives, and the imported HyTAS reference (built once)."""
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


@pytest.fixture(scope="session")
def small_tables(tmp_path_factory) -> Path:
    """The small table set of tests/smallset.py, written once with the real writer."""
    import smallset

    return smallset.write(tmp_path_factory.mktemp("small") / "small")


@pytest.fixture(scope="session")
def small_bench(small_tables):
    from hytasbench import Benchmark

    return Benchmark(source=small_tables)


@pytest.fixture(scope="session")
def toy280():
    """A small synthetic scene, 3 classes over 6 bands: 280 training pixels (>= 256, so upstream's
    sampler yields steps) and 70 test pixels."""
    import numpy as np

    from hytasbench.datasets.load import HSIData
    from hytasbench.datasets.synthetic import synthetic_cube

    labels = np.zeros((24, 24), int)
    labels[2:10, 2:22], labels[12:22, 2:12], labels[12:22, 13:22] = 1, 2, 3
    cube = synthetic_cube(labels, 3, 6, seed=0, noise=1.0)
    rows, cols = np.nonzero(labels)
    rc, y = np.stack([rows, cols], 1), labels[rows, cols] - 1
    test = np.arange(len(y)) % 5 == 0
    return HSIData("toy", cube, rc[~test], y[~test], rc[test], y[test], ("a", "b", "c"), 3)


def _tally_module():
    import sys

    return sys.modules.get("hostile_tally") or sys.modules.get("tests.hostile_tally")


def pytest_sessionfinish(session):
    """Under pytest-xdist each worker hands its hostile-case counts to the controller."""
    tally = _tally_module()
    if hasattr(session.config, "workeroutput") and tally is not None:
        session.config.workeroutput["hostile_tally"] = dict(tally.TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller's side (an xdist hook): add a finished worker's counts to its own."""
    counts = getattr(node, "workeroutput", {}).get("hostile_tally")
    if counts:
        import hostile_tally

        hostile_tally.TALLY.update(counts)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The hostile suite's closing count (tests/hostile_tally.py), when any of its cases ran."""
    tally = _tally_module()
    if tally is not None and sum(tally.TALLY.values()):
        terminalreporter.write_sep("-", tally.summary())
