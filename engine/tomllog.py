"""Append-only TOML logs: one whole record per write(), torn tails cut off, cheap tail reads."""

from __future__ import annotations

import fcntl
import operator
import os
import re
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import tomli_w

# A log is a sequence of records, each one `[[table]]` array-of-tables entry ending in a blank
# line. Strings are written with escaped newlines and blank lines inside a record are removed,
# so "\n\n" only ever ends a record: a file that does not end with it has a torn last record.
TERMINATOR = b"\n\n"
Record = tuple[str, dict[str, Any]]

_BARE = r"[A-Za-z0-9_-]+"
# Values as our writer writes them: ints and floats as repr() gives them, strings that need no
# escapes. Possessive quantifiers, because matching these is much of the cost of reading a log.
_INT = r"-?(?:0|[1-9][0-9]*+)"
_FLOAT = r"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++(?:e[+-]?[0-9]++)?+|e[+-]?[0-9]++)|-?inf|nan"
_PLAIN_STR = r'[^"\\\x00-\x1f\x7f]*+'
_SIMPLE_RECORD = re.compile(
    rf'\[\[{_BARE}\]\](?:\n{_BARE} = (?:{_FLOAT}|{_INT}|true|false|"{_PLAIN_STR}"))*+')
_BARE_KEY = re.compile(_BARE)
_PLAIN_STRING = re.compile(_PLAIN_STR)
_BLANK_LINES = re.compile(r"\n{2,}")


# --- writing ---------------------------------------------------------------------------------

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
    if isinstance(value, Mapping) or (
            isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value)):
        return None
    return tomli_w.dumps({key: value}).rstrip("\n")


def _format_with_tomli_w(table: str, record: Mapping[str, Any]) -> str:
    # Nested tables come out as `[table.sub]` sections separated by blank lines; TOML ignores
    # blank lines, so dropping them keeps the record one chunk without changing its meaning.
    return _BLANK_LINES.sub("\n", tomli_w.dumps({table: [record]})) + "\n"


class AppendLog:
    """A log file held open for appending; safe to share with other writers and readers.

    Each append takes an exclusive flock, cuts a torn tail left by a killed or failed writer
    (everything after the last blank line), and writes the record with one os.write. The tail
    is checked on every append, not only at open, because results.toml has many writers.
    A log replaced on disk (os.replace) needs a new AppendLog: this one keeps the old file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.cut_bytes = 0  # torn-tail bytes this writer removed, for diagnostics
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def append(self, table: str, record: Mapping[str, Any]) -> None:
        data = format_record(table, record).encode("utf-8")
        with self._locked():
            self.cut_bytes += _cut_torn_tail(self._fd)
            view = memoryview(data)
            try:
                while view:  # one write in practice; the loop only covers a short write
                    view = view[os.write(self._fd, view):]
            except OSError as err:  # a full disk: the torn record is cut by the next append
                err.filename = err.filename or str(self.path)
                raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def append_record(path: str | os.PathLike[str], table: str, record: Mapping[str, Any]) -> None:
    """Append one record to the log at `path` (created if missing)."""
    with AppendLog(path) as log:
        log.append(table, record)


def _cut_torn_tail(fd: int) -> int:
    """Truncate the file after its last complete record; return how many bytes went."""
    size = os.fstat(fd).st_size
    if size == 0 or (size >= 2 and os.pread(fd, 2, size - 2) == TERMINATOR):
        return 0
    keep = _end_of_last_record(fd, size)
    os.ftruncate(fd, keep)
    return size - keep


def _end_of_last_record(fd: int, size: int) -> int:
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        block = os.pread(fd, min(size, pos + 1) - start, start)  # +1: a terminator on the seam
        found = block.rfind(TERMINATOR)
        if found >= 0:
            return start + found + 2
        pos = start
    return 0


# --- reading ---------------------------------------------------------------------------------

@dataclass
class LogRead:
    """What a read of a log found: complete records, unparseable chunks, torn-tail bytes."""

    records: list[Record] = field(default_factory=list)
    skipped: int = 0
    torn_bytes: int = 0


def read_log(path: str | os.PathLike[str]) -> LogRead:
    """Every complete record of the log at `path`; a missing file has none."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return LogRead()
    found = data.rfind(TERMINATOR)
    end = found + 2 if found >= 0 else 0
    result = parse_records(data[:end])
    result.torn_bytes = len(data) - end
    return result


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """(table, record) for every complete record of the log at `path`, in file order."""
    return read_log(path).records


