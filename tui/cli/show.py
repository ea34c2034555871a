"""`gpt-tui show RUN`: a run's row of the trial table, its last evaluations and its config."""

from __future__ import annotations

import rich_click as click
from rich.markup import escape
from rich.table import Table

from engine.core.text import printable
from engine.store import runs as st
from engine.store import table as trial
from engine.store.files import STATE_CAP, read_regular
from engine.store.records import lr_records
from engine.store.schema import KIND_LRFIND
from tui.cli import lrfind
from tui.cli.base import EXIT_OK, console, existing_run, store


@click.command("show", help="a run's status, evaluations and config")
@click.argument("run", help="the run id (`gpt-tui ls` lists them)")
def show(run: str) -> int:
    s = store()
    run_id = existing_run(s, run)
    status = status_or_error(s, run_id)
    row = trial.row_for(s, run_id, status)
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in row.as_dict().items():
        if value not in (None, "") and not key.startswith("parent"):  # the lineage line below says them
            t.add_row(key, escape(field_text(value)))
    if isinstance(status, st.Status) and status.parent:
        t.add_row("lineage", escape(printable(lineage(s, status))))
    if isinstance(status, st.Status):
        for key, value in startup_rows(status):
            t.add_row(key, escape(value))
    t.add_row("directory", str(s.run_dir(run_id)))
    console.print(t)
    if isinstance(status, st.Status) and status.kind == KIND_LRFIND:  # both rules and what to run with them
        lrfind.print_findings(s, run_id, status)
    try:
        metrics = st.read_log(s.metrics_path(run_id))
    except st.StoreError as err:  # no regular file, or too large: say so and show the rest
        console.print(f"[red]{escape(str(err))}[/]")
        metrics = st.LogRead()
    typed = st.metrics_records(metrics.records, str(s.metrics_path(run_id)))
    evals = [r for r in typed if isinstance(r, st.EvalRecord)]
    if evals:
        e = Table(title="evaluations")
        for col in ("step", "tokens", "train loss", "val loss", "val PPL"):
            e.add_column(col, justify="right")
        for r in evals[-10:]:
            e.add_row(
                *(
                    number(getattr(r, key), fmt)
                    for key, fmt in (
                        ("step", "d"),
                        ("tokens", ",d"),
                        ("train_loss", ".4f"),
                        ("val_loss", ".4f"),
                        ("val_ppl", ".2f"),
                    )
                )
            )
        console.print(e)
    if metrics.skipped:
        console.print(
            f"[red]metrics.toml: {metrics.skipped} unreadable record(s) skipped[/] (hand edits or disk "
            "damage); every reader ignores them, and a resume rewrites the file without them"
        )
    lr_steps = lr_records(metrics.records)  # a range test's; not records of the wrong type
    if lr_steps:
        console.print(lrfind.points_table(lr_steps))
    if unfit := len(metrics.records) - len(typed) - len(lr_steps):
        console.print(
            f"[red]metrics.toml: {unfit} record(s) with a field of the wrong type skipped[/] "
            "(a hand edit, or another program); every reader ignores them"
        )
    console.print("[bold]config.toml[/]")
    try:
        text = read_regular(s.config_path(run_id), STATE_CAP).decode("utf-8", errors="replace")
        console.out(printable(text), end="")
    except FileNotFoundError:
        console.print("[red]config.toml is missing[/]")
    except st.StoreError as err:  # a FIFO, a device, a directory, a huge file, no permission
        console.print(f"[red]{escape(str(err))}[/]")
    return EXIT_OK


def startup_rows(status: st.Status) -> list[tuple[str, str]]:
    """The time to the first step and where the worker's start-up went, when the status has them."""
    rows = []
    if status.first_step_s is not None:
        rows.append(("first step", f"{status.first_step_s:.2f} s after it was queued"))
    if status.startup_s is not None:
        phases = [
            f"{printable(p['phase'])} {p['s']:.2f} s"
            for p in status.startup
            if isinstance(p.get("phase"), str)
            and isinstance(p.get("s"), (int, float))
            and not isinstance(p["s"], bool)
            and p["s"] >= 0.005
        ]
        rows.append(("start-up", f"{status.startup_s:.2f} s" + (f": {', '.join(phases)}" if phases else "")))
    return rows


def field_text(value: object) -> str:
    """A row's field as text; a number as Python writes it unless that is too long to read."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) or value.bit_length() <= 64:
            text = str(value)
            if len(text) <= trial.SHOWN_WIDTH:
                return text
        return trial.shown(value, "g")
    return str(value)


def number(value: object, fmt: str) -> str:
    """A logged number as `fmt` says, compact whatever its size; "?" for anything else (a hand edit)."""
    return "?" if value is None else trial.shown(value, fmt)


def lineage(s: st.Store, status: st.Status) -> str:
    """A fork's parent, step and checkpoint: "fork of NAME@STEP (ckpt FILE)"; the parent may be gone."""
    step = "?" if status.parent_step is None else status.parent_step
    gone = not st.is_valid_run_id(status.parent) or not s.run_dir(status.parent).is_dir()
    return f"fork of {status.parent_name or status.parent}@{step} (ckpt {status.parent_ckpt})" + (
        "; the parent is deleted" if gone else ""
    )


def status_or_error(s: st.Store, run_id: str) -> st.Status | st.StoreError:
    """A damaged status.toml is shown as a broken run, not refused."""
    try:
        return s.status(run_id)
    except st.StoreError as e:
        return e
