"""A run's metrics as columns, grown by the records a LogTail hands over, ready to plot."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from engine.store import runs as st

NAN = float("nan")
# plotext scales a point by 1e8 and floors it: near float's limit that overflows and the chart (and
# with it the app) raises. Points are clamped to this; no loss or rate of a real run comes near it.
PLOT_LIMIT = 1e15
MAX_STEP = 2**62  # the store schema's bound on a step


def as_float(value: Any) -> float | None:
    """A stored number as a float (an integer past float's range as an infinity); None for anything
    else (a string, a bool, a table in a hand-edited record)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


class Table:
    """Columns of one record kind ([[train]] or [[eval]]); a key first seen late is back-filled."""

    def __init__(self) -> None:
        self.columns: dict[str, list[float]] = {}
        self.rows = 0
        self.last: dict[str, Any] = {}

    def append(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            number = as_float(value)
            if number is None:
                continue
            col = self.columns.get(key)
            if col is None:
                col = self.columns[key] = [NAN] * self.rows
            col.append(number)
        self.rows += 1
        for col in self.columns.values():
            if len(col) < self.rows:
                col.append(NAN)
        self.last = record

    def get(self, key: str) -> list[float]:
        return self.columns.get(key, [])

    def has(self, key: str) -> bool:
        return any(not math.isnan(v) for v in self.columns.get(key, ()))


class RunSeries:
    """Everything a run has logged so far, split by kind."""

    def __init__(self) -> None:
        self.train = Table()
        self.eval = Table()

    def add(self, records: Iterable[st.MetricsRecord]) -> bool:
        """Take new records (typed, so each is a [[train]] or an [[eval]] one); True when any came."""
        changed = False
        for record in records:
            # A column per field, the unknown ones too: a newer writer's readings are plotted as well.
            (self.train if isinstance(record, st.TrainRecord) else self.eval).append(record.to_toml())
            changed = True
        return changed

    def clear(self) -> None:
        self.__init__()

    @property
    def step(self) -> int:
        """The last step logged; a step that is no whole number from 0 to MAX_STEP is not counted."""
        steps = [as_float(t.last.get("step")) for t in (self.train, self.eval) if t.last]
        return int(max((s for s in steps if s is not None and 0 <= s <= MAX_STEP), default=0))


def points(xs: list[float], ys: list[float], limit: int = 240, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """At most about `limit` finite (x, y * scale) pairs, evenly strided with the last point
    kept. A chart a few dozen cells wide shows no more, and both the stride (a C-speed slice)
    and plotting then cost by the points drawn, not by the length of the run. Values past
    PLOT_LIMIT are clamped to it: drawn at the chart's edge, where plotext can place them."""
    n = min(len(xs), len(ys))
    if n == 0:
        return [], []
    stride = max(1, math.ceil(n / limit))
    sx, sy = xs[n - 1 :: -stride][::-1], ys[n - 1 :: -stride][::-1]
    pairs = [(_clamp(x), _clamp(y * scale)) for x, y in zip(sx, sy) if math.isfinite(x) and math.isfinite(y * scale)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _clamp(v: float) -> float:
    return max(-PLOT_LIMIT, min(PLOT_LIMIT, v))
