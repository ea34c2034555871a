"""`python -m engine`: the engine daemon serving one run store."""

from __future__ import annotations

import errno
import os
import signal
import sys

import rich_click as click

from engine.serve import engines as eng
from engine.serve.daemon import Engine, log
from engine.serve.executors import LocalExecutor, SlurmExecutor
from engine.serve.options import EngineOptions, engine_options, from_values
from engine.serve.recovery import LogState
from engine.serve.upkeep import StoreGone, hold_lock
from engine.store import runs as st


def make_executor(o: EngineOptions, store: st.Store):
    if o.executor == "local":
        standby = not o.no_standby and os.environ.get(STANDBY_ENV, "1") != "0"
        return LocalExecutor(standby=standby, log=log)
    return SlurmExecutor(
        folder=store.root / "slurm",
        partition=o.partition,
        gpus_per_run=o.gpus_per_run,
        time_min=o.time_min,
        local=o.executor == "submitit-local",
        extra={"signal_delay_s" if o.executor == "submitit-local" else "slurm_signal_delay_s": o.signal_delay_s},
    )


@click.command(
    "engine",
    help="the engine daemon serving one run store: it claims queued runs and starts their workers",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--runs", metavar="DIR", help="the run store (default: $GPT_TUI_RUNS, else ./runs)")
@engine_options
def serve(runs: str | None, **values) -> None:
    # A file size limit (ulimit -f) would kill the engine with SIGXFSZ and no word of why; ignored,
    # the write fails with EFBIG, and the engine says which file on its standard error.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        run_engine(runs, from_values(values))
    except StoreGone as e:
        sys.exit(say(f"error: {e}", EXIT_STORE_GONE))
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        sys.exit(
            say(
                f"error: the engine cannot write {e.filename or 'its files'} ({e.strerror}): a file size limit "
                "(ulimit -f) or a full disk; raise the limit or free some space, then start it again",
                EXIT_CANNOT_WRITE,
            )
        )


EXIT_STORE_GONE, EXIT_CANNOT_WRITE = 3, 74
STANDBY_ENV = "GPT_TUI_STANDBY"  # "0": no standby worker, for engines the app or `gpt-tui run` starts
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def say(line: str, code: int) -> int:
    """One line on standard error (the engine's log may be the file it cannot write, or gone)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
    return code


def run_engine(runs: str | None, o: EngineOptions) -> None:
    log("engine starting")
    if LogState.failure is not None:
        raise LogState.failure
    st.never_world_writable()  # its workers inherit the mask, and set it again themselves
    if o.host:
        os.environ["GPT_TUI_HOST"] = o.host
    store = st.Store(st.resolve_root(runs).resolve())
    host = eng.this_host()
    lock = hold_lock(store, host)
    if lock is None:
        other = eng.local_engine(store)
        print(f"an engine already serves {store.root} on {host}{f' (pid {other.pid})' if other else ''}; nothing to do")
        return
    engine = Engine(
        store,
        workers=o.max_jobs if o.executor != "local" else o.workers,
        max_attempts=o.max_attempts,
        poll_s=o.poll,
        host=host,
        executor=make_executor(o, store),
        lock_fd=lock,
    )
    signal.signal(signal.SIGTERM, engine.request_stop)
    signal.signal(signal.SIGINT, engine.request_stop)
    engine.beat(force=True)
    eng.started_serving()
    try:
        engine.serve(until_idle=o.until_idle)
    except Exception:
        engine.heartbeat.unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    serve(prog_name="python -m engine")  # a usage error is printed and exits 2
