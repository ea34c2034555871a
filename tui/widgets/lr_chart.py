"""The LR range test's chart: smoothed loss (raw loss dimmed) against the learning rate on a log
axis, with the two suggested rates marked; redrawn at most every DRAW_EVERY_S as records arrive."""

from __future__ import annotations

import math
import time

from engine.core import lrfind
from engine.store import runs as st
from tui.models import lr_series as lm
from tui.models.axes import nice_ticks, tick_labels
from tui.models.series import points
from tui.widgets.charts import Line, LineChart

DRAW_EVERY_S = 2.0  # a test logs every step: a redraw per batch of them is plenty, and plotext is dear
MARK_COLORS = ("green", "magenta")  # the suggested rate's mark first
RAW, SMOOTH = "gray", "cyan"
LEGEND_ROWS = 2.5  # the two marks' legend, and half a row between it and the curve


class LrChart(LineChart):
    """`marks` holds the (label, rate) pairs drawn, `lines` the curves: tests read what is shown.

    The x axis is log10 of the rate, drawn by hand rather than by plotext's log scale, so that the
    marks, the ticks and the window are all placed in one coordinate the code controls."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("loss vs learning rate (smoothed; raw dimmed)", id=id, classes=classes)
        self.marks: list[tuple[str, float]] = []
        self._drawn_at = 0.0
        self._pending = None
        self._latest: tuple[lm.LrSeries, st.Status] | None = None

    def follow(self, series: lm.LrSeries, status: st.Status, now: bool = False) -> None:
        """New points or a new status: draw them now, or once DRAW_EVERY_S has passed since the last draw."""
        self._latest = (series, status)
        wait = DRAW_EVERY_S - (time.monotonic() - self._drawn_at)
        if now or wait <= 0:
            self._draw_latest()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._draw_latest)

    def on_resize(self) -> None:
        if self._latest is not None:
            self._draw_latest()  # the ticks and the points kept are chosen for the chart's width

    def _draw_latest(self) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        if self._latest is not None:
            self._drawn_at = time.monotonic()
            self.show_test(*self._latest)

    def show_test(self, series: lm.LrSeries, status: st.Status) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        xs = [math.log10(x) if x > 0 else math.nan for x in series.lrs]
        rows = max((self.size.height or 15) - 5, 4)  # the plot's own rows: less the title and the x axis
        window = lm.loss_window(series, headroom=min(0.6, max(0.2, LEGEND_ROWS / (rows - LEGEND_ROWS))))
        rates = lm.lr_range(series, status)
        self.lines, self.marks = [], []
        if window is None or rates is None:
            plt.text("waiting for the first steps", x=0.5, y=0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        else:
            # A default test's every point (the first draw may come before the chart has its size).
            limit = min(600, max(lrfind.DEFAULT_STEPS, 2 * self.size.width))
            for name, ys, color in (("loss", series.losses, RAW), ("smoothed", series.smooths, SMOOTH)):
                px, py = points(xs, ys, limit)
                if px:  # unlabelled: the legend is the marks', and the title says which curve is which
                    plt.plot(px, py, color=color, marker="hd" if len(px) > 1 else "o")
                    self.lines.append(Line(name, px, py, color))
            self.marks = lm.marks(lm.suggestion(status))
            for (label, lr), color in zip(self.marks, MARK_COLORS):
                x = math.log10(lr)
                # A two-point line rather than plotext's vline: it takes a label into the legend.
                plt.plot([x, x], list(window), color=color, marker="hd", label=label)
            lo, hi = math.log10(rates[0]), math.log10(rates[1])
            plt.xlim(lo, hi)
            plt.ylim(*window)
            ticks, labels = lm.decade_ticks(rates[0], rates[1], max(2, (self.size.width or 60) // 8))
            plt.xticks(ticks, labels)
            self._loss_ticks(window)
        plt.xlabel("learning rate")
        self._version += 1
        self.refresh()

    def _loss_ticks(self, window: tuple[float, float]) -> None:
        count = max(2, min(5, ((self.size.height or 15) - 4) // 2))
        ticks = nice_ticks(*window, count)
        self.plt.yticks(ticks, tick_labels(ticks))
