"""Typed errors: every one says what was wrong and what is allowed.

Each class also derives from the builtin a caller would naturally catch (ValueError,
KeyError, FileNotFoundError), so generic handlers keep working.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Iterable, Optional


def short_repr(value: object, limit: int = 60) -> str:
    """repr of a user's value cut to a readable length (a 5000-digit number included)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for str()
        text = f"<int of {value.bit_length()} bits>" if isinstance(value, int) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


class HytasError(Exception):
    """Base class of every error the library raises on purpose."""


def _allowed(values: Optional[Iterable]) -> str:
    if values is None:
        return ""
    return "; allowed: " + ", ".join(str(v) for v in values)


class InvalidArchitectureError(HytasError, ValueError):
    """An architecture that cannot be parsed or lies outside the search space."""

    def __init__(self, message: str, field: Optional[str] = None, allowed: Optional[Iterable] = None):
        self.field = field
        self.allowed = None if allowed is None else list(allowed)
        where = f"{field}: " if field else ""
        super().__init__(f"invalid architecture: {where}{message}{_allowed(self.allowed)}")


class UnknownDatasetError(HytasError, KeyError):
    """A dataset name that is not one of the five (or their aliases)."""

    def __init__(self, name: object, allowed: Iterable[str]):
        self.name = name
        self.allowed = list(allowed)
        super().__init__(f"unknown dataset {name!r}{_allowed(self.allowed)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ArchitectureNotInTableError(HytasError, KeyError):
    """A valid architecture that the loaded table does not hold."""

    def __init__(self, arch: object, dataset: str, source: str, hint: str = ""):
        self.arch, self.dataset, self.source = arch, dataset, source
        msg = f"architecture {arch} is not in the {source!r} table for {dataset!r}"
        super().__init__(msg + (f" ({hint})" if hint else ""))

    def __str__(self) -> str:
        return self.args[0]


class UnknownFieldError(HytasError, KeyError):
    """A metric, cost, proxy or column name that the table does not have."""

    def __init__(self, name: object, allowed: Iterable[str], kind: str = "field"):
        self.name = name
        self.allowed = list(allowed)
        super().__init__(f"unknown {kind} {name!r}{_allowed(self.allowed)}")

    def __str__(self) -> str:
        return self.args[0]


class UnknownSourceError(HytasError, KeyError):
    """A table source that is not loaded or does not exist."""

    def __init__(self, name: object, allowed: Iterable[str], hint: str = ""):
        self.name = name
        self.allowed = list(allowed)
        msg = f"unknown or unavailable table source {name!r}{_allowed(self.allowed)}"
        super().__init__(msg + (f". {hint}" if hint else ""))

    def __str__(self) -> str:
        return self.args[0]


class UnknownProtocolError(HytasError, KeyError):
    """A training protocol for which a source holds no table set (or none of that dataset);
    ``allowed`` lists the protocols it has (for that dataset)."""

    def __init__(self, name: object, source: str, allowed: Iterable[str], hint: str = "", dataset: str = ""):
        self.name = name
        self.allowed = list(allowed)
        on = f" on {dataset}" if dataset else ""
        msg = f"source {source!r} has no results{on} under protocol {name!r}{_allowed(self.allowed)}"
        super().__init__(msg + (f". {hint}" if hint else ""))

    def __str__(self) -> str:
        return self.args[0]


class TableError(HytasError, ValueError):
    """A table file that is missing, corrupt, truncated or of the wrong schema."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class DownloadError(HytasError, ConnectionError):
    """A download that failed (offline, HTTP error, checksum mismatch)."""


class DatasetFilesError(HytasError, FileNotFoundError):
    """Dataset files that are missing or wrong; the message says which files go where."""


class DatasetFormatError(HytasError, ValueError):
    """A dataset file that is present but holds the wrong thing (key, shape, label range)."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class UnknownAlgorithmError(HytasError, KeyError):
    """A search-algorithm name that is not registered in ``hytasbench.nas``."""

    def __init__(self, name: object, allowed: Iterable[str]):
        self.name = name
        self.allowed = list(allowed)
        super().__init__(f"unknown search algorithm {name!r}{_allowed(self.allowed)}")

    def __str__(self) -> str:
        return self.args[0]


class InvalidBudgetError(HytasError, ValueError):
    """A search budget that is negative, zero, not a number, or not given at all."""


class NoAccuracyError(HytasError, ValueError):
    """A table with no trained accuracy for a dataset, so OA-based search cannot be simulated."""


class MissingCostError(HytasError, ValueError):
    """A simulated cost (training or proxy seconds) that the table does not record; pass it explicitly."""


class BuildError(HytasError, ValueError):
    """A table build that cannot run as asked: a bad option, a missing engine or device."""


class MissingDependencyError(HytasError, ImportError):
    """An optional extra that a feature needs is not installed; the message names the pip extra."""

    def __init__(self, package: str, extra: str, feature: str):
        self.package, self.extra = package, extra
        super().__init__(f"{feature} needs {package}, which is not installed: pip install 'hytasbench[{extra}]'")


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import a module of an optional extra (setup.cfg), or raise MissingDependencyError saying
    which feature needs it and which pip extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module.split(".")[0], extra, feature) from exc


