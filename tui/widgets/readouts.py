"""A row of labelled numbers (loss, val loss, tokens/s, ...) that keeps the values it shows."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Readouts(Static):
    """`values` holds the texts shown, by label, so tests read what a person reads."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.values: dict[str, str] = {}

    def set_values(self, values: dict[str, str]) -> None:
        if values == self.values:
            return
        # Numbers keep their width as they change: only a new shape needs a new layout.
        relayout = [(k, len(v)) for k, v in values.items()] != [(k, len(v)) for k, v in self.values.items()]
        self.values = dict(values)
        text = Text()
        for i, (label, value) in enumerate(values.items()):
            if i:
                text.append("  ")
            text.append(f"{label} ", style="dim")
            text.append(value, style="bold")
        self.update(text, layout=relayout)
