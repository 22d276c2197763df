"""Durations written by people: ``3600``, ``90s``, ``45m``, ``2h``, ``1h30m``, ``1.5d``.

The one parser behind the builder's ``--time-limit`` and the time part of a search ``--budget``.
Hand-written because it is a dozen lines: the duration libraries on PyPI read a different
grammar (ISO 8601, or free text), and neither CLI should change what it accepts.
"""
from __future__ import annotations

import re

from .errors import InvalidArgumentError

#: unit -> seconds; a bare number is seconds
UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_TERM = re.compile(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds of a sum of ``<number><unit>`` terms (units s/sec, m/min, h, d; a bare number is
    seconds). Raises InvalidArgumentError for anything else, a negative number included."""
    rest = text.strip() if isinstance(text, str) else ""
    total, terms = 0.0, 0
    while rest:
        m = _TERM.match(rest)
        unit = m.group(2).lower() if m else ""
        if not m or (unit and unit not in UNITS):
            break
        total += float(m.group(1)) * UNITS[unit or "s"]
        terms += 1
        rest = rest[m.end():]
    if rest or not terms:
        raise InvalidArgumentError(f"cannot read the duration {text!r}: give seconds or number-unit terms "
                                   f"with units {', '.join(UNITS)}, e.g. 5400, 90m, 2h, 1h30m")
    return total
