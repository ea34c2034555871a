"""The engine's standby worker: torch imported ahead of need, handed the next run; gone with its engine
when idle, a run's worker like any other once handed one; and `--no-standby` starts workers afresh.
Also the wake-up `gpt-tui run` sends the engine."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from engine.serve import engines as eng
from engine.store import control
from engine.store import runs as st
from tests.fault.test_engine_trust import wait_for as wait_up_to
from tests.serve.test_engine import ROOT, EngineProc, assert_logged_once, tiny, wait_all_ended

pytestmark = pytest.mark.slow
wait_for = functools.partial(wait_up_to, timeout=90)  # a standby's imports take seconds on a busy machine


def standby_of(engine: EngineProc) -> psutil.Process | None:
    try:
        kids = psutil.Process(engine.proc.pid).children()
    except psutil.NoSuchProcess:
        return None
    return next((k for k in kids if "--standby" in k.cmdline()), None)


def wait_gone(proc: psutil.Process, timeout: float = 60) -> None:
    wait_for(lambda: not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, timeout=timeout)


def test_an_engine_hands_a_run_to_its_standby_worker_and_the_run_finishes_done(store):
    engine = EngineProc(store)
    try:
        standby = wait_for(lambda: standby_of(engine))
        run_id = control.submit(store, tiny(), "handed")
        (status,) = wait_all_ended(store, [run_id]).values()
        wait_for(lambda: f"run {run_id}: worker ended" in engine.log())
    finally:
        engine.stop()
    assert status.state == "done" and status.attempts == 1
    assert_logged_once(store, run_id)
    assert [row.run for row in st.read_results(store)] == [run_id]
    assert f"run {run_id}: started worker {standby.pid} (attempt 1, 1 process, handed to the standby worker)" in (
        engine.log()
    )
    assert f"run {run_id}: worker ended (code 0): done" in engine.log()  # its exit code, as a fresh worker's
    log = store.worker_log(run_id).read_text()
    assert f"standby worker {standby.pid}: handed the run" in log
    assert "s from the hand-over to the standby worker" in log
    assert status.startup[0]["phase"] in ("imports", "hand-over") and status.startup[-1]["phase"] == "first step"
    wait_gone(standby)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(store.root) in " ".join(p.info["cmdline"] or [])]


def test_a_killed_engine_leaves_no_idle_standby_behind(store):
    engine = EngineProc(store)
    standby = wait_for(lambda: standby_of(engine))
    engine.proc.send_signal(signal.SIGKILL)
    engine.proc.wait(10)
    wait_gone(standby)  # its input ends: it exits, once past its imports


def test_a_handed_over_worker_outlives_a_killed_engine_and_the_next_engine_adopts_it(store):
    run_id = control.submit(store, tiny(max_iters=1_000_000, eval_interval=1000), "adopted")
    first = EngineProc(store)
    standby = wait_for(lambda: standby_of(first))
    wait_for(lambda: store.status(run_id).pid == standby.pid and store.status(run_id).step >= 5)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    run_dir = str(store.run_dir(run_id).resolve())
    assert eng.find_worker(run_dir) == standby.pid  # by the .worker.lock it holds: its command line names no run
    assert eng.worker_of(standby.pid, run_dir)
    second = EngineProc(store)
    try:
        wait_for(lambda: f"run {run_id}: adopted live worker {standby.pid}" in second.log())
        step = store.status(run_id).step
        wait_for(lambda: store.status(run_id).step > step)  # it still trains
        control.stop(store, run_id)
        (status,) = wait_all_ended(store, [run_id]).values()
    finally:
        second.stop()
    assert status.state == "stopped" and status.attempts == 1
    train = [r["step"] for t, r in st.read_log(store.metrics_path(run_id)).records if t == "train"]
    assert train == list(range(1, status.step + 1))


@pytest.mark.parametrize("off", [{"args": ["--no-standby"]}, {"env": {"GPT_TUI_STANDBY": "0"}}], ids=["option", "env"])
def test_an_engine_with_no_standby_starts_each_worker_afresh(store, off):
    engine = EngineProc(store, *off.get("args", []), env=off.get("env"))
    try:
        engine.wait_heartbeat()
        run_id = control.submit(store, tiny(max_iters=10), "fresh")
        (status,) = wait_all_ended(store, [run_id]).values()
        assert standby_of(engine) is None
    finally:
        engine.stop()
    assert status.state == "done"
    assert "handed to the standby worker" not in engine.log()
    assert "s from the worker's start" in store.worker_log(run_id).read_text()
    assert [p["phase"] for p in status.startup][0] == "imports"


def test_gpt_tui_run_wakes_an_engine_that_would_look_at_the_queue_only_in_a_minute(store):
    engine = EngineProc(store, "--no-standby", "--poll", "60")
    try:
        engine.wait_heartbeat()
        time.sleep(1.0)  # it has looked once, and sleeps
        args = ["--preset", "quickstart", "--set", "max_iters=5", "--set", "n_layer=1", "--set", "n_embd=32"]
        out = subprocess.run(
            [sys.executable, "-m", "tui", "run", *args, "--set", "eval_iters=1", "--set", "device=cpu"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GPT_TUI_RUNS": str(store.root)},
        )
        assert out.returncode == 0, out.stderr
        (run_id,) = store.list_runs()
        wait_for(lambda: store.status(run_id).state != "queued", timeout=30)
    finally:
        engine.stop()


def test_a_standby_takes_only_a_single_process_launch_whose_environment_differs_in_what_each_launch_sets(tmp_path):
    from engine.serve.standby import Standby

    env = {"PATH": "/bin", "OMP_NUM_THREADS": "2", "GPT_TUI_ENGINE": "e"}
    standby = Standby(tmp_path, env, lambda line: None)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    standby.proc = sleeper = subprocess.Popen(["sleep", "60"])
    standby.sock = ours
    run_dir = tmp_path / "run-1"
    log_fd = os.open(tmp_path / "worker.log", os.O_WRONLY | os.O_CREAT)
    try:
        assert standby.hand_over(run_dir, tmp_path, 2, env, log_fd) is None  # DDP: fresh processes
        assert standby.hand_over(run_dir, tmp_path / "other", 1, env, log_fd) is None
        assert standby.hand_over(run_dir, tmp_path, 1, {**env, "OMP_NUM_THREADS": "1"}, log_fd) is None
        launch = {**env, "CUDA_VISIBLE_DEVICES": "1", "GPT_TUI_ATTEMPT": "a1"}
        proc = standby.hand_over(run_dir, tmp_path, 1, launch, log_fd)
        assert proc is not None and standby.proc is None  # the run's worker now, not the standby
        data, fds, _, _ = socket.recv_fds(theirs, 1 << 20, 1)
        message = json.loads(data)
        assert message["run_dir"] == str(run_dir) and message["env"] == launch and len(fds) == 1
        assert os.fstat(fds[0]).st_ino == os.fstat(log_fd).st_ino  # worker.log, opened by the engine
        os.close(fds[0])
        assert socket.recv_fds(theirs, 1 << 20, 1)[0] == b""  # then the end: one run per standby
    finally:
        sleeper.kill()
        sleeper.wait()
        os.close(log_fd)
        theirs.close()


@pytest.mark.parametrize("handed", [True, False], ids=["handed-a-run", "idle"])
def test_a_stop_signal_while_the_standby_imports_stops_its_run_or_ends_an_idle_standby(store, handed):
    """Handed a run while still importing torch, then stopped (an engine stopped right after it
    started): the run ends `stopped` by the signal, resumable, not left `running` for a death to be
    counted. An idle standby dies of the signal at once, as before."""
    from engine.serve.standby import Standby
    from tests.serve.test_engine import loading_torch

    run_id = control.submit(store, tiny(), "standby-stop")
    attempt = store.update_status(run_id, state="running").attempt_id  # claimed, as an engine does
    env = dict(os.environ)
    standby = Standby(store.root, env, lambda line: None)
    standby.spawn()
    proc = standby.proc
    assert proc is not None
    try:
        if handed:
            log_fd = os.open(store.worker_log(run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            launch = {**env, "GPT_TUI_ATTEMPT": attempt}
            assert standby.hand_over(store.run_dir(run_id), store.root, 1, launch, log_fd) is proc
            os.close(log_fd)
        wait_for(lambda: loading_torch(psutil.Process(proc.pid)), every=0.01)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        standby.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = store.status(run_id)
    if handed:
        assert code == 75, store.worker_log(run_id).read_text()
        assert (status.state, status.reason, status.pid) == ("stopped", "signal SIGTERM", 0)
        assert "signal SIGTERM while the worker was starting" in store.worker_log(run_id).read_text()
    else:
        assert code == -signal.SIGTERM
        assert status.state == "running"  # untouched: no run was handed to it
