"""How the engine settles a run whose worker ended, and recovers runs whose worker is gone."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.core import config as cfgmod
from engine.core.errors import GptTuiError
from engine.core.oom import smaller_batch
from engine.serve import engines as eng
from engine.serve.executors import Handle
from engine.store import runs as st
from engine.store.schema import RunState

CLAIM_STALE_S = 60.0
STATUS_STALE_S = 120.0


class LogState:
    """The first write to the engine's log that failed (a full disk, a file size limit), if any."""

    failure: OSError | None = None


def log(message: str) -> None:
    """One line to the engine's output (engine.log), written whole with one write(). A line that
    cannot be written is lost, not the engine: the first failure is kept for the start-up check."""
    line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}\n"
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # a captured stdout (tests)
        print(line, end="", flush=True)
        return
    try:
        os.write(fd, line.encode("utf-8", "replace"))
    except OSError as e:
        if LogState.failure is None:
            LogState.failure = OSError(e.errno, e.strerror, _file_of(fd))


def _file_of(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "the engine's output"


@dataclass
class Adopted:
    """A worker a dead engine left running: watched by pid, no exit code to read."""

    pid: int
    returncode = None

    def ended(self) -> bool:
        return not eng.pid_alive(self.pid)

    def terminate(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


@dataclass
class Slot:
    """One run the engine watches, the GPUs (or CPU slots) it holds, and its worker."""

    run_id: str
    handle: Handle
    gpus: list[int]
    width: int = 1  # slots it takes: its process count
    attempt_id: str | None = None  # the attempt this worker serves; its exit settles only that one

    def ended(self) -> bool:
        return self.handle.ended()


class Recovery:
    """The Engine's half that reads how runs ended and puts them back in line. It uses the
    engine's store, host, owner, slots and max_attempts."""

    def settle_ended(self) -> None:
        for slot in [s for s in self.slots if s.ended()]:
            self.slots.remove(slot)
            with one_run(slot.run_id, "its worker's end was not settled"):
                self.settle(slot.run_id, slot.handle.returncode, slot.attempt_id)

    def settle(self, run_id: str, code: int | None, attempt_id: str | None) -> None:
        """Act on how a worker ended, as its status says (an adopted worker has no exit code).
        Only the worker's own attempt is settled: once the run was queued again (a stop then a
        quick resume), the status belongs to a newer attempt and this exit changes nothing."""
        try:
            status = self.store.status(run_id)
        except st.StoreError as e:
            log(f"run {run_id}: worker ended (code {code}) but its status is unreadable: {e}")
            return
        if status.attempt_id != attempt_id:
            log(
                f"run {run_id}: worker of attempt {attempt_id} ended (code {code}); the run has moved on "
                f"to attempt {status.attempt_id}, which this exit leaves alone"
            )
            return
        state, reason = status.state, status.reason
        log(f"run {run_id}: worker ended (code {code}): {state}{' - ' + reason if reason else ''}")
        if state == RunState.RUNNING:
            self.requeue_or_fail(run_id, status, f"worker exited (code {code}) without finishing")
        elif state == RunState.FAILED and status.retryable:
            self.requeue_or_fail(run_id, status, f"a process of the job failed ({reason})", retryable=None)
        elif state == RunState.OOM:
            self.retry_smaller(run_id, status)
        elif state == RunState.STOPPED and reason.startswith("signal"):
            self.requeue(run_id, status, f"interrupted ({reason}); resuming from its checkpoint")

    def requeue(self, run_id: str, status: st.Status, reason: str, **changes: Any) -> None:
        """Queue the run again, provided its status is still the one `status` read (same state,
        same attempt): a run someone else moved meanwhile is theirs."""
        if (
            self.store.queue_again(
                run_id, {"reason": "resume"}, status.priority, _unchanged(status), reason=reason, pid=0, **changes
            )
            is None
        ):
            log(f"run {run_id}: not queued again; its status changed meanwhile")

    def requeue_or_fail(self, run_id: str, status: st.Status, why: str, **changes: Any) -> None:
        attempts = status.attempts
        if attempts >= self.max_attempts:
            log(f"run {run_id}: failed after {attempts} attempts")
            self.store.update_status_if(
                run_id,
                _unchanged(status),
                state=RunState.FAILED,
                pid=0,
                finished=st.now_iso(),
                reason=f"{why}; gave up after {attempts} attempts",
                **changes,
            )
        else:
            self.requeue(run_id, status, f"{why}; attempt {attempts + 1} resumes from its checkpoint", **changes)

    def retry_smaller(self, run_id: str, status: st.Status) -> None:
        """The seed's advice for out-of-memory: halve the micro-batch, keep the effective batch."""
        cfg = cfgmod.load(self.store.config_path(run_id))
        history = list(status.attempt_history)
        history.append(
            {"batch": cfg.batch_label, "state": str(RunState.OOM), "reason": status.reason, "at": st.now_iso()}
        )
        smaller = smaller_batch(cfg)
        if smaller is None:
            self.store.update_status_if(
                run_id,
                _unchanged(status),
                state=RunState.FAILED,
                attempt_history=history,
                finished=st.now_iso(),
                reason=f"out of memory even at batch_size {cfg.batch_size}",
            )
            return
        # The one change config.toml ever sees after a start: recorded in attempt_history.
        st.write_atomic(self.store.config_path(run_id), cfgmod.to_toml(smaller))
        log(f"run {run_id}: out of memory at {cfg.batch_label}; queued again at {smaller.batch_label}")
        self.store.queue_again(
            run_id,
            {"reason": "oom retry"},
            status.priority,
            _unchanged(status),
            attempt_history=history,
            pid=0,
            reason=f"out of memory at {cfg.batch_label}; retrying at {smaller.batch_label}",
        )

    def recover(self) -> None:
        """Adopt live orphan workers on this host; queue again the runs whose worker is gone."""
        self._recover_at = time.monotonic()
        watched = {s.run_id for s in self.slots}
        ticketed = {e.run_id for e in self.store.list_queue() + self.store.list_claimed()}
        for run_id, status in self.store.statuses().items():
            if isinstance(status, st.StoreError) or run_id in watched:
                continue  # a broken run is left as it is; `ls` names its file and field
            with one_run(run_id, "not recovered"):
                self.recover_run(run_id, status, ticketed)
        self.recover_claims()

    def recover_run(self, run_id: str, status: st.Status, ticketed: set[str]) -> None:
        """Reissue a lost ticket; adopt the run's live worker, or queue the run again without one."""
        if status.state == RunState.QUEUED and run_id not in ticketed:
            self.reissue_ticket(run_id, status)
        if status.state != RunState.RUNNING:
            return
        pid, host = status.pid, status.host
        run_dir = str(self.store.run_dir(run_id).resolve())
        if not status.engine:
            return  # a foreground `gpt-tui train` run: its own command watches it
        if host == self.host:
            if not (pid and eng.worker_of(pid, run_dir)):
                pid = eng.find_worker(run_dir)  # one still starting, its pid not yet written
            if pid:
                self.slots.append(Slot(run_id, Adopted(pid), list(status.gpu_ids), status.processes, status.attempt_id))
                self.store.update_status_if(run_id, _unchanged(status), engine=self.owner)
                log(f"run {run_id}: adopted live worker {pid}")
            else:
                self.requeue_or_fail(run_id, status, "its worker is gone")
        elif self.worker_silent(run_id, status) > STATUS_STALE_S and not eng.host_alive(self.store, host):
            self.requeue_or_fail(run_id, status, f"its worker on {host} stopped beating")

    def reissue_ticket(self, run_id: str, status: st.Status) -> None:
        """A run marked queued whose ticket is gone (an engine died between writing the two)."""
        age = min(_age(status.updated), _age(status.created))
        if age > CLAIM_STALE_S:
            ticket = {"reason": "ticket reissued", "attempt_id": status.attempt_id}
            self.store.enqueue(run_id, {k: v for k, v in ticket.items() if v is not None}, status.priority)
            log(f"run {run_id}: queued without a ticket; ticket reissued")

    def worker_silent(self, run_id: str, status: st.Status) -> float:
        """Seconds since a worker on another machine last showed life: its status or its beat file."""
        try:
            beat = time.time() - (self.store.run_dir(run_id) / "heartbeat").stat().st_mtime
        except FileNotFoundError:
            beat = float("inf")
        return min(beat, _age(status.updated))

    def recover_claims(self) -> None:
        """A ticket claimed by an engine that died before starting the run goes back to the queue."""
        for entry in self.store.list_claimed():
            try:
                age = time.time() - entry.path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > CLAIM_STALE_S:
                try:
                    os.rename(entry.path, self.store.queue_dir / entry.path.name)
                    log(f"run {entry.run_id}: stale claim returned to the queue")
                except FileNotFoundError:
                    pass


@contextmanager
def one_run(run_id: str, what: str) -> Iterator[None]:
    """One run's trouble (a status or config that changed under the engine, a file it cannot
    write) is that run's: logged, and the engine goes on with the others."""
    try:
        yield
    except (GptTuiError, OSError) as e:
        log(f"run {run_id}: {what}: {e}")


def _unchanged(seen: st.Status) -> Callable[[st.Status], bool]:
    """A compare-and-set condition: the status still has the state and attempt that `seen` had."""
    return lambda now: now.state == seen.state and now.attempt_id == seen.attempt_id


def _age(stamp: str) -> float:
    """Seconds since an ISO time the store wrote; infinite when it holds none."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return time.time() - when.timestamp()
