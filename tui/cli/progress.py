"""A run or a sweep followed from a shell: a progress line per run while it trains, its rows of the
trial table after."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.store import runs as st
from engine.store import table as trial
from engine.sweeps import files as sf
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


COLUMNS = (
    TextColumn("[bold]{task.description}"),
    BarColumn(),
    TaskProgressColumn(),
    TextColumn("{task.fields[info]}"),
    TimeRemainingColumn(),
)


class RunLine:
    """One run's progress line, fed by its log: step, loss, val loss and tokens/s as they come."""

    def __init__(self, store: st.Store, run_id: str, progress: Progress, label: str, max_iters: int | None) -> None:
        self.tail = st.LogTail(store.metrics_path(run_id))
        self.progress = progress
        self.task = progress.add_task(label, total=max_iters or None, info="waiting to start")
        self.loss = self.val = self.rate = None
        self.ended = False

    def poll(self) -> None:
        for r in st.metrics_records(self.tail.poll(), str(self.tail.path)):  # a bad record: skipped
            step = r.step
            if isinstance(r, st.TrainRecord):
                self.loss, self.rate = r.loss, r.tokens_per_s
            else:
                self.val = r.val_loss
            parts = [
                f"step {step}",
                f"loss {trial.shown(self.loss, '.4f')}" if self.loss is not None else "",
                f"val {trial.shown(self.val, '.4f')}" if self.val is not None else "",
                f"{trial.shown(self.rate, ',.0f')} tok/s" if self.rate else "",
            ]
            self.progress.update(self.task, completed=step, info="  ".join(p for p in parts if p))

    def end(self, status: st.Status | st.StoreError) -> None:
        """The line's last word: how the run ended, with its final val PPL or its reason."""
        self.ended = True
        if isinstance(status, st.StoreError):
            self.progress.update(self.task, info=f"[red]broken[/]: {escape(str(status).splitlines()[0][:80])}")
            return
        if status.state == st.RunState.DONE:
            ppl = f"  final val PPL {trial.shown(status.final_val_ppl, '.2f')}" if status.final_val_ppl else ""
            self.progress.update(self.task, completed=status.step, info=f"[green]done[/]{ppl}")
        else:
            style = "yellow" if status.state in (st.RunState.PRUNED, st.RunState.STOPPED) else "red"
            why = f": {escape(status.reason[:80])}" if status.reason else ""
            self.progress.update(self.task, info=f"[{style}]{status.state}[/] at step {status.step}{why}")


def follow_progress(store: st.Store, run_id: str, max_iters: int, is_over: Callable[[], bool]) -> None:
    """A progress bar with loss, val loss, tokens/s and ETA, fed by the run's log, until is_over()."""
    with Progress(*COLUMNS, console=console, transient=False) as progress:
        line = RunLine(store, run_id, progress, run_id[-24:], max_iters)
        while True:
            over = is_over()  # read before the last poll so no record is missed
            line.poll()
            if over:
                return
            time.sleep(POLL_S)


def follow_sweep(store: st.Store, sweep_id: str) -> None:
    """A progress line per trial, added as the sweep creates it (TPE's come one by one), until every
    trial has ended (engine.sweeps.files.sweep_state): what `run --wait` shows, for each trial."""
    lines: dict[int, RunLine] = {}
    with Progress(*COLUMNS, console=console, transient=False) as progress:
        while True:
            record = sf.load(store, sweep_id)
            statuses = sf.trial_statuses(store, record)
            over = sf.sweep_state(record, statuses) == sf.DONE  # read before the last poll
            for entry in sorted(record.runs, key=lambda e: e["number"]):
                number, run_id = entry["number"], entry["run"]
                if not run_id:
                    continue
                if number not in lines:
                    max_iters = trial.read_config(store, run_id).get("max_iters")
                    label = f"{sweep_id} t{number:03d}"
                    lines[number] = RunLine(
                        store, run_id, progress, label, max_iters if type(max_iters) is int else None
                    )
                line = lines[number]
                line.poll()
                status = statuses.get(number)
                if not line.ended and status is not None and sf.ended_for_good(status):
                    line.end(status)
            if over:
                return
            time.sleep(POLL_S)
