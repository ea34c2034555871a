"""The home screen: every run in a table that follows the store, and the keys that act on runs."""

from __future__ import annotations

from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static

from engine.core import config as cfgmod
from engine.store import control
from engine.store import runs as st
from tui.models.lrfind_queue import queue_lrfind_of_run
from tui.models.runs_reader import Row, RunsReader
from tui.models.runs_view import column, label, parse_filter
from tui.screens.watched import WatchedScreen
from tui.widgets import EngineBar, RunTable

REFRESH_S = 1.0


class RunsScreen(WatchedScreen):
    BINDINGS = [
        Binding("n", "new_run", "new", tooltip="new run: the editor, from the quickstart preset"),
        Binding("w", "new_sweep", "sweep", tooltip="new sweep: the sweep builder"),
        Binding("m", "monitor", "monitor", tooltip="monitor the highlighted run (enter or a second click too)"),
        Binding("c", "compare", "compare", tooltip="compare the selected runs (or one selected and the highlighted)"),
        Binding("space", "select", "select", show=False, tooltip="select or unselect the highlighted run"),
        Binding("u", "clear_selection", "unselect all", show=False, tooltip="clear the selection"),
        Binding(
            "s", "stop", "stop", tooltip="stop the highlighted run (asks first; it checkpoints); cancel a queued one"
        ),
        Binding("r", "resume", "resume", show=False, tooltip="queue a stopped/failed run again from its checkpoint"),
        Binding("t", "retry", "retry", show=False, tooltip="a new run with the highlighted run's config"),
        Binding("L", "lr_find", "LR find", show=False, tooltip="an LR range test on the highlighted run's config"),
        Binding("D", "datasets", "datasets", show=False, tooltip="the prepared datasets and the runs using them"),
        Binding("d", "delete", "delete", show=False, tooltip="delete the highlighted run and its files (asks first)"),
        Binding("e", "note", "note", show=False, tooltip="write a note on the highlighted run"),
        Binding("y", "copy_run", "copy to editor", show=False, tooltip="the editor, from the highlighted run's config"),
        Binding("f", "fork", "fork", show=False, tooltip="fork: a new run from the highlighted run's checkpoint"),
        Binding("p", "sample", "sample", show=False, tooltip="text from the highlighted run's checkpoint"),
        Binding("o", "sort", "sort", show=False, tooltip="sort by a column (or click its header); again flips"),
        Binding("slash", "filter", "filter", tooltip="filter: words, state:running, sweep:NAME"),
        Binding("escape", "clear_filter", "clear filter", show=False, tooltip="clear the filter, else the selection"),
        Binding("q", "app.quit", "quit", tooltip="quit (training goes on in the engine)"),
    ]
    # (title, help, action) for the command palette
    COMMANDS_FOR_PALETTE = (
        ("Monitor run", "Live charts of the highlighted run", "monitor"),
        ("Compare selected runs", "Val loss overlaid and the hyperparameters that differ", "compare"),
        ("Sample from run", "Text from the highlighted run's best checkpoint", "sample"),
        ("Stop run", "Stop the highlighted run (it checkpoints first)", "stop"),
        ("Resume run", "Queue the highlighted run again from its last checkpoint", "resume"),
        ("Retry run", "A new run with the highlighted run's config", "retry"),
        ("LR range test on run", "A new run: the loss over rising learning rates, and the LR it suggests", "lr_find"),
        ("Copy run to editor", "Edit a copy of the highlighted run's config", "copy_run"),
        ("Fork run", "A new run from the highlighted run's checkpoint, its config editable", "fork"),
        ("Prepared datasets", "Tokens, size and users of each prepared dataset; delete or prepare one", "datasets"),
        ("Sort runs", "Choose the column to sort by", "sort"),
        ("Filter runs", "Words, state:X, sweep:Y", "filter"),
    )

    def compose(self) -> ComposeResult:
        yield EngineBar("runs")
        yield RunTable(id="runs")
        yield Input(
            placeholder="filter: words  state:running  sweep:NAME   (enter keeps it, esc clears)",
            id="filter",
            compact=True,
        )
        yield Static("", id="runs-summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # The first frame first: see GptTuiApp.after_first_frame.
        self.call_after_refresh(self.start_watcher, RunsReader(self.app.store), REFRESH_S, self.store_changed)

    @property
    def table(self) -> RunTable:
        return self.query_one(RunTable)

    # -- reading (the watcher's thread) and showing ---------------------------------------
    def store_changed(self, items: list[dict[str, Row]]) -> None:
        self.table.show_rows(items[-1])  # each read is every run: the last one is enough
        self.show_summary()

    def show_summary(self) -> None:
        t = self.table
        parts = [f"{t.row_count} of {len(t.rows_by_id)} runs" if t.filter else f"{len(t.rows_by_id)} runs"]
        if selected := t.selected_shown:
            parts.append(f"{len(selected)} selected (u clears)")
        left, right = t.hidden_columns()
        if left:
            parts.append(f"← {left} column{'s' if left > 1 else ''}")
        if right:
            parts.append(f"{right} more column{'s' if right > 1 else ''} →")
        if t.order is not None:
            parts.append(f"sorted by {column(t.order[0]).title} {'↓' if t.order[1] else '↑'}")
        if t.filter:
            parts.append(f"filter: {self.query_one('#filter', Input).value}")
        if t.best:
            parts.append(f"★ best: {t.rows_by_id[t.best].name or t.best}")
        self.query_one("#runs-summary", Static).update(" · ".join(parts))

    # -- the highlighted run -----------------------------------------------------------
    def current(self) -> str | None:
        run_id = self.table.current_id
        if run_id is None:
            self.notify("no run here yet: press n for a new run", severity="warning")
        return run_id

    @on(DataTable.RowSelected, "#runs")
    def row_chosen(self, event: DataTable.RowSelected) -> None:
        self.app.open_monitor(event.row_key.value)

    @on(DataTable.HeaderSelected, "#runs")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        if event.column_key.value != "mark":
            self.table.sort_by(event.column_key.value)
            self.show_summary()

    def action_new_run(self) -> None:
        self.app.open_editor()

    def action_new_sweep(self) -> None:
        self.app.open_sweep()

    def action_copy_run(self) -> None:
        if run_id := self.current():
            try:
                cfg = cfgmod.load(self.app.store.config_path(run_id))
            except (cfgmod.ConfigError, st.StoreError) as e:
                self.notify(str(e), severity="error")
                return
            self.app.open_editor(cfg, origin=run_id)

    def action_fork(self) -> None:
        from tui.screens.fork import open_fork

        if run_id := self.current():
            open_fork(self.app, run_id)

    def action_datasets(self) -> None:
        from tui.screens.datasets import DatasetsScreen

        self.app.push_screen(DatasetsScreen())

    def action_monitor(self) -> None:
        if run_id := self.current():
            self.app.open_monitor(run_id)

    def action_sample(self) -> None:
        if run_id := self.current():
            self.app.open_sample(run_id)

    def action_select(self) -> None:
        if run_id := self.current():
            self.table.toggle_selected(run_id)
            self.table.action_cursor_down()
            self.show_summary()

    def action_clear_selection(self) -> None:
        self.table.clear_selection()
        self.show_summary()

    @on(RunTable.ColumnsShown, "#runs")
    def columns_shown(self) -> None:
        if self.table.rows_by_id:  # the summary says the store was read: not before it was
            self.show_summary()

    def action_compare(self) -> None:
        t = self.table
        wanted = set(t.selected_shown)
        if len(wanted) == 1 and t.current_id is not None:
            wanted.add(t.current_id)  # one selected and one highlighted: compare those two
        chosen = [run_id for run_id in t.shown_ids if run_id in wanted]
        if len(chosen) < 2:
            self.notify("select two or more runs with space, then press c", severity="warning")
            return
        self.app.open_compare(chosen)

    # -- acting on runs (small file writes, off the UI thread) --------------------------
    def action_stop(self) -> None:
        """A running run is asked first (stopping costs its progress since the last checkpoint), and
        so is a queued one; any other is told why there is nothing to stop."""
        from tui.screens.confirm import ConfirmScreen

        if (run_id := self.current()) is None:
            return
        row = self.table.rows_by_id[run_id]
        if row.state not in (st.RunState.RUNNING, st.RunState.QUEUED):
            self.act(control.stop, run_id)
            return
        name = label(row)
        question = (
            f"Stop {name}? It saves a checkpoint and ends as stopped; r resumes it."
            if row.state == st.RunState.RUNNING
            else f"Cancel {name}? It leaves the queue before it starts; r queues it again."
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.act(control.stop, run_id)

        verb = "stop" if row.state == st.RunState.RUNNING else "cancel run"
        self.app.push_screen(ConfirmScreen(question, verb), callback=confirmed)

    def action_resume(self) -> None:
        if run_id := self.current():
            self.act(control.resume, run_id, then_engine=True)

    def action_retry(self) -> None:
        if run_id := self.current():
            self.act(lambda store, rid: f"queued {control.retry(store, rid)}", run_id, then_engine=True)

    def action_lr_find(self) -> None:
        if run_id := self.current():
            self.act(queue_lrfind_of_run, run_id, then_engine=True)

    def action_delete(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        if run_id := self.current():

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.act(control.delete, run_id)

            self.app.push_screen(ConfirmScreen(f"Delete run {run_id} and all its files?", "delete"), callback=confirmed)

    def action_note(self) -> None:
        from tui.screens.note import NoteScreen

        if run_id := self.current():

            def noted(text: str | None) -> None:
                if text is not None:
                    self.act(lambda store, rid: control.set_note(store, rid, text), run_id)

            note = self.table.rows_by_id[run_id].note
            self.app.push_screen(NoteScreen(f"Note for {run_id}", note), callback=noted)

    @work(thread=True, group="control", exit_on_error=False)
    def act(self, fn: Callable[[st.Store, str], str], run_id: str, then_engine: bool = False) -> None:
        try:
            message = fn(self.app.store, run_id)
        except (control.ControlError, st.StoreError, cfgmod.ConfigError, OSError) as e:
            self.app.call_from_thread(self.notify, str(e), severity="warning", timeout=8)
            return
        self.app.call_from_thread(self.notify, f"{run_id}: {message}")
        if then_engine:
            self.app.call_from_thread(self.app.ensure_engine)
        if self.watcher is not None:
            self.watcher.poke()  # show what this action wrote now, not at the next tick

    # -- sorting and filtering ---------------------------------------------------------
    def action_sort(self) -> None:
        from tui.screens.sort import SortScreen

        def chosen(key: str | None) -> None:
            if key is not None:
                self.table.sort_by(key)
                self.show_summary()

        self.app.push_screen(SortScreen(self.table.order), callback=chosen)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-shown") or box.value:
            box.value = ""
            box.remove_class("-shown")
            self.table.focus()
        elif self.table.selected:
            self.action_clear_selection()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(parse_filter(event.value))
        self.show_summary()

    @on(Input.Submitted, "#filter")
    def filter_kept(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            box.remove_class("-shown")
        self.table.focus()
