"""The tables of `gpt-tui sweep`: a plan's trials before it is queued, and the trial tables of the
sweeps in the store (`sweep show ID`, `sweep ls`)."""

from __future__ import annotations

import os
from pathlib import Path

import rich_click as click
from rich.markup import escape
from rich.table import Table

from engine.core import estimate as est
from engine.core.errors import GptTuiError
from engine.core.text import printable
from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import proxy as proxies
from engine.sweeps import report
from engine.sweeps import spec as sw
from tui.cli.base import EXIT_OK, console, emit, store
from tui.models.sweep_form import describe, estimate_plan


def print_plan(s: st.Store, plan: sp.Plan) -> None:
    spec, base = plan.spec, plan.base
    console.print(
        f"sweep [bold]{spec.id}[/]: {describe(spec)}; base {spec.preset or 'config'} "
        f"({base.n_layer} x {base.n_embd}, batch {base.batch_label}, {base.max_iters:,} steps)"
    )
    if spec.proxy:
        full = spec.base_config(proxied=False)
        console.print(
            f"{proxies.describe(spec.proxy, full.n_embd)}: every trial trains at the proxy's width; "
            f"`gpt-tui sweep transfer {spec.id} --to n_embd={full.n_embd}` then queues the best at full width"
        )
    estimate = estimate_plan(s, plan)
    columns = [c for c in spec.swept if c not in report.BATCH_FIELDS]
    if plan.trials:
        t = Table()
        for col in ("trial", *columns, "batch", "params", "est. time"):
            t.add_column(col, justify="left" if col in ("trial", "batch") else "right")
        for trial, seconds, params in zip(plan.trials, estimate.seconds, estimate.params):
            t.add_row(
                f"t{trial.number:03d}",
                *(report.value_text(trial.config[c]) for c in columns),
                trial.batch_label,
                params,
                "?" if seconds is None else est.human_seconds(seconds),
            )
        console.print(t)
    for trial in plan.skipped:
        shown = ", ".join(f"{k}={report.value_text(v)}" for k, v in trial.params.items())
        console.print(f"[yellow]skipped[/] {shown}: {trial.reason}")
    if plan.skipped:
        console.print(f"[yellow]{len(plan.skipped)} invalid combination(s) skipped; the other trials are queued[/]")
    if spec.method == "tpe":
        console.print(
            f"TPE proposes up to {spec.trial_cap} trial(s), {spec.parallel} at a time, each from the "
            f"results so far (objective: {sw.OBJECTIVE}); time per trial like the base"
        )
    console.print(estimate.summary(plan))
    if spec.max_total_seconds and estimate.total and estimate.total > spec.max_total_seconds:
        console.print(
            f"[yellow]the time budget of {est.human_seconds(spec.max_total_seconds)} stops the sweep "
            "before every trial has run[/]"
        )


@click.command("show", help="a sweep's trial table, the best marked, with how much each parameter mattered")
@click.argument("sweep", help="the sweep id (`gpt-tui sweep ls`)")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "csv"]),
    default="table",
    help="a table here, or markdown or CSV to keep",
)
@click.option("--out", "-o", type=click.Path(path_type=Path), metavar="FILE", help="write the md or csv to this file")
def show(sweep: str, fmt: str, out: Path | None) -> int:
    s = store()
    if fmt in ("md", "csv"):
        table = report.build(s, sweep)
        imp = report.importance(s, table)
        text = report.to_markdown(table, imp) if fmt == "md" else report.to_csv(table)
        emit(text, out, f"{len(table.rows)} trial(s)")
        return EXIT_OK
    print_sweep_table(s, sweep)
    return EXIT_OK


def print_sweep_table(s: st.Store, sweep: str) -> report.SweepTable:
    """The sweep's trial table, the best marked, how much each parameter mattered, and its state."""
    table = report.build(s, sweep)
    imp = report.importance(s, table)
    spec = table.record.spec
    t = Table(title=f"sweep {spec.id}: {describe(spec)}")
    for col in report.header(table):
        t.add_column(
            col,
            justify="left" if col in ("trial", "batch", "state", "note") else "right",
            overflow="fold" if col == "note" else "ellipsis",
        )
    for r in table.rows:
        cells = [safe(c) for c in report.cells(table, r)]  # notes are text, never markup
        if r.number == table.best:
            cells[0] = f"[bold green]★ {cells[0]}[/]"
        style = {"pruned": "yellow", "failed": "red", "diverged": "red"}.get(r.state)
        if style:
            cells[-2] = f"[{style}]{cells[-2]}[/]"
        t.add_row(*cells)
    console.print(t)
    console.print(report.importance_text(imp))
    console.print(
        f"[dim]{len(table.rows)} trial(s), {len(table.finished)} finished; sweep {safe(state_text(table))}[/]"
    )
    if spec.proxy:
        full = spec.base_config(proxied=False).n_embd
        command = f"gpt-tui sweep transfer {spec.id} --to n_embd={full}"
        best = "" if table.best is None else f": `{command}` trains t{table.best:03d} there"
        console.print(f"[dim]{proxies.describe(spec.proxy, full)}{best}[/]")
    return table


def state_text(table: report.SweepTable) -> str:
    """done, stopped (early: no more trials are created) or in progress; a budget's stop said why."""
    stopped = table.record.stopped
    if table.state == sf.DONE:
        return f"done (stopped early: {stopped})" if stopped else sf.DONE
    return f"stopped early: {stopped}" if table.state == sf.STOPPED else table.state


def safe(text: str) -> str:
    """Stored text for the terminal: no markup, and control characters shown, never obeyed."""
    return escape(printable(text))


@click.command("ls", help="every sweep in the store")
def ls() -> int:
    s = store()
    t = Table(title=f"sweeps in {s.root}")
    for col in ("sweep", "method", "swept", "trials", "done", "pruned", "best val PPL", "state", "created"):
        t.add_column(col)
    for sweep_id in sf.ids(s):
        try:
            table = report.build(s, sweep_id)
        except GptTuiError as e:  # one damaged sweep file is shown as such; the others still list
            reason = str(e).splitlines()[0].replace(f"{s.root}{os.sep}", "")
            t.add_row(sweep_id, "?", "-", "-", "-", "-", "-", f"[red]broken: {safe(reason)}[/]", "-")
            continue
        rec, rows = table.record, table.rows
        best = next((r for r in rows if r.number == table.best), None)
        state = table.state  # the reason of an early stop is `sweep show`'s to tell
        planned = f"/{rec.spec.trial_cap}" if rec.spec.method == "tpe" else ""
        t.add_row(
            rec.spec.id,
            rec.spec.method + (" (proxy)" if rec.spec.proxy else ""),
            ", ".join(rec.spec.swept),
            f"{len(rows)}{planned}",
            str(sum(r.state == "done" for r in rows)),
            str(sum(r.state == "pruned" for r in rows)),
            "-" if best is None else f"{report.ppl_text(best)} ({best.trial})",
            safe(state),
            safe(rec.created[:19]),
        )
    console.print(t)
    return EXIT_OK
