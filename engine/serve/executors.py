"""How the engine starts a run's worker: a local process (the default) or a Slurm job via submitit.

Both give back a Handle the engine polls; neither decides anything about the run — the worker
writes its state to the store, and the engine settles the run from there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.serve.standby import Standby
from engine.store.files import StoreError, check_regular


class Handle(Protocol):
    pid: int

    def ended(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def terminate(self) -> None: ...


def worker_command(run_dir: Path, processes: int, on_gpus: bool = True, store_root: Path | None = None) -> list[str]:
    """`python -m engine.worker RUN_DIR --store ROOT`; for several processes, the same under torchrun
    on GPUs, or under engine.launch on a CPU (loopback only). Neither restarts a rank itself: a dead
    rank ends the job and the engine resumes the run from its checkpoint. The store root is said, not
    taken from the run folder's parent: a worker refuses a run folder that is not in it."""
    store = ["--store", str(store_root)] if store_root is not None else []
    if processes <= 1:
        return [sys.executable, "-m", "engine.worker", str(run_dir), *store]
    if not on_gpus:
        return [sys.executable, "-m", "engine.serve.launch", f"--nproc={processes}", str(run_dir), *store]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "--max-restarts=0",
        "-m",
        "engine.worker",
        str(run_dir),
        *store,
    ]


def worker_env(base: dict[str, str], gpus: list[int] | None) -> dict[str, str]:
    env = dict(base)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # CPU process groups talk over loopback only
    return env


@dataclass
class LocalHandle:
    proc: subprocess.Popen
    from_standby: bool = False  # the engine's standby worker, handed the run

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ended(self) -> bool:
        return self.proc.poll() is not None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def terminate(self) -> None:
        try:
            os.kill(self.proc.pid, signal.SIGTERM)  # torchrun passes it on to every rank
        except ProcessLookupError:
            pass


@dataclass(frozen=True)
class WorkerLaunch:
    """What an executor needs to start one run's worker."""

    run_dir: Path
    log_path: Path
    env: dict[str, str]
    processes: int
    gpus: list[int] | None
    on_gpus: bool
    store_root: Path | None = None


