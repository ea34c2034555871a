"""Whether a pid is what the store says it is: a live process, a worker of a given run, or the
engine of this very store. Light: no torch.

An engine is this store's only if it holds the store's engine lock, `.engine-<host>.lock`: a pid
and "engine" in a command line are not enough, since a heartbeat file copied with the store
(`cp -a`) names the original's engine, which is alive but serves another directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from engine.store import runs as st


def lock_path(store: st.Store, host: str) -> Path:
    """The flock an engine holds for as long as it serves the store on `host`."""
    return store.root / f".engine-{host}.lock"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        p = psutil.Process(pid)
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def process_runs(pid: int, *needles: str) -> bool:
    """Whether `pid` is alive and its command line holds every needle (guards against pid reuse)."""
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = " ".join(p.cmdline())
    except psutil.Error:
        return False
    return all(n in cmdline for n in needles)


def holds_open(pid: int, path: Path) -> bool | None:
    """Whether process `pid` has the file at `path` open (the same inode, whatever its name there);
    None when its descriptors cannot be read (another user's process)."""
    try:
        want = os.stat(path)
    except OSError:
        return False
    fd_dir = f"/proc/{pid}/fd"
    if os.path.isdir("/proc/self/fd"):
        try:
            names = os.listdir(fd_dir)
        except FileNotFoundError:
            return False
        except OSError:
            return None
        for name in names:
            try:
                held = os.stat(f"{fd_dir}/{name}")
            except OSError:
                continue
            if (held.st_dev, held.st_ino) == (want.st_dev, want.st_ino):
                return True
        return False
    try:
        files = psutil.Process(pid).open_files()
    except psutil.AccessDenied:
        return None
    except psutil.Error:
        return False
    return any(_same_file(f.path, want) for f in files)


def _same_file(path: str, want: os.stat_result) -> bool:
    try:
        held = os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (want.st_dev, want.st_ino)


def serves_store(pid: int, store: st.Store, host: str) -> bool:
    """Whether `pid` is a live engine serving this store on this machine: it holds the store's
    engine lock for `host`. An engine of another directory (the original of a copied store) does
    not, whatever its heartbeat file says. Where its descriptors cannot be read, its command line
    must name this store's root."""
    if not process_runs(pid, "engine"):
        return False
    held = holds_open(pid, lock_path(store, host))
    if held is not None:
        return held
    try:
        root = str(store.root.resolve())
        return root in psutil.Process(pid).cmdline()
    except (OSError, psutil.Error):
        return False


STANDBY_FLAG = "--standby"  # engine.train.standby: its command line names no run


def worker_of(pid: int, run_dir: str) -> bool:
    """Whether `pid` is a live worker of the run in `run_dir`: `engine.worker RUN_DIR`, or the engine's
    standby worker (`engine.worker --standby`) once handed the run, holding its .worker.lock open."""
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = p.cmdline()
    except psutil.Error:
        return False
    return _runs(cmdline, run_dir, pid)


def _runs(cmdline: list[str], run_dir: str, pid: int) -> bool:
    if "engine.worker" not in cmdline:
        return False
    if run_dir in cmdline:
        return True
    return STANDBY_FLAG in cmdline and bool(holds_open(pid, Path(run_dir) / ".worker.lock"))


def find_worker(run_dir: str) -> int:
    """The pid of a live worker of the run in `run_dir` on this host (worker_of), 0 if there is none.
    A worker writes its pid into status.toml only once it has started (imported torch): until then
    this is how a new engine tells a starting worker from a dead one."""
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = p.info["cmdline"] or []
        if p.info["status"] != psutil.STATUS_ZOMBIE and _runs(cmdline, run_dir, int(p.info["pid"])):
            return int(p.info["pid"])
    return 0
