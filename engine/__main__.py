"""`python -m engine`: the engine daemon serving one run store."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from engine.serve import engines as eng
from engine.store import runs as st
from engine.serve.daemon import Engine, hold_lock, log
from engine.serve.executors import LocalExecutor, SlurmExecutor


def make_executor(a: argparse.Namespace, store: st.Store):
    if a.executor == "local":
        return LocalExecutor()
    return SlurmExecutor(folder=store.root / "slurm", partition=a.partition, gpus_per_run=a.gpus_per_run,
                         time_min=a.time_min, local=a.executor == "submitit-local",
                         extra={"signal_delay_s" if a.executor == "submitit-local" else "slurm_signal_delay_s":
                                a.signal_delay_s})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    p.add_argument("--runs", help="the run store (default: $GPT_TUI_RUNS, else ./runs)")
    p.add_argument("--workers", type=int, default=1, help="concurrent runs on a machine without GPUs")
    p.add_argument("--max-attempts", type=int, default=3, help="worker deaths before a run is failed")
    p.add_argument("--poll", type=float, default=0.25, help="seconds between looks at the queue")
    p.add_argument("--host", help="this engine's host name (default: $GPT_TUI_HOST, else the hostname)")
    p.add_argument("--until-idle", action="store_true", help="exit once the queue is empty and no run is left")
    p.add_argument("--executor", choices=("local", "slurm", "submitit-local"), default="local",
                   help="start workers as local processes, as Slurm jobs (submitit), or through "
                        "submitit's local executor (the Slurm path on this machine)")
    p.add_argument("--partition", help="Slurm partition")
    p.add_argument("--gpus-per-run", type=int, default=1, help="GPUs a Slurm job asks for")
    p.add_argument("--time-min", type=float, default=60.0, help="a job's time limit; at its end the run "
                                                                "checkpoints and the job is requeued")
    p.add_argument("--signal-delay-s", type=int, default=90, help="how long before the limit the job is warned")
    p.add_argument("--max-jobs", type=int, default=8, help="Slurm jobs in flight at once")
    a = p.parse_args(argv)
    st.never_world_writable()  # its workers inherit the mask, and set it again themselves
    if a.workers < 1 or a.max_attempts < 1 or a.poll <= 0:
        print("error: --workers and --max-attempts must be at least 1 and --poll above 0", file=sys.stderr)
        return 2
    if a.host:
        os.environ["GPT_TUI_HOST"] = a.host
    store = st.Store(st.resolve_root(a.runs).resolve())
    host = eng.this_host()
    lock = hold_lock(store, host)
    if lock is None:
        other = eng.local_engine(store)
        print(f"an engine already serves {store.root} on {host}"
              f"{f' (pid {other.pid})' if other else ''}; nothing to do")
        return 0
    engine = Engine(store, workers=a.max_jobs if a.executor != "local" else a.workers,
                    max_attempts=a.max_attempts, poll_s=a.poll, host=host, executor=make_executor(a, store))
    signal.signal(signal.SIGTERM, engine.request_stop)
    signal.signal(signal.SIGINT, engine.request_stop)
    engine.beat(force=True)
    try:
        engine.serve(until_idle=a.until_idle)
    except Exception:
        engine.heartbeat.unlink(missing_ok=True)
        raise
    return 0


if __name__ == "__main__":
    log("engine starting")
    sys.exit(main())
