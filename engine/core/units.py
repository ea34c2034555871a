"""Stored numbers as a person reads them: short, whatever a file holds (1e308, inf, nan, 4,000 digits)."""

from __future__ import annotations

import math
from typing import Any

from engine.core.estimate import human_bytes, human_count, human_seconds

# A stored number is whatever a file says: 1e308, inf, nan, an integer of 4,000 digits. Shown, it
# stays within SHOWN_WIDTH characters, so one odd file cannot widen a column and collapse a table.
SHOWN_WIDTH = 12


def shown(value: Any, fmt: str) -> str:
    """`value` formatted by `fmt`, or in e-notation when that would be wider than SHOWN_WIDTH;
    "-" for None, "?" for anything not a number, and inf, -inf and nan as such."""
    if (odd := _odd(value)) is not None:
        return odd
    if isinstance(value, int) and value.bit_length() > 64:
        return _e_notation(value)
    try:
        text = format(value, fmt)
    except ValueError:  # a float where an int format was asked
        text = format(value, "g")
    return text if len(text) <= SHOWN_WIDTH else _e_notation(value)


def _odd(value: Any) -> str | None:
    """How a value that is no finite number is shown: "-" for None, "?" for what is no number,
    inf, -inf and nan as such; None for a finite number."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return None


def _e_notation(value: int | float) -> str:
    if isinstance(value, int) and value.bit_length() > 1000:  # past a float; str() may refuse it too
        return f"{'-' if value < 0 else ''}>1e+300"
    return format(float(value), ".3g")


def _human(value: Any, human: Any, limit: float, unit: str = "") -> str:
    """`human(value)` for a number within `limit`, else shown() with `unit`: the estimate module's
    formatters are for numbers a run can reach, and overflow or run long past them."""
    if (odd := _odd(value)) is not None:
        return odd
    if abs(value) >= limit:
        return shown(value, ".3g") + unit
    return human(value)


def shown_count(value: Any) -> str:
    """1.23M, 4.56B: human_count, safe for any stored value."""
    return _human(value, human_count, 1e15)


def shown_bytes(value: Any) -> str:
    """12.3 MiB: human_bytes, safe for any stored value."""
    return _human(value, human_bytes, 2.0**50, " B")


def shown_seconds(value: Any) -> str:
    """3m20s, 2d04h: human_seconds, safe for any stored value (a century and more in seconds)."""
    return _human(value, human_seconds, 1e10, "s")