class LogTail:
    """Reads a log incrementally: each poll() costs the bytes appended since the last one.

    The offset only ever stops just after a terminator, so a half-written record is read again,
    whole, on a later poll. A file replaced (new inode) or truncated below the offset is read
    from the start, with `reset` set for that poll so callers can drop what they had.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0
        self.reset = False
        self.skipped = 0
        self._identity: tuple[int, int] | None = None

    def poll(self) -> list[Record]:
        self.reset = False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            info = os.fstat(fd)
            identity = (info.st_dev, info.st_ino)
            if self._identity is not None and (
                    identity != self._identity or info.st_size < self.offset):
                self.offset, self.reset = 0, True
            self._identity = identity
            if info.st_size <= self.offset:
                return []
            data = os.pread(fd, info.st_size - self.offset, self.offset)
        finally:
            os.close(fd)
        end = data.rfind(TERMINATOR) + 2
        if end < 2:
            return []
        self.offset += end
        result = parse_records(data[:end])
        self.skipped += result.skipped
        return result.records


def parse_records(data: bytes) -> LogRead:
    """Parse whole records (`data` ends at a terminator); bad chunks are counted, not fatal."""
    try:
        chunks: list[str | None] = list(data.decode("utf-8").split("\n\n"))
    except UnicodeDecodeError:
        chunks = [_decode(chunk) for chunk in data.split(TERMINATOR)]
    chunks.pop()  # what follows the last terminator: nothing
    result = LogRead()
    for chunk in chunks:
        parsed = None if chunk is None else parse_chunk(chunk)
        if parsed is None:
            result.skipped += 1
        else:
            result.records.extend(parsed)
    return result


def parse_chunk(chunk: str) -> list[Record] | None:
    """The records in one chunk (the text between terminators); None if it is not valid."""
    simple = parse_simple_record(chunk)
    if simple is not None:
        return [simple]
    if not chunk.strip():
        return []
    try:
        doc = tomllib.loads(chunk)
    except (ValueError, RecursionError):  # bad TOML, an int too long to convert, deep nesting
        return None
    if not all(isinstance(rows, list) and all(isinstance(row, dict) for row in rows)
               for rows in doc.values()):
        return None
    return [(table, row) for table, rows in doc.items() for row in rows]


def parse_simple_record(chunk: str) -> Record | None:
    """The fast path: a record of only `key = int|float|bool|plain string` lines, parsed to
    exactly what tomllib gives; None for anything else (tomllib then has the last word)."""
    header = chunk.partition("\n")[0]
    try:
        for shape in _SHAPES.get(header, ()):
            match = shape.pattern.fullmatch(chunk)
            if match:
                return header[2:-2], dict(zip(shape.keys, map(operator.call, shape.convert,
                                                               match.groups())))
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


_VALUE_GROUP = {int: f"({_INT})", float: f"({_FLOAT})", bool: "(true|false)",
                str: f'"({_PLAIN_STR})"'}
_CONVERT: dict[type, Callable[[str], Any]] = {
    int: int, float: float, bool: {"true": True, "false": False}.__getitem__, str: str}
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
    pattern = re.escape(header) + "".join(
        f"\n{key} = {_VALUE_GROUP[type(value)]}" for key, value in record.items())
    shapes.append(_Shape(re.compile(pattern), tuple(record),
                         tuple(_CONVERT[type(value)] for value in record.values())))


def _decode(chunk: bytes) -> str | None:
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
