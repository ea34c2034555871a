"""The gpt-tui app: screens over one run store, the engine's state always in view, and an
engine started in the background when none is alive."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from engine.store import runs as st
from tui.models.engine_state import EngineState
from tui.palette import RunsProvider

if TYPE_CHECKING:
    from engine.core.config import RunConfig
    from tui.models.editor_model import Device

ENGINE_READ_S = 2.0


class GptTuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "gpt-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    # `q` quits only from screens with nothing to type into (runs, monitor, compare);
    # ctrl+q (Textual's own) quits from anywhere.
    BINDINGS = [Binding("question_mark", "help", "help")]
    COMMANDS = App.COMMANDS | {RunsProvider}  # a run by its name or the start of its id

    engine_state: reactive[EngineState] = reactive(EngineState)

    class EngineRead(Message):
        def __init__(self, state: EngineState) -> None:
            super().__init__()
            self.state = state

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, GptTuiApp.EngineRead)

    def __init__(self, store: st.Store | str | Path, start_engine: bool = True, device: Device | None = None) -> None:
        """`start_engine=False` never starts an engine (tests, and browsing a copied store);
        `device` fixes the device estimates are made for (else NVML, then this machine's CPU)."""
        super().__init__()
        self.store = store if isinstance(store, st.Store) else st.Store(store)
        self.start_engine = start_engine
        self.device = device
        self.engine_note = "" if start_engine else "not started"

    def get_default_screen(self) -> Screen:
        """The runs screen is the app's base screen: the first frame painted is the table."""
        from tui.screens.runs import RunsScreen

        return RunsScreen()

    def on_mount(self) -> None:
        self.call_after_refresh(self.after_first_frame)

    def after_first_frame(self) -> None:
        # Reading heartbeats, and maybe starting an engine, waits for the first frame: a thread
        # doing Python work holds the GIL the first paint needs.
        self.read_engine()
        self.set_interval(ENGINE_READ_S, self.read_engine)
        self.ensure_engine()

    # -- the engine --------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="engine-read", exit_on_error=False)
    def read_engine(self) -> None:
        from tui.models.engine_state import read_engine_state

        self.post_message(self.EngineRead(read_engine_state(self.store, self.engine_note)))

    @on(EngineRead)
    def show_engine(self, message: EngineRead) -> None:
        self.engine_state = message.state

    @work(thread=True, exclusive=True, group="engine-start", exit_on_error=False)
    def start_engine_now(self) -> None:
        from engine.serve import engines as eng

        self.engine_note = "starting"
        self.read_engine()
        try:
            info = eng.start_engine(self.store)
        except (st.StoreError, OSError) as e:
            self.engine_note = "could not start"
            self.call_from_thread(self.notify, str(e), title="engine", severity="error", timeout=10)
        else:
            self.engine_note = ""
            self.call_from_thread(self.notify, f"started an engine (pid {info.pid})", title="engine")
        self.read_engine()

    def ensure_engine(self) -> None:
        """Start an engine unless one is alive (or this app was told never to)."""
        if self.start_engine:
            self.run_worker(self._ensure_engine, thread=True, group="engine-check", exclusive=True, exit_on_error=False)

    def _ensure_engine(self) -> None:
        from engine.serve import engines as eng

        if eng.local_engine(self.store) is None:
            self.call_from_thread(self.start_engine_now)

    # -- screens -----------------------------------------------------------------------
    def open_editor(self, base: RunConfig | None = None, origin: str = "") -> None:
        from tui.screens.editor import EditorScreen

        self.push_screen(EditorScreen(base, origin), callback=self._after_editor)

    def _after_editor(self, queued: tuple[str, bool] | None) -> None:
        if queued is not None and queued[1]:
            self.open_monitor(queued[0])

    def open_monitor(self, run_id: str) -> None:
        from tui.screens.monitor import MonitorScreen

        self.push_screen(MonitorScreen(run_id))

    def open_compare(self, run_ids: list[str]) -> None:
        from tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_ids))

    def open_sample(self, run_id: str) -> None:
        from tui.screens.sample import SampleScreen

        self.push_screen(SampleScreen(run_id))

    def open_sweep(self) -> None:
        if importlib.util.find_spec("tui.screens.sweep") is None:
            self.notify("sweeps: not available yet", severity="warning")
            return
        module = importlib.import_module("tui.screens.sweep")
        self.push_screen(module.SweepScreen())

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(type(self.screen)))

    # -- the command palette -----------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Keys" (its help panel) would list a second "Keys" beside ours: ours wins.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        yield SystemCommand("New run", "Open the editor: every hyperparameter, live estimates", self.open_editor)
        yield SystemCommand("New sweep", "Open the sweep builder", self.open_sweep)
        yield SystemCommand("Keys", "Every key of every screen", self.action_help)
        yield SystemCommand("Start engine", "Start a background engine if none is alive", self.start_engine_now)
        runs = self._runs_screen()
        if runs is not None:
            for title, help, action in runs.COMMANDS_FOR_PALETTE:
                yield SystemCommand(title, help, getattr(runs, f"action_{action}"))

    def _runs_screen(self):
        from tui.screens.runs import RunsScreen

        return next((s for s in self.screen_stack if isinstance(s, RunsScreen)), None)

    # -- failures of any worker --------------------------------------------------------
    @on(Worker.StateChanged)
    def report_worker_error(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(
                f"{type(error).__name__}: {error}", title=event.worker.name or "error", severity="error", timeout=10
            )


def run_app(store_root: str | Path | None = None) -> int:
    """`gpt-tui` with no command: open the app on the store (default: $GPT_TUI_RUNS, ./runs), made
    if it is missing; a place that cannot hold one (a file, /proc) raises StorePlaceError first."""
    from engine.store import lookup

    store = lookup.checked_store(st.resolve_root(str(store_root) if store_root else None))
    store.ensure()
    GptTuiApp(store).run()
    return 0
