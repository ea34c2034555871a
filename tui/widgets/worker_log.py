"""The monitor's worker.log panel: the worker's own lines, a long one wrapped to the panel's width
(the last line of a traceback is the one that says why a run failed), control characters shown as
escapes, never obeyed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import get_character_cell_size
from textual.widgets import Log

from engine.core.text import printable

INDENT = "  "  # a wrapped line's later pieces, so that each line of the log still starts at the edge
MIN_WIDTH = 8


def wrap(line: str, width: int) -> list[str]:
    """`line` in pieces of at most `width` cells, cut after a space where one is in the second half
    of a piece, else mid-word; the pieces after the first indented by INDENT."""
    pieces: list[str] = []
    while True:
        fit = _fitting(line, width)
        if fit == len(line):
            pieces.append(line)
            return pieces
        space = line.rfind(" ", 0, fit + 1)
        cut = space + 1 if space > width // 2 else fit
        pieces.append(line[:cut].rstrip(" "))
        line = INDENT + line[cut:].lstrip(" ")


def _fitting(line: str, width: int) -> int:
    """How many characters of `line` fill at most `width` cells (at least one)."""
    cells = 0
    for i, ch in enumerate(line):
        cells += get_character_cell_size(ch)
        if cells > width:
            return max(1, i)
    return len(line)


class WorkerLog(Log):
    """`lines` are the log's lines as written (wrapping is how they are shown, redone on a resize)."""

    def __init__(self, max_lines: int = 400, **kwargs) -> None:
        super().__init__(**kwargs)
        self.keep = max_lines
        self._written: list[str] = []
        self._wrapped_at = 0

    @property
    def lines(self) -> Sequence[str]:
        return self._written

    @property
    def wrap_width(self) -> int:
        """The cells a line may take: the panel's inside, less a vertical scrollbar's room, so that
        one appearing never makes the lines wider than the panel."""
        return self.content_region.width - self.styles.scrollbar_size_vertical

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> WorkerLog:
        new = [printable(part).expandtabs() for line in lines for part in line.splitlines() or [""]]
        self._written.extend(new)
        if len(self._written) > self.keep * 5 // 4:  # trimmed now and then, not at every line
            del self._written[: len(self._written) - self.keep]
            self._rewrap()
            return self
        super().write_lines(self._wrapped(new), scroll_end)
        return self

    def _wrapped(self, lines: list[str]) -> list[str]:
        width = self.wrap_width
        if width < MIN_WIDTH:
            return lines  # not laid out yet: wrapped on the first resize
        self._wrapped_at = width
        return [piece for line in lines for piece in wrap(line, width)]

    def _rewrap(self) -> None:
        super().clear()
        super().write_lines(self._wrapped(self._written))

    def on_resize(self) -> None:
        if self.wrap_width != self._wrapped_at and self.wrap_width >= MIN_WIDTH:
            self._rewrap()

    def clear(self) -> WorkerLog:
        self._written.clear()
        super().clear()
        return self
