"""What keeps a worker to its own run: the run's worker lock, its proof of life, and the refusal
of a run folder that is not a real folder of the store it was told."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

from engine.store import runs as st
from engine.store.schema import RunState
from engine.train.recorder import ATTEMPT_ENV, log

WORKER_LOCK_WAIT_S = 120.0


def hold_worker_lock(run_dir: Path, wait_s: float = WORKER_LOCK_WAIT_S) -> bool:
    """Take the run's worker lock (an flock the kernel drops when this process dies), waiting up
    to `wait_s` for a previous worker to exit. The descriptor stays open for the process's life."""
    fd = os.open(run_dir / ".worker.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            if not waiting:
                log("waiting for the previous worker of this run to exit")
                waiting = True
            time.sleep(0.05)


def start_beating(run_dir: Path, every_s: float = 10.0) -> None:
    """Touch RUN_DIR/heartbeat from a thread: proof of life through long evaluations and data
    preparation, for an engine on another machine (Slurm) deciding whether this worker is gone."""
    import threading

    path = run_dir / "heartbeat"

    def beat() -> None:
        while True:
            try:
                path.touch()
            except OSError:
                pass
            time.sleep(every_s)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def refused(run_dir: Path, store_root: Path) -> str | None:
    """Why the worker will not train in `run_dir`, or None: it must be a real folder, directly in
    the store root, holding a status.toml."""
    if run_dir.is_symlink():
        return f"{run_dir} is a symbolic link (to {os.readlink(run_dir)!r}), not a run folder of the store"
    if run_dir.resolve().parent != store_root.resolve():
        return f"{run_dir} is not a run folder of the store {store_root}"
    if not (run_dir / "status.toml").exists():
        return f"{run_dir} is not a run directory (no status.toml)"
    return None


def stopped_while_starting(store_root: Path, run_dir: Path, reason: str) -> None:
    """A stop signal before the run began (engine.train.startup.StartUpStopped): the run, if it is
    still this worker's attempt and not yet another worker's, becomes `stopped` by that signal, which
    an engine settles as any interruption (it queues the run again to resume from its checkpoint).
    One process of a DDP job speaks for it; a run moved on meanwhile is left as it is."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal does not cut this short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log(f"{reason} while the worker was starting, before the run's first step: it exits at once")
    if os.environ.get("RANK", "0") != "0":
        return
    attempt, pid = os.environ.get(ATTEMPT_ENV) or None, os.getpid()

    def still_ours(s: st.Status) -> bool:
        return s.state in st.ACTIVE and (s.attempt_id or None) == attempt and s.pid in (0, pid)

    try:
        store = st.Store(store_root)
        run_id = st.check_run_id(run_dir.name)
        done = store.update_status_if(
            run_id, still_ours, state=RunState.STOPPED, reason=reason, pid=0, finished=st.now_iso()
        )
    except (st.StoreError, OSError) as e:
        log(f"its status was left as it was: {e}")
        return
    log(f"run {run_id}: " + (f"stopped - {reason}" if done else "left as it was: it has moved on to another attempt"))
