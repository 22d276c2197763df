"""Column names and conventions of the tables (docs/table_format.md is the prose version).

One row per (architecture, dataset, source, run). Columns are grouped by prefix:
architecture columns, ``metric_*``, ``cost_*``, ``proxy_*`` and provenance. A proxy column is
``proxy_<name>`` or ``proxy_<name>__<variant>``; variants ``nosign``, ``attn``, ``mlp``,
``attn_nosign``, ``mlp_nosign``, ``attn_log``, ``mlp_log`` are scores, ``layers`` is the per-layer
score list, ``seconds`` the compute time and ``error`` why a score is missing (None when fine).
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .space import Arch

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"

ARCH_COLUMNS: Tuple[str, ...] = ("arch", "arch_id", "depth", "embed_dim", "num_heads", "mlp_ratio")
PROVENANCE_COLUMNS: Tuple[str, ...] = ("dataset", "source", "protocol", "run", "seed", "device",
                                      "library_version", "absent_reason")
KEY_COLUMNS: Tuple[str, ...] = ("arch", "dataset", "source", "run")
METRIC_PREFIX, COST_PREFIX, PROXY_PREFIX = "metric_", "cost_", "proxy_"
#: short names resolve against these in order: ``oa`` -> ``metric_oa``, ``snip`` -> ``proxy_snip``
KIND_PREFIXES: Tuple[str, ...] = (METRIC_PREFIX, COST_PREFIX, PROXY_PREFIX)

METRICS: Dict[str, str] = {
    "oa": "overall accuracy on the whole test set after the last epoch (fraction)",
    "aa": "average per-class accuracy (fraction)",
    "kappa": "Cohen's kappa",
    "oa_best": "best OA over the periodic evaluations (fraction)",
    "class_acc": "per-class test accuracy, classes in the paper's order (list of fractions)",
    "train_seconds": "training wall time in seconds",
}
COSTS: Dict[str, str] = {
    "params": "trainable parameters of the subnet for this dataset",
    "flops": "FLOPs of one forward pass of one sample",
    "model_size": "upstream 'm_size' column, as published (unit not documented upstream)",
}
#: The metrics a training run gives (``hytasbench.train.TrainResult``), in table order.
TRAIN_METRICS: Tuple[str, ...] = tuple(METRICS)
#: Size measures that are costs (``cost_params``, ``cost_flops``, exact for the built subnet) and
#: also rank architectures like proxies (the paper lists them with the proxies, ``ORIENTATION``):
#: they are never ``proxy_*`` columns of a build, and never missing from a proxies unit.
SIZE_PROXIES: Tuple[str, ...] = ("params", "flops")
SCORE_VARIANTS: Tuple[str, ...] = ("nosign", "attn", "mlp", "attn_nosign", "mlp_nosign", "attn_log", "mlp_log")
EXTRA_VARIANTS: Tuple[str, ...] = ("layers", "seconds", "error")

# +1: higher raw score predicts higher accuracy; -1: lower does (GraSP's raw value). The paper's
# proxies, in its order: the published tables carry these columns whether or not torch is here.
# Kernels declare their own orientation when they register (proxies.registry.register), and table
# sets record it in their manifest ("proxies"), so that a torch-free reader knows it too.
ORIENTATION: Dict[str, int] = {
    "grad_norm": 1, "snip": 1, "grasp": -1, "synflow": 1, "logsynflow": 1, "dss": 1, "fisher": 1,
    "jacob_cov": 1, "naswot": 1, "zico": 1, "zico_pp": 1, "croze": 1, "tcet": 1, "params": 1, "flops": 1,
}
#: Integer columns and their Parquet type, whoever writes the table (every writer goes through
#: tables.write_table_set, which casts them): a pandas frame may hold them as floats or objects
#: once a value is missing, and readers should not see one source's ``run`` as int32 and another's
#: as int64.
INTEGER_TYPES: Dict[str, str] = {"arch_id": "int64", "depth": "int16", "embed_dim": "int16", "run": "int32",
                                 "seed": "int64", COST_PREFIX + "params": "int64", COST_PREFIX + "flops": "int64"}
#: orientations declared by kernels registered later than the paper, or by a loaded manifest
DECLARED: Dict[str, int] = {}


def scored_layer_count(depth: int) -> int:
    """Entries of a ``proxy_<name>__layers`` list for an architecture of ``depth`` blocks: the Linear
    layers the kernels score (hytasbench.model.scored_layers: the patch embedding, qkv, proj, fc1 and
    fc2 of each block, the head). Here, torch-free, so that table validation knows it;
    tests/test_model.py checks it against the model."""
    return 4 * depth + 2


def metric_column(name: str) -> str:
    return METRIC_PREFIX + name


def short_names(columns: Iterable[str]) -> Dict[str, str]:
    """Column -> the short name a record resolves to it (``metric_oa`` -> ``oa``, ``proxy_dss__attn``
    -> ``dss__attn``): the kind prefix dropped, unless the short name is a column itself or an
    earlier kind takes it (``cost_params`` is ``params``, so a ``proxy_params`` keeps its name)."""
    cols = list(columns)
    have = set(cols)
    out: Dict[str, str] = {}
    for col in cols:
        out[col] = col
        kind = next((p for p in KIND_PREFIXES if col.startswith(p)), None)
        if kind is None:
            continue
        short = col[len(kind):]
        if short not in have and next(p + short for p in KIND_PREFIXES if p + short in have) == col:
            out[col] = short
    return out


def arch_columns(arch: "Arch") -> Dict[str, Any]:
    """The architecture columns (``ARCH_COLUMNS``) of a table row for ``arch``."""
    return {"arch": str(arch), "arch_id": arch.id, "depth": arch.depth, "embed_dim": arch.embed_dim,
            "num_heads": list(arch.num_heads), "mlp_ratio": list(arch.mlp_ratio)}


#: Revision of each registered kernel's numbers (declared with the kernel, ``Proxy.revision``):
#: builders record the revisions each unit was computed with, a merge leaves scores of an older
#: revision out (saying why), and ``python -m builders.build --refresh-stale`` recomputes them.
PROXY_REVISIONS: Dict[str, int] = {}


def is_orientation(value: Any) -> bool:
    """1 (a higher raw score predicts higher accuracy) or -1, as an integer (numpy's too): never
    a bool or a float, which merely compare equal. The one rule for kernels, manifests and users."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value in (1, -1)


def declare_proxy(name: str, orientation: int, revision: Optional[int] = None) -> None:
    """Record a proxy's orientation (and, for a registered kernel, its revision). A paper proxy
    keeps its published orientation; a contradicting declaration is an error, not an override."""
    from .errors import InvalidSettingError

    if not is_orientation(orientation):
        raise InvalidSettingError(f"proxy {name!r}: orientation must be the integer 1 or -1, got {orientation!r}")
    orientation = int(orientation)
    known = ORIENTATION.get(name, DECLARED.get(name))
    if known is not None and known != orientation:
        raise InvalidSettingError(f"proxy {name!r} is declared with orientation {orientation}, but {known} is known")
    if name not in ORIENTATION:
        DECLARED[name] = orientation
    if revision is not None:
        PROXY_REVISIONS[name] = int(revision)


def proxy_revision(name: str) -> int:
    return PROXY_REVISIONS.get(name, 1)


def known_proxies() -> Tuple[str, ...]:
    """Every proxy name with a known orientation: the paper's, then the declared ones."""
    return tuple(ORIENTATION) + tuple(n for n in DECLARED if n not in ORIENTATION)


#: Every kernel hytasbench.proxies registers, named here so that a torch-free reader knows them
#: before (or without) importing the kernels: a table without ``meco`` lacks a real proxy, which
#: is not a typo (tests/test_schema.py checks this list against the registry).
KERNELS: Tuple[str, ...] = ("grad_norm", "snip", "grasp", "synflow", "logsynflow", "dss", "fisher", "jacob_cov",
                            "naswot", "zico", "zico_pp", "croze", "tcet", "params", "flops", "meco",
                            "az_expressivity", "az_progressivity", "az_trainability", "gradsign", "swap",
                            "reg_swap")


def proxy_names() -> Tuple[str, ...]:
    """Every proxy name a table could hold: those of known orientation, then the built-in kernels."""
    known = known_proxies()
    return known + tuple(n for n in KERNELS if n not in known)


def cost_column(name: str) -> str:
    return COST_PREFIX + name


def proxy_column(name: str, variant: Optional[str] = None) -> str:
    """``proxy_<name>``, or ``proxy_<name>__<variant>``; ``name`` may carry its variant already
    (``dss__attn``), as query names do."""
    return f"{PROXY_PREFIX}{name}" if not variant else f"{PROXY_PREFIX}{name}__{variant}"


def split_proxy_column(column: str) -> Tuple[str, Optional[str]]:
    """``proxy_dss__attn`` -> ("dss", "attn"); ``proxy_snip`` -> ("snip", None)."""
    if not column.startswith(PROXY_PREFIX):
        raise ValueError(f"{column!r} is not a proxy column")
    name, _, variant = column[len(PROXY_PREFIX):].partition("__")
    return name, (variant or None)


def is_score_column(column: str, variants: bool = True) -> bool:
    """Whether a column holds a proxy score: ``proxy_<name>`` and, with ``variants``, its score
    variants (``proxy_dss__attn``), never the per-layer lists, seconds or error flags."""
    if not column.startswith(PROXY_PREFIX):
        return False
    variant = split_proxy_column(column)[1]
    return variant is None or (variants and variant not in EXTRA_VARIANTS)


def score_names(columns: Iterable[str], variants: bool = True) -> List[str]:
    """Query names (``snip``, ``dss__attn``) of the proxy score columns among ``columns``, in their
    order; without ``variants`` the proxies with a whole-network score."""
    return [c[len(PROXY_PREFIX):] for c in columns if is_score_column(c, variants)]


def proxy_revisions(names: Iterable[str]) -> Dict[str, int]:
    """The current revision of each named kernel (registered kernels declare theirs)."""
    return {n: proxy_revision(n) for n in names}


def proxy_error_column(column: str) -> str:
    """The error column that says why ``column`` (a proxy score or variant) is missing."""
    return f"{column.partition('__')[0]}__error"


def error_reason(error: str) -> str:
    """Why a proxy score is absent, from its ``__error`` column: a failed computation, a score an
    older kernel revision computed, or a kernel the unit was scored without (builders.revisions)."""
    return error if error.startswith(("stale:", "missing:")) else f"computation failed: {error}"


def orientation(proxy: str) -> int:
    """Sign that makes a proxy (or its variants) 'higher is better'; unknown proxies count as +1."""
    base = proxy[len(PROXY_PREFIX):] if proxy.startswith(PROXY_PREFIX) else proxy
    name = base.partition("__")[0]
    return ORIENTATION.get(name, DECLARED.get(name, 1))
