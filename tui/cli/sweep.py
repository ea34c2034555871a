"""`gpt-tui sweep`: grid, random and TPE sweeps from a command line or a TOML file, shown before
they are queued; the tables it prints, and `sweep show` and `sweep ls`, are in tui.cli.sweep_tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import rich_click as click

from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import spec as sw
from tui.cli.base import EXIT_FAILED, EXIT_OK, Group, config_options, console, ensure_engine, store
from tui.cli.progress import follow_sweep
from tui.cli.sweep_tables import ls, print_plan, print_sweep_table, show
from tui.cli.sweep_transfer import transfer
from tui.models.sweep_request import SweepRequest

HELP = """grid, random and TPE sweeps; their trial tables

\b
gpt-tui sweep grid learning_rate=1e-4,3e-4,6e-4 batch_size=12,16 --dry-run
gpt-tui sweep random -n 20 learning_rate=log:1e-4:1e-3 dropout=0:0.2
gpt-tui sweep tpe -n 30 learning_rate=log:1e-4:1e-3 --early-stop median
gpt-tui sweep examples/day38.toml    (gpt-tui sweep file examples/day38.toml)
gpt-tui sweep grid n_layer=1,2 --wait        (follow every trial, then print the table)
gpt-tui sweep show ID [--format md|csv]        gpt-tui sweep ls
gpt-tui sweep grid learning_rate=1e-3,3e-3 --proxy n_embd=128   (tune small under µP)
gpt-tui sweep transfer ID --to n_embd=768    (train big: the best trial at full width)

values: a,b,c (choices)  LO:HI (uniform)  log:LO:HI (log-uniform)  int:LO:HI (integers)"""
VALUES = "a,b,c choices; LO:HI uniform; log:LO:HI log-uniform; int:LO:HI integers"


PANELS = {  # the sweep screen's groups, in its order
    "what to search": ["params", "file"],
    "the base (as for a run)": ["preset", "config", "overrides"],
    "trials": ["name", "n_trials", "seed", "parallel", "proxy"],
    "the lesson's rules": ["keep_effective_batch", "scale_lr"],
    "early stopping and budgets": [
        "early_stop",
        "early_stop_startup",
        "early_stop_min_step",
        "early_stop_eta",
        "max_trials",
        "max_hours",
    ],
    "queueing": ["priority", "wait", "dry_run", "no_engine", "help"],
}


def create_options(sampled: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of every sweep that queues trials; `sampled` adds -n (random, tpe, a file)."""
    options = [
        click.option(
            "--name", metavar="ID", help="the sweep's id (lowercase, at most 18 characters); trials are ID-t001, ..."
        ),
        *(
            [click.option("-n", "--n-trials", "n_trials", type=int, metavar="N", help="how many trials")]
            if sampled
            else []
        ),
        click.option("--seed", type=int, metavar="N", help="seed of the draws (random, tpe)"),
        click.option("--parallel", type=int, metavar="K", help="tpe: trials in flight at once (1)"),
        click.option(
            "--proxy",
            multiple=True,
            metavar="KEY=VALUE",
            help="tune on a narrow µP proxy, e.g. --proxy n_embd=128; `sweep transfer` takes the best to full width",
        ),
        click.option(
            "--keep-effective-batch",
            is_flag=True,
            help="when batch_size varies, gradient_accumulation_steps follows so batch x accumulation stays",
        ),
        click.option(
            "--scale-lr", type=click.Choice(sw.LR_SCALINGS), help="scale the learning rate with the effective batch"
        ),
        click.option(
            "--early-stop",
            type=click.Choice(sw.RULES),
            help="prune trials at eval points: median rule or ASHA; a trial is judged only once its warmup is over",
        ),
        click.option("--early-stop-startup", type=int, metavar="N", help="other trials needed before pruning (3)"),
        click.option("--early-stop-min-step", type=int, metavar="STEP", help="no pruning before this step"),
        click.option("--early-stop-eta", type=int, metavar="ETA", help="ASHA's reduction factor (3)"),
        click.option("--max-trials", type=int, metavar="N", help="queue at most N trials"),
        click.option("--max-hours", type=float, metavar="H", help="stop queueing once the trials trained this long"),
        click.option("--priority", type=int, default=0, metavar="N", help="-99..99; higher runs first"),
        click.option(
            "--wait",
            "-w",
            is_flag=True,
            help="follow every trial with a progress line to the sweep's end, then its table",
        ),
        click.option("--dry-run", is_flag=True, help="show the trials and the estimate; queue nothing"),
        click.option("--no-engine", is_flag=True, help="only queue; do not start an engine"),
    ]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        f = config_options(f)
        for title, names in reversed(PANELS.items()):
            f = click.option_panel(title, options=names)(f)
        return f

    return decorate


