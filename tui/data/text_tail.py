"""The last lines of a growing text file (worker.log), read from an offset."""

from __future__ import annotations

import os
from pathlib import Path

START_BYTES = 16384  # on first read, only the file's end: enough for the last screenful


class TextTail:
    """Each poll() returns the complete lines appended since the last one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset: int | None = None
        self._partial = b""

    def poll(self) -> list[str]:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        first = self.offset is None
        if first or size < self.offset:  # new, or truncated: start again near the end
            self.offset, self._partial = max(0, size - START_BYTES), b""
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
