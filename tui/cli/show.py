"""`gpt-tui show RUN`: a run's row of the trial table, its last evaluations and its config."""

from __future__ import annotations

import rich_click as click
from rich.markup import escape
from rich.table import Table

from engine.core.text import printable
from engine.store import runs as st
from engine.store import table as trial
from tui.cli.base import EXIT_OK, console, existing_run, store


@click.command("show", help="a run's status, evaluations and config")
@click.argument("run", help="the run id (`gpt-tui ls` lists them)")
def show(run: str) -> int:
    s = store()
    run_id = existing_run(s, run)
    row = trial.row_for(s, run_id, status_or_error(s, run_id))
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in row.as_dict().items():
        if value not in (None, ""):
            t.add_row(key, escape(str(value)))
    t.add_row("directory", str(s.run_dir(run_id)))
    console.print(t)
    metrics = st.read_log(s.metrics_path(run_id))
    evals = [r for tab, r in metrics.records if tab == "eval"]
    if evals:
        e = Table(title="evaluations")
        for col in ("step", "tokens", "train loss", "val loss", "val PPL"):
            e.add_column(col, justify="right")
        for r in evals[-10:]:
            e.add_row(
                *(
                    number(r.get(key), fmt)
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
    console.print("[bold]config.toml[/]")
    try:
        console.out(printable(s.config_path(run_id).read_text(errors="replace")), end="")
    except OSError as err:
        console.print(f"[red]cannot read config.toml: {err}[/]")
    return EXIT_OK


def number(value: object, fmt: str) -> str:
    """A logged number as `fmt` says; "?" for anything else (a hand-edited record)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return format(value, fmt)
        except ValueError:  # a float where an int format was asked
            return format(value, "g")
    return "?"


def status_or_error(s: st.Store, run_id: str) -> st.Status | st.StoreError:
    """A damaged status.toml is shown as a broken run, not refused."""
    try:
        return s.status(run_id)
    except st.StoreError as e:
        return e
