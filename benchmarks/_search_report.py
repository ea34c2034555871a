"""The search benchmark's output: its tables (terminal and Markdown), its figures, the lines judging its goals."""

from __future__ import annotations

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table

from benchmarks import _tabular as tab
from benchmarks._search_analysis import SEARCH_SHARE, TRANSFER_SHARE, WITHIN, MethodRow, Sweep, Transfer
from benchmarks._search_train import Setup
from engine.sweeps import pruning
from engine.sweeps.spec import EarlyStopping


def search_rows(space: tab.Space, grid: MethodRow, rows: list[MethodRow]) -> tuple[list[str], list[list[str]]]:
    total, best = space.total_flops, space.best[1]
    columns = [
        "method",
        "seeds",
        "median compute to within 2%",
        "of grid",
        "seeds there",
        "best at 1/3 grid compute (median; worst)",
        "vs grid best",
        "trials (pruned, repeats) per seed",
    ]
    out = []
    for r in [grid, *rows]:
        within = r.median_to_within
        reached = sum(math.isfinite(x) for x in r.to_within)
        at = tab.median(r.at_share)
        worst = max(r.at_share)
        trials = tab.median([len(t.trials) for t in r.traces])
        pruned = tab.median([sum(x.state == tab.RunState.PRUNED for x in t.trials) for t in r.traces])
        repeats = tab.median([t.repeats for t in r.traces])
        out.append(
            [
                r.name,
                str(len(r.traces)),
                flops_text(within),
                f"{within / total:.0%}" if math.isfinite(within) else "never",
                f"{reached}/{len(r.traces)}",
                f"{loss_text(at)}; {loss_text(worst)}",
                f"{at / best - 1:+.1%}" if math.isfinite(at) else "none finished",
                f"{trials:g} ({pruned:g}, {repeats:g})",
            ]
        )
    return columns, out


def transfer_rows(setup: Setup, found: dict[tuple[str, int], Sweep]) -> tuple[list[str], list[list[str]]]:
    columns = ["", "width", *(f"2^{k}" for k in setup.log2_lrs), "best", "fit"]
    rows = []
    for (param, width), s in found.items():
        cells = [
            ("*" if k == s.best else "") + (f"{v:.3f}" if v is not None else "failed") for k, v in s.losses.items()
        ]
        fit = s.fitted()
        rows.append(
            [
                "SP" if param == "sp" else "µP",
                str(width),
                *cells,
                f"2^{s.best} = {2.0**s.best:.2g}",
                f"2^{fit:.2f}" if fit is not None else "edge",
            ]
        )
    return columns, rows


# -- figures -------------------------------------------------------------------------------------


