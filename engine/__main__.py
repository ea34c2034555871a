"""`python -m engine`: the engine daemon serving one run store."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from engine import engines as eng
from engine import store as st
from engine.daemon import Engine, hold_lock, log


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    p.add_argument("--runs", help="the run store (default: $GPT_TUI_RUNS, else ./runs)")
    p.add_argument("--workers", type=int, default=1, help="concurrent runs on a machine without GPUs")
    p.add_argument("--max-attempts", type=int, default=3, help="worker deaths before a run is failed")
    p.add_argument("--poll", type=float, default=0.25, help="seconds between looks at the queue")
    p.add_argument("--host", help="this engine's host name (default: $GPT_TUI_HOST, else the hostname)")
    p.add_argument("--until-idle", action="store_true", help="exit once the queue is empty and no run is left")
    a = p.parse_args(argv)
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
    engine = Engine(store, workers=a.workers, max_attempts=a.max_attempts, poll_s=a.poll, host=host)
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
