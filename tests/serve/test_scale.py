"""Scale: DDP over two CPU processes (gloo, loopback only) and the Slurm path through submitit's
LocalExecutor — real processes, real timeouts, real kills."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from engine.core import config as cfgmod
from engine.serve.executors import worker_command, worker_env
from engine.store import control
from engine.store import runs as st
from tests.serve.test_engine import EngineProc, assert_logged_once, steps_of, wait_all_ended

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

BASE = dict(
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=32,
    batch_size=4,
    gradient_accumulation_steps=2,
    max_iters=30,
    eval_interval=10,
    eval_iters=2,
    log_interval=1,
    warmup_iters=3,
    threads=1,
    device="cpu",
    dropout=0.0,
    seed=11,
)


def make_run(s: st.Store, **changes) -> str:
    cfg = cfgmod.from_mapping({**BASE, **changes})
    return s.create_run(cfgmod.to_toml(cfg), "scale", {"attempts": 1})


def run_worker(s: st.Store, run_id: str, processes: int) -> subprocess.Popen:
    log = open(s.worker_log(run_id), "ab")
    return subprocess.Popen(
        worker_command(s.run_dir(run_id), processes, on_gpus=False),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=worker_env(dict(os.environ), None),
    )


def losses(s: st.Store, run_id: str) -> list[float]:
    return [r["loss"] for t, r in st.read_log(s.metrics_path(run_id)).records if t == "train"]


def listening_addresses(pids: list[int]) -> set[str]:
    found = set()
    for pid in pids:
        try:
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add(conn.laddr.ip)
        except psutil.Error:
            pass
    return found


def rank_pids(s: st.Store, run_id: str) -> dict[int, int]:
    text = s.worker_log(run_id).read_text() if s.worker_log(run_id).exists() else ""
    return {int(rank): int(pid) for pid, rank in re.findall(r"pid (\d+), rank (\d+) of", text)}


def test_ddp_on_two_processes_matches_one_process_with_the_same_effective_batch(store):
    ddp, single = make_run(store, gpus=2), make_run(store, gpus=1)
    proc = run_worker(store, ddp, 2)
    addresses: set[str] = set()
    while proc.poll() is None:
        pids = list(rank_pids(store, ddp).values())
        addresses |= listening_addresses(pids + [proc.pid])  # the launcher and both ranks
        time.sleep(0.1)
    assert proc.returncode == 0, store.worker_log(ddp).read_text()
    assert run_worker(store, single, 1).wait(120) == 0
    got, want = losses(store, ddp), losses(store, single)
    assert len(got) == len(want) == 30
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert_logged_once(store, ddp, 30, 10)  # only rank 0 writes: no step twice
    assert store.status(ddp).processes == 2
    assert set(rank_pids(store, ddp)) == {0, 1}
    assert store.status(ddp).state == "done"
    assert addresses <= {"127.0.0.1", "::1"}, addresses  # nothing listens beyond loopback
    assert not list(store.run_dir(ddp).glob(".rendezvous-*"))


def test_a_dead_rank_ends_the_job_and_the_engine_resumes_it_from_its_checkpoint(store):
    run_id = control.submit(
        store, cfgmod.from_mapping({**BASE, "gpus": 2, "max_iters": 400, "eval_interval": 20, "log_interval": 5}), "ddp"
    )
    engine = EngineProc(store, "--workers", "2")
    try:
        deadline = time.time() + 120
        while len(steps_of(store, run_id, "eval")) < 3 and time.time() < deadline:
            time.sleep(0.1)
        os.kill(rank_pids(store, run_id)[1], signal.SIGKILL)
        status = wait_all_ended(store, [run_id])[run_id]
    finally:
        engine.stop()
    assert status.state == "done" and status.attempts == 2, status
    assert "resumed from step" in store.worker_log(run_id).read_text()
    assert steps_of(store, run_id, "eval") == list(range(0, 401, 20))
    train = steps_of(store, run_id, "train")  # every 5th step, and the first step of each start
    assert train == sorted(set(train)) and train[0] == 1
    assert [s for s in train if s % 5 == 0] == list(range(5, 401, 5))


def test_the_slurm_path_through_submitit_runs_a_run_and_a_timeout_resumes_it(store):
    run_id = control.submit(
        store,
        cfgmod.from_mapping(
            {**BASE, "gradient_accumulation_steps": 1, "max_iters": 3000, "eval_interval": 500, "log_interval": 50}
        ),
        "slurm",
    )
    engine = EngineProc(store, "--executor", "submitit-local", "--time-min", "0.15", "--signal-delay-s", "4")
    try:
        status = wait_all_ended(store, [run_id], timeout=240)[run_id]
    finally:
        engine.stop()
    assert status.state == "done" and status.executor == "slurm"
    assert status.attempts >= 2, "the run finished before any timeout; lengthen it"
    log = store.worker_log(run_id).read_text()
    assert "stopped - signal SIGTERM" in log and "resumed from step" in log
    assert steps_of(store, run_id, "eval") == list(range(0, 3001, 500))
    train = steps_of(store, run_id, "train")  # every 50th step, and the first step of each start
    assert train == sorted(set(train)) and train[0] == 1
    assert [s for s in train if s % 50 == 0] == list(range(50, 3001, 50))
    assert list((store.root / "slurm").glob("*_submitted.pkl"))  # it went through submitit
    assert len(st.read_results(store)) == 1
