"""The engine as it runs: real daemons, real workers, SIGKILLs at seeded random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.core import config as cfgmod
from engine.serve import engines as eng
from engine.store import control
from engine.store import runs as st

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

TINY = dict(
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=32,
    batch_size=8,
    max_iters=40,
    eval_interval=10,
    eval_iters=2,
    log_interval=1,
    warmup_iters=5,
    learning_rate=3e-3,
    min_lr=3e-4,
    threads=1,
    device="cpu",
    seed=3,
)


def tiny(**changes) -> cfgmod.RunConfig:
    return cfgmod.from_mapping({**TINY, **changes})


class EngineProc:
    """A `python -m engine` we start, kill and read the log of."""

    def __init__(self, store: st.Store, *args: str, env: dict | None = None) -> None:
        self.store = store
        self.log_path = store.root / f"engine-test-{time.time_ns()}.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "--runs", str(store.root), "--poll", "0.1", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_heartbeat(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e.pid == self.proc.pid for e in eng.engines(self.store)):
                return
            assert self.proc.poll() is None, self.log()
            time.sleep(0.05)
        raise AssertionError(f"no heartbeat: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


def wait_all_ended(store: st.Store, run_ids: list[str], timeout: float = 240) -> dict[str, st.Status]:
    deadline = time.time() + timeout
    statuses: dict[str, st.Status | None] = {}
    while time.time() < deadline:
        statuses = {r: _status(store, r) for r in run_ids}
        if all(s is not None and s.settled for s in statuses.values()):
            return statuses  # type: ignore[return-value] - none is None here
        time.sleep(0.2)
    raise AssertionError(f"runs did not end: {[(r, s and s.state) for r, s in statuses.items()]}")


def _status(store: st.Store, run_id: str) -> st.Status | None:
    try:
        return store.status(run_id)
    except st.StoreError:  # not created yet (a hand-written ticket waits for the engine)
        return None


def steps_of(store: st.Store, run_id: str, table: str) -> list[int]:
    return [r["step"] for t, r in st.read_log(store.metrics_path(run_id)).records if t == table]


def assert_logged_once(store: st.Store, run_id: str, max_iters: int = 40, every: int = 10) -> None:
    assert steps_of(store, run_id, "train") == list(range(1, max_iters + 1))
    assert steps_of(store, run_id, "eval") == list(range(0, max_iters + 1, every))


def test_queued_runs_finish_under_the_engine(store):
    ids = [control.submit(store, tiny(seed=i), f"q{i}") for i in range(2)]
    engine = EngineProc(store, "--workers", "2")
    try:
        statuses = wait_all_ended(store, ids)
    finally:
        engine.stop()
    assert all(s.state == "done" and s.attempts == 1 for s in statuses.values())
    for run_id in ids:
        assert_logged_once(store, run_id)
    assert {row.run for row in st.read_results(store)} == set(ids)
    assert not store.list_queue() and not store.list_claimed()
    assert not list(store.root.glob("engine-*.toml"))  # the heartbeat goes with the engine


def test_workers_killed_at_random_moments_still_finish_each_step_once(store):
    """The moments are seeded numbers of steps into a worker's attempt (0: while it starts), so
    the test kills as often on a fast machine as on a slow one."""
    rng = random.Random(38)
    ids = [control.submit(store, tiny(seed=i, max_iters=120), f"k{i}") for i in range(3)]
    engine = EngineProc(store, "--workers", "2", "--max-attempts", "50")
    kills = 0
    try:
        deadline = time.time() + 240
        while kills < 12 and time.time() < deadline:
            running = [
                (r, s)
                for r, s in store.statuses().items()
                if isinstance(s, st.Status) and s.state == "running" and s.pid
            ]
            if not running:
                if all(store.status(r).state == "done" for r in ids):
                    break
                time.sleep(0.05)
                continue
            run_id, status = rng.choice(running)
            pid, target = status.pid, len(steps_of(store, run_id, "train")) + rng.randint(0, 8)
            while (
                len(steps_of(store, run_id, "train")) < target
                and _status(store, run_id).pid == pid
                and time.time() < deadline
            ):
                time.sleep(0.02)
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        statuses = wait_all_ended(store, ids)
    finally:
        engine.stop()
    assert kills >= 10, f"only {kills} kills landed"
    assert all(s.state == "done" for s in statuses.values()), statuses
    for run_id in ids:
        assert_logged_once(store, run_id, 120, 10)
    assert sum(s.attempts for s in statuses.values()) >= len(ids) + 1


def test_engine_killed_mid_run_its_workers_are_adopted_by_the_next(store):
    ids = [control.submit(store, tiny(seed=i, max_iters=600, eval_interval=50), f"a{i}") for i in range(2)]
    first = EngineProc(store, "--workers", "2")
    while not all(len(steps_of(store, r, "train")) > 3 for r in ids):
        time.sleep(0.1)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    second = EngineProc(store, "--workers", "2")
    try:
        statuses = wait_all_ended(store, ids)
    finally:
        second.stop()
    assert all(s.state == "done" and s.attempts == 1 for s in statuses.values())
    assert second.log().count("adopted live worker") == 2
    for run_id in ids:
        assert_logged_once(store, run_id, 600, 50)


def test_engine_and_workers_killed_a_new_engine_resumes_every_run(store):
    ids = [control.submit(store, tiny(seed=i, max_iters=200, eval_interval=20), f"r{i}") for i in range(2)]
    first = EngineProc(store, "--workers", "2")
    while not all(len(steps_of(store, r, "eval")) >= 2 for r in ids):
        time.sleep(0.1)
    first.proc.send_signal(signal.SIGKILL)
    for run_id in ids:
        os.kill(store.status(run_id).pid, signal.SIGKILL)
    first.proc.wait(10)
    second = EngineProc(store, "--workers", "2")
    try:
        statuses = wait_all_ended(store, ids)
    finally:
        second.stop()
    assert all(s.state == "done" and s.attempts == 2 for s in statuses.values()), statuses
    for run_id in ids:
        assert_logged_once(store, run_id, 200, 20)
        assert "resumed from step" in store.worker_log(run_id).read_text()


def test_two_engines_on_one_store_never_claim_a_run_twice(store):
    ids = [control.submit(store, tiny(seed=i, max_iters=10, eval_interval=5), f"t{i}") for i in range(6)]
    a = EngineProc(store, "--host", "host-a")
    b = EngineProc(store, "--host", "host-b")
    try:
        statuses = wait_all_ended(store, ids)
    finally:
        a.stop()
        b.stop()
    assert all(s.state == "done" and s.attempts == 1 for s in statuses.values())
    started_a = {r for r in ids if f"run {r}: started worker" in a.log()}
    started_b = {r for r in ids if f"run {r}: started worker" in b.log()}
    assert started_a | started_b == set(ids) and not started_a & started_b
    for run_id in ids:
        assert (a.log() + b.log()).count(f"run {run_id}: started worker") == 1


def test_a_second_engine_on_the_same_host_says_so_and_exits_0(store):
    first = EngineProc(store)
    try:
        first.wait_heartbeat()
        out = subprocess.run(
            [sys.executable, "-m", "engine", "--runs", str(store.root)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and "already serves" in out.stdout
        assert len(eng.live_engines(store)) == 1
    finally:
        first.stop()


def test_bad_queue_files_are_set_aside_and_the_engine_keeps_serving(store):
    (store.queue_dir / "junk.toml").write_text("not a ticket")
    bad_ticket_id = st.new_run_id("garbage")
    (store.queue_dir / f"100-{time.time_ns():020d}-{bad_ticket_id}.toml").write_text("run_id = = \n")
    invalid = store.create_run("n_layer = 1\nn_embd = 32\nn_head = 5\n", "invalid", {})
    store.enqueue(invalid, {})
    hand_written = st.new_run_id("by-hand")
    (store.queue_dir / f"100-{time.time_ns():020d}-{hand_written}.toml").write_text(
        f'run_id = "{hand_written}"\n[config]\n'
        + "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in TINY.items()).replace("True", "true")
        + "\n"
    )
    good = control.submit(store, tiny(), "good")
    engine = EngineProc(store)
    try:
        statuses = wait_all_ended(store, [good, invalid, hand_written])
    finally:
        engine.stop()
    assert statuses[good].state == "done" and statuses[hand_written].state == "done"
    assert statuses[invalid].state == "failed"
    assert "n_embd (32) must be divisible by n_head (5)" in statuses[invalid].reason
    aside = {p.name for p in store.bad_dir.iterdir()}
    assert "junk.toml" in aside and "junk.toml.error" in aside
    assert any(bad_ticket_id in name for name in aside)
    assert "not a ticket name" in (store.bad_dir / "junk.toml.error").read_text()


def test_out_of_memory_is_retried_at_half_the_batch_with_the_same_effective_batch(store):
    run_id = control.submit(store, tiny(batch_size=8, gradient_accumulation_steps=2), "oom")
    engine = EngineProc(store, env={"GPT_TUI_FAULT": "oom@3:batch_size=8"})
    try:
        statuses = wait_all_ended(store, [run_id])
    finally:
        engine.stop()
    status = statuses[run_id]
    assert status.state == "done", status
    cfg = cfgmod.load(store.config_path(run_id))
    assert (cfg.batch_size, cfg.gradient_accumulation_steps) == (4, 4)
    assert cfg.effective_batch == 16
    assert [h["batch"] for h in status.attempt_history] == ["16 (8x2)"]
    assert_logged_once(store, run_id)


def test_out_of_memory_at_every_batch_ends_failed_with_the_history(store):
    run_id = control.submit(store, tiny(batch_size=4), "always-oom")
    engine = EngineProc(store, env={"GPT_TUI_FAULT": "oom@2"})
    try:
        status = wait_all_ended(store, [run_id])[run_id]
    finally:
        engine.stop()
    assert status.state == "failed" and "even at batch_size 1" in status.reason
    assert [h["batch"] for h in status.attempt_history] == ["4 (4x1)", "4 (2x2)", "4 (1x4)"]


def test_engine_stop_checkpoints_runs_back_into_the_queue_and_they_resume(store):
    run_id = control.submit(store, tiny(max_iters=300, eval_interval=100), "sigterm")
    first = EngineProc(store)
    while len(steps_of(store, run_id, "train")) < 5:
        time.sleep(0.1)
    first.stop()
    status = store.status(run_id)
    assert status.state == "queued" and "SIGTERM" in status.reason
    assert [e.run_id for e in store.list_queue()] == [run_id]
    second = EngineProc(store)
    try:
        status = wait_all_ended(store, [run_id])[run_id]
    finally:
        second.stop()
    assert status.state == "done"
    assert_logged_once(store, run_id, 300, 100)


def loading_torch(proc: psutil.Process) -> bool:
    """A worker into its imports: torch's library is mapped, its Python modules still loading."""
    try:
        return "engine.worker" in proc.cmdline() and any("libtorch" in m.path for m in proc.memory_maps())
    except psutil.Error:
        return False


