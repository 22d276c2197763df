"""Plain Markdown tables (no third-party formatter) and number formatting for the report."""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import pandas as pd

Formatter = Callable[[object], str]


def number(digits: int = 2) -> Formatter:
    """Format a number with fixed decimals; NaN and None become an en dash."""
    def fmt(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, (int, float)):
            return f"{value:.{digits}f}"
        return str(value)
    return fmt


def percent(digits: int = 1) -> Formatter:
    """A fraction shown as a percentage (0.7887 -> 78.9)."""
    base = number(digits)
    return lambda v: base(v * 100 if isinstance(v, (int, float)) else v)


def table(frame: pd.DataFrame, formats: Optional[Dict[str, Formatter]] = None, default: Formatter = number(2),
          index: bool = True, index_label: str = "") -> str:
    """A GitHub-flavoured Markdown table of a DataFrame; ``formats`` maps column -> formatter."""
    formats = formats or {}
    headers = ([index_label or (frame.index.name or "")] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    for idx, row in frame.iterrows():
        cells = [str(idx)] if index else []
        cells += [formats.get(c, default)(row[c]) for c in frame.columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