def open_worker_log(path: Path) -> int:
    """worker.log opened to append, as a descriptor. O_NONBLOCK: a FIFO put there with no reader
    fails at once (ENXIO) instead of blocking the engine; anything but a regular file is refused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise StoreError(f"{path} cannot be opened to append ({err.strerror}); remove it if it is no file") from None
    try:
        check_regular(path, os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class LocalExecutor:
    """Workers as local processes; with `standby`, one kept ready (engine.serve.standby) takes the
    next single-process run, and a fresh one is started for every other."""

    name = "local"

    def __init__(self, standby: bool = False, log: Callable[[str], None] = print) -> None:
        self.keep_standby, self.log = standby, log
        self.standby: Standby | None = None

    def upkeep(self, setup: Callable[[], tuple[Path, dict[str, str]]], spare: bool = True) -> None:
        """Called by the engine between its looks at the queue, with what gives the store root and its
        workers' environment, and whether the machine has room for a standby's imports now
        (Standby.upkeep)."""
        if not self.keep_standby:
            return
        if self.standby is None:
            store_root, env = setup()
            self.standby = Standby(store_root, worker_env(env, None), self.log)
        self.standby.upkeep(spare)

    def start(self, w: WorkerLaunch) -> Handle:
        out = open_worker_log(w.log_path)
        try:
            env = worker_env(w.env, w.gpus)
            proc = self.standby.hand_over(w.run_dir, w.store_root, w.processes, env, out) if self.standby else None
            if proc is not None:
                return LocalHandle(proc, from_standby=True)
            proc = subprocess.Popen(
                worker_command(w.run_dir, w.processes, w.on_gpus, w.store_root),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(out)
        return LocalHandle(proc)

    def close(self) -> None:
        if self.standby is not None:
            self.standby.close()


# -- Slurm through submitit --------------------------------------------------------------


class RunJob:
    """What a Slurm job runs: the worker, as a child process.

    On a timeout or a preemption warning submitit calls checkpoint(): the worker is told to
    checkpoint (SIGTERM) and ends `stopped` by a signal; the job ends without asking Slurm to
    requeue it, and the engine queues the run again to resume from that checkpoint — the same
    path as every other interruption, so a run is never resumed twice."""

    def __init__(
        self, run_dir: str, processes: int, env: dict[str, str], on_gpus: bool = True, store_root: str | None = None
    ) -> None:
        self.run_dir, self.processes, self.env, self.on_gpus = run_dir, processes, env, on_gpus
        self.store_root = store_root or str(Path(run_dir).parent)
        self.proc: subprocess.Popen | None = None

    def __call__(self) -> int:
        if _settled(Path(self.store_root), Path(self.run_dir).name):
            return 0
        log_path = Path(self.run_dir) / "worker.log"
        with os.fdopen(open_worker_log(log_path), "ab") as out:
            self.proc = subprocess.Popen(
                worker_command(Path(self.run_dir), self.processes, self.on_gpus, Path(self.store_root)),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=worker_env({**os.environ, **self.env}, None),
            )
        return self.proc.wait()

    def checkpoint(self, *args: Any, **kwargs: Any) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            _wait_exited(self.proc.pid, timeout_s=120)
        print("gpt-tui: the worker checkpointed; the engine resumes the run in a new job", flush=True)
        return None


def _wait_exited(pid: int, timeout_s: float) -> None:
    """Wait for a child to finish without reaping it. This runs inside submitit's signal handler,
    which interrupted Popen.wait() in __call__; a second wait() there would deadlock on its lock."""
    import time

    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _settled(store_root: Path, run_id: str) -> bool:
    """Whether the run already ended for good (a job started for it has nothing to do)."""
    from engine.store import runs as st

    try:
        return st.Store(store_root).status(run_id).settled
    except st.StoreError:
        return False


@dataclass
class SlurmHandle:
    job: Any  # submitit.Job

    @property
    def pid(self) -> int:
        return 0  # the worker runs elsewhere; its status carries its own pid and host

    def ended(self) -> bool:
        return self.job.done()

    @property
    def returncode(self) -> int | None:
        if not self.job.done():
            return None
        try:
            return int(self.job.result())
        except Exception:
            return None

    def terminate(self) -> None:
        self.job.cancel(check=False)


@dataclass
class SlurmExecutor:
    """`gpt-tui engine start --executor slurm --partition P --gpus-per-run N`. With local=True it
    uses submitit's LocalExecutor: the same job path on this machine, for tests and trials."""

    folder: Path
    partition: str | None = None
    gpus_per_run: int = 1
    time_min: int = 60
    local: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = "slurm"

    def upkeep(self, setup: Callable[[], tuple[Path, dict[str, str]]], spare: bool = True) -> None:
        pass  # a job starts its worker on its node: nothing to keep ready here

    def close(self) -> None:
        pass

    def start(self, w: WorkerLaunch) -> Handle:
        import submitit

        if self.local:
            ex = submitit.LocalExecutor(folder=str(self.folder))
            ex.update_parameters(timeout_min=self.time_min, **self.extra)
        else:
            ex = submitit.AutoExecutor(folder=str(self.folder), cluster="slurm")
            ex.update_parameters(
                timeout_min=self.time_min,
                slurm_partition=self.partition,
                gpus_per_node=max(self.gpus_per_run, w.processes),
                tasks_per_node=1,
                nodes=1,
                **self.extra,
            )
        keep = {k: v for k, v in w.env.items() if k.startswith(("GPT_TUI", "TIKTOKEN", "TORCHINDUCTOR"))}
        root = str(w.store_root) if w.store_root is not None else None
        job = ex.submit(RunJob(str(w.run_dir), w.processes, keep, w.on_gpus, root))
        return SlurmHandle(job)
