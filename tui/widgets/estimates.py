"""The editor's live estimate panel: size, compute, memory against the device, and time."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.models.editor_model import Line


class EstimatePanel(Static):
    """`lines` holds what is shown, by label, for tests and for a person."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: dict[str, Line] = {}
        self._shown_length = -1

    def show_lines(self, lines: list[Line]) -> None:
        if {line.label: line for line in lines} == self.lines:
            return
        self.lines = {line.label: line for line in lines}
        text = Text()
        for i, line in enumerate(lines):
            if i:
                text.append("\n")
            text.append(f"{line.label:<16}", style="bold")
            text.append(line.value, style=line.style or "bold")
            if line.note:
                text.append(f"\n  {line.note}", style="dim")
        self.update(text, layout=len(text.plain) != self._shown_length)
        self._shown_length = len(text.plain)

    def show_message(self, message: str, style: str = "yellow") -> None:
        self.lines = {}
        self._shown_length = -1
        self.update(Text(message, style=style))
