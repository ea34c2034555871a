"""Choose the column the runs table is sorted by."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.models.runs_view import SORTABLE


class SortScreen(ModalScreen[str | None]):
    """Dismissed with a column key; the current column again flips the direction."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, order: tuple[str, bool] | None) -> None:
        super().__init__()
        self.order = order

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Sort runs by", classes="dialog-title")
            options = []
            for col in SORTABLE:
                arrow = ""
                if self.order and self.order[0] == col.key:
                    arrow = "  (now ↓, again for ↑)" if self.order[1] else "  (now ↑, again for ↓)"
                options.append(Option(f"{col.title}{arrow}", id=col.key))
            yield OptionList(*options, id="sort-options")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
