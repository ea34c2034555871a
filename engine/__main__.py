"""`python -m engine`: the engine daemon serving one run store."""

from __future__ import annotations

import os
import signal

import rich_click as click

from engine.serve import engines as eng
from engine.serve.daemon import Engine, hold_lock, log
from engine.serve.executors import LocalExecutor, SlurmExecutor
from engine.serve.options import EngineOptions, engine_options, from_values
from engine.store import runs as st


def make_executor(o: EngineOptions, store: st.Store):
    if o.executor == "local":
        return LocalExecutor()
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
    o = from_values(values)
    log("engine starting")
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
    )
    signal.signal(signal.SIGTERM, engine.request_stop)
    signal.signal(signal.SIGINT, engine.request_stop)
    engine.beat(force=True)
    try:
        engine.serve(until_idle=o.until_idle)
    except Exception:
        engine.heartbeat.unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    serve(prog_name="python -m engine")  # a usage error is printed and exits 2