class UnknownProxyError(HytasError, KeyError):
    """A zero-cost proxy name that is not registered in ``hytasbench.proxies``."""

    def __init__(self, name: object, allowed: Iterable[str]):
        self.name = name
        self.allowed = list(allowed)
        super().__init__(f"unknown proxy {name!r}{_allowed(self.allowed)}")

    def __str__(self) -> str:
        return self.args[0]


class UnknownProxyOptionError(HytasError, ValueError):
    """An option that a proxy kernel does not have."""

    def __init__(self, proxy: str, option: object, allowed: Iterable[str]):
        self.proxy, self.option, self.allowed = proxy, option, list(allowed)
        super().__init__(f"proxy {proxy!r} has no option {option!r}{_allowed(self.allowed)}")


class InvalidSampleError(HytasError, ValueError):
    """A sample of architectures that cannot be drawn (size outside 1..2000 or not an integer, a seed
    that is not an integer, a pool that is not a list of architectures)."""


class UserProxyError(HytasError, ValueError):
    """A user's proxy that cannot be loaded or evaluated (missing file or function, a name that
    clashes with a built-in kernel, a function that is not callable)."""


class InvalidProtocolError(HytasError, ValueError):
    """A training protocol name or setting that does not exist or does not fit the model."""

    def __init__(self, message: str, allowed: Optional[Iterable] = None):
        self.allowed = None if allowed is None else list(allowed)
        super().__init__(f"invalid training protocol: {message}{_allowed(self.allowed)}")


class InvalidSettingError(HytasError, ValueError):
    """An analysis setting outside its allowed range (e.g. a forest of zero trees)."""


class TableContentError(TableError):
    """A table whose bytes are intact but whose content is impossible (an OA of 7.5, a negative
    run, an ``arch_id`` that is not its architecture); names the file, row and column."""

    def __init__(self, path: object, row: Optional[int], column: str, problem: str):
        self.row, self.column, self.problem = row, column, problem
        where = f"row {row}, column {column}" if row is not None else f"column {column}"
        super().__init__(path, f"{where}: {problem}")


class StaleTableSetError(TableError):
    """A table set that was replaced (e.g. re-imported) after this process opened it."""


class ReferenceFileError(TableError):
    """A file of the authors' repository that is missing or differs from the pinned sha256."""

    def __init__(self, path: object, problem: str, expected: Optional[str] = None, actual: Optional[str] = None):
        self.expected, self.actual = expected, actual
        super().__init__(path, problem)


class InvalidArgumentError(HytasError, ValueError):
    """An argument of the wrong type or out of range (a run of -1, a seed of -1, a bad path)."""


class InvalidRunError(InvalidArgumentError):
    """A training-run number that is not an integer >= 0 or that the architecture does not have."""


class NoMatchError(ArchitectureNotInTableError):
    """No architecture of the table satisfies a selection (``best`` with constraints)."""

    def __init__(self, dataset: str, source: str, why: str):
        self.arch, self.dataset, self.source = None, dataset, source
        KeyError.__init__(self, f"no architecture in the {source!r} table for {dataset!r} matches: {why}")


class UnwritablePathError(HytasError, PermissionError):
    """An output path (file or folder) that cannot be written; checked before any long work."""


class CheckpointError(HytasError, ValueError):
    """A training checkpoint that is unreadable or belongs to another run (architecture, data, config)."""
