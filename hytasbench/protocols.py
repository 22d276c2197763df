"""Training-protocol names (torch-free): what each name means, and reading older names.

A protocol name is a base, then the upstream-emulation switches in a fixed order, then any other
deviation from the base's settings spelled out:

    <base>[+lag][+caf8][+epoch-order][+embed-init][+shared-init][+custom(k=v,...)]

Bases: ``hytasbench-v1`` (ours: a shuffled pass over all training pixels per epoch) and
``hytas-sampler`` (an emulation of the HyTAS authors' epoch sampler: one step of 5 x 64 entries per
epoch on Indian Pines). Switches (each an emulated difference from upstream's code, see
docs/training.md): ``lag`` upstream's one-epoch scheduler lag (epochs 0 and 1 at the warm-up
rate), ``caf8`` eight CAF fusions whatever the depth (the 10-layer supernet's), ``epoch-order`` the
sampler's permutation of epoch e drawn from a generator seeded with e (the same data order for
every run and architecture; upstream's ``RASampler.set_epoch``); and two of upstream's
initialisation: ``embed-init`` the patch embedding at PyTorch's default init (upstream's is a
Conv2d that its truncated-normal init skips), ``shared-init`` every weight a slice of one
supernet-shaped draw per seed (upstream sliced one supernet, so at one seed all architectures
start from shared tensors; hytasbench.supernet_init) and a drop-path stream that does not
depend on the architecture.

Neither base is the protocol that produced the published OA: the authors' committed code does not
record those settings (docs/training.md).
"""
from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Tuple

from .errors import InvalidProtocolError

PROTOCOL = "hytasbench-v1"
HYTAS_SAMPLER = "hytas-sampler"
#: The protocol name of the imported authors' rows (builders.import_hytas).
PUBLISHED = "hytas-upstream"
#: What a build appends to the protocol of rows trained on a synthetic cube.
SYNTHETIC_SUFFIX = "+synthetic-cube"
BASES: Tuple[str, ...] = (PROTOCOL, HYTAS_SAMPLER)
#: Switches emulating upstream's training procedure (the differences issue 18 tested).
PROCEDURE_SWITCHES: Tuple[str, ...] = ("lag", "caf8", "epoch-order")
#: Switches emulating upstream's initialisation.
INIT_SWITCHES: Tuple[str, ...] = ("embed-init", "shared-init")
#: Emulation switches in name order.
SWITCHES: Tuple[str, ...] = PROCEDURE_SWITCHES + INIT_SWITCHES
#: The full emulation of upstream's training procedure (issue 18's 22 runs), init as ours.
HYTAS_SAMPLER_FULL = HYTAS_SAMPLER + "".join("+" + s for s in PROCEDURE_SWITCHES)
#: The full procedure emulation with upstream's initialisation too: every known difference on.
HYTAS_SAMPLER_INIT = HYTAS_SAMPLER_FULL + "".join("+" + s for s in INIT_SWITCHES)
#: The emulated sampler with one procedure switch each (the per-switch runs of issue 18).
HYTAS_SAMPLER_SINGLE: Tuple[str, ...] = tuple(f"{HYTAS_SAMPLER}+{s}" for s in PROCEDURE_SWITCHES)

_DESCRIPTIONS = {
    PUBLISHED: ("hytas-upstream: the HyTAS authors' published results, one run per architecture on 5 GPUs; the "
                "settings of the retraining behind them are not recorded in their committed code (at the pinned "
                "commit its loader is set to take_fewshot = True, one training pixel per class, which yields no "
                "training step at all under its sampler); see docs/training.md"),
    PROTOCOL: ("hytasbench-v1 (ours, not the protocol behind the published OA): AdamW lr 3.125e-4, weight decay "
               "0.005, 5 warm-up epochs from 1e-6, cosine to 1e-5 over 300 epochs, each epoch a shuffled pass over "
               "all training pixels in batches of 64 (11 steps on Indian Pines), cross-entropy, drop path 0.1, "
               "CAF over depth - 2 fusions"),
    HYTAS_SAMPLER: ("hytas-sampler (an emulation of the HyTAS authors' epoch sampler, not their recorded "
                    "protocol): hytasbench-v1's settings, but each epoch takes the entries upstream's repeated-"
                    "augmentation sampler with drop_last gives 5 GPUs of 64 (one step of 320 entries per epoch on "
                    "Indian Pines, each pixel of a permutation three times in a row)"),
}
_SWITCH_TEXT = {
    "lag": "upstream's one-epoch scheduler lag (epochs 0 and 1 at 1e-6)",
    "caf8": "eight CAF fusions whatever the depth (upstream's 10-layer supernet)",
    "epoch-order": "the permutation of epoch e seeded with e (the same data order for every run and architecture)",
    "embed-init": ("the patch embedding at PyTorch's default init (weight and bias U(+-1/sqrt(fan_in))), as "
                   "upstream's Conv2d patch embedding, instead of truncated normal 0.02"),
    "shared-init": ("every weight a slice of one supernet-shaped draw per seed, as upstream's sliced supernet (at "
                    "one seed every architecture starts from shared tensors), and the drop-path masks drawn from a "
                    "stream seeded after the model is built (the same for every architecture of one depth, as "
                    "upstream's CUDA stream)"),
}


