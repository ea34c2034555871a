"""Line charts drawn by plotext; they redraw only when handed new data."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual_plotext import PlotextPlot

from tui.models.axes import nice_ticks, tick_labels
from tui.models.series import points

COLORS = ("cyan", "orange", "green", "magenta", "yellow", "red", "blue", "white")


@dataclass(frozen=True)
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    color: str = ""
    yside: str = "left"
    scale: float = 1.0  # applied to the points drawn only, never to the whole series


class LineChart(PlotextPlot):
    """A titled chart of a few lines; `show()` replaces its data and asks for one redraw."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.lines: list[Line] = []
        self.render_seconds = 0.0  # the time spent drawing so far: callers pace themselves by it
        self._version = 0
        self._drawn: tuple[object, object] = (None, None)  # (what was drawn, the result)

    def render(self):
        """plotext builds the chart only when its data or size changed; a repaint for any other
        reason (a relayout, a toast going away) reuses the last picture."""
        key = (self._version, self.size, self.app.theme)
        if self._drawn[0] != key:
            started = time.perf_counter()
            try:
                picture = super().render()
            except (ArithmeticError, ValueError) as err:
                # points() keeps to what plotext can draw; should a stored value still defeat it,
                # this chart says so and the app goes on, rather than the app ending.
                picture = Text(f"{self.title}: cannot draw these values ({type(err).__name__}: {err})", style="red")
            self._drawn = (key, picture)
            self.render_seconds += time.perf_counter() - started
        return self._drawn[1]

    def show(self, lines: list[Line], xlabel: str = "", ceiling: float | None = None) -> None:
        """Draw `lines` against `xlabel`; `ceiling` is a red horizontal rule (a device's total)."""
        self.lines = lines
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        limit = min(160, max(40, 2 * self.size.width))  # finer than the grid shows is wasted work
        drawn = 0
        spans: dict[str, list[float]] = {"x": [], "left": [], "right": []}  # what each axis must show
        for i, line in enumerate(lines):
            xs, ys = points(line.xs, line.ys, limit, line.scale)
            if not xs:
                continue
            drawn += 1
            spans["x"] += (min(xs), max(xs))
            spans[line.yside] += (min(ys), max(ys))
            marker = "hd" if len(xs) > 1 else "o"
            plt.plot(
                xs,
                ys,
                label=line.label or None,
                color=line.color or COLORS[i % len(COLORS)],
                marker=marker,
                yside=line.yside,
            )
        if ceiling is not None and drawn:
            plt.hline(ceiling, "red")
            spans["left"].append(ceiling)
        if drawn:
            self._human_ticks(spans)
        if not drawn:
            plt.text("waiting for data", x=0.5, y=0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        plt.xlabel(xlabel)
        self._version += 1
        self.refresh()

    def _human_ticks(self, spans: dict[str, list[float]]) -> None:
        """Round ticks in human units (1.2M tokens, an LR of 3e-4) on every axis that has points."""
        width, height = self.size.width or 60, self.size.height or 15
        for axis, values in spans.items():
            if not values:
                continue
            count = max(2, min(6, width // 12)) if axis == "x" else max(2, min(5, (height - 4) // 2))
            ticks = nice_ticks(min(values), max(values), count)
            if axis == "x":
                self.plt.xticks(ticks, tick_labels(ticks))
            else:
                self.plt.yticks(ticks, tick_labels(ticks), yside=axis)
