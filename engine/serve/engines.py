"""Finding, starting and stopping engines through their heartbeat files. Light: no torch.

A heartbeat file is only a claim: an engine of this host is alive for this store only if it holds
the store's engine lock (liveness.serves_store), so a file copied with the store names no engine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.core.hosts import this_host
from engine.core.text import printable
from engine.serve.liveness import (  # noqa: F401 - eng.find_worker, eng.lock_path, eng.worker_of
    find_worker,
    lock_path,
    pid_alive,
    serves_store,
    worker_of,
)
from engine.store import runs as st
from engine.store.files import StoreError, open_regular

HEARTBEAT_EVERY_S = 2.0
STALE_AFTER_S = 30.0  # an engine on another host is presumed dead after this long without a beat
ENGINE_LOG = "engine.log"


def heartbeat_path(store: st.Store, host: str, pid: int) -> Path:
    return store.root / f"engine-{host}-{pid}.toml"


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
        alive = serves_store(record.pid, store, record.host) if record.host == this_host() else fresh
        out.append(EngineInfo(path, record, alive))
    return out


def live_engines(store: st.Store) -> list[EngineInfo]:
    return [e for e in engines(store) if e.alive]


def local_engine(store: st.Store) -> EngineInfo | None:
    return next((e for e in live_engines(store) if e.host == this_host()), None)


def host_alive(store: st.Store, host: str) -> bool:
    """Whether some engine of `host` beats; for runs whose worker lives on another machine."""
    return any(e.host == host for e in live_engines(store))


START_REPORT_ENV = "GPT_TUI_ENGINE_START_REPORT"


def start_engine(store: st.Store, extra_args: list[str] | None = None, wait_s: float = 60.0) -> EngineInfo:
    """Start a detached engine (its own session, output to the store) and wait for its heartbeat.
    Until it serves, its standard error comes back here: an engine that cannot start says why,
    even when it could not write its log (a full disk, a file size limit)."""
    running = local_engine(store)
    if running is not None:
        return running
    store.ensure()
    log_path = store.root / ENGINE_LOG
    log_size = _size(log_path)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--runs", str(store.root.resolve()), *(extra_args or [])],
            stdout=log,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, START_REPORT_ENV: "1"},
        )
    assert proc.stderr is not None
    said = StartReport(proc.stderr.fileno())
    try:
        deadline = time.time() + wait_s
        while time.time() < deadline:
            said.read()
            found = local_engine(store)
            if found is not None:
                return found
            code = proc.poll()
            if code is not None and code != 0:
                said.read()
                raise st.StoreError(said.failure(code, log_path, log_size))
            if code == 0 and local_engine(store) is None:
                time.sleep(0.2)  # another engine won the lock; its heartbeat is on its way
            time.sleep(0.1)
    finally:
        proc.stderr.close()
    where = f"; see {log_path}" if _size(log_path) > log_size else ""
    raise st.StoreError(f"the engine did not report within {wait_s:.0f}s{where}")


def started_serving() -> None:
    """Called by the engine once it serves: its standard error, a pipe to the command that started
    it, goes to its log from now on (that command has stopped reading)."""
    if os.environ.pop(START_REPORT_ENV, None):
        os.dup2(sys.stdout.fileno(), sys.stderr.fileno())


class StartReport:
    """What a starting engine wrote on its standard error (the last 64 KiB of it), read without
    blocking, and drained so that the engine never waits on a full pipe."""

    KEEP = 1 << 16

    def __init__(self, fd: int) -> None:
        self.fd, self.text = fd, b""
        os.set_blocking(fd, False)

    def read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, self.KEEP)
            except BlockingIOError:
                return
            if not chunk:
                return
            self.text = (self.text + chunk)[-self.KEEP :]

    def failure(self, code: int, log_path: Path, log_size: int) -> str:
        """The message for an engine that exited at start: its own last word, and its log only
        where something was written there."""
        lines = [printable(line) for line in self.text.decode("utf-8", "replace").splitlines() if line.strip()]
        if self.text:  # a traceback belongs in the log, where the next look at it goes
            try:
                with open(log_path, "ab") as log:
                    log.write(self.text)
            except OSError:
                pass
        wrote = _size(log_path) > log_size
        errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
        if errors:
            return f"the engine could not start: {errors[-1]}"
        said = f": {lines[-1]}" if lines else ""
        if wrote:
            return f"the engine exited at start (code {code}){said}; see {log_path}"
        return (
            f"the engine exited at start (code {code}){said} and could write nothing to {log_path}; "
            f"run `python -m engine --runs {log_path.parent}` in a terminal to see why"
        )


_LOG_TAIL = 64 << 10  # how far back in engine.log the last engine's end is looked for
_ENDED = re.compile(r"^\[([^]]+)\] (engine \S+: (?:stopped|its store .* is gone.*))$")


def last_exit(store: st.Store) -> str:
    """When and how the last engine of this store ended, from the end of engine.log: "stopped at
    TIME" after a clean stop; else the log's last line, which a crash leaves as its error."""
    try:
        fd = open_regular(store.root / ENGINE_LOG)
    except (FileNotFoundError, StoreError):
        return ""
    try:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, _LOG_TAIL, max(0, size - _LOG_TAIL)).decode("utf-8", errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return ""
    if ended := _ENDED.match(lines[-1]):
        return f"{printable(ended.group(2))} at {printable(ended.group(1))}"
    return f"it ended without saying so (killed, or crashed); the log's last line: {printable(lines[-1][:200])}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def stop_engine(store: st.Store, wait_s: float = 120.0) -> EngineInfo | None:
    """SIGTERM this store's engine on this host; it checkpoints its runs back into the queue and
    removes its heartbeat. A process that is not this store's engine is never signalled."""
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


def requeued_at_stop(store: st.Store, stopped: EngineInfo) -> list[str]:
    """The runs a stopped engine checkpointed and queued again: those it was training when the
    stop came, queued now for that reason (a run that had just finished is not among them)."""
    owner = f"{stopped.host}-{stopped.pid}"
    return [
        run_id
        for run_id, status in store.statuses().items()
        if isinstance(status, st.Status)
        and status.state == st.RunState.QUEUED
        and status.engine == owner
        and status.reason.startswith("interrupted (signal SIGTERM)")
    ]
