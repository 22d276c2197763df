"""Which of the authors' published files we import and what each column becomes.

Kept apart from the conversion code (syne-tune style): this is the map of the upstream
repository at the pinned commit; ``hytas_files.json`` beside it holds each file's sha256.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

REPOSITORY = "zhoufangqin/HyTAS"
COMMIT = "6439b86ab77ffdb1b0af5e978b4c6e8ffc6483d5"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

# our dataset id -> (upstream folder, retrain file)
DATASETS: Dict[str, Tuple[str, str]] = {
    "indian_pines": ("indian", "retrain_results_2000_new_5.csv"),
    "salinas": ("salinas", "retrain_results_2000_new_6.csv"),
    "houston2013": ("houston", "retrain_results_2000_new_6.csv"),
    "paviau": ("pavia", "retrain_results_2000_new_6.csv"),
    "ksc": ("ksc", "retrain_results_2000_new_5.csv"),
}

# outputs/<ds>/search_results_<file>.csv -> our proxy name (the paper's 13 proxies and the two
# upstream ZiCo variants the merged table carries).
PROXY_FILES: Dict[str, str] = {
    "grad_norm": "grad_norm", "snip": "snip", "grasp": "grasp", "synflow": "synflow",
    "logsynflow": "logsynflow", "dss": "dss", "fisher": "fisher", "jacob_cov": "jacob_cov",
    "NASWOT": "naswot", "zico": "zico", "croze": "croze", "t_cet": "tcet",
    "zico_act": "zico_act", "zico_modified_w_decay": "zico_modified_w_decay",
}

# outputs/<ds>/test/search_results_<file>.csv -> (proxy, variant); imported where published.
VARIANT_FILES: Dict[str, Tuple[str, str]] = {
    "zico_act_decay": ("zico_pp", ""),
    "dss_origin_nolinear": ("dss", "nosign"),
    "synflow_origin_nolinear": ("synflow", "nosign"),
    "logsynflow_origin_nolinear": ("logsynflow", "nosign"),
    "dss_msa": ("dss", "attn"), "dss_mlp": ("dss", "mlp"),
    "dss_msa_nolinear": ("dss", "attn_nosign"), "dss_mlp_nolinear": ("dss", "mlp_nosign"),
    "synflow_msa": ("synflow", "attn"), "synflow_mlp": ("synflow", "mlp"),
    "synflow_msa_nolinear": ("synflow", "attn_nosign"), "synflow_mlp_nolinear": ("synflow", "mlp_nosign"),
    "snip_msa": ("snip", "attn"), "snip_mlp": ("snip", "mlp"),
    "grad_norm_msa": ("grad_norm", "attn"), "grad_norm_mlp": ("grad_norm", "mlp"),
}

# Merged results/<ds>_2000_new_all.csv column -> our proxy, for the cross-check against the
# per-proxy files (the merged file names zico_modified_w_decay 'zico_modified').
MERGED_PROXIES: Dict[str, str] = {
    "dss": "dss", "grasp": "grasp", "snip": "snip", "zico": "zico", "grad_norm": "grad_norm",
    "fisher": "fisher", "synflow": "synflow", "jacob_cov": "jacob_cov", "zico_modified": "zico_modified_w_decay",
    "zico_act": "zico_act", "t_cet": "tcet", "NASWOT": "naswot", "croze": "croze", "logsynflow": "logsynflow",
}

# Upstream's per-proxy jacob_cov files of these datasets hold the negation of the merged table
# (the other three agree with theirs). We keep the merged tables' sign, the same on all five.
JACOB_COV_NEGATED: Tuple[str, ...] = ("salinas", "paviau")

# Names in outputs/indian/times.txt -> our proxy names (hours for 2000 subnets on one GPU).
TIMES_NAMES: Dict[str, str] = {
    "snip": "snip", "grad_norm": "grad_norm", "grasp": "grasp", "dss": "dss", "synflow": "synflow",
    "jacob_cov": "jacob_cov", "fisher": "fisher", "zico": "zico", "zico_act": "zico_act",
    "zico_modified_w_decat": "zico_modified_w_decay", "NASWOT": "naswot", "croze": "croze",
}

NOT_IMPORTED = ("upstream exploratory files outside the paper's tables are not imported: in outputs/<ds>/ "
                "grad_entropy, maxS, minmaxS, snip_grad_norm, t_cet_o, t_cet_bs64, zico_modified, "
                "zico_modified_weights, zico_weights, snip_ (KSC); in outputs/<ds>/test/ every file not "
                "listed in VARIANT_FILES; results/layer_scores_*.txt (per-layer scores of unnamed subnets)")

SEED_NOTE = ("seed: every trained row records 0, the base seed of upstream train.py (`--seed` default 0; "
             "train_searched_sf.sh passes no --seed), so every architecture, repeats included, was trained "
             "with the same seed; each of the 5 data-parallel processes seeds torch and numpy with 0 + its rank, "
             "and cudnn.benchmark=True leaves GPU kernels nondeterministic, so seed 0 does not reproduce a run")


def required_files() -> List[str]:
    """Paths (relative to the repository root) the importer reads, where they exist upstream."""
    paths = ["outputs/indian/times.txt"]
    for folder, retrain in DATASETS.values():
        paths.append(f"results/{folder}_2000_new_all.csv")
        paths.append(f"outputs/{folder}/{retrain}")
        paths += [f"outputs/{folder}/search_results_{f}.csv" for f in PROXY_FILES]
        paths += [f"outputs/{folder}/test/search_results_{f}.csv" for f in VARIANT_FILES]
    return paths
