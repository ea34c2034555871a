"""The engine's care of its own ground: its lock on the store, whether the store is still there,
whose heartbeat files are dead, and stopping its workers when the store is gone."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Callable

from engine.core.errors import GptTuiError
from engine.serve import engines as eng
from engine.store import runs as st
from engine.store.files import identity

STOP_WORKERS_WAIT_S = 10.0


class StoreGone(GptTuiError):
    """The store the engine serves was deleted, moved or replaced under it."""


class StoreWatch:
    """The store root an engine started on, and the lock it holds there: a root deleted, moved or
    replaced (the same name, another folder) is no longer here."""

    def __init__(self, store: st.Store, host: str, lock_fd: int | None = None) -> None:
        self.store, self.lock_fd = store, lock_fd
        self.lock = eng.lock_path(store, host)
        self.root_id = identity(store.root)

    def here(self) -> bool:
        if self.root_id is None or identity(self.store.root) != self.root_id:
            return False
        return self.lock_fd is None or identity(self.lock) == fd_identity(self.lock_fd)


def hold_lock(store: st.Store, host: str) -> int | None:
    """One engine per store per host: an flock the kernel releases when the process dies."""
    store.ensure()
    fd = os.open(eng.lock_path(store, host), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def fd_identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def remove_dead_heartbeats(store: st.Store, host: str, own_pid: int, log: Callable[[str], None]) -> None:
    """Heartbeat files of this host's engines that are not alive for this store (killed, or copied
    here with the store) go: this engine holds the host's lock, so none of them serves it now."""
    for info in eng.engines(store):
        if info.host != host or info.pid == own_pid or info.alive:
            continue
        try:
            info.path.unlink()
        except FileNotFoundError:
            continue
        log(f"removed {info.path.name}: engine {info.pid} does not serve this store (it died, or the file was copied)")


def stop_workers(handles: list, wait_s: float = STOP_WORKERS_WAIT_S) -> None:
    """SIGTERM each worker (one whose run folder is gone exits at once, writing nothing), then
    SIGKILL the process group of any still alive after `wait_s`."""
    for handle in handles:
        handle.terminate()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not all(h.ended() for h in handles):
        time.sleep(0.1)
    for handle in handles:
        if not handle.ended() and handle.pid:
            try:
                os.killpg(handle.pid, signal.SIGKILL)  # a worker is its session's leader: its ranks too
            except (ProcessLookupError, PermissionError):
                pass
