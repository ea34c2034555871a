"""An LR range test as the monitor shows it: its points as they arrive, the rates it suggests, the
chart's window and ticks, and its readouts. No Textual."""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.core import lrfind
from engine.core.units import shown
from engine.store import runs as st
from engine.store.columns import lr_text
from engine.store.records import LrRecord
from engine.store.schema import KIND_LRFIND
from tui.models.series import PLOT_LIMIT


class LrSeries:
    """Every [[lr]] record so far, as columns; the non-finite losses of a blow-up are kept (not drawn)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smooths: list[float] = []

    def add(self, records: Iterable[LrRecord]) -> bool:
        """Take new records; True when any came."""
        came = False
        for r in records:
            self.steps.append(r.step)
            self.lrs.append(r.lr)
            self.losses.append(math.nan if r.loss is None else r.loss)
            self.smooths.append(math.nan if r.smooth is None else r.smooth)
            came = True
        return came

    def clear(self) -> None:
        self.__init__()

    def __len__(self) -> int:
        return len(self.steps)

    def last(self, column: list[float]) -> float | None:
        return column[-1] if column else None


def is_lrfind(status: st.Status) -> bool:
    return status.kind == KIND_LRFIND


def suggestion(status: st.Status) -> lrfind.Suggestion:
    """What the worker found, once it has written it. Nothing before: mid-test the lowest loss is the
    latest point, so a minimum / 10 of the points so far would only chase the curve."""
    return lrfind.Suggestion(status.lr_steepest, status.lr_min_div10, status.lr_suggested)


def marks(found: lrfind.Suggestion) -> list[tuple[str, float]]:
    """The vertical marks on the chart: (label, learning rate), the suggested one first."""
    out = [
        (f"steepest {lr_text(found.steepest)}", found.steepest),
        (f"min/10 {lr_text(found.min_div10)}", found.min_div10),
    ]
    out = [(label, lr) for label, lr in out if lr is not None and lr > 0 and math.isfinite(lr)]
    return sorted(out, key=lambda m: m[1] != found.suggested)


def loss_window(series: LrSeries, headroom: float = 0.3) -> tuple[float, float] | None:
    """The losses the chart shows: from the lowest point up to the highest smoothed loss before the
    minimum (the start's plateau), and `headroom` of that span above it, where the legend sits. The
    blow-up past the minimum runs off the top, as it should: it would squash the part that matters."""
    smooth = [s for s in series.smooths if math.isfinite(s)]
    if not smooth:
        return None
    lowest = min(range(len(series.smooths)), key=lambda i: _or_inf(series.smooths[i]))
    top = max(s for s in series.smooths[: lowest + 1] if math.isfinite(s))
    bottom = min([*smooth, *(x for x in series.losses if math.isfinite(x))])
    span = max(top - bottom, abs(top) * 0.05, 1e-6)
    # Within what plotext can scale (tui.models.series.PLOT_LIMIT): a hand-written log may hold 1e300.
    lo, hi = max(-PLOT_LIMIT, bottom - span * 0.05), min(PLOT_LIMIT, top + span * headroom)
    return (lo, hi) if lo < hi else None


def _or_inf(v: float) -> float:
    return v if math.isfinite(v) else math.inf


def lr_range(series: LrSeries, status: st.Status) -> tuple[float, float] | None:
    """The learning rates on the x axis: the test's whole range once known, so the curve grows
    across a fixed chart; else the rates logged so far."""
    lo, hi = status.lrfind_min, status.lrfind_max
    if lo and hi and 0 < lo < hi:
        return lo, hi
    rates = [x for x in series.lrs if x > 0]
    if not rates:
        return None
    lo, hi = min(rates), max(rates)
    return (lo, hi) if lo < hi else (lo / 3, hi * 3)  # one rate so far: half a decade either side


def decade_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Ticks at powers of ten between lo and hi (exponents, for a chart drawn over log10 of the
    rate), every other decade or fewer when there are more than `most`; labels as rates are written."""
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    exponents = list(range(first, last + 1)) or [round(math.log10(lo))]
    stride = max(1, math.ceil(len(exponents) / max(most, 1)))
    exponents = exponents[::stride]
    return [float(k) for k in exponents], [decade_label(k) for k in exponents]


def decade_label(k: int) -> str:
    return str(10**k) if 0 <= k <= 3 else f"1e{k}"


def total_steps(series: LrSeries, status: st.Status) -> int:
    """The steps planned; a finished test's are those it took (it ends where the loss blows up, as
    it should, so it is whole), as the runs table counts them."""
    if status.state == st.RunState.DONE and (done := steps_done(series, status)):
        return done
    return status.lrfind_steps or status.max_iters or lrfind.DEFAULT_STEPS


def steps_done(series: LrSeries, status: st.Status) -> int:
    """Steps taken: the last record's step (a record is written once its step is done, so the first
    is step 1), or what the status says."""
    return max(status.step, series.steps[-1] if series.steps else 0)


def readouts(series: LrSeries, status: st.Status) -> dict[str, str]:
    """The monitor's numbers: the last point's rate and losses; once the test has ended, what it
    suggests and by which rule."""
    values = {
        "lr": lr_text(series.last(series.lrs)),
        "loss": _fixed(series.last(series.losses)),
        "smoothed": _fixed(series.last(series.smooths)),
    }
    if status.state not in st.ACTIVE:
        found = suggestion(status)
        values["suggested"] = "none" if found.suggested is None else f"{lr_text(found.suggested)} ({found.rule})"
    return values


def _fixed(v: float | None) -> str:
    return shown(v, ".4f")  # a number as wide as any a file may hold stays short
