"""Commands that change one run: stop, resume, cancel, retry, delete, note, priority."""

from __future__ import annotations

import sys

import rich_click as click

from engine.store import control
from tui.cli.base import EXIT_FAILED, EXIT_OK, RUN_ID, console, ensure_engine, existing_run, fail, store

PRIORITY = dict(type=int, default=0, help="-99..99; higher runs first")
NO_ENGINE = dict(is_flag=True, help="only queue it; do not start an engine")
# A value such as "-5" or a note such as "-lr too high" is an argument, not an unknown option.
VALUES_MAY_START_WITH_DASH = {"ignore_unknown_options": True}


def done(run_id: str, message: str) -> int:
    console.print(f"{run_id}: {message}")
    return EXIT_OK


@click.command("stop", help="stop a run (it checkpoints first); a queued one leaves the queue")
@click.argument("run", **RUN_ID)
def stop(run: str) -> int:
    s = store()
    run_id = existing_run(s, run)
    return done(run_id, control.stop(s, run_id))


@click.command("cancel", help="take a queued run out of the queue")
@click.argument("run", **RUN_ID)
def cancel(run: str) -> int:
    s = store()
    run_id = existing_run(s, run)
    return done(run_id, control.cancel(s, run_id))


@click.command("resume", help="queue a stopped or failed run to continue from its checkpoint")
@click.argument("run", **RUN_ID)
@click.option("--priority", **PRIORITY)
@click.option("--no-engine", **NO_ENGINE)
def resume(run: str, priority: int, no_engine: bool) -> int:
    s = store()
    run_id = existing_run(s, run)
    message = control.resume(s, run_id, priority)
    if not no_engine:
        ensure_engine(s)
    return done(run_id, message)


@click.command("retry", help="a new run with the same config")
@click.argument("run", **RUN_ID)
@click.option("--priority", **PRIORITY)
@click.option("--no-engine", **NO_ENGINE)
def retry(run: str, priority: int, no_engine: bool) -> int:
    s = store()
    run_id = existing_run(s, run)
    new_id = control.retry(s, run_id, priority)
    if not no_engine:
        ensure_engine(s)
    done(run_id, "retried")
    console.print(f"new run [bold]{new_id}[/]")
    return EXIT_OK


@click.command("delete", help="remove a run and its files")
@click.argument("run", **RUN_ID)
@click.option("--yes", "-y", is_flag=True, help="do not ask")
def delete(run: str, yes: bool) -> int:
    s = store()
    run_id = existing_run(s, run)
    if not yes:
        if not sys.stdin.isatty():
            return fail(f"deleting {run_id} removes its checkpoints and logs; add --yes to confirm")
        answer = console.input(f"delete {run_id} with its checkpoints and logs? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("kept")
            return EXIT_FAILED
    return done(run_id, control.delete(s, run_id))


@click.command("note", help="attach a note to a run (shown in ls)", context_settings=VALUES_MAY_START_WITH_DASH)
@click.argument("run", **RUN_ID)
@click.argument("text", help="the note, one line of text")
def note(run: str, text: str) -> int:
    s = store()
    run_id = existing_run(s, run)
    return done(run_id, control.set_note(s, run_id, text))


@click.command("priority", help="change a queued run's priority", context_settings=VALUES_MAY_START_WITH_DASH)
@click.argument("run", **RUN_ID)
@click.argument("value", type=int, help="-99..99; higher runs first")
def priority(run: str, value: int) -> int:
    s = store()
    run_id = existing_run(s, run)
    return done(run_id, control.set_priority(s, run_id, value))


COMMANDS = [stop, resume, cancel, retry, delete, note, priority]
