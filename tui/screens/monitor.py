"""One run, live: loss, perplexity, learning rate, speed and memory charts, progress, its log."""

from __future__ import annotations

import math
import threading
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from engine.store import control
from engine.store import runs as st
from engine.core.estimate import human_bytes, human_count, human_seconds
from tui.models.runs_view import STATE_BADGES
from tui.models.series import RunSeries
from engine.store.tail import TextTail
from tui.widgets import EngineBar, ProgressLine, Readouts, RunCharts

POLL_S = 1.0


class MonitorScreen(Screen[None]):
    BINDINGS = [
        Binding("x", "toggle_axis", "step/tokens", tooltip="x axis: step, or tokens seen"),
        Binding("s", "stop", "stop", tooltip="stop the run (it checkpoints first)"),
        Binding("r", "resume", "resume", tooltip="queue the run again from its last checkpoint"),
        Binding("p", "sample", "sample", tooltip="text from the run's checkpoint"),
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    class Polled(Message):
        """New data waits in the screen's inbox; a burst of these is handled once."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MonitorScreen.Polled)

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.timer = None
        self.series = RunSeries()
        self.status: dict[str, Any] = {}
        self.polls = 0
        self._lock = threading.Lock()  # guards the inbox below and the tails
        self._inbox: list = []
        self._inbox_lines: list[str] = []
        self._inbox_status: dict[str, Any] | None = None
        self._inbox_reset = False

    def compose(self) -> ComposeResult:
        yield EngineBar("monitor")
        yield Static(self.run_id, id="run-title")
        yield ProgressLine(id="progress")
        yield Readouts(id="readouts")
        yield RunCharts(self.series, id="charts")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        store = self.app.store
        self.metrics = st.LogTail(store.metrics_path(self.run_id))
        self.log_tail = TextTail(store.worker_log(self.run_id))
        self._status_stamp: tuple | None = None
        self.poll()
        self.timer = self.set_interval(POLL_S, self.poll)

    def on_screen_suspend(self) -> None:
        if self.timer is not None:
            self.timer.pause()

    def on_screen_resume(self) -> None:
        if self.timer is not None:
            self.timer.resume()

    # -- reading (a thread; only new bytes) --------------------------------------------
    @work(thread=True, group="monitor-poll", exit_on_error=False)
    def poll(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            records = self.metrics.poll()
            reset = self.metrics.reset
            lines = self.log_tail.poll()
            status = self._read_status_if_changed()
            if reset:
                self._inbox.clear()
                self._inbox_reset = True
            self._inbox.extend(records)
            self._inbox_lines.extend(lines)
            if status is not None:
                self._inbox_status = status
            news = bool(records or lines or status is not None or reset)
        finally:
            self._lock.release()
        if news:
            self.post_message(self.Polled())

    def _read_status_if_changed(self) -> dict[str, Any] | None:
        path = self.app.store.status_path(self.run_id)
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._status_stamp:
            return None
        try:
            status = st.read_toml(path)
        except st.StoreError:
            return None
        self._status_stamp = stamp
        return status

    @on(Polled)
    def take_inbox(self) -> None:
        with self._lock:
            records, self._inbox = self._inbox, []
            lines, self._inbox_lines = self._inbox_lines, []
            status, self._inbox_status = self._inbox_status, None
            reset, self._inbox_reset = self._inbox_reset, False
        self.polls += 1
        if reset:
            self.series.clear()
        if status is not None:
            self.status = status
        self.series.add(records)
        if lines:
            self.query_one("#worker-log", Log).write_lines(lines)
        self.show_numbers()
        kinds = {"train", "eval"} if reset else {kind for kind, _ in records}
        charts = self.query_one(RunCharts)
        if kinds:
            charts.changed(kinds)
        if status is not None and status.get("state") not in ("running", "queued"):
            charts.draw(now=True)  # the run has ended: show its last records now, not when paced

    # -- showing -----------------------------------------------------------------------
    def show_numbers(self) -> None:
        s, train, evals = self.status, self.series.train.last, self.series.eval.last
        state = str(s.get("state", "?"))
        badge, style = STATE_BADGES.get(state, (state, ""))
        name = s.get("name") or ""
        device = s.get("device", "")
        _show(self.query_one("#run-title", Static),
              f"[{style}]{badge}[/]  [b]{name}[/] {self.run_id}" + (f"  [dim]on {device}[/]" if device else ""))
        step = max(self.series.step, int(s.get("step", 0) or 0))
        max_iters = int(s.get("max_iters", 0) or 0)
        eta = s.get("eta_s")
        if state == "running" and isinstance(eta, (int, float)):
            when = f"ETA {human_seconds(eta)}"
        elif isinstance(s.get("train_seconds"), (int, float)) and state != "running":
            when = f"{state} after {human_seconds(s['train_seconds'])}"
        else:
            when = state
        self.query_one(ProgressLine).set_progress(step, max_iters, f"step {step:,}/{max_iters:,}  {when}")
        values = {
            "loss": _fmt(train.get("loss"), ".4f"),
            "val": _fmt(evals.get("val_loss"), ".4f"),
            "best": _fmt(evals.get("best_val_loss", s.get("best_val_loss")), ".4f"),
            "PPL": _fmt(evals.get("val_ppl"), ".2f"),
            "tok/s": human_count(train["tokens_per_s"]) if "tokens_per_s" in train else "-",
            "lr": _fmt(train.get("lr"), ".2e"),
        }
        if "mfu" in train:
            values["MFU"] = _fmt(train["mfu"], ".1%")
        if "mem_allocated" in train:
            values["VRAM"] = human_bytes(train["mem_allocated"])
        elif "mem_rss" in train:
            values["RSS"] = human_bytes(train["mem_rss"])
        self.query_one(Readouts).set_values(values)

    # -- keys --------------------------------------------------------------------------
    def action_toggle_axis(self) -> None:
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
    return format(v, spec) if isinstance(v, (int, float)) and math.isfinite(v) else "-"
