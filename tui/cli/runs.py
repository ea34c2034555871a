"""Commands over the queue and the trial table: run, ls, show, logs, export."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import rich_click as click
from rich import box
from rich.cells import cell_len
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from engine.core import config as cfgmod
from engine.serve import engines as eng
from engine.store import columns, control
from engine.store import export as exported
from engine.store import runs as st
from engine.store import table as trial
from engine.store.tail import TextTail
from tui.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    RUN_ID,
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


@click.command(
    "ls", help="the trial table of every run, the best marked; columns a narrow terminal has no room for are left out"
)
@filters
@click.option("--sort", type=click.Choice(trial.SORT_KEYS), help="sort by this column")
@click.option("--reverse", "-r", is_flag=True, help="sort descending")
def ls(state: str | None, sweep: str | None, sort: str | None, reverse: bool) -> int:
    s = store(existing=True)
    rows = trial.rows(s, state, sweep)
    rows = trial.sort_rows(rows, sort, reverse) if sort else rows
    title = f"runs in {s.root}" + (f" (state {state})" if state else "")
    console.print(trial_table(rows, console.width, title))
    queued = len(s.list_queue())
    engines = eng.live_engines(s)
    console.print(
        f"[dim]{len(rows)} run(s), {queued} queued; "
        f"{'engine ' + ', '.join(f'{e.host}:{e.pid}' for e in engines) if engines else 'no engine running'}[/]"
    )
    return EXIT_OK


def trial_table(rows: list[trial.Row], width: int, title: str = "") -> Group:
    """The columns that fit in `width` cells, each value whole: the shared column list, dropped by
    priority (engine.store.columns.fit); the note alone wraps. With no room for the note, each note and
    each reason a run ended for follows the table on a line of its own. Reasons show in red."""
    best = trial.best_run(rows)
    cols = columns.columns_for(rows, "cli")
    texts = {c.key: [("★ " if c.key == "name" and r.run == best else "") + c.text(r) for r in rows] for c in cols}
    natural = {c.key: max([cell_len(c.title), *map(cell_len, texts[c.key])]) for c in cols}
    # Two cells between columns, none at the edges: the room for one more column, not for rules.
    chosen = columns.fit(cols, width + 2, 2, lambda c: natural[c.key])
    t = Table(title=title or None, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col, w in chosen:
        t.add_column(
            col.title,
            justify="right" if col.numeric else "left",
            no_wrap=not col.flexible,
            overflow="fold" if col.flexible else "ellipsis",
            min_width=None if col.flexible else w,
        )
    for i, r in enumerate(rows):
        t.add_row(*(_cell(r, col.key, texts[col.key][i], r.run == best) for col, _ in chosen))
    if any(col.key == "note" for col, _ in chosen):
        return Group(t)
    notes = [
        Text.assemble(f"{trial.label(r)}: ", _cell(r, "note", text, False))
        for r, text in zip(rows, map(columns.note_text, rows))
        if text
    ]
    return Group(t, *notes)


def _cell(r: trial.Row, key: str, text: str, best: bool) -> Text:
    """Text, never markup: names, notes and reasons are anyone's to write."""
    if key == "name" and best:
        return Text(text, style="bold green")
    if key == "note" and r.reason and text.startswith(r.reason) and r.state in columns.ENDED_WITH_A_REASON:
        return Text.assemble((r.reason, "red"), text[len(r.reason) :])
    return Text(text)


@click.command("logs", help="the worker's output")
@click.argument("run", **RUN_ID)
@click.option("--follow", "-f", is_flag=True, help="keep printing until the run ends")
@click.option("--lines", "-n", type=int, default=50, help="how many of the last lines to print first")
def logs(run: str, follow: bool, lines: int) -> int:
    s = store()
    run = existing_run(s, run)  # a name or the start of an id: the id from here on
    path = s.worker_log(run)
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


@click.command("export", help="the trial table as Markdown, CSV or JSON, with a column for each swept hyperparameter")
@click.option(
    "--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", help="Markdown table, CSV or JSON"
)
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), metavar="FILE", help="write it to this file instead of printing it"
)
@filters
def export(fmt: str, out: Path | None, state: str | None, sweep: str | None) -> int:
    rows = trial.rows(store(existing=True), state, sweep)
    writer = {"md": exported.to_markdown, "csv": exported.to_csv, "json": exported.to_json}[fmt]
    emit(writer(rows), out, f"{len(rows)} run(s)")
    return EXIT_OK
