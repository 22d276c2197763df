"""Score HyTAS-2000 architectures on the real Indian Pines with every proxy, clean and with
``hytas_compat`` where an upstream quirk changes the number, for the parity study
(docs/proxies.md). Resumable: one JSON line per architecture, ids already in the file skipped.

    python benchmarks/parity_run.py --out work/parity/indian_pines.jsonl --count 300
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

#: proxies whose upstream quirks change more than the precision (croze's per-layer log and dss's
#: float32 are derived from the clean per-layer scores in the analysis instead of rerun)
COMPAT = ("synflow", "logsynflow", "fisher", "naswot", "tcet", "zico")


def spread_ids(count: int, total: int = 2000) -> List[int]:
    """``count`` ids spread evenly over 1..total (always including 1 and total)."""
    return sorted(set(int(round(v)) for v in np.linspace(1, total, count)))


def done_ids(path: Path) -> set:
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text().splitlines():
        try:
            out.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            continue  # a line cut short by a kill: that id is simply redone
    return out


def upstream_batch(dataset: str, data_root: str, arch_id: int, size: int = 16) -> Any:
    """Upstream's batch, for the analysis only: ``size`` random pixels of the split its search
    script loaded (``build_dataset(is_train=False)``: the test pixels), a new draw per
    architecture (seeded by the id here), so most come from the big classes."""
    import numpy as np
    import torch

    from hytasbench.datasets.load import load_dataset
    from hytasbench.datasets.samples import sampler_for
    from hytasbench.proxies.batch import ProxyBatch

    data = load_dataset(dataset, data_root)
    pick = np.random.default_rng(arch_id).choice(len(data.test_labels), size, replace=False)
    x = sampler_for(data)(torch.as_tensor(data.test_rc[pick]))
    return ProxyBatch(data.name, x, torch.as_tensor(data.test_labels[pick]),
                      tuple(map(tuple, data.test_rc[pick].tolist())), arch_id)


def record(arch_id: int, dataset: str, data_root: str, seed: int, proxies: List[str], compat: bool,
           batch_kind: str = "protocol") -> Dict[str, Any]:
    from hytasbench.proxies import proxy_batch, run_engine
    from hytasbench.proxies.engine import build_scoring_model

    if batch_kind == "upstream":
        batch = upstream_batch(dataset, data_root, arch_id)
    else:
        batch = proxy_batch(dataset, seed, data_root)
    model = build_scoring_model(arch_id, batch.dataset, seed)
    with_compat = [p for p in COMPAT if p in proxies] if compat else []
    labels = proxies + [f"{p}:compat" for p in with_compat]
    options = {f"{p}:compat": {"hytas_compat": True} for p in with_compat}
    start = time.perf_counter()
    report = run_engine(model, batch, labels, options)
    results = {label: {"score": r.score, "variants": r.variants, "layers": r.layers, "error": r.error,
                       "seconds": r.seconds} for label, r in report.results.items()}
    return {"id": arch_id, "arch": str(model.arch), "seed": seed, "seconds": time.perf_counter() - start,
            "results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=300, help="architectures, spread evenly over the ids")
    ap.add_argument("--stride", type=int, default=1, help="score every stride-th of those (a subset of the same ids)")
    ap.add_argument("--dataset", default="indian_pines")
    ap.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--proxies", nargs="+", help="default: all")
    ap.add_argument("--no-compat", action="store_true", help="clean kernels only")
    ap.add_argument("--batch", choices=["protocol", "upstream"], default="protocol",
                    help="our one-pixel-per-class batch, or upstream's 16 random test pixels (analysis)")
    args = ap.parse_args()
    import torch

    from hytasbench.proxies import available

    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    skip = done_ids(args.out)
    for arch_id in spread_ids(args.count)[::args.stride]:
        if arch_id in skip:
            continue
        rec = record(arch_id, args.dataset, args.data_root, args.seed, args.proxies or available(),
                     not args.no_compat, args.batch)
        with args.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"{arch_id} {rec['arch']} {rec['seconds']:.1f}s", flush=True)


if __name__ == "__main__":
    main()
