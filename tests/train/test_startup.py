"""The worker's start-up timeline: its phases in status.toml, one line in worker.log per start, and the
time to the first step in `gpt-tui show`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.train import startup

ROOT = Path(__file__).resolve().parents[2]

TINY = dict(
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=32,
    batch_size=8,
    eval_iters=2,
    log_interval=1,
    warmup_iters=5,
    threads=1,
    device="cpu",
    seed=5,
)


def worker(store: st.Store, run_id: str) -> subprocess.Popen:
    store.update_status(run_id, attempts=store.status(run_id).attempts + 1)
    with open(store.worker_log(run_id), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_at_next_record(store: st.Store, run_id: str, past: int) -> None:
    """Start a worker, ask it to stop at its first [[train]] record past step `past`, wait for its end."""
    proc = worker(store, run_id)
    deadline = time.time() + 120
    while not any(t == "train" and r["step"] > past for t, r in st.read_log(store.metrics_path(run_id)).records):
        assert time.time() < deadline and proc.poll() is None, store.worker_log(run_id).read_text()
        time.sleep(0.02)
    st.write_toml(store.control_path(run_id), {"request": "stop"})
    assert proc.wait(60) == 0
    store.control_path(run_id).unlink()


@pytest.fixture(scope="module")
def stopped_then_resumed(tmp_path_factory) -> SimpleNamespace:
    """A tiny run stopped at its first [[train]] record, then resumed and stopped again: its statuses."""
    store = st.Store(tmp_path_factory.mktemp("startup") / "runs")
    store.ensure()
    config = cfgmod.from_mapping({**TINY, "max_iters": 5000, "eval_interval": 2500})
    run_id = store.create_run(cfgmod.to_toml(config), "tiny", {"source": "test"})
    stop_at_next_record(store, run_id, 0)
    first = store.status(run_id)
    stop_at_next_record(store, run_id, first.step)
    return SimpleNamespace(store=store, run_id=run_id, first=first, last=store.status(run_id))


def phases(status: st.Status) -> list[str]:
    return [p["phase"] for p in status.startup]


def test_a_worker_records_its_start_up_phases_in_order_in_status_toml(stopped_then_resumed):
    first = stopped_then_resumed.first
    assert first.state == "stopped"
    assert phases(first) == [
        "imports",
        "lock",
        "config",
        "data",
        "model",
        "records",
        "eval",
        "checkpoint",
        "first step",
    ]
    assert all(p["s"] >= 0 for p in first.startup)
    # startup_s runs from the process start, the phases tile it; first_step_s from the run's creation.
    assert first.startup_s == pytest.approx(sum(p["s"] for p in first.startup), abs=0.02)
    assert first.first_step_s is not None and first.first_step_s >= first.startup_s - 0.05


def test_a_resumed_run_records_its_own_start_up_and_keeps_its_first_step_time(stopped_then_resumed):
    first, last = stopped_then_resumed.first, stopped_then_resumed.last
    assert last.state == "stopped" and last.step > first.step
    assert phases(last) == ["imports", "lock", "config", "data", "model", "restore", "first step"]
    assert last.startup != first.startup
    assert last.first_step_s == first.first_step_s  # the run's time to its first step, not this attempt's


def test_worker_log_has_one_start_up_line_per_start(stopped_then_resumed):
    s = stopped_then_resumed
    lines = [line for line in s.store.worker_log(s.run_id).read_text().splitlines() if "start-up:" in line]
    assert len(lines) == 2, lines
    assert "imports" in lines[0] and "eval" in lines[0]
    assert f"{s.first.startup_s:.2f} s from the worker's start" in lines[0]
    assert f"{s.first.first_step_s:.2f} s from queued" in lines[0]
    assert "restore" in lines[1] and "from queued" not in lines[1]  # no engine claimed it: no second clock


def test_gpt_tui_show_prints_the_time_to_the_first_step_and_the_phases(stopped_then_resumed):
    s = stopped_then_resumed
    out = subprocess.run(
        [sys.executable, "-m", "tui", "show", s.run_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GPT_TUI_RUNS": str(s.store.root), "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    assert re.search(rf"first step +{s.last.first_step_s:.2f} s after it was queued", out.stdout), out.stdout
    assert re.search(rf"start-up +{s.last.startup_s:.2f} s: imports \d+\.\d\d s, ", out.stdout), out.stdout


def test_a_later_attempt_counts_from_the_engine_s_claim_and_leaves_first_step_s_alone():
    written: dict = {}
    said: list[str] = []
    now = time.time()
    status = st.Status(st.RunState.RUNNING, created="2026-01-01T00:00:00.000Z", claimed=st.now_iso(), first_step_s=3.5)
    rec = SimpleNamespace(status=status, write_status=lambda **changes: written.update(changes))
    timeline = startup.Timeline(now - 2.0)
    timeline.mark("imports", now - 1.0)
    timeline.mark("first step", now)
    startup.record(timeline, rec, said.append)
    assert written["startup"] == [{"phase": "imports", "s": 1.0}, {"phase": "first step", "s": 1.0}]
    assert written["startup_s"] == 2.0 and written["first_step_s"] is None
    (line,) = said
    assert line.startswith("start-up: imports 1.00 s, first step 1.00 s: 2.00 s from the worker's start, ")
    assert line.endswith("s from the engine's claim")


CUDA_WATCH = """
import torch, torch.cuda
called = []
for mod, names in ((torch.cuda, ("is_available", "device_count", "_lazy_init", "init", "is_bf16_supported")),
                   (torch._C, ("_cuda_getDeviceCount", "_cuda_init"))):
    for name in names:
        if hasattr(mod, name):
            setattr(mod, name, lambda *a, _name=name, **k: called.append(_name))
