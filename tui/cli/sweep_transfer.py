"""`gpt-tui sweep transfer ID --to n_embd=768`: the best trial of a µP proxy sweep queued at full width,
with what it carried, from which trial, and the two costs side by side."""

from __future__ import annotations

import rich_click as click
from rich.markup import escape
from rich.table import Table

from engine.core import config as cfgmod
from engine.core.rules import warnings_for
from engine.core.text import printable
from engine.sweeps import transfer as xfer
from tui.cli.base import EXIT_OK, console, ensure_engine, err_console, fail, store
from tui.cli.runs import wait_for
from tui.models.editor_model import dataset_problem
from tui.models.transfer_costs import transfer_costs


@click.command(
    "transfer",
    help="queue a sweep's best trial at full width (µTransfer): the sweep's base at --to, µP based at the "
    "width the trial was tuned at, with its learning rate, alphas, warmup, weight decay, betas and swept values",
)
@click.argument("sweep", help="the sweep id (`gpt-tui sweep ls`), a µP proxy sweep")
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="KEY=VALUE",
    help="the target's width, e.g. --to n_embd=768 (repeatable: --to n_head=12); default the sweep base's n_embd",
)
@click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="change one more hyperparameter of the target (repeatable), e.g. --set max_iters=5000",
)
@click.option("--name", "-n", help="a name for the run (default: SWEEP-wWIDTH)")
@click.option(
    "--force",
    is_flag=True,
    help="transfer from a sweep trained in SP too: without µP the best LR moves with width, so it is a guess",
)
@click.option("--priority", type=int, default=0, metavar="N", help="-99..99; higher runs first")
@click.option("--dry-run", is_flag=True, help="show the target, what it carries and the costs; queue nothing")
@click.option("--wait", "-w", is_flag=True, help="follow it with a progress bar to its end")
@click.option("--no-engine", is_flag=True, help="only queue it; do not start an engine")
def transfer(
    sweep: str,
    to: tuple[str, ...],
    overrides: tuple[str, ...],
    name: str | None,
    force: bool,
    priority: int,
    dry_run: bool,
    wait: bool,
    no_engine: bool,
) -> int:
    if not -99 <= priority <= 99:
        return fail(f"--priority must be from -99 to 99, got {priority}")
    s = store()
    to_map = cfgmod.overrides_to_mapping(to)
    plan = xfer.plan_transfer(s, sweep, to_map, cfgmod.overrides_to_mapping(overrides), force)
    problem = dataset_problem(plan.target.dataset, plan.target.text_field)
    if problem is not None:
        raise cfgmod.ConfigError([cfgmod.Problem("dataset", problem)], f"transfer of {sweep}")
    print_transfer(s, plan)
    for p in warnings_for(plan.target):
        err_console.print(f"[yellow]warning:[/] {escape(p.message)}")
    if dry_run:
        console.print("[dim]dry run: nothing was queued[/]")
        return EXIT_OK
    run_id = xfer.submit(s, plan, name=name, priority=priority)
    console.print(f"queued [bold]{run_id}[/] (transferred_from {plan.transferred_from})")
    if not no_engine:
        ensure_engine(s)
    return wait_for(s, run_id, plan.target) if wait else EXIT_OK


def print_transfer(s, plan: xfer.Transfer) -> None:
    trial, target = plan.trial_config, plan.target
    ppl = "" if plan.final_val_ppl is None else f", final val PPL {plan.final_val_ppl:.2f}"
    console.print(
        f"transfer of sweep [bold]{plan.sweep_id}[/]: best trial t{plan.trial:03d} ({plan.trial_run}{ppl}) "
        f"at n_embd {trial.n_embd} -> n_embd {target.n_embd}"
    )
    mup = target.parametrization == "mup"
    console.print(
        f"µP: m = {target.width_multiplier:g} (n_embd {target.n_embd} / mup_base_width {target.mup_base_width})"
        if mup
        else "SP: the standard parametrization, as the sweep trained (--force)"
    )
    console.print(f"carried over from t{plan.trial:03d}:")
    for key, value in plan.carried.items():
        console.print(f"  {key} = {escape(printable(repr(value)))}")
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {escape(printable(note))}")
    costs = transfer_costs(s, plan)
    t = Table(title="cost")
    for col in costs.header:
        t.add_column(col, justify="left" if not col else "right")
    for row in costs.rows:
        t.add_row(*row)
    console.print(t)
    console.print(f"[dim]{escape(costs.how)}[/]")
