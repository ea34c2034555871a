"""A run's metrics as columns, grown by the records a LogTail hands over, ready to plot."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

NAN = float("nan")


class Table:
    """Columns of one record kind ([[train]] or [[eval]]); a key first seen late is back-filled."""

    def __init__(self) -> None:
        self.columns: dict[str, list[float]] = {}
        self.rows = 0
        self.last: dict[str, Any] = {}

    def append(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            col = self.columns.get(key)
            if col is None:
                col = self.columns[key] = [NAN] * self.rows
            col.append(float(value))
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

    def add(self, records: Iterable[tuple[str, dict[str, Any]]]) -> bool:
        """Take new records; True when any was for a table we plot."""
        changed = False
        for table, record in records:
            if table == "train":
                self.train.append(record)
                changed = True
            elif table == "eval":
                self.eval.append(record)
                changed = True
        return changed

    def clear(self) -> None:
        self.__init__()

    @property
    def step(self) -> int:
        steps = [t.last.get("step") for t in (self.train, self.eval) if t.last]
        return int(max(steps)) if steps else 0


def points(xs: list[float], ys: list[float], limit: int = 240, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """At most about `limit` finite (x, y * scale) pairs, evenly strided with the last point
    kept. A chart a few dozen cells wide shows no more, and both the stride (a C-speed slice)
    and plotting then cost by the points drawn, not by the length of the run."""
    n = min(len(xs), len(ys))
    if n == 0:
        return [], []
    stride = max(1, math.ceil(n / limit))
    sx, sy = xs[n - 1 :: -stride][::-1], ys[n - 1 :: -stride][::-1]
    pairs = [(x, y * scale) for x, y in zip(sx, sy) if math.isfinite(x) and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]
