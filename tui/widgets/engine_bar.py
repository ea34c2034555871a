"""The top line of every screen: what the engine is doing, as the app last read it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.models.engine_state import EngineState


class EngineBar(Static):
    """Follows the app's `engine_state`; the app reads the heartbeat files, not this widget."""

    def __init__(self, title: str = "") -> None:
        super().__init__(id="engine-bar")
        self.title = title

    def on_mount(self) -> None:
        self.watch(self.app, "engine_state", self.show_state)

    def show_state(self, state: EngineState) -> None:
        text = Text()
        text.append(" gpt-tui ", style="bold reverse")
        if self.title:
            text.append(f" {self.title} ", style="bold")
        text.append(" │ ", style="dim")
        text.append(state.describe(), style="green" if state.alive else "yellow")
        self.set_class(state.alive, "-alive")
        self.update(text, layout=False)  # one line, always
