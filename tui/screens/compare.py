"""Two or more runs side by side: val loss overlaid (by step or by tokens seen) and the
hyperparameters that differ between them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from tui.models.compare_model import CompareFeed, CompareUpdate, Curve, config_diff
from tui.screens.watched import WatchedScreen
from tui.widgets import EngineBar, Line, LineChart
from tui.widgets.charts import COLORS

POLL_S = 2.0


class CompareScreen(WatchedScreen):
    BINDINGS = [
        Binding("x", "toggle_axis", "step/tokens", tooltip="x axis: step, or tokens seen (fair across batch sizes)"),
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.by_tokens = False
        self.curves: dict[str, Curve] = {}
        self.configs: dict[str, dict] = {}
        self.diff: list[tuple[str, list[str]]] = []

    def compose(self) -> ComposeResult:
        yield EngineBar(f"compare {len(self.run_ids)} runs")
        yield Static("", id="compare-legend")
        yield LineChart("val loss", id="compare-chart")
        yield DataTable(id="diff", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.start_watcher(CompareFeed(self.app.store, self.run_ids), POLL_S, self.store_changed)

    def store_changed(self, items: list[CompareUpdate]) -> None:
        for update in items:
            if update.labels is not None:
                self.curves = {run_id: Curve(run_id, label) for run_id, label in update.labels.items()}
            if update.configs is not None:
                self.configs = update.configs
            for run_id, (reset, records) in update.records.items():
                if reset:
                    self.curves[run_id] = Curve(run_id, self.curves[run_id].label)
                self.curves[run_id].add(records)
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
        lines = [
            Line(c.label, getattr(c, x), c.val_loss, COLORS[i % len(COLORS)])
            for i, c in enumerate(self.curves.values())
        ]
        self.query_one("#compare-chart", LineChart).show(lines, "tokens seen" if self.by_tokens else "step")

    def action_toggle_axis(self) -> None:
        self.by_tokens = not self.by_tokens
        self.draw_chart()


def _rich_color(plotext_color: str) -> str:
    return {"orange": "dark_orange"}.get(plotext_color, plotext_color)
