"""One hyperparameter in the editor: its name, an input, its help, and its problem if any."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from engine.core import config as cfgmod
from tui.models.editor_model import CHOICES, SUGGESTIONS


class FieldRow(Vertical):
    """Input ids are `f-<field>`, so a test or a problem can find the field by name.

    Every field is an Input, choices included (they are suggested as you type): thirty-odd
    Selects would make the editor slow to open, and typing is the quicker way anyway."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(id=f"row-{name}", classes="field-row")
        self.field_name = name
        self.text = text
        self.messages: list[str] = []

    def compose(self) -> ComposeResult:
        name, help_text = self.field_name, cfgmod.field_help(self.field_name)
        choices = CHOICES.get(name, ()) + SUGGESTIONS.get(name, ())
        if name in CHOICES:
            help_text = f"{' | '.join(CHOICES[name])} · {help_text}"
        with Horizontal(classes="field-line"):
            yield Label(name, classes="field-name")
            yield Input(
                self.text,
                compact=True,
                id=f"f-{name}",
                classes="field-input",
                suggester=SuggestFromList(choices) if choices else None,
                tooltip=help_text,
            )
            yield Label(help_text, classes="field-help")
        yield Static("", id=f"e-{name}", classes="field-error")

    @property
    def input(self) -> Input:
        return self.query_one(f"#f-{self.field_name}", Input)

    @property
    def value_text(self) -> str:
        return self.input.value

    def set_text(self, text: str) -> None:
        self.input.value = text

    def show_problems(self, messages: list[str]) -> None:
        if messages == self.messages:
            return  # most keystrokes change nothing here: no relayout
        self.messages = messages
        self.query_one(f"#e-{self.field_name}", Static).update("\n".join(f"✘ {m}" for m in messages))
        self.set_class(bool(messages), "-invalid")
