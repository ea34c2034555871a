"""What each search method costs to find a good config, and whether µP's best learning rate holds across widths.

    nice -n 5 .venv/bin/python benchmarks/search_bench.py [--quick] [--work DIR] [--jobs 2] [--seeds 10]
                                                          [--out FILE.md] [--figures DIR]

A tabular benchmark (as HPOBench and NAS-Bench are), so that it fits an hour on a 2-core CPU: every
point of a discrete grid is trained ONCE, for real, with the project's worker (`python -m
engine.worker`, in a store under --work), and its eval curve (val loss at each eval step) and final
val loss are kept. The search methods are then SIMULATED over that table (benchmarks/_tabular.py):
random search draws points with the engine's engine.sweeps.plan.random_draw (without replacement),
TPE proposes with the engine's engine.sweeps.tpe.propose (Optuna's TPESampler, the study rebuilt from
the trials so far), and early stopping replays each trial's eval curve through the engine's
engine.sweeps.pruning.verdict (median rule, ASHA; the spec's defaults: 3 start-up trials, eta 3; a
trial is judged only once its warmup is over, as in the engine): a pruned trial stops at that eval
and pays only for its steps. Trials run one at a time (the engine's --parallel 1); training is
deterministic for a config (checked: a point trained twice gave the same eval curve to the bit), so
a trial's table entry is what a real sweep would have trained. TPE does
not propose a point already tried while an untried one remains (the engine's rule), and the sweep
ends once every point has been tried. Extra rows: random + ASHA (the rule without TPE), TPE with the
learning rate as unordered choices (what `learning_rate=a,b,c` gives), and TPE with and without
ASHA had repeats been free (not retrained, the study told the earlier result; with no repeats
proposed, the same as the plain rows).

The space (full run): log2(learning_rate) in -12..-6 (2.4e-4 to 1.6e-2, x2 apart; an ordered integer
range, so TPE sees a log-discrete learning rate; min_lr = learning_rate / 10), warmup_iters in
{10, 40, 120}, beta2 in {0.95, 0.99}: 42 points of a 2-layer, 4-head, 64-wide char model on the
built-in corpus, batch 8, block 32, 400 steps, eval every 50 steps on 20 batches. (Not batch_size:
the eval batches are drawn from (seed, step) at the run's batch size, so runs of one batch size
share their val batches and compare fairly, and runs of two would not.) The objective is the final
val loss. Compute is FLOPs: engine.core.estimate.flops_per_token x tokens per step x the steps a
trial really ran (evaluations not counted). Each method is given the grid's total compute (or stops
when it has tried every point, or after 4 x the grid's trials), over --seeds seeds.

Transfer (the miniature of Tensor Programs V, Figure 1): the same model at widths 64, 128 and 256,
under SP and under µP (mup_base_width 64, so m = width / 64), trained at each of the 7 learning
rates (warmup 40, beta2 0.99: the SP width-64 sweep is the grid's own row). Reported: each width's
optimum and how far it moves (grid steps of x2; and a parabola through the optimum and its
neighbours, for a sub-step estimate), and the transferred route (the narrowest sweep, then the widest
at its best learning rate; that run is already in the widest sweep) against tuning the widest
directly, in final val loss and in compute.

Every trained point is cached as JSON under --work (default /tmp/gpt-tui-search-bench), named by a
digest of the config fields that differ from the defaults, so a re-run only trains what is missing
and re-draws the tables and figures (about a minute). Measured here: 77 runs, 2 at a time, in 20.5
minutes wall with the 2 cores shared with other work (load average 4.3 to 6.5). `--quick`: a 32-wide
model, 40 steps, a 2 x 2 x 2 grid, widths 32 and 64, figures under --work: a smoke test of the
script (about two minutes), not a measurement.

The code: benchmarks/_search_train.py (the setups, training and the cache), _search_analysis.py (the
methods over the table, the transfer), _search_report.py (tables, figures, goals), _tabular.py (the
simulator).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _search_analysis as analysis  # noqa: E402
from benchmarks import _search_report as report  # noqa: E402
from benchmarks import _search_train as train  # noqa: E402
from benchmarks._search_train import console  # noqa: E402
from engine.core import config as cfgmod  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny model and grid: a smoke test, not a measurement")
    p.add_argument("--work", type=Path, help="where trained points are cached (default /tmp/gpt-tui-search-bench)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (each on one thread)")
    p.add_argument("--seeds", type=int, default=10, help="seeds per search method (simulated: cheap)")
    p.add_argument("--out", type=Path, help="also write the tables as Markdown to this file")
    p.add_argument("--figures", type=Path, help="where the two PNGs go (default docs/; with --quick, --work)")
    args = p.parse_args(argv)
    setup = train.QUICK if args.quick else train.FULL
    work = args.work or Path("/tmp") / ("gpt-tui-search-bench" + ("-quick" if args.quick else ""))
    started = time.perf_counter()
    load_start = f"{os.getloadavg()[0]:.1f}"

    wanted = {label: train.config(setup, k, w, b) for (k, w, b), label in train.grid_labels(setup).items()}
    for (param, width, k), label in train.transfer_labels(setup).items():
        wanted.setdefault(label, train.config(setup, k, setup.transfer_warmup, setup.transfer_beta2, width, param))
    trainer = train.Trainer(work)
    results = trainer.train_all(wanted, args.jobs)
    trained_s = time.perf_counter() - started
    train_seconds = sum(r["seconds"] for r in results.values())

    space = analysis.search_space(setup, results)
    grid, rows, extras = analysis.run_methods(space, args.seeds)
    best_params, best = space.best
    shape = cfgmod.resolve("quickstart", None, setup.base)
    what = (
        f"{shape.n_layer} layers x {shape.n_embd} wide, block {shape.block_size}, {shape.max_iters} steps"
        f"{' (--quick: a smoke test, not a measurement)' if args.quick else ''}"
    )
    search_title = f"search methods over a {len(space.points)}-point grid ({what}), simulated on the trained table"
    columns, search = report.search_rows(space, grid, [*rows, *extras])
    found = analysis.sweeps(setup, results)
    transfer_title = f"final val loss by learning rate, SP and µP at widths {', '.join(map(str, setup.widths))}"
    t_columns, t_rows = report.transfer_rows(setup, found)
    routes = [analysis.transfer(setup, found, param) for param in ("sp", "mup")]

    asha = next(r for r in rows if r.name == "TPE + ASHA")
    lines = [
        f"the grid: {len(space.points)} points, {space.total_flops:.3g} FLOPs of training; best final val loss "
        f"{best:.4f} at learning_rate 2^{best_params['log2_lr']} = {2.0 ** best_params['log2_lr']:.3g}, "
        f"warmup_iters {best_params['warmup_iters']}, beta2 {best_params['beta2']}; "
        f"{sum(p.final is not None and p.final <= best * (1 + analysis.WITHIN) for p in space.points.values())} "
        f"points are within 2% of it",
    ]
    lines.append(report.first_rung_line(space))
    bests = {param: [found[(param, w)].losses[found[(param, w)].best] for w in setup.widths] for param in ("sp", "mup")}
    lines.append(
        "best final val loss by width "
        + ", ".join(f"{w}" for w in setup.widths)
        + ": SP "
        + ", ".join(f"{v:.4f}" for v in bests["sp"])
        + "; µP "
        + ", ".join(f"{v:.4f}" for v in bests["mup"])
        + f" (µP's widest is {bests['mup'][-1] / bests['sp'][-1] - 1:+.1%} from SP's widest)"
    )
    for r in routes:
        name = "SP" if r.param == "sp" else "µP"
        optima = ", ".join(f"{w}: 2^{k}" for w, k in r.optima.items())
        fitted = f" (parabola fits: {r.fitted_moves:.2f} steps)" if r.fitted_moves is not None else ""
        transferred = report.loss_text(r.transferred) if r.transferred is not None else "failed"
        lines.append(
            f"{name}: optimum by width {optima}; it moves {r.moves} grid step{'s' if r.moves != 1 else ''} (x2 each)"
            f"{fitted}. Width {setup.widths[-1]} at width {setup.widths[0]}'s best 2^{r.narrow_lr}: {transferred}, "
            f"{r.gap:+.1%} from its directly tuned best {r.direct:.4f}; compute {r.route_flops:.3g} "
            f"(narrow sweep + one wide run) against {r.direct_flops:.3g} (wide sweep) = {r.share:.0%}"
        )
    goals = [report.search_goal(asha, space), *report.transfer_goals(setup, routes)]
    timing = (
        f"the table: {len(results)} labelled points, {len({r['run_id'] for r in results.values()})} runs, "
        f"{train_seconds:.0f} s of run time in all ({args.jobs} at a time, one thread each); this invocation trained "
        f"{trainer.done} in {trained_s:.0f} s wall (load average {load_start} at its start, "
        f"{os.getloadavg()[0]:.1f} at its end); total wall {time.perf_counter() - started:.0f} s"
    )

    console.print(report.rich_table(search_title, columns, search))
    console.print(report.rich_table(transfer_title + " (* the best of each row)", t_columns, t_rows))
    for line in lines:
        console.print(f"- {line}")
    console.print("[bold]goals[/]")
    for line in goals:
        console.print(f"- {line}")
    console.print(timing)

    figures = args.figures or (work if args.quick else ROOT / "docs")
    figures.mkdir(parents=True, exist_ok=True)
    search_png, transfer_png = figures / "search-methods.png", figures / "mup-transfer.png"
    figure_title = f"{len(space.points)}-point grid: {what}; bands: the middle half of the seeds"
    report.search_figure(space, grid, rows, figure_title).savefig(search_png)
    report.transfer_figure(setup, found, f"{transfer_title} ({shape.max_iters} steps)").savefig(transfer_png)
    console.print(f"wrote {search_png} and {transfer_png}")
    if args.out is not None:
        md = [
            "A tabular benchmark: every grid point trained once for real with the project's worker; the search "
            "methods simulated over that table with the engine's own random draws, TPE proposals and pruning "
            "rules (benchmarks/search_bench.py's docstring says how). Compute is training FLOPs.",
            "",
        ]
        md += report.markdown_table(search_title, columns, search)
        md += report.markdown_table(transfer_title + " (* the best of each row)", t_columns, t_rows)
        md += [f"- {line}" for line in lines] + ["", "Goals:", ""] + [f"- {line}" for line in goals]
        md += ["", timing, ""]
        args.out.write_text("\n".join(md))
        console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
