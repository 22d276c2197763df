"""Every proxy, ensemble and size baseline of a table set against the published OA, on the
architectures that have every score: Spearman rho (bootstrap CI), Kendall tau, top-10 %
precision, top-1 OA (CI) and the mean seconds per architecture the table records.

    python benchmarks/proxy_table.py --tables tables --reference work/hytas_ref [--dataset indian_pines]

Prints a Markdown table (the one in docs/proxies.md, "How the proxies rank") and the set it was
measured on (n and which ids).
"""
from __future__ import annotations

import argparse

import numpy as np

#: AZ-NAS's own aggregation, and the plain rank mean named in docs/proxies.md (fixed before measuring)
ENSEMBLES = ("az_nas", "ensemble:synflow+naswot+flops")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", required=True, help="our table set (proxy scores)")
    ap.add_argument("--reference", required=True, help="the imported authors' table set (OA)")
    ap.add_argument("--dataset", default="indian_pines")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--stratified", type=int, help="only a stratified sample of this many of the architectures "
                    "that have every score (hytasbench.space.stratified_sample over them, seed 0)")
    args = ap.parse_args()

    from hytasbench import Benchmark
    from hytasbench.analysis.correlation import proxy_quality
    from hytasbench.analysis.data import score_columns

    ours = Benchmark(source=args.tables)
    frame = ours.frame(args.dataset)
    scores = {k: v for k, v in score_columns(frame).items()}
    complete = frame[[c for c in scores.values()]].notna().all(axis=1)
    frame = frame[complete].reset_index(drop=True)
    if args.stratified:
        from hytasbench.space import stratified_sample

        keep = {str(a) for a in stratified_sample(args.stratified, 0, pool=list(frame["arch"]))}
        frame = frame[frame["arch"].isin(keep)].reset_index(drop=True)
    view = {name: [ours.query(a, args.dataset)[name] for a in frame["arch"]] for name in ENSEMBLES}
    for name, values in view.items():  # ensembles ranked over the whole table, read per architecture
        frame[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
    oa = Benchmark(source=args.reference).frame(args.dataset)[["arch", "metric_oa"]]
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("metric_")]).merge(oa, on="arch")
    labels = dict(scores, **{name: name for name in ENSEMBLES})
    table = proxy_quality(frame, labels, target="metric_oa", n_boot=args.n_boot)
    seconds = {k: frame[f"{v}__seconds"].mean() for k, v in scores.items() if f"{v}__seconds" in frame}
    ids = sorted(int(i) for i in frame["arch_id"])
    how = f"a stratified sample (seed 0) of the {int(complete.sum())} with every score" if args.stratified \
        else "every architecture with every score"
    print(f"{args.dataset}: n = {len(frame)} architectures, {how} (ids {ids[0]}..{ids[-1]}); ensembles ranked over "
          f"the whole table; OA from {args.reference}; {args.n_boot} bootstrap resamples\n")
    print("| score | rho [95 % CI] | tau | top-10 % precision | top-1 OA [95 % CI] | s / arch (recorded) |")
    print("|---|---|---|---|---|---|")
    for _, r in table.sort_values("rho", ascending=False).iterrows():
        sec = seconds.get(r["proxy"])
        print(f"| {r['proxy']} | {r['rho']:.3f} [{r['rho_lo']:.3f}, {r['rho_hi']:.3f}] | {r['tau']:.3f} | "
              f"{r['prec_top10pct']:.3f} | {100 * r['top1']:.2f} [{100 * r['top1_lo']:.2f}, {100 * r['top1_hi']:.2f}] | "
              f"{'-' if sec is None or sec != sec else f'{sec:.2f}'} |")


if __name__ == "__main__":
    main()
