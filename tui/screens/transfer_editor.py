"""The editor, prefilled with a transfer's target (tui.screens.transfer): every field editable as for a new
run; ctrl+s queues it with the sweep and trial it came from in its status (transferred_from)."""

from __future__ import annotations

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from engine.core import config as cfgmod
from engine.core.text import printable
from engine.store import runs as st
from engine.sweeps import transfer as xfer
from tui.models import editor_model as em
from tui.models.transfer_costs import carried_text
from tui.screens.editor import EditorScreen


class TransferEditorScreen(EditorScreen):
    """Dismissed with (run id, watch it) once queued, or None when left."""

    def __init__(self, transfer: xfer.Transfer) -> None:
        super().__init__(transfer.target, origin=transfer.transferred_from)
        self.transfer = transfer

    def compose_head(self) -> ComposeResult:
        """No preset: the target is the sweep's base at full width; what it took from the trial instead."""
        with Horizontal(classes="side-line"):
            yield Label("name", classes="side-label")
            placeholder = f"optional (default {self.transfer.default_name})"
            yield Input(placeholder=placeholder, id="run-name", compact=True)
        carried = escape(printable(carried_text(self.transfer)))
        yield Static(
            f"[b]µTransfer[/] of {escape(self.transfer.transferred_from)}: [dim]{carried}[/]", id="transfer-carried"
        )

    @work(thread=True, group="submit", exit_on_error=False)
    def submit(self, cfg: cfgmod.RunConfig, name: str | None, watch: bool) -> None:
        problem = em.dataset_problem(cfg.dataset, cfg.text_field)  # checked again: it may have been typed a moment ago
        if problem is not None:
            self.post_message(self.DatasetRead(cfg.dataset, problem))
            self.app.call_from_thread(self.notify, f"not queued: dataset: {problem}", severity="error")
            return
        try:
            run_id = xfer.submit(self.app.store, self.transfer, cfg, name, source="tui transfer")
        except (st.StoreError, OSError) as e:
            self.app.call_from_thread(self.notify, f"not queued: {e}", severity="error", timeout=10)
            return
        self.app.call_from_thread(self.queued, run_id, watch)
