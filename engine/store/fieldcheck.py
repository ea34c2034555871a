"""Checks of untrusted store fields: each returns the typed value, or None when it does not fit."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from engine.store.files import StoreError
from engine.store.ids import is_valid_run_id

Checks = dict[str, tuple[Callable[[Any], Any], str]]  # field: (check, what a good value looks like)


class SchemaError(StoreError):
    """A store file whose content does not fit the schema; the message names the file and field."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _whole(low: int | None = None, high: int | None = None) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
            return None
        return value

    return check


def _number(value: Any) -> float | None:
    if type(value) in (int, float) and not (isinstance(value, int) and abs(value) > 2**63):
        return float(value)
    return None


def _finite(low: float, high: float) -> Callable[[Any], float | None]:
    def check(value: Any) -> float | None:
        if type(value) in (int, float) and math.isfinite(value) and low <= value <= high:
            return float(value)
        return None

    return check


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int_list(value: Any) -> list[int] | None:
    if isinstance(value, list) and all(type(v) is int and 0 <= v < 4096 for v in value):
        return list(value)
    return None


def _table_list(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return [dict(v) for v in value]
    return None


def _run_ids(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(is_valid_run_id(v) for v in value):
        return list(value)
    return None


def typed_fields(
    data: Mapping[str, Any], checks: dict[str, tuple[Callable[[Any], Any], str]], source: str, fix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields `checks` knows, typed, and the rest as read; SchemaError names the first that does not fit."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        check = checks.get(key)
        if check is None:
            extra[key] = value
            continue
        typed = check[0](value)
        if typed is None:
            raise schema_error(source, key, value, check[1], fix)
        known[key] = typed
    return known, extra


def schema_error(source: str, key: str, value: Any, expected: str, fix: str) -> SchemaError:
    """The error for one field that does not fit: the file, the field, the value cut short, what fits."""
    return SchemaError(f"{source}: {key} = {shown(value)} is not {expected}; {fix}")


def shown(value: Any) -> str:
    """A stored value in a message: its repr, cut short (str() of an int past 4,300 digits even raises)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return "an integer far too large"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
