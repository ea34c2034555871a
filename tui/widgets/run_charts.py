"""The monitor's five charts of one run. Each redraws only when its own data changed, and all of
them at most every CHART_EVERY_S, or less often when drawing them costs more than CHART_BUDGET
of a core: plotext is by far the dearest thing the monitor does, and the training it watches
should have the CPU."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Log

from tui.models.series import PLOT_LIMIT, RunSeries, as_float
from tui.widgets.charts import Line, LineChart
from tui.widgets.worker_log import WorkerLog

CHART_EVERY_S = 3.0
CHART_BUDGET = 0.005  # of one core, for plotext's part; Textual's compositing about doubles it
GIB, MIB = 2**30, 2**20
# which record kinds each chart draws from
SOURCES = {"loss": {"train", "eval"}, "ppl": {"eval"}, "lr": {"train"}, "speed": {"train"}, "memory": {"train"}}


class RunCharts(Grid):
    """Loss, val PPL, learning rate, speed (and MFU), memory; and the worker's log."""

    def __init__(self, series: RunSeries, **kwargs) -> None:
        super().__init__(**kwargs)
        self.series = series
        self.by_tokens = False
        self.dirty: set[str] = set(SOURCES)
        self._drawn_at = 0.0
        self._pending = None
        self._spent = 0.0  # render seconds of every chart, as of the last draw
        self.every_s = CHART_EVERY_S

    def compose(self) -> ComposeResult:
        yield LineChart("loss", id="chart-loss")
        yield LineChart("val perplexity", id="chart-ppl")
        yield LineChart("learning rate", id="chart-lr")
        yield LineChart("tokens/s", id="chart-speed")
        yield LineChart("memory", id="chart-memory")
        yield WorkerLog(max_lines=400, id="worker-log")  # long lines wrapped

    def on_mount(self) -> None:
        self.query_one(Log).border_title = "worker.log"
        self.draw(now=True)  # "waiting for data" until the first records
        self._drawn_at = 0.0  # and those are drawn as soon as they come

    def changed(self, kinds: set[str]) -> None:
        """New records of these kinds ("train", "eval") arrived: redraw what shows them, soon."""
        self.dirty |= {chart for chart, sources in SOURCES.items() if sources & kinds}
        self.draw()

    def toggle_axis(self) -> bool:
        self.by_tokens = not self.by_tokens
        self.dirty = set(SOURCES)
        self.draw(now=True)
        return self.by_tokens

    def draw(self, now: bool = False) -> None:
        if not self.dirty:
            return
        wait = self.every_s - (time.monotonic() - self._drawn_at)
        if wait > 0 and not now:
            if self._pending is None:
                self._pending = self.set_timer(wait, self._draw_pending)
            return
        spent = sum(chart.render_seconds for chart in self.query(LineChart))
        self.every_s = max(CHART_EVERY_S, (spent - self._spent) / CHART_BUDGET)
        self._spent = spent
        self._drawn_at = time.monotonic()
        for chart in list(self.dirty):
            getattr(self, f"_draw_{chart}")(self.query_one(f"#chart-{chart}", LineChart))
        self.dirty.clear()

    def _draw_pending(self) -> None:
        self._pending = None
        self.draw()

    # -- one method per chart ----------------------------------------------------------
    @property
    def xlabel(self) -> str:
        return "tokens seen" if self.by_tokens else "step"

    def _x(self, table) -> list[float]:
        return table.get("tokens" if self.by_tokens else "step")

    def _draw_loss(self, chart: LineChart) -> None:
        train, evals = self.series.train, self.series.eval
        chart.show(
            [Line("train", self._x(train), train.get("loss")), Line("val", self._x(evals), evals.get("val_loss"))],
            self.xlabel,
        )

    def _draw_ppl(self, chart: LineChart) -> None:
        evals = self.series.eval
        chart.show([Line("", self._x(evals), evals.get("val_ppl"), "orange")], self.xlabel)

    def _draw_lr(self, chart: LineChart) -> None:
        train = self.series.train
        chart.show([Line("", self._x(train), train.get("lr"), "green")], self.xlabel)

    def _draw_speed(self, chart: LineChart) -> None:
        train = self.series.train
        lines = [Line("tok/s" if train.has("mfu") else "", self._x(train), train.get("tokens_per_s"), "cyan")]
        if train.has("mfu"):
            chart.title = "tokens/s and MFU (%)"
            lines.append(Line("MFU %", self._x(train), train.get("mfu"), "magenta", "right", scale=100))
        chart.show(lines, self.xlabel)

    def _draw_memory(self, chart: LineChart) -> None:
        train = self.series.train
        if train.has("mem_allocated"):
            total = as_float(train.last.get("mem_device_total"))  # as the record says: any value at all
            total = total if total is not None and 0 < total < PLOT_LIMIT else None
            chart.title = "VRAM (GiB)" + (f" of {total / GIB:.0f} GiB" if total else "")
            chart.show(
                [
                    Line(key.removeprefix("mem_"), self._x(train), train.get(key), scale=1 / GIB)
                    for key in ("mem_allocated", "mem_reserved", "mem_peak")
                ],
                self.xlabel,
                ceiling=total / GIB if total else None,
            )
        else:
            chart.title = "process memory (CPU), MiB"
            chart.show([Line("", self._x(train), train.get("mem_rss"), "yellow", scale=1 / MIB)], self.xlabel)
