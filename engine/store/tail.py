"""The new lines of a growing text file (worker.log), read from an offset: the app's log panel and
`gpt-tui logs -f` both read through it."""

from __future__ import annotations

import os
from pathlib import Path

START_BYTES = 16384  # on first read, only the file's end: enough for the last screenful


class TextTail:
    """Each poll() returns the complete lines appended since the last one."""

    def __init__(self, path: str | os.PathLike[str], start_bytes: int | None = START_BYTES) -> None:
        """`start_bytes`: how much of the file's end the first poll reads (None: all of it)."""
        self.path = Path(path)
        self.start_bytes = start_bytes
        self.offset: int | None = None
        self._partial = b""

    def poll(self) -> list[str]:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        first = self.offset is None
        if first or size < self.offset:  # new, or truncated: start again near the end
            back = size if self.start_bytes is None else self.start_bytes
            self.offset, self._partial = max(0, size - back), b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        lines = data[:cut].decode("utf-8", errors="replace").splitlines()
        if first and self.offset - len(data) > 0 and lines:
            lines = lines[1:]  # the first line was entered mid-way
        return lines
