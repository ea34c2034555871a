"""A fork of a run: the editor, prefilled with the run's config, its checkpoint-fixed fields locked
with why, a checkpoint to start from and a fresh-optimizer switch; ctrl+s queues the fork."""

from __future__ import annotations

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.core import config as cfgmod
from engine.core.forking import FIXED_FIELDS
from engine.store import fork as forking
from engine.store import runs as st
from tui.models import fork_form as ff
from tui.screens.editor import EditorScreen
from tui.widgets import EngineBar


class ForkScreen(EditorScreen):
    """Dismissed with (the fork's run id, watch it) once queued, or None when left."""

    BINDINGS = [
        Binding("ctrl+s", "queue(False)", "queue fork", priority=True, tooltip="queue the fork; an engine starts it"),
        Binding("ctrl+t", "queue(True)", "queue & watch", priority=True, tooltip="queue the fork, open its monitor"),
        Binding("escape", "leave", "back"),
    ]

    def __init__(self, start: ff.ForkStart) -> None:
        super().__init__(start.config, origin=start.parent)
        self.start = start
        self.choice = start.choices[0]
        self.fresh_optimizer = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The editor's LR range test trains the config from scratch: it says nothing of a checkpoint.
        return action != "lr_find" and super().check_action(action, parameters)

    def compose_head(self) -> ComposeResult:
        with Horizontal(classes="side-line"):
            yield Label("name", classes="side-label")
            default = f"{self.start.parent_name}-fork" if self.start.parent_name else "fork"
            yield Input(placeholder=f"optional (default {default})", id="run-name", compact=True)
        with Horizontal(classes="side-line"):
            yield Label("from", classes="side-label")
            yield Select(
                [(c.label, c.source) for c in self.start.choices],
                value=self.choice.source,
                allow_blank=False,
                compact=True,
                id="fork-from",
                tooltip="the parent's checkpoint the fork starts from",
            )
        with Horizontal(classes="side-line"):
            yield Checkbox(
                "fresh optimizer",
                compact=True,
                id="fresh-optimizer",
                tooltip="new AdamW moments: only the weights come from the checkpoint",
            )

    def on_mount(self) -> None:
        super().on_mount()
        for name, why in FIXED_FIELDS.items():
            row = self.rows[name]
            row.input.disabled = True  # a checkpoint's tensors fix it: it cannot be typed over
            row.input.tooltip = f"fixed by the checkpoint: {why}"
            row.add_class("-fixed")
            row.mount(Static(f"fixed: {why}", classes="field-fixed", markup=False))
        self.show_title()

    def show_title(self) -> None:
        bar = self.query_one(EngineBar)
        bar.title = self.start.title(self.choice)
        bar.show_state(self.app.engine_state)

    @on(Select.Changed, "#fork-from")
    def source_chosen(self, event: Select.Changed) -> None:
        chosen = next((c for c in self.start.choices if c.source == event.value), None)
        if chosen is not None and chosen != self.choice:
            self.choice = chosen
            self.show_title()
            self.validate(estimate=False)  # max_iters must be above the new checkpoint's step

    @on(Checkbox.Changed, "#fresh-optimizer")
    def fresh_toggled(self, event: Checkbox.Changed) -> None:
        self.fresh_optimizer = event.value

    def more_problems(self, cfg: cfgmod.RunConfig) -> dict[str, list[str]]:
        """What a fork may not do, told as you type (plan_fork says it again at queue time)."""
        return ff.form_problems(self.start.config, cfg, self.choice.step)

    # -- queueing: plan_fork decides, off the UI thread --------------------------------
    @work(thread=True, group="submit", exit_on_error=False)
    def submit(self, cfg: cfgmod.RunConfig, name: str | None, watch: bool) -> None:
        store, parent = self.app.store, self.start.parent
        try:
            plan = forking.plan_fork(store, parent, self.choice.source, cfg)
            run_id = forking.fork(store, plan, name, fresh_optimizer=self.fresh_optimizer, source="tui fork")
        except cfgmod.ConfigError as e:
            self.app.call_from_thread(self.refused, ff.problems_by_field(e))
        except (forking.ForkError, st.StoreError, OSError) as e:
            self.app.call_from_thread(self.notify, f"not queued: {e}", severity="error", timeout=10)
        else:
            self.app.call_from_thread(self.forked, run_id, plan.message, watch)

    def refused(self, problems: dict[str, list[str]]) -> None:
        """plan_fork's problems by their fields, until the next keystroke checks the form again."""
        for name, messages in problems.items():
            if name in self.rows:
                self.rows[name].show_problems(messages)
        first = next(iter(problems))
        self.notify(f"not queued: {first}: {problems[first][0]}", severity="error", timeout=10)

    def forked(self, run_id: str, message: str, watch: bool) -> None:
        self.notify(f"queued fork {run_id}" + (f"\n{message}" if message else ""))
        self.app.ensure_engine()
        self.dismiss((run_id, watch))


def open_fork(app: App, run_id: str) -> None:
    """Read what `run_id` can be forked from (off the UI thread), then open the fork editor; a run
    that cannot be forked says why in a toast, and nothing opens."""

    def read() -> None:
        try:
            start = ff.prepare(app.store, run_id)
        except (forking.ForkError, cfgmod.ConfigError, st.StoreError, OSError) as e:
            app.call_from_thread(app.notify, f"cannot fork: {e}", severity="warning", timeout=10)
            return
        app.call_from_thread(lambda: app.push_screen(ForkScreen(start), opened))  # made on the UI thread

    def opened(queued: tuple[str, bool] | None) -> None:
        if queued is not None and queued[1]:
            app.open_monitor(queued[0])

    app.run_worker(read, thread=True, group="fork", exclusive=True, exit_on_error=False)
