"""`gpt-tui engine start|stop|status`: the background engine that serves the store's queue."""

from __future__ import annotations

import rich_click as click
from rich.markup import escape

from engine.core.estimate import human_seconds
from engine.serve import engines as eng
from engine.serve.options import engine_options, from_values
from tui.cli.base import EXIT_FAILED, EXIT_OK, Group, console, store


@click.command("start", help="start an engine on this host, with the options of `python -m engine`")
@engine_options
def start(**values) -> int:
    s = store()
    found = eng.local_engine(s)
    if found:
        console.print(f"an engine is already running (pid {found.pid})")
        return EXIT_OK
    info = eng.start_engine(s, from_values(values).argv())
    console.print(f"engine started: pid {info.pid}, log {s.root / eng.ENGINE_LOG}")
    return EXIT_OK


@click.command("stop", help="stop this host's engine: its runs checkpoint and are queued to resume")
def stop() -> int:
    s = store()
    stopped = eng.stop_engine(s)
    if stopped is None:
        console.print(f"no engine serves {escape(str(s.root))} on this host")
        return EXIT_OK
    # Named from the runs' statuses, not the heartbeat: a run that finished since its last beat
    # was not checkpointed, and is not queued.
    requeued = eng.requeued_at_stop(s, stopped)
    console.print(
        f"engine {stopped.pid} stopped"
        + (
            f"; {len(requeued)} run(s) checkpointed and queued to resume: {', '.join(requeued)}"
            if requeued
            else "; no run was training"
        )
    )
    return EXIT_OK


@click.command("status", help="every engine that has served the store, alive or dead (exit 1 when none is alive)")
def status() -> int:
    s = store()
    engines = eng.engines(s)
    ended = "" if any(e.alive for e in engines) else eng.last_exit(s)
    if not engines and not ended:
        console.print(f"no engine has served {s.root}; `gpt-tui engine start` starts one")
    for e in engines:
        r = e.record
        console.print(
            f"{'[green]alive[/]' if e.alive else '[red]dead[/]'} {escape(e.host)} pid {e.pid}, "
            f"started {escape(r.started)}, last beat {human_seconds(e.age_s)} ago, "
            f"{'GPUs ' + ','.join(map(str, r.gpus)) if r.gpus else 'CPU'}, "
            f"{len(r.running)}/{r.slots} running: {', '.join(r.running) or '-'}"
        )
    console.print(f"{len(s.list_queue())} run(s) queued")
    if ended:
        console.print(f"no live engine; the last one: {escape(ended)}; `gpt-tui engine start` starts one")
    return EXIT_OK if any(e.alive for e in engines) else EXIT_FAILED


engine = Group("engine", commands=[start, stop, status], help="start, stop or inspect the background engine")
