"""SIGKILL at seeded random moments: of workers, of the engine, and of both at once (a machine
that loses power), through a queue of runs and through a grid sweep. Whatever dies, every run ends
`done` and logs each step once, and the sweep's table is whole."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import psutil
import pytest

from engine.store import control
from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import report
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice
from tests.serve.test_engine import (
    TINY,
    EngineProc,
    assert_logged_once,
    tiny,
    wait_all_ended,
)

pytestmark = pytest.mark.slow
ENGINE_ARGS = ("--workers", "2", "--max-attempts", "50")


class Chaos:
    """Kills at seeded random moments. A killed engine is replaced at once by a new one, as the next
    `gpt-tui` command would do; it adopts the workers still alive and requeues the others."""

    def __init__(self, store: st.Store, seed: int) -> None:
        self.store, self.rng = store, random.Random(seed)
        self.engine = EngineProc(store, *ENGINE_ARGS)
        self.landed: Counter[str] = Counter()

    def running_workers(self) -> list[int]:
        return [
            s.pid for s in self.store.statuses().values() if isinstance(s, st.Status) and s.state == "running" and s.pid
        ]

    def kill_engine(self) -> None:
        self.engine.proc.send_signal(signal.SIGKILL)
        self.engine.proc.wait(10)

    def kill_workers(self, pids: list[int]) -> int:
        landed = 0
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                landed += 1
            except ProcessLookupError:
                pass
        return landed

    def strike(self, what: str) -> None:
        """One kill: a running worker, the engine, or the engine and every worker, starting or running
        (a machine that loses power)."""
        if what == "worker":
            deadline = time.time() + 5
            while time.time() < deadline:
                workers = self.running_workers()
                if workers and self.kill_workers([self.rng.choice(workers)]):
                    self.landed["worker"] += 1
                    return
                time.sleep(0.05)
            return
        workers = self.running_workers() + [
            p.pid for p in psutil.Process(self.engine.proc.pid).children(recursive=True)
        ]
        self.kill_engine()
        self.landed["engine"] += 1
        if what == "both":
            self.landed["worker"] += self.kill_workers(workers)
        self.engine = EngineProc(self.store, *ENGINE_ARGS)

    def run(self, finished, plan: tuple[str, ...] = ("worker", "engine", "worker", "both") * 2) -> None:
        """The plan's kills in turn, each after a seeded random pause."""
        for what in plan:
            time.sleep(self.rng.uniform(0.5, 2.0))
            if finished():
                break
            self.strike(what)

    def stop(self) -> None:
        self.engine.stop()


def settled(store: st.Store, run_ids: list[str]) -> bool:
    statuses = [store.status(r) for r in run_ids]
    return all(s.settled for s in statuses)


def test_a_queue_outlives_workers_and_engines_killed_at_random_moments(store):
    ids = [control.submit(store, tiny(seed=i, max_iters=60), f"chaos{i}") for i in range(3)]
    chaos = Chaos(store, seed=801)
    try:
        chaos.run(finished=lambda: settled(store, ids))
        statuses = wait_all_ended(store, ids, timeout=180)
    finally:
        chaos.stop()
    print(f"kills that landed: {dict(chaos.landed)}")
    assert chaos.landed["engine"] >= 3 and chaos.landed["worker"] >= 3, chaos.landed
    assert all(s.state == "done" for s in statuses.values()), statuses
    for run_id in ids:
        assert_logged_once(store, run_id, 60, 10)
    assert {row.run for row in st.read_results(store)} == set(ids)
    assert not store.list_queue() and not store.list_claimed()


def test_a_grid_sweep_outlives_workers_and_engines_killed_at_random_moments(store):
    spec = sw.SweepSpec(
        id="chaos", method="grid", base={**TINY, "max_iters": 60}, params={"learning_rate": Choice((2e-3, 3e-3, 5e-3))}
    )
    record = sf.create(store, sp.plan(spec))
    ids = record.run_ids()
    chaos = Chaos(store, seed=802)
    try:
        chaos.run(finished=lambda: settled(store, ids))
        statuses = wait_all_ended(store, ids, timeout=180)
        deadline = time.time() + 30  # the engine's sweep driver marks it finished on its next pass
        while not sf.load(store, "chaos").finished and time.time() < deadline:
            time.sleep(0.2)
    finally:
        chaos.stop()
    print(f"kills that landed: {dict(chaos.landed)}")
    assert chaos.landed["engine"] >= 3 and chaos.landed["worker"] >= 3, chaos.landed
    assert [statuses[r].state for r in ids] == ["done"] * 3, statuses
    for run_id in ids:
        assert_logged_once(store, run_id, 60, 10)
    assert sf.load(store, "chaos").finished
    table = report.build(store, "chaos")
    assert [(r.trial, r.values["learning_rate"], r.state) for r in table.rows] == [
        ("t001", 2e-3, "done"),
        ("t002", 3e-3, "done"),
        ("t003", 5e-3, "done"),
    ]
    assert [r.final_val_ppl for r in table.rows] == [statuses[r].final_val_ppl for r in ids]
    assert table.best in (1, 2, 3)
