"""Full-protocol validation table (docs/training.md): our training results next to the authors'
published OA / AA / kappa of the same architectures.

    python benchmarks/validation_report.py --results work/validation --reference work/hytas_ref

``--results``: JSON files of ``python -m hytasbench.train --out`` (files or folders); runs of
fewer than 300 epochs (timing probes) are left out. ``--reference``: the imported authors' results
(``python -m builders.import_hytas``).

``--compare`` adds the protocol comparison of issue 18: per protocol and seed, over the
architectures that have a published OA, the mean and standard deviation of our OA and of the
published OA of the same architectures, the mean difference and the Spearman correlation across
the architectures, then every architecture's difference per protocol and seed. Protocol names
are read in today's spelling (``hytasbench.protocols.canonical``), so older results group with new.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]


def load(paths: List[str], epochs: int = 300) -> List[Dict[str, Any]]:
    files: List[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    out = []
    for f in files:
        doc = json.loads(f.read_text())
        if isinstance(doc, dict) and doc.get("epochs") == epochs and "oa" in doc:
            out.append(doc)
    return out


def pct(x: Any) -> str:
    return "" if x is None else f"{100 * x:.2f}"


@dataclass
class Comparison:
    """Our runs of one protocol and seed against a baseline OA (published) of the same architectures."""

    protocol: str
    seed: int
    oa: Dict[str, float]  # arch -> our OA, only architectures with a baseline value
    baseline: Dict[str, float]  # arch -> baseline OA, same keys
    missing: List[str]  # architectures we ran that have no baseline value

    @property
    def n(self) -> int:
        return len(self.oa)

    def _pairs(self) -> Tuple[List[float], List[float]]:
        archs = sorted(self.oa)
        return [self.oa[a] for a in archs], [self.baseline[a] for a in archs]

    def mean_sd(self, which: str) -> Tuple[Optional[float], Optional[float]]:
        values = self._pairs()[0 if which == "ours" else 1]
        if not values:
            return None, None
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)

    def spearman(self) -> Optional[float]:
        """Spearman's rho across the architectures (None below 3, or with a constant side)."""
        ours, base = self._pairs()
        if len(ours) < 3 or len(set(ours)) < 2 or len(set(base)) < 2:
            return None
        from scipy.stats import spearmanr

        return float(spearmanr(ours, base).statistic)

    def differences(self) -> Dict[str, float]:
        return {a: self.oa[a] - self.baseline[a] for a in sorted(self.oa)}


def compare(results: List[Dict[str, Any]], baseline: Mapping[str, float]) -> List[Comparison]:
    """Group results by (protocol in today's spelling, seed) and set each against ``baseline``
    (arch -> OA). A second result of the same architecture in a group replaces the first, with a
    warning on stderr (the same run found in two folders)."""
    groups: Dict[Tuple[str, int], Comparison] = {}
    for d in results:
        protocol = _canonical(d["protocol"])
        c = groups.setdefault((protocol, int(d["seed"])), Comparison(protocol, int(d["seed"]), {}, {}, []))
        arch = d["arch"]
        if arch in c.oa:
            print(f"warning: two results of {arch} under {protocol} seed {c.seed}; keeping the later", file=sys.stderr)
        if baseline.get(arch) is None:
            c.missing.append(arch)
            continue
        c.oa[arch], c.baseline[arch] = float(d["oa"]), float(baseline[arch])
    return [groups[k] for k in sorted(groups)]


def _canonical(protocol: str) -> str:
    """Today's spelling of a protocol name; a name it cannot read stays as it is."""
    from hytasbench.errors import InvalidProtocolError
    from hytasbench.protocols import canonical

    try:
        return canonical(protocol)
    except InvalidProtocolError:
        return protocol


def _pm(mean_sd: Tuple[Optional[float], Optional[float]]) -> str:
    mean, sd = mean_sd
    if mean is None:
        return ""
    return f"{100 * mean:.2f}" + ("" if sd is None else f" ± {100 * sd:.2f}")


def comparison_markdown(comparisons: List[Comparison], ids: Mapping[str, Optional[int]]) -> str:
    """The summary table (one row per protocol and seed) and the per-architecture differences."""
    lines = ["| protocol | seed | n | our OA mean ± sd | published OA mean ± sd (same n) | mean difference | "
             "Spearman across the n |", "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        rho = c.spearman()
        diffs = list(c.differences().values())
        mean_diff = f"{100 * statistics.fmean(diffs):+.2f}" if diffs else ""
        lines.append(f"| {c.protocol} | {c.seed} | {c.n} | {_pm(c.mean_sd('ours'))} | {_pm(c.mean_sd('baseline'))} | "
                     f"{mean_diff} | {'' if rho is None else f'{rho:.3f}'} |")
    archs = sorted({a for c in comparisons for a in c.oa}, key=lambda a: (ids.get(a) is None, ids.get(a) or 0, a))
    lines += ["", "Per architecture: our OA (difference from published), in %.", "",
              "| architecture | published OA | " + " | ".join(f"{c.protocol} s{c.seed}" for c in comparisons) + " |",
              "|---|---|" + "---|" * len(comparisons)]
    for a in archs:
        base = next(c.baseline[a] for c in comparisons if a in c.baseline)
        cells = [f"{100 * c.oa[a]:.2f} ({100 * (c.oa[a] - c.baseline[a]):+.2f})" if a in c.oa else ""
                 for c in comparisons]
        name = f"id {ids[a]} `{a}`" if ids.get(a) else a
        lines.append(f"| {name} | {100 * base:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def published_oa(results: List[Dict[str, Any]], reference: str) -> Dict[str, Optional[float]]:
    """arch -> the authors' published OA (None where the reference has no such architecture)."""
    from hytasbench import Benchmark
    from hytasbench.errors import HytasError

    ref = Benchmark(source=reference)
    out: Dict[str, Optional[float]] = {}
    for d in results:
        try:
            out[d["arch"]] = ref.query(d["arch"], d["dataset"]).oa
        except HytasError:
            out[d["arch"]] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", nargs="+", default=[str(REPO / "work" / "validation")])
    ap.add_argument("--reference", default=str(REPO / "work" / "hytas_ref"))
    ap.add_argument("--compare", action="store_true", help="add the per-protocol comparison with published")
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
        print(f"| {name} | {_canonical(d['protocol'])} | {d['seed']} | {pct(d['oa'])} | {pct(d['aa'])} | {pct(d['kappa'])} | "
              f"{pct(d['oa_best'])} ({d['oa_best_epoch']}) | {d['train_seconds']:.0f} s | {published} | {gap} |")
    if args.compare:
        results = load(args.results)
        print()
        print(comparison_markdown(compare(results, published_oa(results, args.reference)),
                                  {d["arch"]: d["arch_id"] for d in results}))


if __name__ == "__main__":
    main()
