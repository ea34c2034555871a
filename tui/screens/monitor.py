"""One run, live: loss, perplexity, learning rate, speed and memory charts, progress, its log; for an
LR range test, its loss against the learning rate and the rates it suggests."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Log, Static

from engine.core.text import printable
from engine.core.units import shown, shown_bytes, shown_count, shown_seconds
from engine.store import control
from engine.store import runs as st
from engine.store.table import mean_tokens_per_s
from tui.models import lr_series as lm
from tui.models.lineage import fork_caption
from tui.models.run_feed import RunFeed, RunUpdate
from tui.models.runs_view import STATE_BADGES
from tui.models.series import RunSeries
from tui.screens.watched import WatchedScreen
from tui.widgets import EngineBar, ProgressLine, Readouts, RunCharts
from tui.widgets.lr_chart import LrChart

POLL_S = 1.0
# How the line that says why a run ended is coloured: a failure red, a decision (a stop, a prune) yellow.
REASON_STYLES = {
    st.RunState.FAILED: "bold red",
    st.RunState.OOM: "bold red",
    st.RunState.DIVERGED: "bold red",
    st.RunState.PRUNED: "bold yellow",
    st.RunState.STOPPED: "bold yellow",
}


class MonitorScreen(WatchedScreen):
    BINDINGS = [
        Binding("x", "toggle_axis", "step/tokens", tooltip="x axis: step, or tokens seen"),
        Binding("s", "stop", "stop", tooltip="stop the run (it checkpoints first)"),
        Binding("r", "resume", "resume", tooltip="queue the run again from its last checkpoint"),
        Binding("p", "sample", "sample", tooltip="text from the run's checkpoint"),
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.series = RunSeries()
        self.lr_series = lm.LrSeries()  # an LR range test's points; its kind is known once status.toml is read
        self.status = st.Status(st.RunState.QUEUED)  # until status.toml is read

    def compose(self) -> ComposeResult:
        yield EngineBar("monitor")
        yield Static(self.run_id, id="run-title")
        yield Static("", id="run-reason")  # why the run ended (status.reason), when it says
        yield ProgressLine(id="progress")
        yield Readouts(id="readouts")
        yield LrChart(id="lr-chart")  # shown for an LR range test only (the -lrfind class), with the log
        yield RunCharts(self.series, id="charts")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.start_watcher(RunFeed(self.app.store, self.run_id), POLL_S, self.store_changed)

    def store_changed(self, items: list[RunUpdate]) -> None:
        kinds: set[str] = set()
        lines: list[str] = []
        ended = False
        for update in items:
            if update.reset:
                self.series.clear()
                self.lr_series.clear()
                kinds |= {"train", "eval", "lr"}
            if update.status is not None:
                self.status = update.status
                ended = update.status.state not in st.ACTIVE
            for problem in update.problems:
                self.notify(problem, title="reading the run", severity="error", timeout=10)
            self.series.add(update.records)
            kinds |= {record.TABLE for record in update.records}
            if self.lr_series.add(update.lr):
                kinds.add("lr")
            lines += update.lines
        if lines:
            self.query_one("#worker-log", Log).write_lines(lines)
        self.show_numbers()
        if lm.is_lrfind(self.status):
            self.show_lrfind(kinds, ended)
            return
        charts = self.query_one(RunCharts)
        if kinds:
            charts.changed(kinds)
        if ended:
            charts.draw(now=True)  # the run has ended: show its last records now, not when paced

    # -- showing -----------------------------------------------------------------------
    def show_lrfind(self, kinds: set[str], ended: bool) -> None:
        if not self.has_class("-lrfind"):
            self.add_class("-lrfind")
            ended = True  # the chart's first draw: at once, with the test's whole range
        if "lr" in kinds or ended:
            self.query_one(LrChart).follow(self.lr_series, self.status, now=ended)

    def show_numbers(self) -> None:
        s, train, evals = self.status, self.series.train.last, self.series.eval.last
        state = s.state
        badge, style = STATE_BADGES.get(state, (state, ""))
        name, device = s.name, s.device
        _show(
            self.query_one("#run-title", Static),
            f"[{style}]{badge}[/]  [b]{name}[/] {self.run_id}"
            + (f"  [dim]on {device}[/]" if device else "")
            + fork_caption(s),  # its curves begin with the parent's
        )
        lrfind = lm.is_lrfind(s)
        step = lm.steps_done(self.lr_series, s) if lrfind else max(self.series.step, s.step)
        max_iters = lm.total_steps(self.lr_series, s) if lrfind else s.max_iters
        if state == st.RunState.RUNNING and s.eta_s is not None:
            when = f"ETA {shown_seconds(s.eta_s)}"
        elif s.train_seconds and state != st.RunState.RUNNING:
            when = f"{state} after {shown_seconds(s.train_seconds)}"
        else:
            when = state
        caption = f"step {step:,}/{max_iters:,}  {when}"
        self.query_one(ProgressLine).set_progress(step, max_iters, f"lr-find  {caption}" if lrfind else caption)
        self.show_reason()
        if lrfind:
            self.query_one(Readouts).set_values(lm.readouts(self.lr_series, s))
            return
        values = {
            "loss": _fmt(train.get("loss"), ".4f"),
            "val": _fmt(evals.get("val_loss"), ".4f"),
            "best": _fmt(evals.get("best_val_loss", s.best_val_loss), ".4f"),
            "PPL": _fmt(evals.get("val_ppl"), ".2f"),
            "tok/s": shown_count(train.get("tokens_per_s")),  # live: the last logged
            "mean tok/s": shown_count(mean_tokens_per_s(s)),  # the run's: tokens over training seconds
            "lr": _fmt(train.get("lr"), ".2e"),
        }
        if "mfu" in train:
            values["MFU"] = _fmt(train["mfu"], ".1%")
        if "mem_allocated" in train:
            values["VRAM"] = shown_bytes(train["mem_allocated"])
        elif "mem_rss" in train:
            values["RSS"] = shown_bytes(train["mem_rss"])
        self.query_one(Readouts).set_values(values)

    def show_reason(self) -> None:
        """The status's reason, on a line of its own that wraps: a failure's message can be long."""
        widget = self.query_one("#run-reason", Static)
        reason = printable(self.status.reason.strip())  # anyone may have written it: shown, never obeyed
        state = self.status.state
        shown = (state, reason)
        if getattr(widget, "shown", None) == shown:
            return
        widget.shown = shown
        widget.display = bool(reason)
        widget.update(Text.assemble((f"{state}: ", REASON_STYLES.get(state, "bold")), reason))

    # -- keys --------------------------------------------------------------------------
    def action_toggle_axis(self) -> None:
        if lm.is_lrfind(self.status):
            self.notify("an LR range test is drawn against the learning rate alone", timeout=3)
            return
        by_tokens = self.query_one(RunCharts).toggle_axis()
        self.notify(f"x axis: {'tokens seen' if by_tokens else 'step'}", timeout=2)

    def action_stop(self) -> None:
        self.act(control.stop)

    def action_resume(self) -> None:
        self.act(control.resume, then_engine=True)

    def action_sample(self) -> None:
        self.app.open_sample(self.run_id)

    @work(thread=True, group="control", exit_on_error=False)
    def act(self, fn, then_engine: bool = False) -> None:
        try:
            message = fn(self.app.store, self.run_id)
        except (control.ControlError, st.StoreError) as e:
            self.app.call_from_thread(self.notify, str(e), severity="warning", timeout=8)
            return
        self.app.call_from_thread(self.notify, message)
        if then_engine:
            self.app.call_from_thread(self.app.ensure_engine)


def _show(widget: Static, markup: str) -> None:
    """One-line fields: repaint only on a change, and never ask for a new layout."""
    if getattr(widget, "shown", None) != markup:
        widget.shown = markup
        widget.update(markup, layout=False)


def _fmt(v: Any, spec: str) -> str:
    """A logged number as a person reads it, however large ("1e+308", "inf"); "-" when there is none."""
    return shown(v, spec)