def method_command(method: str, sampled: bool) -> click.Command:
    @click.command(method, help=f"queue a {method} sweep")
    @click.argument("params", nargs=-1, metavar="[NAME=VALUES]...", help=VALUES)
    @create_options(sampled)
    def create(dry_run: bool, no_engine: bool, wait: bool, params: tuple[str, ...], **values) -> int:
        return queue(SweepRequest(method=method, params=params, **values), dry_run, no_engine, wait)

    return create


@click.command(
    "file",
    help="queue the sweep a TOML file describes (`gpt-tui sweep FILE.toml` for short); "
    "the options given win over the file's",
)
@click.argument("file", type=click.Path(path_type=Path), help="the sweep file, e.g. examples/day38.toml")
@create_options(sampled=True)
def from_file(dry_run: bool, no_engine: bool, wait: bool, **values) -> int:
    return queue(SweepRequest(method="file", **values), dry_run, no_engine, wait)


def queue(request: SweepRequest, dry_run: bool, no_engine: bool, wait: bool = False) -> int:
    s = store()
    plan = request.plan(s)
    print_plan(s, plan)
    if dry_run:
        console.print("[dim]dry run: nothing was queued[/]")
        return EXIT_OK
    record = sf.create(s, plan, request.priority)
    console.print(
        f"queued sweep [bold]{plan.spec.id}[/]: "
        + (f"{len(record.runs)} trial(s)" if plan.spec.method != "tpe" else "the engine proposes its trials one by one")
        + f"  ({sf.sweep_path(s, plan.spec.id)}; `gpt-tui sweep show {plan.spec.id}` for the table)"
    )
    if not no_engine:
        ensure_engine(s)
    return wait_for_sweep(s, plan.spec.id) if wait else EXIT_OK


def wait_for_sweep(s: st.Store, sweep_id: str) -> int:
    """As `run --wait`, for every trial: their progress to the sweep's end, then its table. Exit 1 when
    no trial finished (every one failed, was pruned or stopped)."""
    try:
        follow_sweep(s, sweep_id)
    except KeyboardInterrupt:
        console.print(f"[yellow]stopped waiting; the sweep goes on (`gpt-tui sweep show {sweep_id}` for its table)[/]")
        return EXIT_FAILED
    table = print_sweep_table(s, sweep_id)
    if not table.finished:
        console.print(f"[red]no trial of sweep {sweep_id} finished[/]: see the notes above (`gpt-tui logs RUN`)")
        return EXIT_FAILED
    return EXIT_OK


class SweepGroup(Group):
    """`sweep FILE.toml` is `sweep file FILE.toml`, as a person would type it."""

    what = "sweep command"
    also = ", or give a sweep FILE.toml"

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and args[0].endswith(".toml"):
            return "file", self.commands["file"], args
        return super().resolve_command(ctx, args)


sweep = SweepGroup(
    "sweep",
    help=HELP,
    commands=[
        method_command("grid", sampled=False),
        method_command("random", sampled=True),
        method_command("tpe", sampled=True),
        from_file,
        show,
        ls,
        transfer,
    ],
)
