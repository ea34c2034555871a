"""The worker as it runs: a real subprocess per run, real files, real SIGKILLs."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.train.worker import EXIT_DIVERGED, EXIT_DONE, EXIT_FAILED, EXIT_OOM, EXIT_SUPERSEDED

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
    eval_iters=4,
    log_interval=1,
    warmup_iters=5,
    learning_rate=3e-3,
    min_lr=3e-4,
    threads=1,
    device="cpu",
    dataset="pydocs",
    tokenizer="char",
    seed=7,
)


def new_run(store: st.Store, **changes) -> str:
    cfg = cfgmod.from_mapping({**TINY, **changes})
    return store.create_run(cfgmod.to_toml(cfg), "tiny", {"source": "test"})


def start(store: st.Store, run_id: str, env: dict | None = None) -> subprocess.Popen:
    status = store.status(run_id)
    store.update_status(run_id, attempts=status.attempts + 1)
    log = open(store.worker_log(run_id), "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def run_to_end(store: st.Store, run_id: str, env: dict | None = None, timeout: float = 180) -> int:
    return start(store, run_id, env).wait(timeout)


def records(store: st.Store, run_id: str, table: str) -> list[dict]:
    return [r for t, r in st.read_log(store.metrics_path(run_id)).records if t == table]


@pytest.fixture
def store(tmp_path: Path) -> st.Store:
    s = st.Store(tmp_path / "runs")
    s.ensure()
    return s


def test_tiny_run_trains_and_records_everything(store):
    run_id = new_run(store)
    assert run_to_end(store, run_id) == EXIT_DONE
    status = store.status(run_id)
    assert status.state == "done" and status.step == 40
    evals = records(store, run_id, "eval")
    assert [e["step"] for e in evals] == [0, 10, 20, 30, 40]
    assert evals[-1]["val_loss"] < evals[0]["val_loss"] - 0.5  # it learns
    assert evals[-1]["val_ppl"] == pytest.approx(math.exp(evals[-1]["val_loss"]))
    train = records(store, run_id, "train")
    assert [r["step"] for r in train] == list(range(1, 41))
    assert all(r["mem_rss"] > 0 and r["tokens_per_s"] > 0 and "mfu" not in r for r in train)
    assert train[-1]["tokens"] == 40 * 8 * 32
    ckpt = store.ckpt_dir(run_id)
    assert (ckpt / "last.pt").exists() and (ckpt / "best.pt").exists()
    row = st.read_results(store)[-1]
    assert row.run == run_id and row.batch == "8 (8x1)" and row.final_val_ppl > 1
    assert row.params == status.params


def test_resumed_run_logs_each_step_once_and_matches_bit_for_bit(store):
    reference = new_run(store, max_iters=60)
    assert run_to_end(store, reference) == EXIT_DONE
    run_id = new_run(store, max_iters=60)
    rng = random.Random(20261127)
    kills = 0
    for _ in range(3):
        proc = start(store, run_id)
        target = rng.randint(12, 55)  # past the first checkpoint, at a random step
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            done = records(store, run_id, "train")
            mine = store.status(run_id).pid == proc.pid  # this attempt has started
            if mine and done and done[-1]["step"] >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.02)
        proc.wait(30)
    assert kills >= 1
    assert run_to_end(store, run_id) == EXIT_DONE
    got, want = records(store, run_id, "train"), records(store, reference, "train")
    assert [r["step"] for r in got] == list(range(1, 61))
    assert [r["loss"] for r in got] == [r["loss"] for r in want]
    got_eval, want_eval = records(store, run_id, "eval"), records(store, reference, "eval")
    assert [(e["step"], e["val_loss"]) for e in got_eval] == [(e["step"], e["val_loss"]) for e in want_eval]
    assert store.status(run_id).attempts == kills + 1


def test_stop_request_checkpoints_and_ends_stopped(store):
    run_id = new_run(store, max_iters=2000, eval_interval=1000)
    proc = start(store, run_id)
    deadline = time.time() + 60
    while not records(store, run_id, "train") and time.time() < deadline:
        time.sleep(0.05)
    st.write_toml(store.control_path(run_id), {"request": "stop"})
    assert proc.wait(60) == EXIT_DONE
    status = store.status(run_id)
    assert status.state == "stopped" and status.reason == "stop requested"
    from engine.train import checkpoint

    assert checkpoint.load(store.ckpt_dir(run_id) / "last.pt")["step"] == status.step > 0


def test_huge_learning_rate_ends_diverged(store):
    run_id = new_run(
        store,
        learning_rate=1.0,
        min_lr=0.1,
        grad_clip=0.0,
        warmup_iters=0,
        weight_decay=0.0,
        max_iters=200,
        eval_interval=100,
    )
    assert run_to_end(store, run_id) == EXIT_DIVERGED
    status = store.status(run_id)
    assert status.state == "diverged" and "lower learning_rate" in status.reason
    assert status.step < 200


def test_out_of_memory_ends_oom_with_memory_readings(store):
    run_id = new_run(store)
    assert run_to_end(store, run_id, env={"GPT_TUI_FAULT": "oom@5"}) == EXIT_OOM
    status = store.status(run_id)
    assert status.state == "oom" and "out-of-memory" in status.reason
    assert status.extra["memory"]["mem_rss"] > 0  # a field only the worker writes
    assert "OutOfMemoryError" in store.worker_log(run_id).read_text()


def test_any_other_exception_ends_failed_with_traceback_in_log(store):
    run_id = new_run(store)
    assert run_to_end(store, run_id, env={"GPT_TUI_FAULT": "error@3"}) == EXIT_FAILED
    status = store.status(run_id)
    assert status.state == "failed" and status.reason.startswith("RuntimeError: injected failure")
    assert "Traceback" in store.worker_log(run_id).read_text()
    assert "\n" not in status.reason


def test_dataset_errors_end_failed_with_the_reason(store, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    run_id = new_run(store, dataset=str(empty))
    assert run_to_end(store, run_id) == EXIT_FAILED
    assert "empty" in store.status(run_id).reason.lower()


def test_block_size_longer_than_the_split_is_refused(store, tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("hello world, " * 20)
    run_id = new_run(store, dataset=str(small), block_size=64)
    assert run_to_end(store, run_id) == EXIT_FAILED
    assert "block_size" in store.status(run_id).reason


def test_a_run_killed_after_its_last_checkpoint_still_reports_its_final_metrics(store):
    run_id = new_run(store, max_iters=20)
    assert run_to_end(store, run_id) == EXIT_DONE
    want = store.status(run_id).final_val_ppl
    # As if killed between the final checkpoint and `done`: state running, results not yet written.
    store.update_status(run_id, state="running", final_val_ppl=None, final_val_loss=None)
    store.results_path.unlink()
    assert run_to_end(store, run_id) == EXIT_DONE
    status = store.status(run_id)
    assert status.final_val_ppl == want
    (row,) = st.read_results(store)
    assert row.final_val_ppl == want
    assert [r["step"] for r in records(store, run_id, "eval")] == [0, 10, 20]


# --- one attempt, one worker (stop -> resume races) -------------------------------------------


def test_a_worker_of_an_earlier_attempt_writes_nothing_and_exits(store):
    run_id = new_run(store)
    store.update_status(run_id, attempt_id="newer", attempts=1)
    before = store.status_path(run_id).read_bytes()
    log = open(store.worker_log(run_id), "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GPT_TUI_ATTEMPT": "older"},
    )
    assert proc.wait(120) == EXIT_SUPERSEDED
    status = store.status(run_id)
    assert status.state == "queued" and status.attempt_id == "newer" and status.pid == 0
    assert st.read_toml(store.status_path(run_id)) == tomllib.loads(before.decode())
    assert not store.metrics_path(run_id).exists() and not (store.ckpt_dir(run_id) / "last.pt").exists()
    assert "queued again while this worker (attempt older)" in store.worker_log(run_id).read_text()


def test_a_second_worker_of_a_run_waits_for_the_first_to_exit(store):
    import fcntl

    run_id = new_run(store, max_iters=10)
    holder = os.open(store.run_dir(run_id) / ".worker.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a previous worker, still on its way out
    proc = start(store, run_id)
    try:
        deadline = time.time() + 60
        while "waiting for the previous worker" not in store.worker_log(run_id).read_text():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        time.sleep(1.0)
        assert store.status(run_id).state == "queued"  # it has touched nothing
        assert not store.metrics_path(run_id).exists()
    finally:
        os.close(holder)
    assert proc.wait(120) == EXIT_DONE
    assert [r["step"] for r in records(store, run_id, "train")] == list(range(1, 11))


def test_a_resume_keeps_a_last_record_whose_blank_line_an_editor_trimmed(store):
    run_id = new_run(store, max_iters=40)
    proc = start(store, run_id)
    deadline = time.time() + 120
    while not records(store, run_id, "train") and time.time() < deadline:
        time.sleep(0.02)
    st.write_toml(store.control_path(run_id), {"request": "stop"})
    assert proc.wait(60) == EXIT_DONE
    stopped_at = store.status(run_id).step
    # An editor that trims trailing newlines: the file stays valid TOML, its last record whole,
    # and that record is the checkpoint's own step, which the resumed run will not log again.
    path = store.metrics_path(run_id)
    path.write_text(path.read_text().rstrip("\n"))
    assert records(store, run_id, "train")[-1]["step"] == stopped_at
    store.control_path(run_id).unlink()
    assert run_to_end(store, run_id) == EXIT_DONE
    assert [r["step"] for r in records(store, run_id, "train")] == list(range(1, 41))
    assert [r["step"] for r in records(store, run_id, "eval")] == [0, 10, 20, 30, 40]
    log = store.worker_log(run_id).read_text()
    assert f"resumed from step {stopped_at}: metrics.toml: " in log and "0 past it dropped" in log
    assert not st.rejected_path(path).exists()


def test_a_results_row_without_its_blank_line_is_kept_when_the_next_run_finishes(store):
    first = new_run(store, max_iters=10)
    assert run_to_end(store, first) == EXIT_DONE
    store.results_path.write_text(store.results_path.read_text().rstrip("\n"))
    assert [row.run for row in st.read_results(store)] == [first]  # readers see it
    second = new_run(store, max_iters=10)
    assert run_to_end(store, second) == EXIT_DONE
    assert [row.run for row in st.read_results(store)] == [first, second]
    assert not st.rejected_path(store.results_path).exists()
