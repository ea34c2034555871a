"""The engine: claims queued runs, starts one worker process per run, watches them, recovers.

Policy when an engine dies: its workers run in their own sessions and keep training. The next
engine on the host adopts every live worker it finds (by pid and command line) and settles the run
when it ends; a run whose worker is gone is queued again to resume from its checkpoint.

A local engine keeps a standby worker ready (engine.serve.standby): torch imported, it takes the next
run at once. `gpt-tui run` wakes the engine when it queues one (engine.serve.wake).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from engine.core import config as cfgmod
from engine.serve import engines as eng
from engine.serve import upkeep
from engine.serve.devices import gpus
from engine.serve.executors import LocalExecutor, WorkerLaunch
from engine.serve.intake import Intake
from engine.serve.recovery import Recovery, Slot, log
from engine.serve.wake import Nap
from engine.store import runs as st
from engine.store.schema import RunState
from engine.store.ticket import Ticket
from engine.sweeps import driver as sweep_driver

RECOVER_EVERY_S = 5.0
SWEEPS_EVERY_S = 2.0


class NothingToStart(Exception):
    """A ticket whose run needs no worker: it has ended, or its worker is alive."""


@dataclass
class Engine(Recovery, Intake):
    store: st.Store
    workers: int = 1
    max_attempts: int = 3
    poll_s: float = 0.25
    host: str = field(default_factory=eng.this_host)
    executor: Any = field(default_factory=LocalExecutor)
    slots: list[Slot] = field(default_factory=list)
    stopping: bool = False
    lock_fd: int | None = None  # the store's engine lock, held for the engine's life (hold_lock)

    def __post_init__(self) -> None:
        self.pid = os.getpid()
        self.owner = f"{self.host}-{self.pid}"
        self.gpu_ids = [g.index for g in gpus()] if self.executor.name == "local" else []
        self.capacity = len(self.gpu_ids) or self.workers
        self.heartbeat = eng.heartbeat_path(self.store, self.host, self.pid)
        self.started = st.now_iso()
        self._beat_at = self._recover_at = self._sweeps_at = 0.0
        self.watch = upkeep.StoreWatch(self.store, self.host, self.lock_fd)
        self.caps = cfgmod.DeviceCaps(cuda_count=len(self.gpu_ids))

    # -- the loop ----------------------------------------------------------------------
    def serve(self, until_idle: bool = False) -> None:
        log(
            f"engine {self.owner}: serving {self.store.root} with {self.capacity} slot(s)"
            f"{' on GPUs ' + ','.join(map(str, self.gpu_ids)) if self.gpu_ids else ' on CPU'}"
        )
        nap = Nap()
        try:
            self.check_store()
            self.keep_standby()  # first: its imports overlap the engine's own start
            upkeep.remove_dead_heartbeats(self.store, self.host, self.pid, log)
            self.recover()
            while True:
                self.check_store()
                self.settle_ended()
                if self.stopping:
                    self.executor.close()
                    if not self.slots:
                        break
                else:
                    if time.monotonic() - self._recover_at > RECOVER_EVERY_S:
                        self.recover()
                    self.drive_sweeps()
                    self.claim_and_launch()
                    self.keep_standby()
                    if until_idle and not self.slots and not self.store.list_queue():
                        break
                self.beat()
                nap(self.poll_s)
        except Exception as e:
            if self.watch.here():
                raise
            # Whatever failed (a heartbeat, a claim), the cause is the store itself: say that once.
            gone = e if isinstance(e, upkeep.StoreGone) else self.gone()
            upkeep.stop_workers([s.handle for s in self.slots])
            self.slots.clear()
            raise gone from None
        finally:
            self.executor.close()
            nap.close()
        self.heartbeat.unlink(missing_ok=True)
        log(f"engine {self.owner}: stopped")

    def keep_standby(self) -> None:
        # On a CPU, a standby importing torch next to runs that fill every slot would slow them; it
        # waits for a free slot. GPU runs leave the CPU room for it.
        spare = self.used() < self.capacity or bool(self.gpu_ids)
        # The store's path and the workers' environment are wanted once, when a standby is first made.
        self.executor.upkeep(lambda: (self.store.root.resolve(), self.workers_env()), spare)

    def workers_env(self, attempt_id: str | None = None) -> dict[str, str]:
        """This engine's environment, naming it, as its workers get it; with the attempt one serves."""
        env = {**os.environ, "GPT_TUI_ENGINE": self.owner}
        env.pop("GPT_TUI_ATTEMPT", None)
        if attempt_id is not None:
            env["GPT_TUI_ATTEMPT"] = attempt_id
        return env

    def check_store(self) -> None:
        if not self.watch.here():
            raise self.gone()

    def gone(self) -> upkeep.StoreGone:
        return upkeep.StoreGone(
            f"engine {self.owner}: its store {self.store.root} is gone (deleted, moved or replaced); "
            f"it stopped its {len(self.slots)} worker(s) and exits"
        )

    def request_stop(self, signum: int, frame: Any) -> None:
        """SIGTERM: every worker checkpoints; their runs go back to the queue; then exit."""
        if self.stopping:
            return
        self.stopping = True
        log(f"engine {self.owner}: {signal.Signals(signum).name}, checkpointing {len(self.slots)} run(s)")
        for slot in self.slots:
            slot.handle.terminate()

    def beat(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._beat_at < eng.HEARTBEAT_EVERY_S:
            return
        st.write_toml(
            self.heartbeat,
            st.EngineRecord(
                pid=self.pid,
                host=self.host,
                started=self.started,
                heartbeat=st.now_iso(),
                heartbeat_unix=time.time(),
                gpus=list(self.gpu_ids),
                slots=self.capacity,
                running=[s.run_id for s in self.slots],
                queued=len(self.store.list_queue()),
                python=sys.executable,
                executor=self.executor.name,
            ).to_toml(),
        )
        self._beat_at = time.monotonic()

    def drive_sweeps(self) -> None:
        """Create the trials sweeps still need (TPE's come one by one as earlier ones finish)."""
        if time.monotonic() - self._sweeps_at < SWEEPS_EVERY_S:
            return
        self._sweeps_at = time.monotonic()
        try:
            sweep_driver.drive(self.store, log)
        except Exception as e:
            log(f"sweeps: {type(e).__name__}: {e}")

    # -- launching ---------------------------------------------------------------------
    def used(self) -> int:
        return sum(s.width for s in self.slots)

    def free_gpus(self) -> list[int]:
        held = {g for s in self.slots for g in s.gpus}
        return [g for g in self.gpu_ids if g not in held]

    def claim_and_launch(self) -> None:
        self.set_aside_junk()
        while self.used() < self.capacity:
            # A run whose last worker is still exiting (stopped, then resumed at once) waits for
            # it to be settled: one live worker per run, whatever the number of free slots.
            claimed = self.store.claim_next(self.owner, skip={s.run_id for s in self.slots})
            if claimed is None:
                return
            entry, ticket = claimed
            try:
                started = self.launch(entry, ticket)
            except NothingToStart as e:
                log(f"run {entry.run_id}: {e}; its ticket is dropped")
                self.store.release_claim(entry)
                continue
            except Exception as e:
                self.not_started(entry, e)
                continue
            if not started:  # it waits for more free GPUs: back in line, at its place
                os.rename(entry.path, self.store.queue_dir / entry.path.name)
                return
            self.store.release_claim(entry)

    def launch(self, entry: st.QueueEntry, ticket: Ticket) -> bool:
        """Start the run's worker; False when it needs more free slots than there are now."""
        run_id = entry.run_id
        run_dir = self.store.real_run_dir(run_id)  # StoreError for a folder linked out of the store
        if not run_dir.is_dir():
            # Only a ticket written by hand (no attempt id) brings its run folder: a ticket of a
            # run the store made whose folder is gone belongs to a run deleted after the claim.
            if ticket.attempt_id is not None or ticket.config is None:
                raise NothingToStart("its run folder is gone (deleted after its ticket was claimed)")
            self.adopt_hand_written(run_id, ticket)
        cfg = cfgmod.load(self.store.config_path(run_id), caps=self.caps)
        width = cfg.gpus
        if width > self.capacity:
            unit = "GPUs" if self.gpu_ids else "slots (start the engine with --workers N)"
            raise ValueError(f"gpus={width} but this engine has {self.capacity} {unit}")
        if width > self.capacity - self.used():
            return False
        status = self.store.status(run_id)
        state, pid = status.state, status.pid
        # A second ticket for one run is left by an engine killed between its steps (a claim it
        # never released, a requeue next to a recovery): the run has ended or is running already.
        if state not in st.ACTIVE:
            raise NothingToStart(f"it is already {state}")
        if (
            state == RunState.RUNNING
            and pid
            and status.host == self.host
            and eng.worker_of(pid, str(self.store.root.resolve() / run_id))
        ):
            raise NothingToStart(f"its worker {pid} is running already")
        attempt_id = ticket.attempt_id
        held = self.free_gpus()[:width] if self.gpu_ids else []
        # Compare and set: only a ticket of the run's current trip through the queue starts a
        # worker, and only once. A stale ticket (an earlier attempt's, or a duplicate whose twin
        # already started the run) finds the state or the attempt id changed and starts nothing.
        started = self.store.update_status_if(
            run_id,
            lambda s: s.state == RunState.QUEUED and s.attempt_id == attempt_id,
            state=RunState.RUNNING,
            attempts=status.attempts + 1,
            engine=self.owner,
            host=self.host,
            claimed=st.now_iso(),
            pid=0,
            priority=entry.priority,
            executor=self.executor.name,
            gpu_ids=held,
        )
        if started is None:
            now = self.store.status(run_id)
            raise NothingToStart(
                f"its ticket is for attempt {attempt_id}, but the run is {now.state} at attempt {now.attempt_id}"
            )
        attempts = started.attempts
        env = self.workers_env(attempt_id)
        on_gpus = bool(held) if self.executor.name == "local" else cfg.device != "cpu"
        root = self.store.root.resolve()
        launch = WorkerLaunch(root / run_id, self.store.worker_log(run_id), env, width, held, on_gpus, root)
        handle = self.executor.start(launch)
        self.slots.append(Slot(run_id, handle, held, width, attempt_id))
        where = f", GPU {','.join(map(str, held))}" if held else ""
        standby = ", handed to the standby worker" if getattr(handle, "from_standby", False) else ""
        log(
            f"run {run_id}: started worker {handle.pid or self.executor.name} "
            f"(attempt {attempts}, {width} process{'es' if width > 1 else ''}{where}{standby})"
        )
        return True
