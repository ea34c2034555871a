"""Two or more runs side by side: val loss overlaid (by step or by tokens seen) and the
hyperparameters that differ between them."""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engine.store import runs as st
from tui.models.compare_model import Curve, config_diff, read_configs
from tui.widgets import EngineBar, Line, LineChart
from tui.widgets.charts import COLORS

POLL_S = 2.0


class CompareScreen(Screen[None]):
    BINDINGS = [
        Binding("x", "toggle_axis", "step/tokens", tooltip="x axis: step, or tokens seen (fair across batch sizes)"),
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    class Read(Message):
        """Curves or configs changed; the screen takes them from its own fields."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CompareScreen.Read)

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.by_tokens = False
        self.curves: dict[str, Curve] = {}
        self.configs: dict[str, dict] = {}
        self.diff: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._tails: dict[str, st.LogTail] = {}

    def compose(self) -> ComposeResult:
        yield EngineBar(f"compare {len(self.run_ids)} runs")
        yield Static("", id="compare-legend")
        yield LineChart("val loss", id="compare-chart")
        yield DataTable(id="diff", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        store = self.app.store
        for run_id in self.run_ids:
            status = _status(store, run_id)
            self.curves[run_id] = Curve(run_id, status.get("name") or run_id[-12:])
            self._tails[run_id] = st.LogTail(store.metrics_path(run_id))
        self.poll(first=True)
        self.set_interval(POLL_S, self.poll)

    @work(thread=True, group="compare-poll", exit_on_error=False)
    def poll(self, first: bool = False) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            changed = first
            if first:
                self.configs = read_configs(self.app.store, self.run_ids)
            for run_id, tail in self._tails.items():
                records = tail.poll()
                if tail.reset:
                    self.curves[run_id] = Curve(run_id, self.curves[run_id].label)
                    changed = True
                changed |= self.curves[run_id].add(records)
        finally:
            self._lock.release()
        if changed:
            self.post_message(self.Read())

    @on(Read)
    def show(self) -> None:
        with self._lock:
            self.show_legend()
            self.show_diff()
            self.draw_chart()

    def show_legend(self) -> None:
        text = Text()
        for i, curve in enumerate(self.curves.values()):
            best = min(curve.val_loss) if curve.val_loss else None
            text.append("■ ", style=_rich_color(COLORS[i % len(COLORS)]))
            text.append(curve.label, style="bold")
            text.append(f"  best val {best:.4f}   " if best is not None else "  no eval yet   ", style="dim")
        self.query_one("#compare-legend", Static).update(text)

    def show_diff(self) -> None:
        diff = config_diff(self.configs)
        if diff == self.diff and self.query_one("#diff", DataTable).columns:
            return
        self.diff = diff
        table = self.query_one("#diff", DataTable)
        table.clear(columns=True)
        table.add_column("hyperparameter", key="field")
        for run_id in self.run_ids:
            table.add_column(self.curves[run_id].label, key=run_id)
        if not diff:
            table.add_row("(every hyperparameter is the same)", *[""] * len(self.run_ids))
        for name, values in diff:
            table.add_row(name, *values, key=name)

    def draw_chart(self) -> None:
        x = "tokens" if self.by_tokens else "steps"
        lines = [Line(c.label, getattr(c, x), c.val_loss, COLORS[i % len(COLORS)])
                 for i, c in enumerate(self.curves.values())]
        self.query_one("#compare-chart", LineChart).show(lines, "tokens seen" if self.by_tokens else "step")

    def action_toggle_axis(self) -> None:
        self.by_tokens = not self.by_tokens
        with self._lock:
            self.draw_chart()


def _status(store: st.Store, run_id: str) -> dict:
    try:
        return store.read_status(run_id)
    except st.StoreError:
        return {}


def _rich_color(plotext_color: str) -> str:
    return {"orange": "dark_orange"}.get(plotext_color, plotext_color)
