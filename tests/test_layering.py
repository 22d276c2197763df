"""The library does not reach into the offline tools: builders import hytasbench, never the reverse."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args \
                and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value)


def test_no_library_module_imports_the_builders():
    offenders = [f"{p.relative_to(REPO)}: {m}" for p in sorted((REPO / "hytasbench").rglob("*.py"))
                 for m in _imported_modules(p) if m == "builders" or m.startswith("builders.")]
    assert offenders == []


def test_a_query_does_not_load_the_importer():
    code = ("import sys, hytasbench.cli as c; c.build_parser('query'); "
            "sys.exit(any(m.startswith('hytasbench.reference_import') for m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert res.returncode == 0, res.stderr
