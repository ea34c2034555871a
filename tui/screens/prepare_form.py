"""A new preparation, typed: the dataset source, the tokenizer and the text field of a JSON or Parquet
source; the datasets screen queues it for the engine."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from engine.core import config as cfgmod

FIELDS = (
    ("dataset", "", "hf:roneneldan/TinyStories, a .jsonl/.parquet file or folder, a text file or folder"),
    ("tokenizer", "gpt2", "char, byte or a tiktoken encoding such as gpt2"),
    ("text_field", "text", "the field holding the text, for JSON and Parquet sources"),
)


class PrepareForm(ModalScreen[dict[str, str] | None]):
    """Dismissed with the fields the config knows ({name: text}) on enter, None on escape."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="prepare-form"):
            yield Label("Prepare a dataset (queued for the engine)", classes="dialog-title")
            for name, value, hint in FIELDS:
                if name in cfgmod.FIELDS:
                    yield Label(name)
                    yield Input(value, placeholder=hint, id=f"prepare-{name}", compact=True)
            yield Label("enter queues · tab moves · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#prepare-dataset", Input).focus()

    @on(Input.Submitted)
    def submit(self) -> None:
        values = {i.id.removeprefix("prepare-"): i.value.strip() for i in self.query(Input) if i.id}
        if not values.get("dataset"):
            self.notify("type a dataset source first", severity="warning")
            return
        self.dismiss({k: v for k, v in values.items() if v})

    def action_cancel(self) -> None:
        self.dismiss(None)
