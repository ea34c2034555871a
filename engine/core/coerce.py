"""A hyperparameter's value typed and checked as its field's type: from a file, a mapping, or the
text of a `key=value` override. A number the type cannot hold is refused with the field's range."""

from __future__ import annotations

import math
from typing import Any

from engine.core.bounds import BOUNDS, INT_MAX
from engine.core.fields import field_type

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _type_name(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "text"}[t]


def check_type(name: str, value: Any) -> Any:
    """Return the value as the field's type, or raise ValueError with a message for a person.

    A number the type cannot hold (an integer past TOML's 64 bits, an infinite or NaN float) is
    refused here with the field's allowed range; a number in the wrong place of it is the rules'."""
    t = field_type(name)
    if t is bool:
        if isinstance(value, bool):
            return value
    elif t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if not -INT_MAX - 1 <= value <= INT_MAX:  # beyond it even printing the value may fail
                raise ValueError(f"must be {range_text(name)}, got {_huge(value)}")
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be {range_text(name)}, got {value!r}")
    elif t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int with hundreds of digits
                raise ValueError(f"must be {range_text(name)}, got {_huge(value)}") from None
            if not math.isfinite(number):
                raise ValueError(f"must be {range_text(name)}, got {value!r}")
            return number
    elif t is str and isinstance(value, str):
        return value
    raise ValueError(_type_message(name, value))


def range_text(name: str) -> str:
    """The values field `name` may take by itself, in words: 'an integer from 1 to 2^63-1'."""
    b = BOUNDS.get(name)
    if b is not None:
        return b.text()
    return "an integer from -2^63 to 2^63-1" if field_type(name) is int else "a finite number"


def _huge(value: int) -> str:
    """A number too large to print whole (Python refuses str() past 4,300 digits)."""
    if value.bit_length() <= 100:
        return str(value)
    return f"{'-' if value < 0 else ''}a number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"


def _type_message(name: str, value: Any) -> str:
    t = field_type(name)
    msg = f"must be {_type_name(t)}, got {value!r}"
    if name in ("batch_size", "gradient_accumulation_steps") and isinstance(value, str) and "x" in value.lower():
        parts = value.lower().replace(" ", "").split("x")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            msg += (
                f"; for an effective batch written {value!r} set batch_size={parts[0]} "
                f"and gradient_accumulation_steps={parts[1]}"
            )
    return msg


def parse_text(name: str, text: str) -> Any:
    """The text of a `key=value` override read as the field's type, before any range check;
    ValueError when it is not written as one (`fast` for a number)."""
    t = field_type(name)
    s = text.strip()
    if t is str:
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            s = s[1:-1]
        return s
    if t is bool:
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise ValueError(f"must be true or false, got {text!r}")
    digits = s.replace("_", "").lstrip("+-")
    if digits.isascii() and digits.isdigit() and len(digits) > 4000:  # past what int() reads: a stand-in
        return (-1 if s.startswith("-") else 1) * 10 ** (len(digits) - 1)  # of its size, for the message
    try:
        if t is int:
            try:
                value = int(s.replace("_", ""))
            except ValueError:
                f = float(s)  # accept "1e3"; 1e999 and 400 digits read as inf, refused with the range
                if not math.isfinite(f):
                    return f
                if not f.is_integer():
                    raise
                value = int(f)
        else:
            value = float(s.replace("_", ""))
    except (ValueError, OverflowError):
        raise ValueError(_type_message(name, text)) from None
    return value


def coerce_text(name: str, text: str) -> Any:
    """Turn the text of a `key=value` override into the field's type, checked as a file's value
    is: a number past the field's type (1e999, 30 digits) is refused with its allowed range."""
    return check_type(name, parse_text(name, text))
