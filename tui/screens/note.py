"""One line of text, typed: a run's note."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class NoteScreen(ModalScreen[str | None]):
    """Dismissed with the text on enter, None on escape."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, text: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.text, placeholder="a note (enter saves, esc cancels)", id="note-text")
            yield Label("enter saves · esc cancels", classes="dialog-hint")

    @on(Input.Submitted)
    def save(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
