"""Commands over the queue and the store: run, ls, show, logs, stop, resume, cancel, retry,
delete, note, priority, export, engine."""

from __future__ import annotations

import argparse
import sys
import time

from rich.markup import escape
from rich.table import Table

from engine.core import config as cfgmod
from engine.store import control
from engine.serve import engines as eng
from engine.store import runs as st
from engine.store.tail import TextTail
from engine.store import table as trial
from engine.core.estimate import human_seconds
from tui.cli.base import (
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_config_options, command, emit, config_from_args, console, err_console, fail,
)
from tui.cli.train import trial_row_table

def store_of(args: argparse.Namespace) -> st.Store:
    return st.Store(st.resolve_root(args.runs))


def existing_run(store: st.Store, run_id: str) -> str:
    """The id, checked for safety and existence; StoreError/ControlError carry the message."""
    st.check_run_id(run_id)
    if not store.run_dir(run_id).is_dir():
        raise control.ControlError(f"no run {run_id!r} in {store.root}; `gpt-tui ls` lists the runs")
    return run_id


def ensure_engine(store: st.Store, workers: int | None = None) -> eng.EngineInfo:
    found = eng.local_engine(store)
    if found is not None:
        return found
    extra = ["--workers", str(workers)] if workers else []
    info = eng.start_engine(store, extra)
    err_console.print(f"[dim]started an engine (pid {info.pid}); its log is {store.root / eng.ENGINE_LOG}[/]")
    return info


@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    store = store_of(args)
    if not -99 <= args.priority <= 99:
        return fail(f"--priority must be from -99 to 99, got {args.priority}")
    run_id = control.submit(store, cfg, args.name, args.priority, source="cli run")
    console.print(f"queued [bold]{run_id}[/] (batch {cfg.batch_label}, {cfg.max_iters} steps)")
    if not args.no_engine:
        ensure_engine(store)
    if not args.wait:
        return EXIT_OK
    return wait_for(store, run_id, cfg)


def wait_for(store: st.Store, run_id: str, cfg: cfgmod.RunConfig) -> int:
    from tui.cli.train import follow_progress

    try:
        follow_progress(store, run_id, cfg.max_iters, lambda: _ended(store, run_id))
    except KeyboardInterrupt:
        console.print(f"[yellow]stopped waiting; the run goes on (`gpt-tui stop {run_id}` stops it)[/]")
        return EXIT_FAILED
    status = store.read_status(run_id)
    console.print(trial_row_table(store, run_id))
    if status.get("state") != "done":
        console.print(f"[red]{status.get('state')}[/]: {escape(str(status.get('reason', '')))}  "
                      f"(log: {store.worker_log(run_id)})")
        return EXIT_FAILED
    return EXIT_OK


def _ended(store: st.Store, run_id: str) -> bool:
    try:
        return control.is_settled(store.read_status(run_id))
    except st.StoreError:
        return False


@command("ls")
def cmd_ls(args: argparse.Namespace) -> int:
    store = store_of(args)
    rows = trial.rows(store, args.state, args.sweep)
    rows = trial.sort_rows(rows, args.sort, args.reverse) if args.sort else rows
    best = trial.best_run(rows)
    t = Table(title=f"runs in {store.root}" + (f" (state {args.state})" if args.state else ""))
    for col in trial.COLUMNS:
        t.add_column(col, justify="left" if col in ("run", "state", "note", "batch") else "right",
                     no_wrap=col != "note", overflow="ellipsis", min_width=min(len(col), 8))
    for r in rows:
        cells = [escape(c) for c in trial.cells(r)]  # notes and reasons are text, never markup
        if r.run == best:
            cells[0] = f"[bold green]★ {cells[0]}[/]"
        if r.state == "broken" or (r.state in ("failed", "oom", "diverged") and r.reason):
            cells[-1] = f"[red]{escape(r.reason)}[/]" + (f" {cells[-1]}" if cells[-1] else "")
        t.add_row(*cells)
    console.print(t)
    queued = len(store.list_queue())
    engines = eng.live_engines(store)
    console.print(f"[dim]{len(rows)} run(s), {queued} queued; "
                  f"{'engine ' + ', '.join(f'{e.host}:{e.pid}' for e in engines) if engines else 'no engine running'}[/]")
    return EXIT_OK


