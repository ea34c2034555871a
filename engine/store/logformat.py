"""The log record format: how a record is written as one `[[table]]` TOML chunk, and how a chunk
is parsed back (a fast path for the common shapes, tomllib for the rest)."""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import tomli_w

# A log is a sequence of records, each one `[[table]]` array-of-tables entry ending in a blank
# line. Strings are written with escaped newlines and blank lines inside a record are removed,
# so "\n\n" only ever ends a record. What follows the last "\n\n" is either a torn record (a
# writer killed mid-write: it does not parse, and is cut) or a whole record whose blank line an
# editor trimmed (it parses, and is kept: a complete record is never cut). Logs a person
# reformatted (blank lines inside records, or none between them) keep every record too.
TERMINATOR = b"\n\n"
Record = tuple[str, dict[str, Any]]

_BARE = r"[A-Za-z0-9_-]+"
# Values as our writer writes them: ints and floats as repr() gives them, strings that need no
# escapes. Possessive quantifiers, because matching these is much of the cost of reading a log.
_INT = r"-?(?:0|[1-9][0-9]*+)"
_FLOAT = r"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++(?:e[+-]?[0-9]++)?+|e[+-]?[0-9]++)|-?inf|nan"
_PLAIN_STR = r'[^"\\\x00-\x1f\x7f]*+'
_SIMPLE_RECORD = re.compile(rf'\[\[{_BARE}\]\](?:\n{_BARE} = (?:{_FLOAT}|{_INT}|true|false|"{_PLAIN_STR}"))*+')
_BARE_KEY = re.compile(_BARE)
_PLAIN_STRING = re.compile(_PLAIN_STR)
_BLANK_LINES = re.compile(r"\n{2,}")
_RECORD_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*[A-Za-z0-9_-]+[ \t]*\]\][ \t]*(?:#.*)?\r?$", re.MULTILINE)


def format_record(table: str, record: Mapping[str, Any]) -> str:
    """`record` as one `[[table]]` entry ending in exactly one blank line."""
    if not _BARE_KEY.fullmatch(table):
        raise ValueError(f"log table name {table!r} must use only letters, digits, '_' and '-'")
    lines = [f"[[{table}]]"]
    for key, value in record.items():
        line = _format_pair(key, value)
        if line is None:
            return _format_with_tomli_w(table, record)
        lines.append(line)
    return "\n".join(lines) + "\n\n"


def _format_pair(key: str, value: Any) -> str | None:
    """`key = value` as tomli_w writes it; None when the value needs a sub-table."""
    kind = type(value)
    if _BARE_KEY.fullmatch(key):
        # The common metric types, written without tomli_w's per-call overhead.
        if kind is bool:
            return f"{key} = {'true' if value else 'false'}"
        if kind is int or kind is float:
            return f"{key} = {value!r}"
        if kind is str and _PLAIN_STRING.fullmatch(value):
            return f'{key} = "{value}"'
    if isinstance(value, Mapping) or (isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value)):
        return None
    return tomli_w.dumps({key: value}).rstrip("\n")


def _format_with_tomli_w(table: str, record: Mapping[str, Any]) -> str:
    # Nested tables come out as `[table.sub]` sections separated by blank lines; TOML ignores
    # blank lines, so dropping them keeps the record one chunk without changing its meaning.
    return _BLANK_LINES.sub("\n", tomli_w.dumps({table: [record]})) + "\n"


def parse_chunk(chunk: str) -> list[Record] | None:
    """The records in one chunk (the text between terminators); None if it is not valid."""
    simple = parse_simple_record(chunk)
    if simple is not None:
        return [simple]
    if not chunk.strip():
        return []
    records = _parse_toml_records(chunk)
    if records is not None and len(records) > 1:  # no blank lines between them: keep file order
        return _parse_in_file_order(chunk) or records
    return records


def _parse_toml_records(text: str) -> list[Record] | None:
    try:
        doc = tomllib.loads(text)
    except (ValueError, RecursionError):  # bad TOML, an int too long to convert, deep nesting
        return None
    if not all(isinstance(rows, list) and all(isinstance(row, dict) for row in rows) for rows in doc.values()):
        return None
    return [(table, row) for table, rows in doc.items() for row in rows]


def _parse_in_file_order(chunk: str) -> list[Record] | None:
    """Records of a chunk holding several, in the order written (tomllib groups them by table)."""
    starts = [match.start() for match in _RECORD_HEADER.finditer(chunk)]
    if len(starts) < 2:
        return None
    records: list[Record] = []
    for begin, end in zip([0, *starts], [*starts, len(chunk)]):
        part = _parse_toml_records(chunk[begin:end])
        if part is None:
            return None
        records.extend(part)
    return records


def parse_simple_record(chunk: str) -> Record | None:
    """The fast path: a record of only `key = int|float|bool|plain string` lines, parsed to
    exactly what tomllib gives; None for anything else (tomllib then has the last word)."""
    header = chunk.partition("\n")[0]
    try:
        for shape in _SHAPES.get(header, ()):
            match = shape.pattern.fullmatch(chunk)
            if match:
                return header[2:-2], dict(zip(shape.keys, map(operator.call, shape.convert, match.groups())))
        parsed = _parse_simple_lines(chunk)
    except ValueError:  # an int past Python's 4300-digit conversion limit
        return None
    if parsed is not None:
        _learn_shape(header, parsed[1])
    return parsed


def _parse_simple_lines(chunk: str) -> Record | None:
    if not _SIMPLE_RECORD.fullmatch(chunk):
        return None
    lines = chunk.split("\n")
    record: dict[str, Any] = dict([line.split(" = ", 1) for line in lines[1:]])
    if len(record) != len(lines) - 1:
        return None  # a repeated key: invalid TOML, which tomllib will report
    for key, text in record.items():
        first = text[0]
        if first == '"':
            record[key] = text[1:-1]
        elif first == "t":
            record[key] = True
        elif first == "f":
            record[key] = False
        elif "." in text or "e" in text or "n" in text:  # n: inf, nan
            record[key] = float(text)
        else:
            record[key] = int(text)
    return lines[0][2:-2], record


# A metrics log repeats a few record shapes (same table, keys and value types) thousands of
# times. For each shape seen, a regex with one group per value both checks a record and picks
# its values out, and the values are converted in C (map), not one Python statement each.
class _Shape(NamedTuple):
    pattern: re.Pattern[str]
    keys: tuple[str, ...]
    convert: tuple[Callable[[str], Any], ...]


_VALUE_GROUP = {int: f"({_INT})", float: f"({_FLOAT})", bool: "(true|false)", str: f'"({_PLAIN_STR})"'}
_CONVERT: dict[type, Callable[[str], Any]] = {
    int: int,
    float: float,
    bool: {"true": True, "false": False}.__getitem__,
    str: str,
}
_SHAPES: dict[str, list[_Shape]] = {}  # by header line; a few per table at most
_SHAPES_PER_TABLE = 4


def _learn_shape(header: str, record: dict[str, Any]) -> None:
    shapes = _SHAPES.get(header)
    if shapes is None:
        if len(_SHAPES) >= 64:
            return  # many tables or ever-new shapes: the line-by-line path serves them
        shapes = _SHAPES[header] = []
    if len(shapes) >= _SHAPES_PER_TABLE:
        return
    pattern = re.escape(header) + "".join(f"\n{key} = {_VALUE_GROUP[type(value)]}" for key, value in record.items())
    shapes.append(_Shape(re.compile(pattern), tuple(record), tuple(_CONVERT[type(value)] for value in record.values())))
