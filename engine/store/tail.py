"""The new lines of a growing text file (worker.log), read from an offset: the app's log panel and
`gpt-tui logs -f` both read through it."""

from __future__ import annotations

import os
from pathlib import Path

from engine.store.files import open_regular

START_BYTES = 16384  # on first read, only the file's end: enough for the last screenful
# The most one poll reads: far more than a screen shows or a worker writes between two polls. A
# log that grew by more is read from its last READ_CAP bytes, saying how much was passed over.
READ_CAP = 8 << 20


class TextTail:
    """Each poll() returns the complete lines appended since the last one. A file that is no regular
    file is a StoreError naming it."""

    def __init__(self, path: str | os.PathLike[str], start_bytes: int | None = START_BYTES) -> None:
        """`start_bytes`: how much of the file's end the first poll reads (None: all of it, up to READ_CAP)."""
        self.path = Path(path)
        self.start_bytes = start_bytes
        self.offset: int | None = None
        self._partial = b""

    def poll(self) -> list[str]:
        try:
            fd = open_regular(self.path)
        except FileNotFoundError:
            return []
        try:
            size = os.fstat(fd).st_size
            first = self.offset is None
            if first or size < self.offset:  # new, or truncated: start again near the end
                back = size if self.start_bytes is None else self.start_bytes
                self.offset, self._partial = max(0, size - back), b""
            skipped = max(0, size - self.offset - READ_CAP)
            if skipped:
                self.offset, self._partial = self.offset + skipped, b""
            if size == self.offset:
                return []
            data = os.pread(fd, size - self.offset, self.offset)
        finally:
            os.close(fd)
        mid_line = self.offset > 0 and (first or skipped)
        self.offset += len(data)
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        lines = data[:cut].decode("utf-8", errors="replace").splitlines()
        if mid_line and lines:
            lines = lines[1:]  # the first line was entered mid-way
        if skipped:
            lines.insert(0, f"[{skipped:,} bytes of {self.path.name} passed over: more than one read takes]")
        return lines