@command("show")
def cmd_show(args: argparse.Namespace) -> int:
    store = store_of(args)
    run_id = existing_run(store, args.run)
    row = trial.row_for(store, run_id, _status_or_error(store, run_id))
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in row.as_dict().items():
        if value not in (None, ""):
            t.add_row(key, escape(str(value)))
    t.add_row("directory", str(store.run_dir(run_id)))
    console.print(t)
    metrics = st.read_log(store.metrics_path(run_id))
    evals = [r for tab, r in metrics.records if tab == "eval"]
    if evals:
        e = Table(title="evaluations")
        for col in ("step", "tokens", "train loss", "val loss", "val PPL"):
            e.add_column(col, justify="right")
        for r in evals[-10:]:
            e.add_row(*(_number(r.get(key), fmt) for key, fmt in (
                ("step", "d"), ("tokens", ",d"), ("train_loss", ".4f"), ("val_loss", ".4f"), ("val_ppl", ".2f"))))
        console.print(e)
    if metrics.skipped:
        console.print(f"[red]metrics.toml: {metrics.skipped} unreadable record(s) skipped[/] (hand edits or disk "
                      "damage); every reader ignores them, and a resume rewrites the file without them")
    console.print("[bold]config.toml[/]")
    try:
        console.out(store.config_path(run_id).read_text(errors="replace"), end="")
    except OSError as err:
        console.print(f"[red]cannot read config.toml: {err}[/]")
    return EXIT_OK


