"""Append-only TOML logs: one whole record per write(), torn tails cut off, cheap tail reads."""

from __future__ import annotations

import fcntl
import operator
import os
import re
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import tomli_w

# A log is a sequence of records, each one `[[table]]` array-of-tables entry ending in a blank
# line. Strings are written with escaped newlines and blank lines inside a record are removed,
# so "\n\n" only ever ends a record. What follows the last "\n\n" is either a torn record (a
# writer killed mid-write: it does not parse, and is cut) or a whole record whose blank line an
# editor trimmed (it parses, and is kept: a complete record is never cut). Logs a person
# reformatted (blank lines inside records, or none between them) keep every record too.
TERMINATOR = b"\n\n"
# A live tail takes a record that lacks its blank line only once the file has been still this
# long: a writer's single write() is long done by then, so it is a trimmed record, not half of one.
SETTLED_TAIL_S = 2.0
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
_RECORD_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*[A-Za-z0-9_-]+[ \t]*\]\][ \t]*(?:#.*)?\r?$", re.MULTILINE)


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

    Each append takes an exclusive flock, repairs the tail (a torn record left by a killed or
    failed writer is cut and kept in `<log>.rejected`; a whole record missing its blank line gets
    it back) and writes the record with one os.write. The tail is checked on every append, not
    only at open, because results.toml has many writers. A log replaced on disk (os.replace)
    needs a new AppendLog: this one keeps the old file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.cut_bytes = 0  # torn-tail bytes this writer removed, for diagnostics
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def append(self, table: str, record: Mapping[str, Any]) -> None:
        data = format_record(table, record).encode("utf-8")
        with self._locked():
            data = self._repair_tail() + data
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

    def _repair_tail(self) -> bytes:
        """Make the log end at a record boundary; returns what to write before the next record."""
        size = os.fstat(self._fd).st_size
        if size == 0 or (size >= 2 and os.pread(self._fd, 2, size - 2) == TERMINATOR):
            return b""
        data = os.pread(self._fd, size, 0)  # rare: only a log whose tail is not a terminator
        read = parse_log(data)
        if read.torn_bytes:
            keep_rejected(self.path, data[size - read.torn_bytes:])
            os.ftruncate(self._fd, size - read.torn_bytes)
            self.cut_bytes += read.torn_bytes
            data = data[:size - read.torn_bytes]
        if not data or data.endswith(TERMINATOR):
            return b""
        return b"\n" if data.endswith(b"\n") else TERMINATOR


def append_record(path: str | os.PathLike[str], table: str, record: Mapping[str, Any]) -> None:
    """Append one record to the log at `path` (created if missing)."""
    with AppendLog(path) as log:
        log.append(table, record)


def rejected_path(path: str | os.PathLike[str]) -> Path:
    """Where bytes taken out of a log are kept: `<log>.rejected`, next to it."""
    path = Path(path)
    return path.with_name(path.name + ".rejected")


def keep_rejected(path: str | os.PathLike[str], data: bytes) -> None:
    """Append bytes cut out of the log at `path` to its `.rejected` file, so that nothing a log
    held is lost without a trace; best effort (on a full disk this write fails too)."""
    if not data.strip():
        return
    try:
        fd = os.open(rejected_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, data.rstrip(b"\n") + TERMINATOR)
        finally:
            os.close(fd)
    except OSError:
        pass


# --- reading ---------------------------------------------------------------------------------

@dataclass
class LogRead:
    """What a read of a log found: complete records, unparseable chunks (their text kept in
    `rejected`), torn-tail bytes, and whether the last record lacks its blank line."""

    records: list[Record] = field(default_factory=list)
    skipped: int = 0
    torn_bytes: int = 0
    unterminated: bool = False
    rejected: list[str] = field(default_factory=list)


def read_log(path: str | os.PathLike[str]) -> LogRead:
    """Every complete record of the log at `path`; a missing file has none."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return LogRead()
    return parse_log(data)


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """(table, record) for every complete record of the log at `path`, in file order."""
    return read_log(path).records


class LogTail:
    """Reads a log incrementally: each poll() costs the bytes appended since the last one.

    The offset stops just after a terminator, so a half-written record is read again, whole,
    on a later poll; a last record without its blank line is taken once the file has been still
    for SETTLED_TAIL_S. A file replaced (new inode) or truncated below the offset is read from
    the start, with `reset` set for that poll so callers can drop what they had.
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
        found = data.rfind(TERMINATOR)
        end = found + 2 if found >= 0 else 0
        result = parse_log(data[:end]) if end else LogRead()
        self.offset += end
        tail = data[end:]
        if tail.strip() and time.time() - info.st_mtime >= SETTLED_TAIL_S:
            last = parse_log(tail)
            if last.unterminated:
                result.records.extend(last.records)
                self.offset += len(tail)
        self.skipped += result.skipped
        return result.records


def parse_log(data: bytes) -> LogRead:
    """Parse a log's bytes. Chunks between terminators that do not parse are skipped and counted,
    unless joined to the chunk before they parse (a blank line a person put inside a record).
    What follows the last terminator is kept if it parses to a record with fields, else it is
    the torn tail."""
    try:
        chunks: list[str | None] = list(data.decode("utf-8").split("\n\n"))
    except UnicodeDecodeError:
        chunks = [_decode(chunk) for chunk in data.split(TERMINATOR)]
    tail = chunks.pop()
    pieces: list[tuple[str | None, list[Record] | None]] = []
    for chunk in chunks:
        _add_chunk(pieces, chunk)
    result = LogRead()
    if tail is not None and tail.strip() and _add_chunk(pieces, tail, tail=True):
        result.unterminated = True
    else:
        found = data.rfind(TERMINATOR)
        result.torn_bytes = len(data) - (found + 2 if found >= 0 else 0)
    for text, records in pieces:
        if records is None:
            result.skipped += 1
            result.rejected.append(text if text is not None else "(bytes that are not UTF-8)")
        else:
            result.records.extend(records)
    return result


def _add_chunk(pieces: list[tuple[str | None, list[Record] | None]], chunk: str | None,
               tail: bool = False) -> bool:
    """Parse one chunk into `pieces`, or join it to the one before when only that parses.
    A tail is added only if it parses to records that hold fields; returns whether it parsed."""
    if chunk is not None and chunk.endswith("\r"):
        chunk = chunk[:-1]  # CRLF line ends: the split took the LF of this CR
    parsed = None if chunk is None else parse_chunk(chunk)
    if parsed is not None and tail and not any(record for _, record in parsed):
        parsed = None  # a bare `[[train]]` header: a record torn after its first line
    if (parsed is None and chunk is not None and pieces and pieces[-1][0] is not None
            and not _RECORD_HEADER.match(chunk.lstrip())):  # a new record never continues the last
        joined = f"{pieces[-1][0]}\n\n{chunk}"
        parsed_joined = parse_chunk(joined)
        if parsed_joined is not None:
            pieces[-1] = (joined, parsed_joined)
            return True
    if parsed is None and tail:
        return False
    pieces.append((chunk, parsed))
    return parsed is not None


def parse_records(data: bytes) -> LogRead:
    """Parse whole records (`data` ends at a terminator); bad chunks are counted, not fatal."""
    return parse_log(data)


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
    if not all(isinstance(rows, list) and all(isinstance(row, dict) for row in rows)
               for rows in doc.values()):
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
