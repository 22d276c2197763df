"""Full-protocol validation table (docs/training.md): our training results next to the authors'
published OA / AA / kappa of the same architectures.

    python benchmarks/validation_report.py --results work/validation --reference work/hytas_ref

``--results``: JSON files of ``python -m hytasbench.train --out`` (files or folders); runs of
fewer than 300 epochs (timing probes) are left out. ``--reference``: the imported authors' results
(``python -m builders.import_hytas``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]


def load(paths: List[str]) -> List[Dict[str, Any]]:
    files: List[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    out = []
    for f in files:
        doc = json.loads(f.read_text())
        if isinstance(doc, dict) and doc.get("epochs") == 300 and "oa" in doc:
            out.append(doc)
    return out


def pct(x: Any) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", nargs="+", default=[str(REPO / "work" / "validation")])
    ap.add_argument("--reference", default=str(REPO / "work" / "hytas_ref"))
    args = ap.parse_args()
    from hytasbench import Benchmark
    from hytasbench.errors import HytasError

    ref = Benchmark(source=args.reference)
    print("| architecture | protocol | seed | OA | AA | kappa | best OA (epoch) | train time | "
          "published OA / AA / kappa | OA ours - published |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    order = lambda d: (d["arch_id"] is None, d["arch_id"] or 0, d["protocol"], d["seed"])  # noqa: E731
    for d in sorted(load(args.results), key=order):
        name = f"id {d['arch_id']} `{d['arch']}`" if d["arch_id"] else d["arch"]
        try:
            pub = ref.query(d["arch"], d["dataset"])
            published = f"{pct(pub.oa)} / {pct(pub.aa)} / {pct(pub.kappa)}"
            gap = f"{100 * (d['oa'] - pub.oa):+.2f}"
        except HytasError as exc:
            published, gap = f"not in the reference ({type(exc).__name__})", ""
        print(f"| {name} | {d['protocol']} | {d['seed']} | {pct(d['oa'])} | {pct(d['aa'])} | {pct(d['kappa'])} | "
              f"{pct(d['oa_best'])} ({d['oa_best_epoch']}) | {d['train_seconds']:.0f} s | {published} | {gap} |")


if __name__ == "__main__":
    main()