class ProtocolParts(NamedTuple):
    base: str
    switches: Tuple[str, ...]
    custom: Tuple[Tuple[str, str], ...]  # other deviations, (field, value) in name order


def make_name(base: str, switches: Tuple[str, ...] = (), custom: List[Tuple[str, str]] = ()) -> str:
    """The name of a base with switches (put in canonical order) and other deviations."""
    if base not in BASES:
        raise InvalidProtocolError(f"unknown protocol base {base!r}", BASES)
    check_switches(switches, f"switches {list(switches)}")
    name = base + "".join("+" + s for s in SWITCHES if s in switches)
    if custom:
        name += "+custom(" + ",".join(f"{k}={v}" for k, v in custom) + ")"
    return name


def check_switches(switches: Tuple[str, ...], where: str) -> None:
    """Refuse unknown switches, and a repeated one: each is on or off, so ``+lag+lag`` is a typo
    that must not pass as ``+lag`` (nor get a name and key of its own)."""
    unknown = [s for s in switches if s not in SWITCHES]
    if unknown:
        raise InvalidProtocolError(f"unknown switch(es) {unknown} in {where}", SWITCHES)
    repeated = sorted({s for s in switches if switches.count(s) > 1})
    if repeated:
        raise InvalidProtocolError(f"switch(es) {repeated} repeated in {where}; give each switch once", SWITCHES)


_NAME = re.compile(r"(?P<base>[a-z0-9-]+?)(?P<switches>(\+[a-z0-9-]+)*)(\+custom\((?P<custom>.*)\))?")


def parse(name: str) -> ProtocolParts:
    """Split a protocol name (current or older spelling) into base, switches and deviations.

    Older results spell the emulated sampler ``hytasbench-v1+custom(...,epoch_sampler=hytas)``;
    they parse to the ``hytas-sampler`` base, so :func:`canonical` gives them today's name."""
    m = _NAME.fullmatch(name.strip()) if isinstance(name, str) else None
    if m is None or m.group("base") not in BASES:
        raise InvalidProtocolError(f"cannot read protocol name {name!r}", BASES + tuple("+" + s for s in SWITCHES))
    base = m.group("base")
    switches = tuple(s for s in m.group("switches").split("+") if s)
    check_switches(switches, f"protocol name {name!r}")
    custom: List[Tuple[str, str]] = []
    for item in filter(None, (m.group("custom") or "").split(",")):
        key, _, value = item.partition("=")
        if base == PROTOCOL and key == "epoch_sampler" and value == "hytas":
            base = HYTAS_SAMPLER
            continue
        custom.append((key, value))
    return ProtocolParts(base, switches, tuple(custom))


def canonical(name: str) -> str:
    """Today's spelling of a protocol name (older names stay readable)."""
    p = parse(name)
    return make_name(p.base, p.switches, list(p.custom))


def same(a: object, b: object) -> bool:
    """Whether two protocol names mean the same protocol (older spellings included); a name this
    module cannot read equals only itself."""
    def key(name: object) -> object:
        try:
            return canonical(name) if isinstance(name, str) else name
        except InvalidProtocolError:
            return name
    return isinstance(a, str) and isinstance(b, str) and key(a) == key(b)


def describe(name: str) -> str:
    """One sentence on what a protocol name means; names this module cannot read are returned as
    they are (e.g. the imported authors' rows, whose protocol is the authors' own)."""
    if name == PUBLISHED:
        return _DESCRIPTIONS[PUBLISHED] + "."
    if name.endswith(SYNTHETIC_SUFFIX):  # a build's rows on a synthetic cube (builders.merge)
        return describe(name[:-len(SYNTHETIC_SUFFIX)]).rstrip(".") + \
            "; on a synthetic cube of the real shape and label map, not the real data."
    try:
        p = parse(name)
    except InvalidProtocolError:
        return name
    text = _DESCRIPTIONS[p.base]
    if p.switches:
        text += "; with " + "; ".join(_SWITCH_TEXT[s] for s in p.switches)
    if p.custom:
        text += "; other deviations: " + ", ".join(f"{k}={v}" for k, v in p.custom)
    return text + "."


def switch_fields(name: str) -> Dict[str, object]:
    """TrainConfig fields that a protocol name (without custom deviations) sets."""
    p = parse(name)
    if p.custom:
        raise InvalidProtocolError(f"{name!r} has custom deviations; set those TrainConfig fields directly",
                                   (make_name(p.base, p.switches),))
    return {"epoch_sampler": "hytas" if p.base == HYTAS_SAMPLER else "epoch",
            "schedule_lag": "lag" in p.switches, "caf_fusions": 8 if "caf8" in p.switches else None,
            "epoch_seeded_order": "epoch-order" in p.switches,
            "embed_init": "default" if "embed-init" in p.switches else "trunc-normal",
            "shared_init": "shared-init" in p.switches}
