"""A one-line progress bar with its caption ("step 250/800  ETA 3m32s"), drawn only on change.

Textual's ProgressBar redraws itself every second for its own ETA (and animates while the total
is unknown); the monitor already knows the run's ETA from status.toml, and a widget that repaints
for nothing costs the CPU the training it watches should have."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

BAR_WIDTH = 32


class ProgressLine(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fraction: float | None = None
        self.caption = ""

    def set_progress(self, done: int, total: int, caption: str) -> None:
        fraction = min(1.0, done / total) if total else None
        if (fraction, caption) == (self.fraction, self.caption):
            return
        self.fraction, self.caption = fraction, caption
        text = Text()
        if fraction is None:
            text.append("━" * BAR_WIDTH, style="dim")
            text.append("    ")
        else:
            filled = round(fraction * BAR_WIDTH)
            text.append("━" * filled, style="bold green")
            text.append("━" * (BAR_WIDTH - filled), style="dim")
            text.append(f" {fraction:4.0%}")
        text.append(f"  {caption}")
        self.update(text, layout=False)
