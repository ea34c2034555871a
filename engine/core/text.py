"""Stored text made safe for a terminal: control characters shown as escapes, never obeyed."""

from __future__ import annotations

_KEEP = frozenset("\n\t")


def printable(text: str) -> str:
    """`text` with every control character but newline and tab written as \\xNN: a store file may hold
    escape sequences that would retitle, clear or reprogram the terminal it is printed to."""
    return "".join(c if c in _KEEP or not _is_control(c) else f"\\x{ord(c):02x}" for c in text)


def _is_control(c: str) -> bool:
    code = ord(c)
    return code < 0x20 or 0x7F <= code <= 0x9F