def test_engine_stop_while_a_worker_imports_queues_the_run_again_without_counting_a_death(store):
    """SIGTERM reaches a fresh worker while it imports torch (as when a Slurm job's time runs out):
    it exits at once, the run `stopped` by the signal, which the engine queues again like any
    interruption. With one attempt allowed, a death here would fail the run."""
    run_id = control.submit(store, tiny(), "stop-in-imports")
    first = EngineProc(store, "--no-standby", "--max-attempts", "1")
    deadline = time.time() + 60
    while not any(loading_torch(p) for p in psutil.Process(first.proc.pid).children()):
        assert time.time() < deadline and first.proc.poll() is None, first.log()
        time.sleep(0.01)
    first.stop()  # the worker is seconds from its first step: torch is still loading
    status = store.status(run_id)
    log = store.worker_log(run_id).read_text()
    assert "signal SIGTERM while the worker was starting" in log, log
    assert status.state == "queued" and status.reason.startswith("interrupted (signal SIGTERM)"), status
    second = EngineProc(store, "--max-attempts", "1")
    try:
        status = wait_all_ended(store, [run_id])[run_id]
    finally:
        second.stop()
    assert status.state == "done", status
    assert_logged_once(store, run_id)


def test_a_queued_run_whose_ticket_was_lost_gets_a_new_one(store):
    run_id = store.create_run(cfgmod.to_toml(tiny()), "lost-ticket", {})
    store.update_status(run_id, created="2000-01-01T00:00:00.000Z")  # long past the claim window
    engine = EngineProc(store)
    try:
        status = wait_all_ended(store, [run_id])[run_id]
    finally:
        engine.stop()
    assert status.state == "done"
    assert "ticket reissued" in engine.log()
    assert len(st.read_results(store)) == 1
