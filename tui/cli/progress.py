"""A run followed from a shell: its progress bar while it trains, its row of the trial table after."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.store import runs as st
from engine.store import table as trial
from tui.cli.base import console

POLL_S = 0.5

# With room to spare, the row spells out what the ls columns abbreviate.
ROW_LABELS = {"best val": "best val loss", "val PPL": "final val PPL", "time": "duration"}


def trial_row_table(store: st.Store, run_id: str) -> Table:
    """The run's row of the trial table (engine.table), one column a line so it fits any terminal."""
    row = trial.row_for(store, run_id, store.status(run_id))
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for label, value in zip(trial.COLUMNS, trial.cells(row)):
        if value:
            t.add_row(ROW_LABELS.get(label, label), escape(value))
    return t


def follow_progress(store: st.Store, run_id: str, max_iters: int, is_over: Callable[[], bool]) -> None:
    """A progress bar with loss, val loss, tokens/s and ETA, fed by the run's log, until is_over()."""
    tail = st.LogTail(store.metrics_path(run_id))
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(run_id[-24:], total=max_iters, info="waiting to start")
        loss = val = rate = None
        while True:
            over = is_over()  # read before the last poll so no record is missed
            for table, r in tail.poll():
                step = r.get("step")
                if type(step) is not int:  # a record someone else wrote: skipped, not fatal
                    continue
                if table == "train":
                    loss, rate = r.get("loss"), r.get("tokens_per_s")
                elif table == "eval":
                    val = r.get("val_loss")
                progress.update(task, completed=step)
                parts = [
                    f"step {step}",
                    f"loss {trial.shown(loss, '.4f')}" if loss is not None else "",
                    f"val {trial.shown(val, '.4f')}" if val is not None else "",
                    f"{trial.shown(rate, ',.0f')} tok/s" if rate else "",
                ]
                progress.update(task, info="  ".join(p for p in parts if p))
            if over:
                return
            time.sleep(POLL_S)
