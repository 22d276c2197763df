"""The column contract lives in hytasbench.schema: its helpers, and that the modules share it."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

from hytasbench import schema, space

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("column,with_variants,without", [
    ("proxy_snip", True, True),
    ("proxy_dss__attn", True, False),
    ("proxy_dss__attn_log", True, False),
    ("proxy_snip__layers", False, False),
    ("proxy_snip__seconds", False, False),
    ("proxy_snip__error", False, False),
    ("metric_oa", False, False),
    ("cost_params", False, False),
    ("arch", False, False),
])
def test_is_score_column(column, with_variants, without):
    assert schema.is_score_column(column) is with_variants
    assert schema.is_score_column(column, variants=False) is without


def test_score_names_keep_order_and_drop_extras():
    cols = ["arch", "proxy_zico", "proxy_zico__seconds", "proxy_dss__mlp", "proxy_dss", "proxy_dss__layers",
            "cost_flops", "proxy_snip__error"]
    assert schema.score_names(cols) == ["zico", "dss__mlp", "dss"]
    assert schema.score_names(cols, variants=False) == ["zico", "dss"]


@pytest.mark.parametrize("arch", [1, 1234, "e48-h466533-r451343"])
def test_arch_columns_are_the_schema_columns_and_read_back(arch):
    a = space.parse(arch)
    cols = schema.arch_columns(a)
    assert tuple(cols) == schema.ARCH_COLUMNS
    assert cols["arch"] == str(a) and cols["arch_id"] == a.id
    described = {k: v for k, v in cols.items() if k not in ("arch", "arch_id")}
    assert space.parse(described) == a
    assert json.loads(json.dumps(cols)) == cols  # plain values, as a table cell takes them


def test_size_proxies_are_costs_with_an_orientation():
    for name in schema.SIZE_PROXIES:
        assert name in schema.COSTS and name in schema.ORIENTATION


def test_train_metrics_are_every_metric_and_the_ingest_needs_them():
    from builders import ingest

    assert schema.TRAIN_METRICS == tuple(schema.METRICS)
    assert set(schema.TRAIN_METRICS) | set(schema.SIZE_PROXIES) <= set(ingest._NEEDED)


def _module_graph(packages=("hytasbench", "builders")) -> Dict[str, Set[str]]:
    """Module -> modules of the project it imports at import time (module level, including
    ``if TYPE_CHECKING`` blocks; imports inside functions are deferred and left out)."""
    files = {}
    for pkg in packages:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: Dict[str, Set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: Set[str] = set()

        def visit(body: List[ast.stmt]) -> None:
            for node in body:
                if isinstance(node, ast.Import):
                    deps.update(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                    mod = ".".join(base + ([node.module] if node.module else []))
                    subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in files]
                    deps.update(subs if subs and len(subs) == len(node.names) else [mod, *subs])
                elif isinstance(node, (ast.If, ast.Try)):
                    visit(node.body)
                    visit(node.orelse)
                    for h in getattr(node, "handlers", []):
                        visit(h.body)

        visit(ast.parse(path.read_text()).body)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    out: List[List[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules():
    graph = _module_graph()
    assert "builders.units" in graph and "hytasbench.schema" in graph["builders.units"]
    assert _cycles(graph) == []


def test_units_import_without_revisions():
    code = "import sys, builders.units; print('builders.revisions' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_torch_free_kernel_list_is_the_registry():
    pytest.importorskip("torch")
    import hytasbench.proxies as proxies

    built_in = [n for n in proxies.available() if proxies.get(n).reduce.__module__.startswith("hytasbench.proxies")]
    assert sorted(schema.KERNELS) == sorted(built_in)


def test_a_reader_without_the_kernels_knows_a_kernel_is_a_proxy(tmp_path):
    """Without hytasbench.proxies imported, a table lacking a registered kernel lacks a proxy
    (None / False), while a typo is still an error."""
    code = (
        "import sys, pandas as pd\n"
        "from hytasbench import Benchmark, space\n"
        "from hytasbench.errors import UnknownFieldError\n"
        "from hytasbench.tables import write_table_set\n"
        "a = space.parse(1)\n"
        "f = pd.DataFrame([{'arch': str(a), 'dataset': 'ksc', 'source': 't', 'run': 0, 'metric_oa': 0.5}])\n"
        f"write_table_set({str(tmp_path)!r}, {{'ksc': f}}, source='t', protocol='p', description='d')\n"
        f"b = Benchmark(source={str(tmp_path)!r})\n"
        "assert b.has(1, 'ksc', 'meco') is False and b.query(1, 'ksc')['reg_swap'] is None\n"
        "assert b.proxy_seconds('ksc', 'gradsign') is None and b.proxy_seconds('ksc', 'az_nas') is None\n"
        "try:\n    b.has(1, 'ksc', 'mecoo')\nexcept UnknownFieldError:\n    pass\nelse:\n    raise SystemExit('typo accepted')\n"
        "assert 'torch' not in sys.modules and 'hytasbench.proxies' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "HYTASBENCH_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr[-2000:]
