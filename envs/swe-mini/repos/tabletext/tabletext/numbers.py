"""Recognising and formatting numbers in cells."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Optional

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?$")


def is_number(value: Any) -> bool:
    """True for ints, floats and Decimals, and for strings that look like one ("-3.5", "1e3", "12%", "1,200")."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, Decimal)):
        return True
    if isinstance(value, str):
        return bool(_NUMBER.match(value.strip().replace(",", "")))
    return False


def format_number(value: Any, decimals: Optional[int] = None, thousands: bool = False) -> str:
    """Format a number for display.

    `decimals` fixes the number of digits after the point; `thousands` inserts "," separators. Strings that
    look like numbers are formatted as the number they spell. NaN and infinities are written "nan", "inf", "-inf".
    """
    if isinstance(value, str):
        value = float(value.replace(",", "")) if decimals is not None or thousands else value
        if isinstance(value, str):
            return value
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    separator = "," if thousands else ""
    if decimals is not None:
        return f"{value:{separator}.{decimals}f}"
    if isinstance(value, int):
        return f"{value:{separator}d}"
    return f"{value:{separator}}" if thousands else str(value)


def decimal_align(cells: list[str]) -> list[str]:
    """Pad numeric strings on the right so that their decimal points line up (non-numbers are left alone)."""
    def fraction_width(cell: str) -> int:
        return len(cell) - cell.index(".") if "." in cell else 0

    widest = max((fraction_width(c) for c in cells if is_number(c)), default=0)
    aligned = []
    for cell in cells:
        if not is_number(cell):
            aligned.append(cell)
            continue
        missing = widest - fraction_width(cell)
        aligned.append(cell + " " * missing)
    return aligned
