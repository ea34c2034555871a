"""How the engine starts a run's worker: a local process (the default) or a Slurm job via submitit.

Both give back a Handle the engine polls; neither decides anything about the run — the worker
writes its state to the store, and the engine settles the run from there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Handle(Protocol):
    pid: int

    def ended(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def terminate(self) -> None: ...


def worker_command(run_dir: Path, processes: int) -> list[str]:
    """`python -m engine.worker RUN_DIR`, or the same under torchrun for a multi-process run.
    torchrun never restarts a rank itself: a dead rank ends the job and the engine resumes the run."""
    if processes <= 1:
        return [sys.executable, "-m", "engine.worker", str(run_dir)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "--max-restarts=0", "-m", "engine.worker", str(run_dir)]


def worker_env(base: dict[str, str], gpus: list[int] | None) -> dict[str, str]:
    env = dict(base)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # CPU process groups talk over loopback only
    return env


@dataclass
class LocalHandle:
    proc: subprocess.Popen

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


class LocalExecutor:
    name = "local"

    def start(self, run_dir: Path, log_path: Path, env: dict[str, str], processes: int,
              gpus: list[int] | None) -> Handle:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(worker_command(run_dir, processes), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=worker_env(env, gpus), start_new_session=True)
        return LocalHandle(proc)


# -- Slurm through submitit --------------------------------------------------------------

class RunJob:
    """What a Slurm job runs: the worker, as a child process. On a timeout or preemption submitit
    calls checkpoint(): the worker is told to checkpoint (SIGTERM) and the job is requeued, so the
    next allocation resumes the run from that checkpoint."""

    def __init__(self, run_dir: str, processes: int, env: dict[str, str]) -> None:
        self.run_dir, self.processes, self.env = run_dir, processes, env
        self.proc: subprocess.Popen | None = None

    def __call__(self) -> int:
        log_path = Path(self.run_dir) / "worker.log"
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(worker_command(Path(self.run_dir), self.processes), stdout=out,
                                         stderr=subprocess.STDOUT, env=worker_env({**os.environ, **self.env}, None))
        return self.proc.wait()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        _mark_requeued(Path(self.run_dir))
        return submitit.helpers.DelayedSubmission(RunJob(self.run_dir, self.processes, self.env))


def _mark_requeued(run_dir: Path) -> None:
    from engine import store as st

    store = st.Store(run_dir.parent)
    run_id = run_dir.name
    status = store.read_status(run_id)
    if status.get("state") in ("stopped", "running"):
        store.update_status(run_id, state="running", reason="requeued by Slurm (timeout or preemption)",
                            attempts=int(status.get("attempts", 0)) + 1)


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
        except Exception:  # noqa: BLE001 - a failed job has no exit code to give
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

    def start(self, run_dir: Path, log_path: Path, env: dict[str, str], processes: int,
              gpus: list[int] | None) -> Handle:
        import submitit

        if self.local:
            ex = submitit.LocalExecutor(folder=str(self.folder))
            ex.update_parameters(timeout_min=self.time_min, **self.extra)
        else:
            ex = submitit.AutoExecutor(folder=str(self.folder), cluster="slurm")
            ex.update_parameters(timeout_min=self.time_min, slurm_partition=self.partition,
                                 gpus_per_node=max(self.gpus_per_run, processes), tasks_per_node=1,
                                 nodes=1, **self.extra)
        keep = {k: v for k, v in env.items() if k.startswith(("GPT_TUI", "TIKTOKEN", "TORCHINDUCTOR"))}
        job = ex.submit(RunJob(str(run_dir), processes, keep))
        return SlurmHandle(job)
