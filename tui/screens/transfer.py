"""Transfer best →: a sweep's best trial carried to a wider model (µTransfer). This dialog asks the sweep
and the target width and shows what carries over and both costs side by side; the editor then opens
with the target (tui.screens.transfer_editor), where ctrl+s queues it."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.core.errors import GptTuiError
from engine.core.text import printable
from engine.sweeps import transfer as xfer
from tui.models.transfer_costs import carried_text, transfer_costs


class TransferScreen(ModalScreen[xfer.Transfer | None]):
    """Dismissed with the planned transfer on enter, None on escape."""

    DEFAULT_CSS = """
    TransferScreen .transfer-label { width: 10; color: $text-muted; }
    TransferScreen #transfer-sweep, TransferScreen #transfer-width { width: 1fr; }
    TransferScreen #transfer-preview { height: auto; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "open", "open in editor", priority=True),
    ]

    class Planned(Message):
        """A plan of the dialog's inputs (`key`), or None with why not."""

        def __init__(self, key: tuple, transfer: xfer.Transfer | None, shown: object) -> None:
            super().__init__()
            self.key, self.transfer, self.shown = key, transfer, shown

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TransferScreen.Planned)

    def __init__(self, sweeps: list[tuple[str, int]], chosen: str) -> None:
        super().__init__()
        self.widths = dict(sweeps)  # sweep id -> its base's full width, the default target
        self.chosen = chosen
        self.transfer: xfer.Transfer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("transfer best → a wider model (µTransfer)", classes="dialog-title")
            with Horizontal(classes="side-line"):
                yield Label("sweep", classes="transfer-label")
                options = [(s, s) for s in self.widths]
                yield Select(options, value=self.chosen, allow_blank=False, id="transfer-sweep", compact=True)
            with Horizontal(classes="side-line"):
                yield Label("to n_embd", classes="transfer-label")
                yield Input(str(self.widths[self.chosen]), type="integer", id="transfer-width", compact=True)
            yield Checkbox("copy from a sweep trained in SP anyway (--force)", id="transfer-force", compact=True)
            yield Static("[dim]reading the sweep…[/]", id="transfer-preview")
            yield Label("enter opens the editor with the target · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(".dialog").styles.width = 96  # two costs side by side; the app's .dialog is 70 wide
        self.query_one("#transfer-width", Input).focus()
        self.replan()

    def inputs(self) -> tuple[str, str, bool]:
        sweep = str(self.query_one("#transfer-sweep", Select).value)
        return sweep, self.query_one("#transfer-width", Input).value.strip(), self.query_one(Checkbox).value

    @on(Select.Changed, "#transfer-sweep")
    def sweep_chosen(self, event: Select.Changed) -> None:
        width = self.query_one("#transfer-width", Input)
        if str(event.value) in self.widths and width.value != str(self.widths[str(event.value)]):
            width.value = str(self.widths[str(event.value)])  # its Changed replans
        else:
            self.replan()

    @on(Input.Changed, "#transfer-width")
    @on(Checkbox.Changed)
    def replan(self) -> None:
        self.transfer = None
        self.plan_in_background(self.inputs())

    @work(thread=True, exclusive=True, group="transfer-plan", exit_on_error=False)
    def plan_in_background(self, key: tuple[str, str, bool]) -> None:
        """Planning reads the sweep's trials and configs, and maybe a corpus for its vocabulary."""
        sweep, width, force = key
        try:
            if not width.isdigit():
                raise GptTuiError(f"to n_embd: {width!r} is not a width; type a whole number, e.g. 768")
            t = xfer.plan_transfer(self.app.store, sweep, {"n_embd": int(width)}, force=force)
            shown = preview(t, transfer_costs(self.app.store, t))
        except GptTuiError as e:
            problems = getattr(e, "problems", None) or [e]
            text = "\n".join(f"[red]✘ {escape(printable(str(p)))}[/]" for p in problems[:4])
            self.post_message(self.Planned(key, None, text))
            return
        self.post_message(self.Planned(key, t, shown))

    @on(Planned)
    def planned(self, message: Planned) -> None:
        if message.key != self.inputs():
            return  # typed over since: a newer plan follows
        self.transfer = message.transfer
        self.query_one("#transfer-preview", Static).update(message.shown)

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        if self.transfer is None:
            self.notify("nothing to transfer yet: see the lines in red", severity="warning")
            return
        self.dismiss(self.transfer)

    def action_cancel(self) -> None:
        self.dismiss(None)


def preview(t: xfer.Transfer, costs) -> Group:
    """What carries over from which trial, the notes, and the two costs side by side."""
    ppl = "" if t.final_val_ppl is None else f" (final val PPL {t.final_val_ppl:.2f})"
    lines = [Text.from_markup(f"[green]✔[/] best trial [b]{escape(t.transferred_from)}[/]{escape(ppl)} carries:")]
    lines.append(Text(printable(carried_text(t)), style="dim"))
    lines.extend(Text(f"⚠ {printable(note)}", style="yellow") for note in t.notes)
    table = Table(box=None, padding=(0, 2), show_edge=False)
    for col in costs.header:
        table.add_column(col, justify="right" if col else "left")
    for row in costs.rows:
        table.add_row(*row)
    return Group(*lines, table, Text(printable(costs.how), style="dim"))


def open_transfer(app: App, preferred: str = "") -> None:
    """Find the sweeps with a finished trial (off the UI thread), ask the target in the dialog, then open
    the editor with it; with no such sweep, a toast says so and nothing opens."""
    from tui.screens.transfer_editor import TransferEditorScreen

    def read() -> None:
        found = xfer.sweeps_with_best(app.store)
        if not found:
            app.call_from_thread(
                app.notify, "no sweep has a finished trial to transfer yet", severity="warning", timeout=8
            )
            return
        ids = [sweep_id for sweep_id, _ in found]
        chosen = preferred if preferred in ids else ids[0]
        app.call_from_thread(lambda: app.push_screen(TransferScreen(found, chosen), planned))

    def planned(t: xfer.Transfer | None) -> None:
        if t is not None:
            app.push_screen(TransferEditorScreen(t), opened)

    def opened(queued: tuple[str, bool] | None) -> None:
        if queued is not None and queued[1]:
            app.open_monitor(queued[0])

    app.run_worker(read, thread=True, group="transfer", exclusive=True, exit_on_error=False)
