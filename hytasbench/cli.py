"""The ``hytasbench`` command: info, query (and the subcommands other modules add: import, report, ...)."""
from __future__ import annotations

import argparse
import json
import math
import numbers
import sys
from typing import Any, Callable, Dict, List, Optional

from .errors import HytasError


def _bench(args: argparse.Namespace):
    from .benchmark import Benchmark

    return Benchmark(source=args.source)


def _jsonable(value: Any) -> Any:
    """``value`` with every NaN or infinite number (in lists and dicts too) as None: bare NaN and
    Infinity are not JSON, and a value we do not have is absent."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return float(value) if math.isfinite(value) else None
    return value


def to_json(data: Any, indent: int = 2, default: Optional[Callable[[Any], Any]] = None) -> str:
    """The JSON every ``--json`` prints: non-finite numbers as null (``_jsonable``), and never
    a bare NaN or Infinity, whatever ``default`` makes of an unknown type."""
    return json.dumps(_jsonable(data), indent=indent, default=default and (lambda v: _jsonable(default(v))),
                      allow_nan=False)


def cmd_info(args: argparse.Namespace) -> int:
    bench = _bench(args)
    out: Dict[str, Any] = {"default_source": bench.default_source, "sources": {}}
    for src in bench.sources:
        m = bench.manifest(src)
        out["sources"][src] = {
            "protocol": m.get("protocol"), "description": m.get("description"), "created": m.get("created"),
            "datasets": {ds: {"rows": bench.num_rows(ds, source=src), "architectures": len(bench.archs(ds, source=src)),
                              "proxies": bench.proxy_names(ds, src)} for ds in bench.datasets(src)},
            "notes": m.get("notes", []),
            "other_protocols": {p: {"description": e.get("description"), "rows": e.get("rows"),
                                    "architectures": e.get("architectures")}
                                for p, e in (m.get("protocol_sets") or {}).items()},
        }
    if args.json:
        print(to_json(out))
        return 0
    print(f"default source: {out['default_source']}")
    for src, info in out["sources"].items():
        print(f"\n[{src}] protocol {info['protocol']}, created {info['created']}\n  {info['description']}")
        for ds, d in info["datasets"].items():
            print(f"  {ds:13s} {d['architectures']:5d} architectures, {d['rows']:5d} rows, "
                  f"{len(d['proxies'])} proxy columns")
        for note in info["notes"]:
            print(f"  note: {note}")
        for protocol, p in info["other_protocols"].items():
            rows = ", ".join(f"{ds} {n} rows" for ds, n in p["rows"].items())
            print(f"  also under protocol {protocol} (query with --protocol): {rows}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    bench = _bench(args)
    rec = bench.query(args.arch, args.dataset, run=args.run, protocol=args.protocol)
    data = _jsonable(rec.to_dict())
    if args.fields:
        data = _jsonable({f: rec[f] for f in args.fields})
    if args.json:
        print(to_json(data))
        return 0
    print(f"{rec.arch}  (id {rec.arch.id}, depth {rec.arch.depth}) on {rec['dataset']}, source {rec['source']}, "
          f"protocol {rec['protocol']}, run {rec['run']}")
    for key, value in data.items():
        if key in ("arch", "dataset", "source", "protocol", "run") or key.endswith("__layers"):
            continue
        shown = "-" if value is None else (f"{value:.6g}" if isinstance(value, float) else value)
        why = rec.reason(key)
        why = f"   ({why})" if why else ""
        print(f"  {key:32s} {shown}{why}")
    return 0


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The full parser; with ``command`` given, other modules' subcommands are only imported if
    it names one of them (their imports, pandas and scipy, would slow every query)."""
    parser = argparse.ArgumentParser(prog="hytasbench", description="HyTAS as a tabular NAS benchmark")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--source", help="table source: 'hytas' (imported reference), 'hytasbench' (shipped) "
                                        "or a table-set folder; default: every available one")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("info", help="what tables are loaded and what they hold")
    common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("query", help="one architecture on one dataset")
    p.add_argument("arch", help="id 1..2000 or canonical string such as e48-h466533-r451343")
    p.add_argument("dataset", help="indian_pines, salinas, houston2013, paviau, ksc (or an alias)")
    p.add_argument("--run", type=int, default=0, help="training repeat (0 = headline run)")
    p.add_argument("--fields", nargs="+", help="only these fields (short names such as oa, params, snip)")
    p.add_argument("--protocol", help="training protocol (default: the source's own; `info` lists the others)")
    common(p)
    p.set_defaults(func=cmd_query)

    extensions = _extensions()
    known = set(sub.choices) | set(extensions)
    for name, register in extensions.items():
        if command is None or command == name or command not in known:
            register()(sub)
    return parser


def _extensions() -> Dict[str, Callable[[], Callable[[Any], None]]]:
    """Subcommands owned by other modules: name -> loader of their ``add_parser``."""
    def loader(module: str) -> Callable[[], Callable[[Any], None]]:
        return lambda: __import__(module, fromlist=["add_parser"]).add_parser
    return {"import": loader("hytasbench.reference_import.cli"), "report": loader("hytasbench.analysis.report"),
            "search": loader("hytasbench.nas.cli"), "evaluate-proxy": loader("hytasbench.evaluate"),
            "predict": loader("hytasbench.surrogate.cli")}


#: Exit status of a command refused for bad input (argparse's own for a bad option).
EXIT_USAGE = 2


def reporting_errors(command: Callable[..., int], *args: Any) -> int:
    """``command(*args)``, with a typed error (bad input: hytasbench.errors) reported as one line
    ``error: ...`` and exit status 2: a user is told what was wrong and what is allowed, not shown
    a traceback. ``hytasbench``, ``python -m hytasbench.train`` and ``python -m builders.build`` run
    their bodies through this."""
    try:
        return command(*args)
    except HytasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return reporting_errors(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
