"""The disk fills up while a run writes (a file size limit, RLIMIT_FSIZE, stands in for it): the run
ends `failed` saying which file and what to do, the store stays readable, and the engine goes on
to the next run."""

from __future__ import annotations

import pytest

from engine.store import control
from engine.store import runs as st
from engine.train.faults import FSIZE_ENV
from tests.serve.test_engine import EngineProc, assert_logged_once, steps_of, tiny, wait_all_ended
from tests.tui.test_cli import gpt_tui

pytestmark = pytest.mark.slow

# Above every file of the run but its checkpoint. The tiny model's last.pt at step 0 (~65 KB of
# weights: AdamW keeps no state before its first step) fits; at step 10, with AdamW's two moments
# (~190 KB), it does not: the run fails mid-way, in the middle of writing a checkpoint. The small
# dataset keeps the prepared token files (~40 KB) under the limit too. status.toml (~1 KB) is still
# written, so the worker itself records how the run ended; were status.toml the file that failed, the worker would die
# still `running` and the engine would retry it and then fail it after --max-attempts.
LIMIT = 100_000


@pytest.fixture
def small_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("The with statement wraps a block in the methods of a context manager.\n" * 300)
    return path


def test_a_full_disk_fails_the_run_with_the_file_and_what_to_do_and_the_engine_goes_on(store, small_text):
    full = control.submit(store, tiny(seed=5, dataset=str(small_text)), "full")
    after = control.submit(store, tiny(seed=6, dataset=str(small_text)), "after")
    engine = EngineProc(store, env={FSIZE_ENV: f"{LIMIT}:seed=5"})
    try:
        statuses = wait_all_ended(store, [full, after])
        assert engine.proc.poll() is None, engine.log()  # still serving
    finally:
        engine.stop()
    status = statuses[full]
    assert status.state == "failed" and status.attempts == 1, status
    assert status.reason.startswith("disk full or file size limit reached while writing ckpt/last.pt")
    assert "File too large" in status.reason and f"gpt-tui resume {full}" in status.reason
    assert "\n" not in status.reason
    assert steps_of(store, full, "train") == list(range(1, 11))  # it trained, then could not save
    assert not list(store.ckpt_dir(full).glob(".tmp-*")), "the half-written checkpoint takes no more space"
    assert st.read_log(store.metrics_path(full)).skipped == 0
    assert statuses[after].state == "done"  # the next run, in the same engine
    assert_logged_once(store, after)
    assert "Traceback" not in engine.log()

    listing = gpt_tui("ls", store=store.root, COLUMNS="400")
    assert listing.returncode == 0 and "failed" in listing.stdout and "disk full" in listing.stdout
    show = gpt_tui("show", full, store=store.root, COLUMNS="400")
    assert show.returncode == 0 and "ckpt/last.pt" in show.stdout

    # and the advice works: with room again, a resume goes on from the step-0 checkpoint to the end
    control.resume(store, full)
    engine = EngineProc(store)
    try:
        status = wait_all_ended(store, [full])[full]
    finally:
        engine.stop()
    assert status.state == "done", status
    assert_logged_once(store, full)
