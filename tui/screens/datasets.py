"""The prepared datasets: name, tokens, size, tokenizer, source and the runs that use them; d deletes one
that no queued or running run uses, p queues a new preparation for the engine."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engine.core import config as cfgmod
from engine.core.errors import GptTuiError
from engine.core.units import shown_bytes, shown_count
from engine.store import runs as st
from tui.models import datasets_view as dv
from tui.widgets import EngineBar

REFRESH_S = 3.0  # a preparation that ends, or a run that starts on a dataset, shows within this


class DatasetsScreen(Screen[None]):
    BINDINGS = [
        Binding(
            "d", "delete", "delete", tooltip="delete the highlighted dataset (asks first; refused while a run uses it)"
        ),
        Binding("p", "prepare", "prepare", tooltip="queue a preparation for the engine: a source and a tokenizer"),
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    class Read(Message):
        """The datasets as read by the worker thread (None, and why, when they could not be read)."""

        def __init__(self, infos: list[dv.DatasetInfo] | None, error: str = "") -> None:
            super().__init__()
            self.infos, self.error = infos, error

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DatasetsScreen.Read)

    def __init__(self) -> None:
        super().__init__()
        self.infos: dict[str, dv.DatasetInfo] | None = None  # None until the first read

    def compose(self) -> ComposeResult:
        yield EngineBar("datasets")
        yield DataTable(id="datasets", cursor_type="row", zebra_stripes=True)
        yield Static("reading the prepared datasets…", id="datasets-summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, title in dv.COLUMNS:
            table.add_column(title, key=key)
        self.load()
        self.set_interval(REFRESH_S, self.load)

    @work(thread=True, exclusive=True, group="datasets", exit_on_error=False)
    def load(self) -> None:
        try:
            infos = dv.list_datasets(self.app.store)
        except (GptTuiError, OSError) as e:
            self.post_message(self.Read(None, str(e)))
            return
        self.post_message(self.Read(infos))

    @on(Read)
    def show(self, message: Read) -> None:
        summary = self.query_one("#datasets-summary", Static)
        if message.infos is None:
            summary.update(f"cannot read {self.app.store.datasets_dir}: {message.error}")
            return
        infos = {d.name: d for d in message.infos}
        if infos != self.infos:
            self.show_rows(infos)
        if not infos:
            summary.update("no prepared dataset yet: p queues a preparation (or `gpt-tui prepare --engine`)")
            return
        tokens = sum(d.tokens or 0 for d in infos.values())
        size = sum(d.size_bytes for d in infos.values())
        count = f"{len(infos)} dataset{'s' if len(infos) > 1 else ''}"
        summary.update(f"{count} · {shown_count(tokens)} tokens · {shown_bytes(size)} on disk · d deletes, p prepares")

    def show_rows(self, infos: dict[str, dv.DatasetInfo]) -> None:
        table = self.query_one(DataTable)
        current = self.current_name()
        table.clear()
        for name, info in infos.items():
            table.add_row(*dv.cell_texts(info), key=name)
        self.infos = infos
        if current in infos:
            table.move_cursor(row=table.get_row_index(current))

    def current_name(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # -- acting ------------------------------------------------------------------------
    def action_delete(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        name = self.current_name()
        if name is None or self.infos is None:
            self.notify("no prepared dataset here", severity="warning")
            return
        info = self.infos[name]
        if info.active_users:
            self.notify(f"{name} is used by {', '.join(info.active_users)}: not deleted", severity="warning", timeout=8)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete(name)

        question = (
            f"Delete the prepared dataset {name} ({shown_bytes(info.size_bytes)})? Preparing it again takes time."
        )
        self.app.push_screen(ConfirmScreen(question, "delete"), callback=confirmed)

    @work(thread=True, group="datasets-act", exit_on_error=False)
    def delete(self, name: str) -> None:
        try:
            message = dv.delete_dataset(self.app.store, name)  # checks the runs again: one may have started
        except (GptTuiError, OSError) as e:
            self.app.call_from_thread(self.notify, str(e), severity="warning", timeout=8)
        else:
            self.app.call_from_thread(self.notify, message)
        self.load()

    def action_prepare(self) -> None:
        from tui.screens.prepare_form import PrepareForm

        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                self.queue_prepare(values)

        self.app.push_screen(PrepareForm(), callback=chosen)

    @work(thread=True, group="datasets-act", exit_on_error=False)
    def queue_prepare(self, values: dict[str, str]) -> None:
        from tui.models.editor_model import dataset_problem

        try:
            cfg = cfgmod.from_mapping(values)
            problem = dataset_problem(cfg.dataset, cfg.text_field)
            if problem is not None:
                raise GptTuiError(problem)
            run_id = dv.submit_prepare(self.app.store, cfg, source="app datasets")
        except cfgmod.ConfigError as e:
            text = "; ".join(f"{p.field}: {p.message}" for p in e.problems)
            self.app.call_from_thread(self.notify, text, severity="warning", timeout=8)
            return
        except (GptTuiError, st.StoreError, OSError) as e:
            self.app.call_from_thread(self.notify, str(e), severity="warning", timeout=8)
            return
        self.app.call_from_thread(self.notify, f"queued {run_id}: its progress shows in the runs table")
        self.app.call_from_thread(self.app.ensure_engine)
