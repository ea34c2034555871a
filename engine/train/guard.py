"""What keeps a worker to its own run: the run's worker lock, its proof of life, and the refusal
of a run folder that is not a real folder of the store it was told."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from engine.train.recorder import log

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
