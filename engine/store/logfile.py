"""Append-only TOML logs: one whole record per write(), torn tails cut off and kept aside,
whole records never cut. The format is engine.store.logformat's; readers are in logread."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.store.logformat import (  # noqa: F401 - the log's names, from one place
    _SHAPES,
    TERMINATOR,
    Record,
    format_record,
    parse_chunk,
    parse_simple_record,
)
from engine.store.logread import (  # noqa: F401
    SETTLED_TAIL_S,
    LogRead,
    LogTail,
    parse_log,
    parse_records,
    read_log,
    read_records,
)


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
                    view = view[os.write(self._fd, view) :]
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
            keep_rejected(self.path, read.torn)
            os.ftruncate(self._fd, size - read.torn_bytes)
            self.cut_bytes += read.torn_bytes
            data = data[: size - read.torn_bytes]
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
