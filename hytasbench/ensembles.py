"""Rank ensembles of proxies as first-class scores, computed torch-free from a table's columns.

Two aggregations over a named set of scores (proxies, ``params``, ``flops``):

- ``ensemble:a+b+c``: the mean over the members of each architecture's normalised rank
  (rank / n, 1 for the best by the member's orientation, ties averaged);
- ``aznas:a+b+c``: AZ-NAS's non-linear aggregation (Lee and Ham, CVPR 2024), the sum over the
  members of log(rank / n): an architecture must rank well on every member, as one poor rank
  costs more than a good one gains. ``az_nas`` names the paper's own set: expressivity,
  progressivity, trainability and complexity (our FLOPs).

Ranks are taken among the architectures of one table (dataset and source) with the same ``run``
that have every member; an architecture lacking a member has no ensemble score, and the reason
names the member. An ensemble is a property of the population it ranks: the same architecture
scores differently in a table of other architectures.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .errors import UnknownProxyError
from .schema import orientation

KINDS: Dict[str, str] = {"ensemble": "mean of normalised ranks", "aznas": "sum of log normalised ranks (AZ-NAS)"}
ALIASES: Dict[str, str] = {"az_nas": "aznas:az_expressivity+az_progressivity+az_trainability+flops"}


def is_ensemble(name: object) -> bool:
    if not isinstance(name, str):
        return False
    return name in ALIASES or name.partition(":")[0] in KINDS and ":" in name


def parse(name: str) -> Tuple[str, List[str]]:
    """``"ensemble:synflow+naswot+flops"`` -> ("ensemble", ["synflow", "naswot", "flops"])."""
    spec = ALIASES.get(name, name)
    kind, _, rest = spec.partition(":")
    members = [m.strip() for m in rest.split("+")]
    if kind not in KINDS or not rest or any(not m for m in members):
        raise UnknownProxyError(name, [f"{k}:a+b+..." for k in KINDS] + sorted(ALIASES))
    if len(set(members)) != len(members):
        raise UnknownProxyError(name, ["an ensemble of distinct members"])
    return kind, members


def _ranks(values: Sequence[float]) -> List[float]:
    """Ascending ranks 1..n (ties averaged) of finite values."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _present(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def compute(name: str, column: Callable[[str], Optional[list]], runs: Sequence[int],
            member_reason: Callable[[str, int], str]) -> Tuple[List[Optional[float]], List[Optional[str]]]:
    """The ensemble's value and absent reason for every row. ``column(member)`` gives a member's
    values (None when the table lacks it), ``member_reason(member, row)`` why a row lacks one."""
    kind, members = parse(name)
    cols: Dict[str, list] = {}
    for m in members:
        col = column(m)
        if col is None:
            raise UnknownProxyError(m, ["scores this table has"])
        cols[m] = col
    n_rows = len(runs)
    values: List[Optional[float]] = [None] * n_rows
    reasons: List[Optional[str]] = [None] * n_rows
    groups: Dict[int, List[int]] = {}
    for i in range(n_rows):
        lacking = [m for m in members if not _present(cols[m][i])]
        if lacking:
            reasons[i] = f"{name}: no {lacking[0]} score ({member_reason(lacking[0], i)})"
        else:
            groups.setdefault(runs[i], []).append(i)
    for rows in groups.values():
        n = len(rows)
        total = [0.0] * n
        for m in members:
            sign = orientation(m)
            for k, r in enumerate(_ranks([sign * float(cols[m][i]) for i in rows])):
                total[k] += r / n if kind == "ensemble" else math.log(r / n)
        for k, i in enumerate(rows):
            values[i] = total[k] / len(members) if kind == "ensemble" else total[k]
    return values, reasons
