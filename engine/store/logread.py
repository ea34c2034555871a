"""Reading append-only TOML logs: whole files, and live tails that cost only the new bytes."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.store.files import LOG_CAP, check_size, open_regular, read_regular
from engine.store.logformat import _RECORD_HEADER, TERMINATOR, Record, parse_chunk

# A live tail takes a record that lacks its blank line only once the file has been still this
# long: a writer's single write() is long done by then, so it is a trimmed record, not half of one.
SETTLED_TAIL_S = 2.0


@dataclass
class LogRead:
    """What a read of a log found: complete records, unparseable chunks (their text kept in
    `rejected`), torn-tail bytes, and whether the last record lacks its blank line."""

    records: list[Record] = field(default_factory=list)
    skipped: int = 0
    torn_bytes: int = 0
    torn: bytes = b""  # the torn tail itself, to keep aside when it is cut
    unterminated: bool = False
    rejected: list[str] = field(default_factory=list)


def read_log(path: str | os.PathLike[str]) -> LogRead:
    """Every complete record of the log at `path`; a missing file has none. StoreError names a
    log that is no regular file or is larger than LOG_CAP."""
    try:
        data = read_regular(path, LOG_CAP)
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
    the start, with `reset` set for that poll so callers can drop what they had. A log that is no
    regular file, or larger than LOG_CAP (so no poll reads more than that), is a StoreError.
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
            fd = open_regular(self.path)
        except FileNotFoundError:
            return []
        try:
            info = os.fstat(fd)
            check_size(self.path, info.st_size, LOG_CAP)
            identity = (info.st_dev, info.st_ino)
            if self._identity is not None and (identity != self._identity or info.st_size < self.offset):
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
        result.torn = data[found + 2 if found >= 0 else 0 :]
        result.torn_bytes = len(result.torn)
    for text, records in pieces:
        if records is None:
            result.skipped += 1
            result.rejected.append(text if text is not None else "(bytes that are not UTF-8)")
        else:
            result.records.extend(records)
    return result


def _add_chunk(pieces: list[tuple[str | None, list[Record] | None]], chunk: str | None, tail: bool = False) -> bool:
    """Parse one chunk into `pieces`, or join it to the one before when only that parses.
    A tail is added only if it parses to records that hold fields; returns whether it parsed."""
    if chunk is not None and chunk.endswith("\r"):
        chunk = chunk[:-1]  # CRLF line ends: the split took the LF of this CR
    parsed = None if chunk is None else parse_chunk(chunk)
    if parsed is not None and tail and not any(record for _, record in parsed):
        parsed = None  # a bare `[[train]]` header: a record torn after its first line
    if (
        parsed is None
        and chunk is not None
        and pieces
        and pieces[-1][0] is not None
        and not _RECORD_HEADER.match(chunk.lstrip())
    ):  # a new record never continues the last
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


def _decode(chunk: bytes) -> str | None:
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