from engine.train import startup
startup.preload()
print(called)
"""


def test_the_standby_s_imports_leave_cuda_alone_so_a_run_s_gpus_still_apply():
    """The standby applies a run's CUDA_VISIBLE_DEVICES after its imports: CUDA must not start before."""
    out = subprocess.run([sys.executable, "-c", CUDA_WATCH], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_stop_signal_during_the_imports_ends_the_run_stopped_at_once(tmp_path):
    """A SIGTERM while torch loads (seconds on a busy machine, as when a Slurm job's time runs out)
    ends the worker there, the run `stopped` by the signal (to resume), not left `running`; the
    run then resumes to its end."""
    import signal

    store = st.Store(tmp_path / "runs")
    store.ensure()
    run_id = store.create_run(cfgmod.to_toml(cfgmod.from_mapping({**TINY, "max_iters": 20})), "tiny", {"source": "t"})
    proc = worker(store, run_id)
    time.sleep(0.3)  # python is up; torch takes a second or more to import
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 75, store.worker_log(run_id).read_text()
    status = store.status(run_id)
    assert (status.state, status.reason, status.pid, status.step) == ("stopped", "signal SIGTERM", 0, 0)
    assert "signal SIGTERM while the worker was starting" in store.worker_log(run_id).read_text()
    assert not store.ckpt_dir(run_id).exists() or not any(store.ckpt_dir(run_id).iterdir())
    assert worker(store, run_id).wait(120) == 0
    assert store.status(run_id).state == "done"


@pytest.mark.parametrize("attempt", ["ours", "another"])
def test_a_stop_signal_while_waiting_for_the_run_s_lock_exits_at_once(tmp_path, attempt):
    """A worker waiting for a previous worker's lock (a stop then a quick resume) that is stopped
    exits at once instead of waiting on; it marks the run stopped only while the run is still its
    own attempt (the engine's GPT_TUI_ATTEMPT), never one that has moved on."""
    import fcntl
    import signal

    store = st.Store(tmp_path / "runs")
    store.ensure()
    run_id = store.create_run(cfgmod.to_toml(cfgmod.from_mapping(TINY)), "tiny", {"source": "t"})
    store.update_status(run_id, state="running", attempt_id="a1")
    held = os.open(store.run_dir(run_id) / ".worker.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # the previous worker, still on its way out
    env = {**os.environ, "GPT_TUI_ATTEMPT": "a1" if attempt == "ours" else "a0"}
    with open(store.worker_log(run_id), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env=env,
        )
    deadline = time.time() + 120
    while "waiting for the previous worker" not in store.worker_log(run_id).read_text():
        assert time.time() < deadline and proc.poll() is None, store.worker_log(run_id).read_text()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 75
    os.close(held)
    status = store.status(run_id)
    if attempt == "ours":
        assert (status.state, status.reason) == ("stopped", "signal SIGTERM")
    else:
        assert (status.state, status.attempt_id) == ("running", "a1")
        assert "moved on to another attempt" in store.worker_log(run_id).read_text()
