"""Every key of every screen, from the screens' own bindings (so it cannot go stale)."""

from __future__ import annotations

import importlib
import importlib.util

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

SCREENS = (  # (module, class, title)
    ("tui.screens.runs", "RunsScreen", "runs (home)"),
    ("tui.screens.editor", "EditorScreen", "editor"),
    ("tui.screens.fork", "ForkScreen", "fork editor"),
    ("tui.screens.monitor", "MonitorScreen", "monitor"),
    ("tui.screens.compare", "CompareScreen", "compare"),
    ("tui.screens.sample", "SampleScreen", "sample"),
    ("tui.screens.sweep", "SweepScreen", "sweep builder"),  # when it exists
    ("tui.screens.datasets", "DatasetsScreen", "prepared datasets"),
)
KEY_NAMES = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc", "enter": "enter"}


def key_label(keys: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def bindings_table(title: str, bindings: list, current: bool = False) -> Table:
    t = Table(
        title=Text(title + ("  (this screen)" if current else ""), style="bold"),
        title_justify="left",
        show_header=False,
        box=None,
        padding=(0, 2),
    )
    t.add_column(style="bold cyan", no_wrap=True, min_width=10)
    t.add_column()
    for b in bindings:
        if isinstance(b, Binding):
            t.add_row(key_label(b.key), b.tooltip or b.description or b.action)
        else:
            t.add_row(key_label(b[0]), b[2] if len(b) > 2 else b[1])
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "close")]

    def __init__(self, current: type[Screen] | None = None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Label(
                "Keys  (esc closes; ctrl+p opens the command palette; the mouse works too)", classes="dialog-title"
            )
            for module, name, title in SCREENS:
                if importlib.util.find_spec(module) is None:
                    continue
                screen = getattr(importlib.import_module(module), name)
                yield Static(bindings_table(title, screen.BINDINGS, screen is self.current))
            yield Static(
                bindings_table(
                    "everywhere",
                    [
                        *type(self.app).BINDINGS,
                        Binding("ctrl+p", "palette", "command palette"),
                        Binding("ctrl+q", "quit", "quit"),
                    ],
                )
            )
            yield Label(f"store: {self.app.store.root.resolve()}", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
