"""`gpt-tui fork RUN`: a new run that starts from a run's checkpoint, with some hyperparameters changed."""

from __future__ import annotations

import rich_click as click
from rich.markup import escape

from engine.core import config as cfgmod
from engine.core.rules import warnings_for
from engine.core.text import printable
from engine.store import fork as forking
from tui.cli.base import EXIT_OK, RUN_ID, console, ensure_engine, err_console, existing_run, fail, store
from tui.cli.runs import wait_for


@click.command(
    "fork",
    help="a new run from a run's checkpoint (weights, optimizer, step), with --set changes",
)
@click.argument("run", **RUN_ID)
@click.option(
    "--from",
    "source",
    default="last",
    metavar="last|best|STEP",
    help="the checkpoint: the last, the best, or one kept at STEP (keep_checkpoints)",
)
@click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="change one hyperparameter (repeatable), e.g. --set learning_rate=1e-4; the model's shape, "
    "tokenizer and dataset stay",
)
@click.option("--name", "-n", help="a name for the new run (default: the parent's name, then -fork)")
@click.option("--fresh-optimizer", is_flag=True, help="start the optimizer afresh (weights, step and RNG carry over)")
@click.option("--priority", type=int, default=0, help="-99..99; higher runs first")
@click.option("--wait", "-w", is_flag=True, help="follow it with a progress bar to its end")
@click.option("--no-engine", is_flag=True, help="only queue it; do not start an engine")
def fork(
    run: str,
    source: str,
    overrides: tuple[str, ...],
    name: str | None,
    fresh_optimizer: bool,
    priority: int,
    wait: bool,
    no_engine: bool,
) -> int:
    s = store()
    parent = existing_run(s, run)
    if not -99 <= priority <= 99:
        return fail(f"--priority must be from -99 to 99, got {priority}")
    base = forking.parent_config(s, parent)
    cfg = forking.child_config(base, cfgmod.overrides_to_mapping(overrides)) if overrides else base
    plan = forking.plan_fork(s, parent, source, cfg)
    if plan.message:
        err_console.print(f"[yellow]{escape(printable(plan.message))}[/]")
    for p in warnings_for(cfg):
        err_console.print(f"[yellow]warning:[/] {escape(p.message)}")
    run_id = forking.fork(s, plan, name, priority, fresh_optimizer, source="cli fork")
    step = "?" if plan.parent_step is None else plan.parent_step
    console.print(
        f"queued [bold]{run_id}[/]: fork of {escape(printable(plan.parent_name or parent))}@{step} "
        f"(ckpt {plan.checkpoint}{', fresh optimizer' if fresh_optimizer else ''})"
    )
    for key, (before, after) in changes(base, cfg).items():
        console.print(f"  {key}: {escape(repr(before))} -> {escape(repr(after))}")
    if not no_engine:
        ensure_engine(s)
    if not wait:
        return EXIT_OK
    return wait_for(s, run_id, cfg)


def changes(before: cfgmod.RunConfig, after: cfgmod.RunConfig) -> dict[str, tuple[object, object]]:
    old, new = before.to_dict(), after.to_dict()
    return {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
