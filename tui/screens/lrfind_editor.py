"""The editor's LR range test (ctrl+l): queue one on the config being edited, follow it on a line of
the editor, and once it is done offer to set learning_rate and min_lr to what it found."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.timer import Timer
from textual.widgets import Input, Static

from engine.core import config as cfgmod
from engine.store import runs as st
from tui.models import editor_model as em
from tui.models import lrfind_queue as lq

POLL_S = 1.0  # status.toml alone is read: a small file, replaced whole by the worker


class LrFindInEditor:
    """Mixed into EditorScreen, which lists ctrl+l in its BINDINGS and composes #lrfind-line; it
    gives this its form: validate(), config, problems, rows, origin."""

    lrfind_run: str | None = None
    lrfind_config: cfgmod.RunConfig | None = None  # the config the test runs on
    lrfind_timer: Timer | None = None

    def action_lr_find(self) -> None:
        if self.lrfind_run is not None and self.lrfind_timer is not None:
            self.notify(f"an LR range test is under way already: {self.lrfind_run}", severity="warning")
            return
        self.validate()
        if self.problems or self.config is None:  # checked as ctrl+s checks it
            first = next(iter(self.problems))
            self.notify(f"no LR range test: {first}: {self.problems[first][0]}", severity="error")
            if first in self.rows:
                self.query_one(f"#f-{first}").focus()
            return
        name = self.query_one("#run-name", Input).value.strip() or None
        self.submit_lrfind(self.config, name)

    @work(thread=True, group="lrfind", exit_on_error=False)
    def submit_lrfind(self, cfg: cfgmod.RunConfig, name: str | None) -> None:
        problem = em.dataset_problem(cfg.dataset, cfg.text_field)  # as ctrl+s asks it: a worker would fail on it later
        if problem is not None:
            self.app.call_from_thread(self.notify, f"no LR range test: dataset: {problem}", severity="error")
            return
        source = f"tui editor (from {self.origin})" if self.origin else "tui editor"
        run_id = lq.queue_lrfind(self.app.store, cfg, name, source)
        self.app.call_from_thread(self.lrfind_queued, run_id, cfg)

    def lrfind_queued(self, run_id: str, cfg: cfgmod.RunConfig) -> None:
        self.notify(f"queued an LR range test of {lq.steps_for(cfg.max_iters)} steps: {run_id}")
        self.app.ensure_engine()
        self.lrfind_run, self.lrfind_config = run_id, cfg
        self.show_lrfind("LR find: queued, waiting for the engine")
        self.lrfind_timer = self.set_interval(POLL_S, self.read_lrfind)

    @work(thread=True, exclusive=True, group="lrfind-read", exit_on_error=False)
    def read_lrfind(self) -> None:
        run_id = self.lrfind_run
        if run_id is None:
            return
        try:
            status = self.app.store.status(run_id)
        except st.StoreError:
            return  # replaced whole: a moment between versions, or deleted (the line keeps what it said)
        self.app.call_from_thread(self.lrfind_read, run_id, status)

    def lrfind_read(self, run_id: str, status: st.Status) -> None:
        if run_id != self.lrfind_run or self.lrfind_timer is None:
            return  # a read that was under way when the test ended
        self.show_lrfind(lq.progress_text(status))
        if not status.settled:
            return
        self.lrfind_timer.stop()
        self.lrfind_timer = None
        # The ratio to keep is the form's as it is now; while it does not parse, the tested config's.
        found = lq.offer(status, self.config or self.lrfind_config)
        if found is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.rows["learning_rate"].set_text(found.learning_rate)
                self.rows["min_lr"].set_text(found.min_lr)
                self.notify(f"learning_rate {found.learning_rate}, min_lr {found.min_lr}")

        from tui.screens.confirm import ConfirmScreen

        self.app.push_screen(ConfirmScreen(found.question(), "set both"), callback=answered)

    def show_lrfind(self, text: str) -> None:
        line = self.query_one("#lrfind-line", Static)
        line.update(Text(text))  # never markup: a failed test's reason is anyone's text
        line.add_class("-shown")
