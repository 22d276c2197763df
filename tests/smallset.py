"""A small table set the tests write themselves with the real writer, so that query, CLI, search and
analysis tests run without the authors' files (tests/conftest.py: ``small_tables``, ``small_bench``).

Two datasets of the first 40 architectures of the HyTAS sample, seeded random values, and the cases a
real table has: on ksc architecture 2 was trained twice (runs 0 and 1), architecture 5 has no
training result (absent, with its reason), architecture 3's GraSP failed (an error column), and the
per-class accuracies are absent for the whole set (the manifest says why). Indian Pines carries a mean
SNIP time per architecture (ksc none), and SynFlow without its sign and in its attention and MLP
parts (for the report's sign ablation and scale sections).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from hytasbench import space

SOURCE = "small"
DATASETS = ("indian_pines", "ksc")
N_ARCHS = 40
REPEATED, UNTRAINED, GRASP_FAILED = 2, 5, 3  # architecture ids on ksc
UNTRAINED_REASON = "not trained in the small test set"
GRASP_ERROR = "out of memory twice"
CLASS_ACC_REASON = "per-class accuracies are not published for the small test set"
SNIP_SECONDS = 0.25
PROXIES = ("snip", "grasp", "synflow", "naswot", "jacob_cov")


def frames(seed: int = 0) -> Dict[str, "object"]:
    """``{dataset: DataFrame}`` of the small set (pandas is imported here, not at module import)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    archs = [space.parse(i) for i in range(1, N_ARCHS + 1)]
    out = {}
    for ds in DATASETS:
        rows = []
        for a in archs:
            runs = (0, 1) if ds == "ksc" and a.id == REPEATED else (0,)
            params = float(rng.integers(20_000, 400_000))
            proxies = {f"proxy_{p}": float(rng.normal()) for p in PROXIES}
            if ds == "indian_pines":  # SynFlow without its sign and in its attention and MLP parts
                proxies.update(proxy_synflow__nosign=abs(proxies["proxy_synflow"]),
                               proxy_synflow__attn=float(rng.uniform(1, 10)), proxy_synflow__mlp=float(rng.uniform(1e3, 1e4)))
            for run in runs:
                oa = float(np.round(rng.uniform(0.55, 0.95), 4))
                row = {"arch": str(a), "arch_id": a.id, "depth": a.depth, "embed_dim": a.embed_dim,
                       "num_heads": list(a.num_heads), "mlp_ratio": list(a.mlp_ratio),
                       "metric_oa": oa, "metric_aa": oa - 0.05, "metric_kappa": oa - 0.1,
                       "metric_oa_best": min(oa + 0.01, 1.0), "metric_train_seconds": float(rng.uniform(100, 400)),
                       "cost_params": params, "cost_flops": params * 49.0, **proxies, "proxy_grasp__error": None,
                       "dataset": ds, "source": SOURCE, "protocol": "small-test", "run": run, "seed": 0,
                       "device": "cpu", "library_version": "tests", "absent_reason": None}
                if ds == "ksc" and a.id == UNTRAINED:
                    row.update({m: None for m in ("metric_oa", "metric_aa", "metric_kappa", "metric_oa_best",
                                                  "metric_train_seconds")}, absent_reason=UNTRAINED_REASON)
                if ds == "ksc" and a.id == GRASP_FAILED:
                    row.update(proxy_grasp=None, proxy_grasp__error=GRASP_ERROR)
                rows.append(row)
        out[ds] = pd.DataFrame(rows)
    return out


def write(path: Path) -> Path:
    """Write the small set with hytasbench.tables.write_table_set and return its folder."""
    from hytasbench.tables import write_table_set

    write_table_set(path, frames(), source=SOURCE, protocol="small-test",
                    description="a small seeded table set written by the tests",
                    absent={ds: {"metric_class_acc": CLASS_ACC_REASON} for ds in DATASETS},
                    extra={"protocol_description": "seeded random values for tests, not trained",
                           "proxy_seconds_mean": {"indian_pines": {"snip": SNIP_SECONDS}}})
    return path
