"""Finding, starting and stopping engines through their heartbeat files. Light: no torch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from engine.core.hosts import this_host
from engine.store import runs as st

HEARTBEAT_EVERY_S = 2.0
STALE_AFTER_S = 30.0  # an engine on another host is presumed dead after this long without a beat
ENGINE_LOG = "engine.log"


def heartbeat_path(store: st.Store, host: str, pid: int) -> Path:
    return store.root / f"engine-{host}-{pid}.toml"


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


def find_worker(run_dir: str) -> int:
    """The pid of a live `engine.worker RUN_DIR` process on this host, 0 if there is none. A worker
    writes its pid into status.toml only once it has started (imported torch): until then this
    is how a new engine tells a starting worker from a dead one."""
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = p.info["cmdline"] or []
        if "engine.worker" in cmdline and run_dir in cmdline and p.info["status"] != psutil.STATUS_ZOMBIE:
            return int(p.info["pid"])
    return 0


@dataclass(frozen=True)
class EngineInfo:
    path: Path
    record: st.EngineRecord
    alive: bool

    @property
    def host(self) -> str:
        return self.record.host

    @property
    def pid(self) -> int:
        return self.record.pid

    @property
    def age_s(self) -> float:
        return time.time() - self.record.heartbeat_unix


def engines(store: st.Store) -> list[EngineInfo]:
    """Every engine that has a heartbeat file, alive or not; a file that does not fit the schema
    is skipped, so one stray file cannot take down `ls`, `engine status` or `engine start`."""
    out = []
    for path in sorted(store.root.glob("engine-*.toml")):
        try:
            record = st.EngineRecord.from_toml(st.read_toml(path), source=str(path))
        except st.StoreError:
            continue
        fresh = time.time() - record.heartbeat_unix < STALE_AFTER_S
        alive = process_runs(record.pid, "engine") if record.host == this_host() else fresh
        out.append(EngineInfo(path, record, alive))
    return out


def live_engines(store: st.Store) -> list[EngineInfo]:
    return [e for e in engines(store) if e.alive]


def local_engine(store: st.Store) -> EngineInfo | None:
    return next((e for e in live_engines(store) if e.host == this_host()), None)


def host_alive(store: st.Store, host: str) -> bool:
    """Whether some engine of `host` beats; for runs whose worker lives on another machine."""
    return any(e.host == host for e in live_engines(store))


def start_engine(store: st.Store, extra_args: list[str] | None = None, wait_s: float = 60.0) -> EngineInfo:
    """Start a detached engine (its own session, output to the store) and wait for its heartbeat."""
    running = local_engine(store)
    if running is not None:
        return running
    store.ensure()
    log = open(store.root / ENGINE_LOG, "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--runs", str(store.root), *(extra_args or [])],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()
    deadline = time.time() + wait_s
    while time.time() < deadline:
        found = local_engine(store)
        if found is not None:
            return found
        code = proc.poll()
        if code is not None and code != 0:
            raise st.StoreError(f"the engine exited at start (code {code}); see {store.root / ENGINE_LOG}")
        if code == 0 and local_engine(store) is None:
            time.sleep(0.2)  # another engine won the lock; its heartbeat is on its way
        time.sleep(0.1)
    raise st.StoreError(f"the engine did not report within {wait_s:.0f}s; see {store.root / ENGINE_LOG}")


def stop_engine(store: st.Store, wait_s: float = 120.0) -> EngineInfo | None:
    """SIGTERM the local engine; it checkpoints its runs back into the queue and removes its heartbeat."""
    found = local_engine(store)
    if found is None:
        return None
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.time() + wait_s
    while time.time() < deadline and pid_alive(found.pid):
        time.sleep(0.1)
    if pid_alive(found.pid):
        raise st.StoreError(f"engine {found.pid} did not stop within {wait_s:.0f}s")
    return found
