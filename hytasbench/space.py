"""The HyTAS search space, its architectures, the HyTAS-2000 sample and search helpers.

Torch-free: this module is on the query path.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .arguments import check_int, check_seed, is_integer
from .errors import InvalidArchitectureError, InvalidArgumentError, InvalidSampleError, require, short_repr

DEPTHS: Tuple[int, ...] = (4, 5, 6, 7, 8, 9, 10)
EMBED_DIMS: Tuple[int, ...] = (32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 240)
NUM_HEADS: Tuple[int, ...] = (3, 4, 5, 6)
MLP_RATIOS: Tuple[int, ...] = (1, 2, 3, 4, 5, 6)
HYTAS_2000_SIZE = 2000
HYTAS_2000_SEED = 0

_STR_RE = re.compile(r"^e([0-9]+)-h([0-9]+)-r([0-9]+)$")
_INT_RE = re.compile(r"-?[0-9]+")  # ASCII digits only: str.isdigit() accepts '²', which int() rejects
_MAX_DIGITS = 9  # no value of the space has more; int() of thousands of digits is refused by Python itself


@dataclass(frozen=True, eq=False)
class Arch:
    """One architecture: a single embedding width and per-layer heads and MLP ratios.

    The canonical string is ``e<embed>-h<heads digits>-r<ratio digits>``, e.g.
    ``e48-h466533-r451343`` (depth 6, one digit per layer); ``str(arch)`` gives it and
    :func:`parse` reads it back. An Arch equals its canonical string (``rec.arch ==
    "e48-h466533-r451343"``) and hashes like it, so either finds the other in a set or dict key;
    any other string (an id, a spelling that parse() would accept) is not equal.
    """

    embed_dim: int
    num_heads: Tuple[int, ...]
    mlp_ratio: Tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_heads", _per_layer("num_heads", self.num_heads))
        object.__setattr__(self, "mlp_ratio", _per_layer("mlp_ratio", self.mlp_ratio))
        validate(self)
        # the canonical string, once: equality and hashing go through it (not a dataclass field)
        object.__setattr__(self, "_canonical", self.to_str())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Arch):
            return self._canonical == other._canonical
        if isinstance(other, str):
            return self._canonical == other
        return NotImplemented

    def __hash__(self) -> int:
        # equal to the string's hash: equal objects must hash alike, and Arch == its string
        return hash(self._canonical)

    @property
    def depth(self) -> int:
        return len(self.num_heads)

    @property
    def id(self) -> Optional[int]:
        """HyTAS-2000 id (1-based) or None when the architecture is outside that sample."""
        return _hytas2000_index().get(self)

    def to_str(self) -> str:
        return f"e{self.embed_dim}-h{''.join(map(str, self.num_heads))}-r{''.join(map(str, self.mlp_ratio))}"

    __str__ = to_str

    def to_dict(self) -> Dict[str, Any]:
        return {"depth": self.depth, "embed_dim": self.embed_dim,
                "num_heads": list(self.num_heads), "mlp_ratio": list(self.mlp_ratio)}


ArchLike = Union[Arch, int, str, Mapping[str, Any]]


def validate(arch: Arch) -> None:
    """Raise InvalidArchitectureError naming the first field outside the space."""
    _check_int("embed_dim", arch.embed_dim, EMBED_DIMS)
    if len(arch.num_heads) not in DEPTHS:
        raise InvalidArchitectureError(f"depth {len(arch.num_heads)} (length of num_heads)", "depth", DEPTHS)
    if len(arch.mlp_ratio) != len(arch.num_heads):
        raise InvalidArchitectureError(
            f"mlp_ratio has {len(arch.mlp_ratio)} entries but num_heads has {len(arch.num_heads)}; "
            "both need one entry per layer", "mlp_ratio")
    for i, h in enumerate(arch.num_heads):
        _check_int(f"num_heads[{i}]", h, NUM_HEADS)
    for i, r in enumerate(arch.mlp_ratio):
        _check_int(f"mlp_ratio[{i}]", r, MLP_RATIOS)


def _per_layer(field: str, value: Any) -> Tuple[Any, ...]:
    """A per-layer field as a tuple: a list or tuple (one entry per layer), nothing else."""
    if not isinstance(value, (list, tuple)):
        raise InvalidArchitectureError(f"{short_repr(value)} is not a list or tuple with one integer per layer", field)
    return tuple(value)


def _integer(value: Any) -> int:
    """An int or numpy integer as an int; TypeError for anything else (a bool, a float, a string)."""
    if not is_integer(value):
        raise TypeError(f"{short_repr(value)} is not an integer")
    return int(value)


def _digits(field: str, text: str, allowed: Optional[Sequence[Any]]) -> int:
    """int() of an ASCII digit string, refusing one too long to be any value of the space."""
    if len(text.lstrip("+-0")) > _MAX_DIGITS:
        raise InvalidArchitectureError(f"{text[:12]}... ({len(text)} digits) is out of range", field, allowed)
    return int(text)


def _check_int(field: str, value: Any, allowed: Sequence[int]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise InvalidArchitectureError(f"{value!r} is not allowed", field, allowed)


def _as_int(field: str, value: Any) -> int:
    """Accept ints and integral floats/strings (YAML and CSV give those); reject the rest."""
    if isinstance(value, bool):
        raise InvalidArchitectureError(f"{value!r} is not an integer", field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return _digits(field, value.strip(), None)
    try:  # numpy integers
        return _integer(value)
    except TypeError:
        raise InvalidArchitectureError(f"{short_repr(value)} is not an integer", field) from None


def _as_int_list(field: str, value: Any) -> List[int]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,\[\]]+", value) if v]
    elif hasattr(value, "tolist"):  # a numpy array (a numpy scalar gives a number, refused below)
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise InvalidArchitectureError(f"{short_repr(value)} is not a list of integers", field)
    return [_as_int(f"{field}[{i}]", v) for i, v in enumerate(value)]


_KEYS = {
    "depth": ("depth", "layer_num", "DEPTH"),
    "embed_dim": ("embed_dim", "EMBED_DIM"),
    "num_heads": ("num_heads", "NUM_HEADS"),
    "mlp_ratio": ("mlp_ratio", "MLP_RATIO"),
}
_ALL_KEYS = {k for keys in _KEYS.values() for k in keys}


def _from_mapping(d: Mapping[str, Any]) -> Arch:
    if "RETRAIN" in d and isinstance(d["RETRAIN"], Mapping):  # the authors' YAML layout
        d = d["RETRAIN"]
    unknown = [k for k in d if k not in _ALL_KEYS]
    if unknown:
        raise InvalidArchitectureError(f"unknown key(s) {unknown}", "dict", sorted(_KEYS))
    got: Dict[str, Any] = {}
    for name, keys in _KEYS.items():
        present = [k for k in keys if k in d]
        if len(present) > 1:
            raise InvalidArchitectureError(f"given twice as {present}", name)
        if present:
            got[name] = d[present[0]]
    for name in ("embed_dim", "num_heads", "mlp_ratio"):
        if name not in got:
            raise InvalidArchitectureError("missing", name, sorted(_KEYS))
    heads, ratios = _as_int_list("num_heads", got["num_heads"]), _as_int_list("mlp_ratio", got["mlp_ratio"])
    embed = got["embed_dim"]
    if isinstance(embed, (list, tuple, str)) and not (isinstance(embed, str) and _INT_RE.fullmatch(embed.strip())):
        widths = _as_int_list("embed_dim", embed)  # upstream CSVs repeat the one width once per layer
        if len(widths) != len(heads) or len(set(widths)) != 1:
            raise InvalidArchitectureError(
                f"{short_repr(embed)} is neither one width nor the same width once per layer "
                f"({len(heads)} layers)", "embed_dim", EMBED_DIMS)
        embed = widths[0]
    arch = Arch(_as_int("embed_dim", embed), tuple(heads), tuple(ratios))
    if "depth" in got and _as_int("depth", got["depth"]) != arch.depth:
        raise InvalidArchitectureError(
            f"depth {got['depth']!r} disagrees with {arch.depth} layers in num_heads/mlp_ratio", "depth", DEPTHS)
    return arch


def parse(value: ArchLike) -> Arch:
    """Turn an id (1..2000: an int, a numpy integer or a digit string; never a bool or a float),
    canonical string, dict or Arch into an Arch, or raise InvalidArchitectureError."""
    if isinstance(value, Arch):
        return value
    if isinstance(value, bool):
        raise InvalidArchitectureError(f"{value!r} is neither an id, a string, a dict nor an Arch", "arch")
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.fullmatch(text):
            return from_id(_digits("id", text, [f"1..{len(hytas2000())}"]))
        m = _STR_RE.match(text)
        if not m:
            raise InvalidArchitectureError(
                f"{short_repr(value)} is not a canonical architecture string such as 'e48-h466533-r451343' "
                "(embed width, one head digit and one MLP-ratio digit per layer) nor an id 1..2000", "arch")
        return Arch(_digits("embed_dim", m.group(1), EMBED_DIMS), tuple(int(c) for c in m.group(2)),
                    tuple(int(c) for c in m.group(3)))
    if isinstance(value, Mapping):
        return _from_mapping(value)
    try:
        ident = _integer(value)
    except TypeError:
        raise InvalidArchitectureError(
            f"{short_repr(value)} of type {type(value).__name__} is neither an integer id, a string, a dict nor "
            "an Arch", "arch") from None
    return from_id(ident)


def from_id(ident: int) -> Arch:
    """The HyTAS-2000 architecture with this 1-based id (the authors' configspace-hyper2-<id>): an
    int or numpy integer; a bool, float or string is refused (:func:`parse` reads digit strings)."""
    archs = hytas2000()
    try:
        ident = _integer(ident)
    except TypeError:
        raise InvalidArchitectureError(f"{short_repr(ident)} of type {type(ident).__name__} is not an integer id",
                                       "id", [f"1..{len(archs)}"]) from None
    if not 1 <= ident <= len(archs):
        shown = str(ident) if abs(ident) < 10 ** 12 else f"of about {int(ident.bit_length() * 0.30103) + 1} digits"
        raise InvalidArchitectureError(f"id {shown} is outside the HyTAS-2000 sample", "id", [f"1..{len(archs)}"])
    return archs[ident - 1]


def sample(rng: random.Random) -> Arch:
    """One uniform draw in the authors' order: depth, ratios, heads, then width."""
    depth = rng.choice(DEPTHS)
    ratios = [rng.choice(MLP_RATIOS) for _ in range(depth)]
    heads = [rng.choice(NUM_HEADS) for _ in range(depth)]
    return Arch(rng.choice(EMBED_DIMS), tuple(heads), tuple(ratios))


@lru_cache(maxsize=None)
def hytas2000(n: int = HYTAS_2000_SIZE, seed: int = HYTAS_2000_SEED) -> Tuple[Arch, ...]:
    """The benchmark's sample: seeded Python ``random``, duplicates skipped; index i is id i+1."""
    rng = random.Random(seed)
    seen: Dict[Arch, None] = {}
    while len(seen) < n:
        seen.setdefault(sample(rng), None)
    return tuple(seen)


@lru_cache(maxsize=1)
def _hytas2000_index() -> Dict[Arch, int]:
    return {a: i + 1 for i, a in enumerate(hytas2000())}


def space_size() -> int:
    """Number of architectures in the space (about 7.9e14)."""
    per_layer = len(NUM_HEADS) * len(MLP_RATIOS)
    return len(EMBED_DIMS) * sum(per_layer ** d for d in DEPTHS)


# ---- search helpers -------------------------------------------------------------------------

def neighbours(arch: ArchLike) -> Iterator[Arch]:
    """Every architecture one edit away: one layer's heads or ratio, the width, or depth +/- 1.

    Depth changes drop the last layer or append a copy of it, so the rest is kept.
    """
    a = parse(arch)
    for e in EMBED_DIMS:
        if e != a.embed_dim:
            yield Arch(e, a.num_heads, a.mlp_ratio)
    for i in range(a.depth):
        for h in NUM_HEADS:
            if h != a.num_heads[i]:
                yield Arch(a.embed_dim, a.num_heads[:i] + (h,) + a.num_heads[i + 1:], a.mlp_ratio)
        for r in MLP_RATIOS:
            if r != a.mlp_ratio[i]:
                yield Arch(a.embed_dim, a.num_heads, a.mlp_ratio[:i] + (r,) + a.mlp_ratio[i + 1:])
    if a.depth - 1 in DEPTHS:
        yield Arch(a.embed_dim, a.num_heads[:-1], a.mlp_ratio[:-1])
    if a.depth + 1 in DEPTHS:
        yield Arch(a.embed_dim, a.num_heads + a.num_heads[-1:], a.mlp_ratio + a.mlp_ratio[-1:])


def mutate(arch: ArchLike, rng: random.Random) -> Arch:
    """A uniformly random neighbour (one edit) drawn with ``rng`` (a ``random.Random``); appended
    layers get random heads and ratio."""
    if not isinstance(rng, random.Random):
        raise InvalidArgumentError(f"rng must be a random.Random (e.g. random.Random(0)), got {short_repr(rng)}")
    a = parse(arch)
    kinds = ["embed", "heads", "ratio"] + [k for k, d in (("shrink", a.depth - 1), ("grow", a.depth + 1))
                                            if d in DEPTHS]
    kind = rng.choice(kinds)
    if kind == "embed":
        return Arch(rng.choice([e for e in EMBED_DIMS if e != a.embed_dim]), a.num_heads, a.mlp_ratio)
    if kind == "shrink":
        return Arch(a.embed_dim, a.num_heads[:-1], a.mlp_ratio[:-1])
    if kind == "grow":
        return Arch(a.embed_dim, a.num_heads + (rng.choice(NUM_HEADS),), a.mlp_ratio + (rng.choice(MLP_RATIOS),))
    i = rng.randrange(a.depth)
    if kind == "heads":
        h = rng.choice([v for v in NUM_HEADS if v != a.num_heads[i]])
        return Arch(a.embed_dim, a.num_heads[:i] + (h,) + a.num_heads[i + 1:], a.mlp_ratio)
    r = rng.choice([v for v in MLP_RATIOS if v != a.mlp_ratio[i]])
    return Arch(a.embed_dim, a.num_heads, a.mlp_ratio[:i] + (r,) + a.mlp_ratio[i + 1:])


def distance(a: ArchLike, b: ArchLike) -> float:
    """Edit-style distance used to map arbitrary architectures onto tabulated ones.

    Width steps (index distance in EMBED_DIMS) + per-layer head and ratio mismatches over the
    common layers + 2 per missing/extra layer. Zero iff the architectures are equal.
    """
    x, y = parse(a), parse(b)
    d = abs(EMBED_DIMS.index(x.embed_dim) - EMBED_DIMS.index(y.embed_dim))
    common = min(x.depth, y.depth)
    d += sum(x.num_heads[i] != y.num_heads[i] for i in range(common))
    d += sum(x.mlp_ratio[i] != y.mlp_ratio[i] for i in range(common))
    return float(d + 2 * abs(x.depth - y.depth))


def to_configspace(seed: Optional[int] = None):
    """The space as a ConfigSpace object (extra ``configspace``).

    Per-layer hyperparameters ``num_heads_<i>``/``mlp_ratio_<i>`` are active only when
    ``depth > i``; :func:`from_configuration` maps a sampled configuration back to an Arch.
    """
    CS = require("ConfigSpace", "configspace", "to_configspace")
    cs = CS.ConfigurationSpace(seed=seed)
    depth = CS.OrdinalHyperparameter("depth", list(DEPTHS))
    embed = CS.OrdinalHyperparameter("embed_dim", list(EMBED_DIMS))
    cs.add([depth, embed])
    for i in range(max(DEPTHS)):
        hp_h = CS.OrdinalHyperparameter(f"num_heads_{i}", list(NUM_HEADS))
        hp_r = CS.OrdinalHyperparameter(f"mlp_ratio_{i}", list(MLP_RATIOS))
        cs.add([hp_h, hp_r])
        if i >= min(DEPTHS):
            allowed = [d for d in DEPTHS if d > i]
            cs.add([CS.InCondition(hp_h, depth, allowed), CS.InCondition(hp_r, depth, allowed)])
    return cs


def from_configuration(config: Mapping[str, Any]) -> Arch:
    """Inverse of the ConfigSpace encoding: a Configuration or a mapping of its hyperparameters."""
    if not isinstance(config, Mapping):
        raise InvalidArchitectureError(f"{short_repr(config)} is not a configuration (a mapping of depth, "
                                       "embed_dim, num_heads_<i>, mlp_ratio_<i>)", "configuration")
    d = dict(config)
    depth = _as_int("depth", d.get("depth"))
    _check_int("depth", depth, DEPTHS)
    return Arch(_as_int("embed_dim", d.get("embed_dim")),
                tuple(_as_int(f"num_heads_{i}", d.get(f"num_heads_{i}")) for i in range(depth)),
                tuple(_as_int(f"mlp_ratio_{i}", d.get(f"mlp_ratio_{i}")) for i in range(depth)))


def select(spec: str) -> List[Arch]:
    """The architectures a selection names, as builders and tools take them (``--archs``):
    comma-separated ``all`` (HyTAS-2000), ids, ranges ``a-b``, ``sample:N`` or ``sample:N:SEED`` (a
    stratified, seeded sample of HyTAS-2000, :func:`stratified_sample`), canonical strings, or
    ``@file`` / a file path (one item per line, ``#`` comments); duplicates dropped, order kept."""
    import os

    if not isinstance(spec, str):
        raise InvalidSampleError(f"an architecture selection is a string such as '1-50,e32-h3333-r1111', "
                                 f"got {short_repr(spec)}")
    items: List[str] = []
    for part in (p.strip() for p in spec.split(",")):
        path = part[1:] if part.startswith("@") else part
        if part.startswith("@") or (part and os.path.isfile(path)):
            try:
                lines = open(path, encoding="utf-8").read().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidSampleError(f"cannot read the architecture file {path}: {exc}") from None
            items += [s for s in (ln.split("#")[0].strip() for ln in lines) if s]
        elif part:
            items.append(part)
    out: Dict[Arch, None] = {}
    for item in items:
        lo, sep, hi = (_selection_number(t, item) for t in item.partition("-"))
        if item.lower() == "all":
            chosen: Sequence[Arch] = hytas2000()
        elif item.lower().startswith("sample:"):
            n_seed = [_selection_number(t, item) for t in item.split(":")[1:]]
            if not 1 <= len(n_seed) <= 2 or None in n_seed:
                raise InvalidSampleError(f"architecture sample {item!r}: give sample:N or sample:N:SEED, e.g. sample:300")
            chosen = stratified_sample(n_seed[0], n_seed[1] if len(n_seed) > 1 else 0)
        elif "-" in item and lo is not None and hi is not None:
            if lo > hi:
                raise InvalidSampleError(f"architecture range {item!r} is empty (start > end)")
            chosen = [parse(i) for i in range(lo, hi + 1)]  # stops at the first id outside the space
        else:
            chosen = [parse(item)]
        out.update(dict.fromkeys(chosen))
    if not out:
        raise InvalidSampleError(f"no architectures in {spec!r}")
    return list(out)


def _selection_number(text: str, item: str) -> Optional[int]:
    """The ASCII number ``text`` of a selection item, or None when it is no number; too many
    digits to mean an id, size or seed is an InvalidSampleError (int() would refuse thousands)."""
    if not re.fullmatch(r"[0-9]+", text):
        return None
    if len(text.lstrip("0")) > 12:
        raise InvalidSampleError(f"architecture selection {item[:40]!r}: {text[:12]}... is out of range")
    return int(text)


def stratified_sample(n: int, seed: int = 0, pool: Optional[Sequence[Arch]] = None) -> Tuple[Arch, ...]:
    """``n`` distinct HyTAS-2000 architectures (or of ``pool``), stratified by (embedding width,
    depth): each stratum gets its share of ``n`` in proportion to its size (largest remainders),
    drawn with ``random.Random(seed)``; returned in id order. Deterministic, so that two users who
    sample the same ``n`` and ``seed`` score the same architectures: ``seed`` must be an integer
    (None is refused, not taken as "random"). ``pool`` is a list or other iterable of
    architectures (not a string)."""
    seed = check_seed(seed, error=InvalidSampleError)
    if pool is not None and (isinstance(pool, (str, bytes, Mapping)) or not hasattr(pool, "__iter__")):
        raise InvalidSampleError(f"pool must be a list of architectures (ids, strings, dicts or Archs), "
                                 f"got {type(pool).__name__} {short_repr(pool)}")
    pool = hytas2000() if pool is None else tuple(dict.fromkeys(parse(a) for a in pool))
    n = check_int(n, "sample size", 1, len(pool), error=InvalidSampleError)
    strata: Dict[Tuple[int, int], List[Arch]] = {}
    for a in pool:
        strata.setdefault((a.embed_dim, a.depth), []).append(a)
    keys = sorted(strata)
    quota = {k: n * len(strata[k]) / len(pool) for k in keys}
    take = {k: int(q) for k, q in quota.items()}
    for k in sorted(keys, key=lambda k: (-(quota[k] - take[k]), k))[:n - sum(take.values())]:
        take[k] += 1
    rng = random.Random(seed)
    picked = [a for k in keys for a in rng.sample(strata[k], take[k])]
    return tuple(sorted(picked, key=lambda a: (a.id is None, a.id or 0, a.to_str())))
