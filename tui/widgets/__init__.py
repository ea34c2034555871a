"""Reusable widgets. The chart widgets are loaded on first use: plotext takes a while to import,
and the runs screen, which opens first, draws no chart."""

from __future__ import annotations

from typing import Any

from tui.widgets.engine_bar import EngineBar
from tui.widgets.estimates import EstimatePanel
from tui.widgets.field_row import FieldRow
from tui.widgets.progress_line import ProgressLine
from tui.widgets.readouts import Readouts
from tui.widgets.run_table import RunTable

__all__ = [
    "EngineBar",
    "EstimatePanel",
    "FieldRow",
    "Line",
    "LineChart",
    "ProgressLine",
    "Readouts",
    "RunCharts",
    "RunTable",
]
_LAZY = {"LineChart": "charts", "Line": "charts", "RunCharts": "run_charts"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"tui.widgets.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
