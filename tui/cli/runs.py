"""Commands over the queue and the trial table: run, ls, show, logs, export."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import rich_click as click
from rich.markup import escape
from rich.table import Table

from engine.core import config as cfgmod
from engine.serve import engines as eng
from engine.store import control
from engine.store import runs as st
from engine.store import table as trial
from engine.store.tail import TextTail
from tui.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    config_from,
    config_options,
    console,
    emit,
    ensure_engine,
    existing_run,
    fail,
    store,
)
from tui.cli.progress import follow_progress, trial_row_table

RUN_ID = dict(help="the run id (`gpt-tui ls` lists them)")
FAILURES = (st.RunState.FAILED, st.RunState.OOM, st.RunState.DIVERGED)  # their reason shows in red


@click.command("run", help="queue a run for the engine (starting one if none is alive)")
@config_options
@click.option("--name", "-n", help="a name for the run (part of its id)")
@click.option("--priority", type=int, default=0, help="-99..99; higher runs first")
@click.option("--wait", "-w", is_flag=True, help="follow it with a progress bar to its end")
@click.option("--no-engine", is_flag=True, help="only queue it; do not start an engine")
def run(
    preset: str | None,
    config: Path | None,
    overrides: tuple[str, ...],
    name: str | None,
    priority: int,
    wait: bool,
    no_engine: bool,
) -> int:
    cfg = config_from(preset, config, overrides)
    s = store()
    if not -99 <= priority <= 99:
        return fail(f"--priority must be from -99 to 99, got {priority}")
    run_id = control.submit(s, cfg, name, priority, source="cli run")
    console.print(f"queued [bold]{run_id}[/] (batch {cfg.batch_label}, {cfg.max_iters} steps)")
    if not no_engine:
        ensure_engine(s)
    if not wait:
        return EXIT_OK
    return wait_for(s, run_id, cfg)


def wait_for(s: st.Store, run_id: str, cfg: cfgmod.RunConfig) -> int:
    try:
        follow_progress(s, run_id, cfg.max_iters, lambda: ended(s, run_id))
    except KeyboardInterrupt:
        console.print(f"[yellow]stopped waiting; the run goes on (`gpt-tui stop {run_id}` stops it)[/]")
        return EXIT_FAILED
    status = s.status(run_id)
    console.print(trial_row_table(s, run_id))
    if status.state != st.RunState.DONE:
        console.print(f"[red]{status.state}[/]: {escape(status.reason)}  (log: {s.worker_log(run_id)})")
        return EXIT_FAILED
    return EXIT_OK


def ended(s: st.Store, run_id: str) -> bool:
    try:
        return s.status(run_id).settled
    except st.StoreError:
        return False


def filters(f):
    """--state and --sweep: which runs of the trial table."""
    f = click.option("--sweep", metavar="ID", help="only the trials of this sweep")(f)
    return click.option("--state", help="only runs in this state (queued, running, done, failed, ...)")(f)


@click.command("ls", help="the trial table of every run, the best marked")
@filters
@click.option("--sort", type=click.Choice(trial.SORT_KEYS), help="sort by this column")
@click.option("--reverse", "-r", is_flag=True, help="sort descending")
def ls(state: str | None, sweep: str | None, sort: str | None, reverse: bool) -> int:
    s = store()
    rows = trial.rows(s, state, sweep)
    rows = trial.sort_rows(rows, sort, reverse) if sort else rows
    best = trial.best_run(rows)
    t = Table(title=f"runs in {s.root}" + (f" (state {state})" if state else ""))
    for col in trial.COLUMNS:
        t.add_column(
            col,
            justify="left" if col in ("run", "state", "note", "batch") else "right",
            no_wrap=col != "note",
            overflow="ellipsis",
            min_width=min(len(col), 8),
        )
    for r in rows:
        cells = [escape(c) for c in trial.cells(r)]  # notes and reasons are text, never markup
        if r.run == best:
            cells[0] = f"[bold green]★ {cells[0]}[/]"
        if r.state == st.BROKEN or (r.state in FAILURES and r.reason):
            cells[-1] = f"[red]{escape(r.reason)}[/]" + (f" {cells[-1]}" if cells[-1] else "")
        t.add_row(*cells)
    console.print(t)
    queued = len(s.list_queue())
    engines = eng.live_engines(s)
    console.print(
        f"[dim]{len(rows)} run(s), {queued} queued; "
        f"{'engine ' + ', '.join(f'{e.host}:{e.pid}' for e in engines) if engines else 'no engine running'}[/]"
    )
    return EXIT_OK


@click.command("logs", help="the worker's output")
@click.argument("run", **RUN_ID)
@click.option("--follow", "-f", is_flag=True, help="keep printing until the run ends")
@click.option("--lines", "-n", type=int, default=50, help="how many of the last lines to print first")
def logs(run: str, follow: bool, lines: int) -> int:
    s = store()
    path = s.worker_log(existing_run(s, run))
    if not path.exists():
        console.print("[dim](no output yet: the run has not started)[/]")
        if not follow:
            return EXIT_OK
    tail = TextTail(path, start_bytes=None)
    new = tail.poll()[-lines:]
    while True:
        if new:
            sys.stdout.write("".join(f"{line}\n" for line in new))
            sys.stdout.flush()
        if not follow or (not new and ended(s, run)):
            break
        time.sleep(0.5)
        new = tail.poll()
    return EXIT_OK


@click.command("export", help="the trial table as markdown or CSV")
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md", help="markdown table or CSV")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), metavar="FILE", help="write it to this file instead of printing it"
)
@filters
def export(fmt: str, out: Path | None, state: str | None, sweep: str | None) -> int:
    rows = trial.rows(store(), state, sweep)
    emit(trial.to_markdown(rows) if fmt == "md" else trial.to_csv(rows), out, f"{len(rows)} run(s)")
    return EXIT_OK
