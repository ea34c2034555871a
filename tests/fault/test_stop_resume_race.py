"""A stop then an immediate resume, on an engine with free slots, over and over (`s` then `r` in
the app). The stopped worker's exit must settle only its own attempt: one live worker per run at
any moment, every step logged exactly once, and losses identical to an uninterrupted twin."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from engine.serve import engines as eng
from engine.store import control
from engine.store import runs as st
from tests.serve.test_engine import EngineProc, tiny, wait_all_ended

pytestmark = pytest.mark.slow
RACES_PER_RUN = 15  # two runs at once: 30 stop -> resume races
MAX_ITERS = 200


def steps(store: st.Store, run_id: str, table: str) -> list[dict]:
    return [r for t, r in st.read_records(store.metrics_path(run_id)) if t == table]


class WorkerCensus:
    """Counts, many times a second, the live worker processes of each run; records the most seen."""

    def __init__(self, store: st.Store, run_ids: list[str]) -> None:
        self.dirs = {run_id: str(store.run_dir(run_id).resolve()) for run_id in run_ids}
        self.most = {run_id: 0 for run_id in run_ids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            seen: dict[str, dict[int, int]] = {run_id: {} for run_id in self.dirs}
            for proc in psutil.process_iter(["cmdline", "status", "ppid"]):
                cmdline = proc.info["cmdline"] or []
                if "engine.worker" in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    for run_id, run_dir in self.dirs.items():  # a handed-over standby too, by its lock
                        if eng.worker_of(proc.pid, run_dir):
                            seen[run_id][proc.pid] = proc.info["ppid"]
            for run_id, parents in seen.items():
                # Not a worker: a child it forked, its command line the worker's until it execs.
                pids = [pid for pid, ppid in parents.items() if ppid not in parents]
                # A pass over every process is no snapshot: a worker seen early in it may have exited
                # before its successor, seen later, started. Two at once only if both live after it.
                live = [pid for pid in pids if eng.worker_of(pid, self.dirs[run_id])] if len(pids) > 1 else pids
                self.most[run_id] = max(self.most[run_id], len(live))
            time.sleep(0.02)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(5)
        return self.most


def race(store: st.Store, run_id: str, times: int) -> int:
    """Stop the run as soon as its worker runs, resume it the moment it reads `stopped`."""
    done = 0
    deadline = time.time() + 400
    while done < times and time.time() < deadline:
        status = store.status(run_id)
        if status.state == "done":
            break
        if status.state != "running" or not status.pid:
            time.sleep(0.01)
            continue
        try:
            control.stop(store, run_id)
        except control.ControlError:
            continue  # it ended between the read and the request
        while store.status(run_id).state == "running":
            time.sleep(0.005)
        try:
            control.resume(store, run_id)  # while the stopped worker is still on its way out
        except control.ControlError:
            break  # it reached done before the stop landed
        done += 1
    return done


def test_stop_then_resume_at_once_never_runs_two_workers_or_loses_a_step(store):
    config = tiny(max_iters=MAX_ITERS, eval_interval=20, warmup_iters=10)
    twin = control.submit(store, config, "twin")
    runs = [control.submit(store, config, f"raced-{i}") for i in range(2)]
    engine = EngineProc(store, "--workers", "4")
    census = WorkerCensus(store, runs)
    try:
        results: dict[str, int] = {}
        threads = [
            threading.Thread(target=lambda r=r: results.__setitem__(r, race(store, r, RACES_PER_RUN))) for r in runs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = wait_all_ended(store, [twin, *runs], timeout=300)
    finally:
        most = census.stop()
        engine.stop()
    assert most == {r: 1 for r in runs}, f"more than one live worker for a run: {most}"
    want_train, want_eval = steps(store, twin, "train"), steps(store, twin, "eval")
    for run_id in runs:
        assert statuses[run_id].state == "done", statuses[run_id]
        got_train, got_eval = steps(store, run_id, "train"), steps(store, run_id, "eval")
        assert [r["step"] for r in got_train] == list(range(1, MAX_ITERS + 1))
        assert [r["step"] for r in got_eval] == list(range(0, MAX_ITERS + 1, 20))
        assert [r["loss"] for r in got_train] == [r["loss"] for r in want_train]
        assert [r["val_loss"] for r in got_eval] == [r["val_loss"] for r in want_eval]
        assert statuses[run_id].step == MAX_ITERS
    rows = [row.run for row in st.read_results(store)]
    assert sorted(rows) == sorted([twin, *runs])  # one trial-table row each
    assert sum(results.values()) >= 2 * RACES_PER_RUN - 4, results  # nearly every race was run