def search_figure(space: tab.Space, grid: MethodRow, rows: list[MethodRow], title: str) -> Figure:
    fig = Figure(figsize=(7.0, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    total, best = space.total_flops, space.best[1]
    lo = min(t.trials[0].flops for r in rows for t in r.traces)
    xs = [lo * (total / lo) ** (i / 299) for i in range(300)]
    gx, gy = zip(*grid.traces[0].curve())
    ax.step(gx, gy, where="post", color="0.6", linewidth=1.2, label="grid, in order")
    for r in rows:
        mid, low, high = tab.band(r.traces, xs)
        (line,) = ax.plot(xs, mid, linewidth=1.8, label=f"{r.name} (median of {len(r.traces)} seeds)")
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.1, linewidth=0)  # the middle half of the seeds
    ax.axhline(best, color="black", linewidth=0.8)
    ax.axhline(best * (1 + WITHIN), color="black", linewidth=0.8, linestyle=":", label="grid's best + 2%")
    ax.axvline(total * SEARCH_SHARE, color="black", linewidth=0.8, linestyle="--", label="1/3 of the grid's compute")
    ax.set_xscale("log")
    finite = [y for y in gy if math.isfinite(y)]
    ax.set_ylim(best * 0.99, min(max(finite), best * 1.15))
    ax.set_xlabel("cumulative training compute (FLOPs)")
    ax.set_ylabel("best final val loss so far")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def transfer_figure(setup: Setup, found: dict[tuple[str, int], Sweep], title: str) -> Figure:
    fig = Figure(figsize=(9.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    finite = [v for s in found.values() for v in s.losses.values() if v is not None]
    low = min(finite)
    for ax, param in zip(axes, ("sp", "mup")):
        for i, width in enumerate(setup.widths):
            s = found[(param, width)]
            color = (0.2 + 0.6 * i / max(1, len(setup.widths) - 1), 0.3, 0.8 - 0.6 * i / max(1, len(setup.widths) - 1))
            ks = [k for k, v in s.losses.items() if v is not None]
            ax.plot(ks, [s.losses[k] for k in ks], marker="o", markersize=3, color=color, label=f"width {width}")
            ax.plot([s.best], [s.losses[s.best]], marker="*", markersize=11, color=color)
        ax.set_title("SP (standard)" if param == "sp" else f"µP (base width {setup.widths[0]})")
        ax.set_xlabel("log2 learning rate")
        ax.set_xticks(list(setup.log2_lrs))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("final val loss")
    axes[0].set_ylim(low - 0.02, min(max(finite), low + 0.6) + 0.02)
    fig.suptitle(title, fontsize="medium")
    return fig


# -- output --------------------------------------------------------------------------------------


def flops_text(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "never"


def loss_text(x: float) -> str:
    return f"{x:.4f}" if math.isfinite(x) else "none"


def rich_table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    t = Table(title=title)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*r)
    return t


def markdown_table(title: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return [*lines, *("| " + " | ".join(r) + " |" for r in rows), ""]


def goal(met: bool) -> str:
    return "MET" if met else "NOT MET"


def first_rung_line(space: tab.Space) -> str:
    """Where the points within 2% of the best stand at ASHA's first rung, and at the first rung
    after their warmup, the one the rule now judges them at."""
    rule = EarlyStopping("asha")
    any_point = next(iter(space.points.values()))
    rungs = pruning.rung_steps(rule.min_step or space.eval_interval, rule.eta, space.eval_interval, any_point.max_iters)
    if not rungs:
        return "ASHA has no rung before the last step"
    best = space.best[1]
    good = [space.points[space.key(c)] for c in space.combinations()]
    good = [p for p in good if p.final is not None and p.final <= best * (1 + WITHIN)]

    def ranks(step: int, points: list[tab.Point]) -> str:
        at_rung = sorted(p.evals.get(step, math.inf) for p in space.points.values())
        return ", ".join(str(n) for n in sorted(at_rung.index(p.evals.get(step, math.inf)) + 1 for p in points))

    warmups = sorted({p.warmup for p in good})
    judged: dict[int | None, list[tab.Point]] = {}
    for p in good:
        judged.setdefault(next((r for r in rungs if r >= p.warmup), None), []).append(p)
    after = "; ".join(
        f"at step {step} ({len(ps)} of them), where they rank {ranks(step, ps)} of {len(space.points)}"
        if step
        else f"never ({len(ps)} of them: no rung after their warmup)"
        for step, ps in sorted(judged.items(), key=lambda kv: kv[0] or math.inf)
    )
    return (
        f"the {len(good)} points within 2% of the best (warmup {', '.join(map(str, warmups))}) rank "
        f"{ranks(rungs[0], good)} of {len(space.points)} by val loss at step {rungs[0]}, ASHA's first rung, where "
        f"it keeps the top 1/{rule.eta} of the trials there; judged only once their warmup is over, they are "
        f"first judged {after}"
    )


def search_goal(asha: MethodRow, space: tab.Space) -> str:
    total, at = space.total_flops, tab.median(asha.at_share)
    if math.isfinite(asha.median_to_within):
        how = f"the median of {len(asha.traces)} seeds got there at {asha.median_to_within / total:.0%} of its compute"
    else:
        reached = sum(map(math.isfinite, asha.to_within))
        how = f"the median seed never got there ({reached} of {len(asha.traces)} seeds did)"
    return (
        f"TPE + ASHA within 2% of the grid's best at <= 1/3 of its compute: {how}; its best at 1/3 of the "
        f"compute {at:.4f} (median), {at / space.best[1] - 1:+.1%}: "
        + goal(asha.median_to_within <= total * SEARCH_SHARE)
    )


def transfer_goals(setup: Setup, routes: list[Transfer]) -> list[str]:
    sp, mup = routes
    widths = ", ".join(map(str, setup.widths))
    return [
        f"µP's optimum within one grid step across widths {widths}: it moves {mup.moves} "
        f"(SP: {sp.moves}): {goal(mup.moves <= 1)}",
        f"µP's transferred LR within 2% of the directly tuned best at <= 1/4 of its compute: {mup.gap:+.1%} at "
        f"{mup.share:.0%} (SP: {sp.gap:+.1%}): {goal(mup.gap <= WITHIN and mup.share <= TRANSFER_SHARE)}",
    ]