def _number(value: object, fmt: str) -> str:
    """A logged number as `fmt` says; "?" for anything else (a hand-edited record)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return format(value, fmt)
        except ValueError:  # a float where an int format was asked
            return format(value, "g")
    return "?"


def _status_or_error(store: st.Store, run_id: str) -> dict | st.StoreError:
    try:
        return store.read_status(run_id)
    except st.StoreError as e:
        return e


@command("logs")
def cmd_logs(args: argparse.Namespace) -> int:
    store = store_of(args)
    path = store.worker_log(existing_run(store, args.run))
    if not path.exists():
        console.print("[dim](no output yet: the run has not started)[/]")
        if not args.follow:
            return EXIT_OK
    tail = TextTail(path, start_bytes=None)
    lines = tail.poll()[-args.lines:]
    while True:
        if lines:
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            sys.stdout.flush()
        if not args.follow or (not lines and _ended(store, args.run)):
            break
        time.sleep(0.5)
        lines = tail.poll()
    return EXIT_OK


def _control(fn, message_done: str | None = None):
    def handler(args: argparse.Namespace) -> int:
        store = store_of(args)
        run_id = existing_run(store, args.run)
        result = fn(store, run_id, args)
        console.print(f"{run_id}: {message_done or result}")
        if fn is _retry:
            console.print(f"new run [bold]{result}[/]")
        return EXIT_OK
    return handler


def _stop(store, run_id, args):
    return control.stop(store, run_id)


def _resume(store, run_id, args):
    msg = control.resume(store, run_id, args.priority)
    if not args.no_engine:
        ensure_engine(store)
    return msg


def _retry(store, run_id, args):
    new_id = control.retry(store, run_id, args.priority)
    if not args.no_engine:
        ensure_engine(store)
    return new_id


command("stop")(_control(_stop))
command("resume")(_control(_resume))
command("cancel")(_control(lambda store, run_id, args: control.cancel(store, run_id)))
command("retry")(_control(_retry, "retried"))
command("note")(_control(lambda store, run_id, args: control.set_note(store, run_id, args.text)))
command("priority")(_control(lambda store, run_id, args: control.set_priority(store, run_id, args.value)))


@command("delete")
def cmd_delete(args: argparse.Namespace) -> int:
    store = store_of(args)
    run_id = existing_run(store, args.run)
    if not args.yes:
        if not sys.stdin.isatty():
            return fail(f"deleting {run_id} removes its checkpoints and logs; add --yes to confirm")
        answer = console.input(f"delete {run_id} with its checkpoints and logs? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("kept")
            return EXIT_FAILED
    console.print(f"{run_id}: {control.delete(store, run_id)}")
    return EXIT_OK


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    store = store_of(args)
    rows = trial.rows(store, args.state, args.sweep)
    text = trial.to_markdown(rows) if args.format == "md" else trial.to_csv(rows)
    emit(text, args.out, f"{len(rows)} run(s)")
    return EXIT_OK


@command("engine")
def cmd_engine(args: argparse.Namespace) -> int:
    store = store_of(args)
    if args.action == "start":
        found = eng.local_engine(store)
        if found:
            console.print(f"an engine is already running (pid {found.pid})")
            return EXIT_OK
        extra = ["--workers", str(args.workers)] if args.workers else []
        if args.executor != "local":
            extra += ["--executor", args.executor, "--gpus-per-run", str(args.gpus_per_run),
                      "--time-min", str(args.time_min), "--max-jobs", str(args.max_jobs)]
            extra += ["--partition", args.partition] if args.partition else []
        info = eng.start_engine(store, extra)
        console.print(f"engine started: pid {info.pid}, log {store.root / eng.ENGINE_LOG}")
        return EXIT_OK
    if args.action == "stop":
        stopped = eng.stop_engine(store)
        running = stopped.data.get("running", []) if stopped else []
        console.print("no engine is running on this host" if stopped is None else
                      f"engine {stopped.pid} stopped" + (f"; {len(running)} run(s) checkpointed and queued to resume"
                                                          if running else ""))
        return EXIT_OK
    engines = eng.engines(store)
    if not engines:
        console.print(f"no engine has served {store.root}; `gpt-tui engine start` starts one")
    for e in engines:
        d = e.data
        console.print(f"{'[green]alive[/]' if e.alive else '[red]dead[/]'} {e.host} pid {e.pid}, "
                      f"started {d.get('started')}, last beat {human_seconds(e.age_s)} ago, "
                      f"{'GPUs ' + ','.join(map(str, d.get('gpus', []))) if d.get('gpus') else 'CPU'}, "
                      f"{len(d.get('running', []))}/{d.get('slots')} running: {', '.join(d.get('running', [])) or '-'}")
    console.print(f"{len(store.list_queue())} run(s) queued")
    return EXIT_OK if any(e.alive for e in engines) else EXIT_FAILED


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="queue a run for the engine (starting one if none is alive)")
    add_config_options(p)
    p.add_argument("--name", "-n", help="a name for the run (part of its id)")
    p.add_argument("--priority", type=int, default=0, help="-99..99; higher runs first")
    p.add_argument("--wait", "-w", action="store_true", help="follow it with a progress bar to its end")
    p.add_argument("--no-engine", action="store_true", help="only queue it; do not start an engine")

    p = sub.add_parser("ls", help="the trial table of every run")
    p.add_argument("--state", help="only runs in this state (queued, running, done, failed, ...)")
    p.add_argument("--sweep", help="only the trials of this sweep")
    p.add_argument("--sort", choices=trial.SORT_KEYS, help="sort by this column")
    p.add_argument("--reverse", "-r", action="store_true", help="sort descending")

    for name, text in (("show", "a run's status, evaluations and config"), ("stop", "stop a run (checkpoints)"),
                       ("cancel", "take a queued run out of the queue")):
        sub.add_parser(name, help=text).add_argument("run", help="the run id")
    p = sub.add_parser("logs", help="the worker's output")
    p.add_argument("run")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    p.add_argument("--lines", "-n", type=int, default=50)
    for name, text in (("resume", "queue a stopped or failed run to continue from its checkpoint"),
                       ("retry", "a new run with the same config")):
        p = sub.add_parser(name, help=text)
        p.add_argument("run")
        p.add_argument("--priority", type=int, default=0)
        p.add_argument("--no-engine", action="store_true")
    p = sub.add_parser("delete", help="remove a run and its files")
    p.add_argument("run")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p = sub.add_parser("note", help="attach a note to a run (shown in ls)")
    p.add_argument("run")
    p.add_argument("text")
    p = sub.add_parser("priority", help="change a queued run's priority")
    p.add_argument("run")
    p.add_argument("value", type=int)
    p = sub.add_parser("export", help="the trial table as markdown or CSV")
    p.add_argument("--format", choices=("md", "csv"), default="md")
    p.add_argument("--out", "-o", type=__import__("pathlib").Path)
    p.add_argument("--state")
    p.add_argument("--sweep")
    p = sub.add_parser("engine", help="start, stop or inspect the background engine")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--workers", type=int, help="concurrent runs on a CPU-only machine (default 1)")
    p.add_argument("--executor", choices=("local", "slurm", "submitit-local"), default="local",
                   help="where workers run: local processes, or Slurm jobs through submitit")
    p.add_argument("--partition", help="Slurm partition")
    p.add_argument("--gpus-per-run", type=int, default=1, help="GPUs each Slurm job asks for")
    p.add_argument("--time-min", type=float, default=60.0, help="Slurm time limit per job; the run "
                                                                "checkpoints and continues in a new job")
    p.add_argument("--max-jobs", type=int, default=8, help="Slurm jobs in flight at once")


__all__ = ["EXIT_USAGE"]
