"""A report's figures, drawn with matplotlib's object API onto an Agg canvas: no pyplot, no display,
no global state, so a thread of the app may draw while another does something else."""

from __future__ import annotations

import io
import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from engine.reports.data import Curve, Points
from engine.store.files import write_atomic
from engine.sweeps.report import Importance, value_text

SIZE = (7.0, 4.2)  # inches at DPI: 700 x 420 pixels, readable in a README and small on disk
DPI = 100
LEGEND_MAX = 12  # curves named in a legend; past that the legend would hide the chart


def plain(text: str) -> str:
    """Stored text drawn as itself: a `$` would otherwise start matplotlib's mathtext (and a bad
    formula would fail the whole figure)."""
    return text.replace("$", r"\$")


def _figure() -> tuple[Figure, object]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def loss_figure(curves: list[Curve], by: str) -> Figure | None:
    """Val loss overlaid, by "step" or by "tokens" seen; None when no curve has a point to draw."""
    drawn = [(c, [(p[0] if by == "step" else p[1], p[2]) for p in c.points]) for c in curves]
    drawn = [(c, [(x, y) for x, y in pts if x is not None]) for c, pts in drawn]
    drawn = [(c, pts) for c, pts in drawn if pts]
    if not drawn:
        return None
    fig, ax = _figure()
    for c, pts in drawn:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=2.6 if c.best else 1.4, label=plain(c.label))
    # A diverged run's losses would flatten the others: the chart stops a little above the highest
    # starting loss (about ln(vocab), where every run begins); what lies above is off the chart.
    start = max(pts[0][1] for _, pts in drawn)
    top = max(y for _, pts in drawn for _, y in pts)
    if top > start * 1.5 and start > 0:
        ax.set_ylim(top=start * 1.1)
    ax.set_xlabel("step" if by == "step" else "tokens seen")
    ax.set_ylabel("val loss")
    ax.set_title("val loss by " + ("step" if by == "step" else "tokens seen"))
    if by == "tokens":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: tokens_tick(x)))
    ax.grid(True, alpha=0.3)
    if len(drawn) <= LEGEND_MAX:
        ax.legend(fontsize="small")
    return fig


def ppl_figure(points: Points) -> Figure | None:
    """Final val PPL against one hyperparameter; text values as categories, spread values on a log axis."""
    if not points.xs:
        return None
    fig, ax = _figure()
    if all(isinstance(x, float) for x in points.xs):
        ax.scatter(points.xs, points.ppl, s=40, zorder=3)
        distinct = sorted(set(points.xs))
        if points.log_x:
            ax.set_xscale("log")
        if len(distinct) <= 8:  # the values tried, as ticks: 3e-4, not 10^-3.5
            ax.set_xticks(distinct, [value_text(x) for x in distinct])
            ax.minorticks_off()
    else:
        names = list(dict.fromkeys(str(x) for x in points.xs))
        ax.scatter([names.index(str(x)) for x in points.xs], points.ppl, s=40, zorder=3)
        ax.set_xticks(range(len(names)), [plain(n) for n in names])
    for x, y, who in zip(ax.collections[0].get_offsets(), points.ppl, points.names):
        ax.annotate(plain(who), (x[0], y), xytext=(6, 4), textcoords="offset points", fontsize="small")
    ax.margins(x=0.12, y=0.15)
    ppl = [p for p in points.ppl if p > 0]
    if ppl and max(ppl) / min(ppl) > 20:  # one trial far off: the others stay apart
        ax.set_yscale("log")
    ax.set_xlabel(points.name + (" (log axis)" if points.log_x else ""))
    ax.set_ylabel("final val PPL")
    ax.set_title(f"final val PPL by {points.name}")
    ax.grid(True, alpha=0.3)
    return fig


def importance_figure(imp: Importance) -> Figure | None:
    """Bars of how much each parameter mattered: signed rank correlation, or Optuna's shares."""
    values = {n: v for n, v in imp.values.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if not values:
        return None
    fig, ax = _figure()
    order = sorted(values, key=lambda n: abs(values[n]))
    signed = imp.method == "spearman"
    colors = [("#c44e52" if values[n] > 0 else "#4c72b0") if signed else "#4c72b0" for n in order]
    bars = ax.barh([plain(n) for n in order], [values[n] for n in order], height=0.5, color=colors)
    ax.bar_label(bars, labels=[f"{values[n]:+.2f}" if signed else f"{values[n]:.0%}" for n in order], padding=4)
    ax.set_ylim(-0.75, len(order) - 0.25)
    if signed:
        ax.set_xlim(-1.3, 1.3)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("Spearman rank correlation with final val loss (+: higher values ended worse)")
    else:
        ax.set_xlim(0, max(1.15, *values.values()))
        ax.set_xlabel(f"share of the final val loss's variation ({plain(imp.method)})")
    ax.set_title("how much each parameter mattered")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def tokens_tick(x: float) -> str:
    """A tokens axis in human units: 150K, 1.2M, 3B (no 20.00K)."""
    if x < 0:
        return ""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def save_png(fig: Figure, path: Path) -> None:
    """The figure as a PNG at `path`, replaced atomically: a reader never sees half an image."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    write_atomic(path, buf.getvalue(), durable=False)
