"""Parity report: our proxies (from ``parity_run.py``) against the authors' published scores and
OA on the same Indian Pines architectures; prints the markdown tables of docs/proxies.md.

    python benchmarks/parity_report.py --runs work/parity/indian_pines.jsonl --reference work/hytas_ref
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
PROXIES = ["grad_norm", "snip", "grasp", "synflow", "logsynflow", "dss", "fisher", "jacob_cov", "naswot",
           "zico", "zico_pp", "croze", "tcet"]
TARGET = 0.05


def load_runs(path: Path) -> pd.DataFrame:
    """One row per architecture: ``<label>`` scores and ``<label>__<variant>`` variants, where the
    label is a proxy name or ``<name>:compat``; croze's compat (upstream's per-layer log) and the
    float32 DSS are derived from the clean per-layer scores."""
    rows = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        row: Dict[str, object] = {"arch": rec["arch"], "id": rec["id"], "seconds": rec["seconds"]}
        for label, r in rec["results"].items():
            row[label] = r["score"]
            for v, x in (r["variants"] or {}).items():
                row[f"{label}__{v}"] = x
        layers = rec["results"]["croze"]["layers"]
        row["croze:compat"] = sum(math.log(v) for v in layers) if layers and min(layers) > 0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("arch")


def rho(a: pd.Series, b: pd.Series) -> float:
    ok = a.notna() & b.notna() & np.isfinite(a.astype(float)) & np.isfinite(b.astype(float))
    return float(spearmanr(a[ok], b[ok]).correlation) if ok.sum() > 2 else math.nan


def fmt(x: Optional[float]) -> str:
    return "" if x is None or x != x else f"{x:+.3f}"


def main_table(ours: pd.DataFrame, ref: pd.DataFrame) -> List[str]:
    oa = ref["metric_oa"]
    lines = ["| proxy | ρ(ours, published) | ρ(ours, OA) | ρ(published, OA) | Δ | ρ(ours compat, published) | "
             "ρ(ours compat, OA) | Δ compat |", "|---|---|---|---|---|---|---|---|"]
    for p in PROXIES + ["params", "flops"]:
        if p in ("params", "flops"):
            mine, pub = ours.get(p), ref[f"cost_{p}"]
        else:
            mine, pub = ours[p], ref[f"proxy_{p}"]
        if mine is None:
            continue
        r_pub, r_oa, r_ref = rho(mine, pub), rho(mine, oa), rho(pub, oa)
        comp = ours.get(f"{p}:compat")
        cells = [p, fmt(r_pub), fmt(r_oa), fmt(r_ref), f"{abs(r_oa - r_ref):.3f}"]
        if comp is not None:
            rc = rho(comp, oa)
            cells += [fmt(rho(comp, pub)), fmt(rc), f"{abs(rc - r_ref):.3f}"]
        else:
            cells += ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def variant_table(ours: pd.DataFrame, ref: pd.DataFrame) -> List[str]:
    """Sign ablation and attention/MLP parts: ours (clean; compat where it changes the number)."""
    oa = ref["metric_oa"]
    lines = ["| score | ρ(ours, published) | ρ(ours, OA) | ρ(published, OA) | ρ(ours compat, OA) |",
             "|---|---|---|---|---|"]
    for p in ("synflow", "logsynflow", "dss", "snip", "grad_norm"):
        for v in ("nosign", "attn", "mlp", "attn_nosign", "mlp_nosign"):
            col = f"{p}__{v}"
            if col not in ours or f"proxy_{col}" not in ref:
                continue
            pub = ref[f"proxy_{col}"]
            comp = ours.get(f"{p}:compat__{v}")
            lines.append(f"| {p} {v} | {fmt(rho(ours[col], pub))} | {fmt(rho(ours[col], oa))} | {fmt(rho(pub, oa))} | "
                         f"{fmt(rho(comp, oa)) if comp is not None else ''} |")
    return lines


def scale_table(ours: pd.DataFrame, ref: pd.DataFrame) -> List[str]:
    """Median attention and MLP parts (and their ratio), ours and published; log parts ours."""
    lines = ["| proxy | ours attn | ours mlp | ratio | published attn | published mlp | ratio | "
             "ours attn_log | ours mlp_log |", "|---|---|---|---|---|---|---|---|---|"]
    for p in ("dss", "synflow", "snip", "grad_norm"):
        a, m = ours[f"{p}__attn"], ours[f"{p}__mlp"]
        pa, pm = ref.get(f"proxy_{p}__attn"), ref.get(f"proxy_{p}__mlp")
        cells = [p, f"{a.median():.3g}", f"{m.median():.3g}", f"{(a / m).median():.3g}"]
        cells += [f"{pa.median():.3g}", f"{pm.median():.3g}", f"{(pa / pm).median():.3g}"] if pa is not None else [""] * 3
        cells += [f"{ours[f'{p}__attn_log'].median():.3g}", f"{ours[f'{p}__mlp_log'].median():.3g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=REPO / "work" / "parity" / "indian_pines.jsonl")
    ap.add_argument("--reference", default=str(REPO / "work" / "hytas_ref"))
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "reference" / "hytas")
    args = ap.parse_args()
    from hytasbench import Benchmark

    ours = load_runs(args.runs)
    ref = Benchmark(source=args.reference).frame("indian_pines").set_index("arch").loc[ours.index]
    from hytasbench.model import count_flops, count_params
    from hytasbench.proxies.engine import build_scoring_model

    ours["params"] = [count_params(build_scoring_model(a, "indian_pines")) for a in ours.index]
    ours["flops"] = [count_flops(build_scoring_model(a, "indian_pines")) for a in ours.index]
    out = [f"{len(ours)} architectures (ids {ours['id'].min()}..{ours['id'].max()}), Spearman ρ; Δ = |ρ(ours, OA) - "
           f"ρ(published, OA)|, target ≤ {TARGET}", ""] + main_table(ours, ref)
    t_cet_o = args.shared / "outputs" / "indian" / "search_results_t_cet_o.csv"
    if t_cet_o.exists():
        raw = pd.read_csv(t_cet_o)
        by_id = dict(zip(raw.iloc[:, 0] + 1, raw["t_cet"]))
        orig = pd.Series([by_id.get(i, math.nan) for i in ours["id"]], index=ours.index)
        out += ["", f"tcet against upstream's t_cet_o (the formula as coded): ρ(ours, t_cet_o) {fmt(rho(ours['tcet'], orig))}, "
                f"ρ(ours compat, t_cet_o) {fmt(rho(ours['tcet:compat'], orig))}, ρ(t_cet_o, OA) "
                f"{fmt(rho(orig, ref['metric_oa']))}"]
    out += ["", "Variants:", ""] + variant_table(ours, ref) + ["", "Scales (medians over the architectures):", ""]
    out += scale_table(ours, ref)
    out += ["", f"mean seconds per architecture (all proxies, clean + compat, one core): {ours['seconds'].mean():.1f}"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
