"""The worker's process tuning (engine.train.host): malloc keeps freed memory, threads follow the free cores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.train import host

ROOT = Path(__file__).resolve().parents[2]

FAULTS = """
import resource, sys
import numpy as np
from engine.train import host
if sys.argv[1] == "tuned":
    print(host.keep_freed_memory(), file=sys.stderr)
def step():  # a step's activations: buffers of 4 MiB, all freed at its end
    buffers = [np.ones(4 << 20, dtype=np.uint8) for _ in range(4)]
    del buffers
for _ in range(3):  # warm up
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_keeping_freed_memory_stops_the_page_faults_of_big_buffers() -> None:
    # 20 steps of 16 MiB are 81,920 pages: handed back and mapped afresh each step by default
    # (the heap's free top passes glibc's trim threshold; half of them here), reused once kept
    assert page_faults("default") > 20_000
    assert page_faults("tuned") < 2_000


def test_keep_freed_memory_says_what_it_did(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(host.HOST_TUNING_ENV, "0")
    assert "GPT_TUI_HOST_TUNING=0" in host.keep_freed_memory()
    assert host.choose_threads(host.CoreWatch()) == (0, "torch's own thread count (GPT_TUI_HOST_TUNING=0)")


@pytest.mark.parametrize(
    "text, cores",
    [
        ("max 100000", None),
        ("200000 100000", 2.0),
        ("150000 100000", 1.5),
        ("", None),
        ("x y", None),
        ("0 100000", None),
    ],
)
def test_cgroup_quota(text: str, cores: float | None) -> None:
    assert host.cgroup_cores(text) == cores


@pytest.mark.parametrize(
    "cores, busy, threads", [(2, None, 2), (2, 0.3, 2), (2, 0.6, 1), (2, 1.7, 1), (8, 2.4, 6), (1, 0.9, 1)]
)
def test_threads_leave_the_busy_cores(cores: int, busy: float | None, threads: int) -> None:
    assert host.pick_threads(cores, busy) == threads


def test_a_spinning_process_counts_as_a_busy_core() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 3\nwhile time.time() < t: pass"])
    try:
        time.sleep(0.3)  # its start
        watch = host.CoreWatch()
        time.sleep(1.0)
        busy, window = watch.others_busy()
    finally:
        spinner.kill()
        spinner.wait()
    assert window >= 1.0
    assert busy is not None and busy >= 0.5


def test_a_short_look_tells_nothing() -> None:
    busy, _ = host.CoreWatch().others_busy()
    assert busy is None
    assert host.choose_threads(None)[0] == host.usable_cores()


def test_a_resume_computes_with_its_first_attempts_thread_count() -> None:
    import numpy as np
    import torch

    from engine.core.config import RunConfig
    from engine.train.trainer import Trainer

    data = (np.arange(2000) % 50).astype(np.uint16)
    cfg = RunConfig(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=2, device="cpu", threads=0)
    before = torch.get_num_threads()
    other = 2 if (os.cpu_count() or 1) >= 2 else 1
    try:
        payload = Trainer(cfg, data, data, 50, threads=1).state()
        assert torch.get_num_threads() == 1 and payload["threads"] == 1
        resumed = Trainer(cfg, data, data, 50, threads=other)
        assert torch.get_num_threads() == other
        resumed.restore(payload)
        assert torch.get_num_threads() == 1
        resumed.restore({**payload, "threads": 10**6})  # a checkpoint from elsewhere asks too much: ignored
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_standby_worker_judges_by_its_last_complete_look() -> None:
    tuning = host.ProcessTuning()
    tuning.watch = host.CoreWatch()
    tuning.watch.t0 -= 5.0  # a look begun 5 s ago
    tuning.look_again()  # a standby's periodic look: the new one has only just begun
    n, note = tuning.threads(on_cpu=True)
    assert 1 <= n <= host.usable_cores()
    assert "over 5." in note and note.startswith("malloc as it is")
    assert tuning.threads(on_cpu=False) == (0, "malloc as it is")
