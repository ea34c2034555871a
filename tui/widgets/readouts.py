"""A row of labelled numbers (loss, val loss, tokens/s, ...) that keeps the values it shows."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Readouts(Static):
    """`values` holds the texts shown, by label, so tests read what a person reads."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.values: dict[str, str] = {}
        self._cells = 0  # the width of the text shown

    def set_values(self, values: dict[str, str]) -> None:
        if values == self.values:
            return
        text = Text()
        for i, (label, value) in enumerate(values.items()):
            if i:
                text.append("  ")
            text.append(f"{label} ", style="dim")
            text.append(value, style="bold")
        # A new layout can change only the height, so it waits for a new shape (a value's width, a
        # label), and not even then while the text fits one line before and after: tokens/s going
        # from 9.98K to 10.1K and back would otherwise lay the whole monitor out again each time.
        shape_changed = [(k, len(v)) for k, v in values.items()] != [(k, len(v)) for k, v in self.values.items()]
        width = self.content_size.width
        one_line = 0 < self._cells <= width and 0 < text.cell_len <= width
        self.values, self._cells = dict(values), text.cell_len
        self.update(text, layout=shape_changed and not one_line)
