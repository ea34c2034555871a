"""µP's coordinate check at widths 64 to 512: activations stay put under µP and grow under SP.

    .venv/bin/python benchmarks/mup_check.py [--widths 64,128,256,512] [--steps 10] [--lr 1e-2]
                                            [--seeds 3] [--out docs/mup-coord-check.png]

Models of n_layer 2 and 4 heads, differing only in n_embd, train for --steps steps on the built-in
corpus at a high learning rate (engine.train.coord_check). For each width it records the mean
|activation| of the embedding output, of each block's output and of the logits at every step, averaged
over --seeds seeds. µP's base width is the narrowest, so m runs from 1 to 8. The table gives the last
step's values and, per coordinate, widest over narrowest; then the worst spread (either way up, over
steps 1 on) of µP with each rule put back to SP. The PNG plots each coordinate against width, one line
per step, SP above and µP below, as the guide's coordinate-check figures do.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.train.coord_check import (  # noqa: E402
    WITHOUT_RULE,
    CoordCheck,
    coord_check,
    coordinate_names,
    growth,
    worst_spread,
)

Result = dict[int, list[dict[str, float]]]


def figure(results: dict[str, Result], check: CoordCheck) -> Figure:
    names = coordinate_names(check.n_layer)
    fig = Figure(figsize=(3.0 * len(names), 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(results), len(names), sharex=True, squeeze=False)
    widths = sorted(next(iter(results.values())))
    shade = [i / max(1, check.steps - 1) for i in range(check.steps)]  # step 0 blue to the last red
    colors = [(0.15 + 0.7 * f, 0.3, 0.85 - 0.7 * f) for f in shade]
    for row, (label, result) in enumerate(results.items()):
        for col, name in enumerate(names):
            ax = axes[row][col]
            for step in range(check.steps):
                ys = [result[w][step][name] for w in widths]
                label_step = f"step {step}" if step in (0, check.steps - 1) else None
                ax.plot(widths, ys, marker="o", markersize=2.5, linewidth=1.2, color=colors[step], label=label_step)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(widths, [str(w) for w in widths])
            ax.xaxis.set_minor_locator(NullLocator())  # the widths alone; the log y axis keeps its ticks
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{label}: {name}", fontsize="medium")
            if row == len(results) - 1:
                ax.set_xlabel("n_embd")
            if col == 0:
                ax.set_ylabel("mean |activation|")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(
        f"coordinate check: {check.steps} steps at lr {check.learning_rate:g}, "
        f"{len(check.seeds)} seeds; µP's base is n_embd {min(widths)}"
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 leaves torch's choice")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "mup-coord-check.png")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    check = CoordCheck(steps=args.steps, learning_rate=args.lr, seeds=tuple(range(args.seeds)))
    started = time.perf_counter()
    results = {"SP": coord_check(check, widths, "sp"), "µP": coord_check(check, widths, "mup")}

    console = Console()
    names = coordinate_names(check.n_layer)
    t = Table(title=f"mean |activation| at step {check.steps - 1} (lr {check.learning_rate:g})")
    for col in ("", "n_embd", *names):
        t.add_column(col, justify="right")
    for label, result in results.items():
        for w in widths:
            t.add_row(label, str(w), *(f"{result[w][-1][n]:.3g}" for n in names))
        t.add_row(label, f"{widths[-1]}/{widths[0]}", *(f"{growth(result)[n]:.2f}x" for n in names), style="bold")
    console.print(t)

    dropped = Table(title="spread between widths, either way up (µP with one rule back to SP)")
    for col in ("rule dropped", "worst, steps 1 on", "where", "worst, last step", "where"):
        dropped.add_column(col)
    runs = {"(none: µP)": results["µP"]}
    runs.update({label: coord_check(check, widths, "mup", tweak) for label, tweak in WITHOUT_RULE.items()})
    runs["(all: SP)"] = results["SP"]
    for label, result in runs.items():
        spread, step, name = worst_spread(result)
        last, _, last_name = worst_spread(result, first_step=check.steps - 1)
        dropped.add_row(label, f"{spread:.2f}x", f"{name}, step {step}", f"{last:.2f}x", last_name)
    console.print(dropped)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure(results, check).savefig(args.out)
    console.print(f"wrote {args.out} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
