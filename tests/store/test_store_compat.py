"""A store written by the previous main (tests/fixtures/store_v1) opens with today's code: it lists,
shows, exports, trains its queued run from its old ticket and resumes its stopped run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import control
from engine.store import runs as st
from tests.serve.test_engine import EngineProc, wait_all_ended

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "store_v1"
DONE, STOPPED, QUEUED = (
    "20261130-051208-677-old-done-11ad",
    "20261130-051208-681-old-stopped-92f8",
    "20261130-051217-097-old-queued-6a82",
)
pytestmark = pytest.mark.slow


@pytest.fixture
def old_store(tmp_path: Path) -> st.Store:
    shutil.copytree(FIXTURE, tmp_path / "runs")
    (tmp_path / "runs" / "README.md").unlink()
    return st.Store(tmp_path / "runs")


def gpt_tui(store: st.Store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "TIKTOKEN_CACHE_DIR": str(store.root / ".tiktoken")}
    return subprocess.run(
        [sys.executable, "-m", "tui", "--runs", str(store.root), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_old_statuses_read_typed_and_migrate_to_the_current_format(old_store):
    statuses = old_store.statuses()
    assert {run_id: str(s.state) for run_id, s in statuses.items()} == {
        DONE: "done",
        STOPPED: "stopped",
        QUEUED: "queued",
    }
    done = statuses[DONE]
    assert done.format == st.schema.STATUS_FORMAT and done.attempt_id is None and done.step == 20
    assert done.final_val_ppl == pytest.approx(46.5785563) and done.extra["mem_rss"] > 0  # unknown: kept
    old_store.update_status(DONE, reason="touched")
    again = st.read_toml(old_store.status_path(DONE))
    assert again["format"] == st.schema.STATUS_FORMAT and again["mem_rss"] == done.extra["mem_rss"]


def test_the_old_store_lists_shows_and_exports(old_store):
    listed = gpt_tui(old_store, "ls")
    assert listed.returncode == 0, listed.stderr
    for name in ("old-done", "old-stopped", "old-queued"):
        assert name in listed.stdout
    shown = gpt_tui(old_store, "show", DONE)
    assert shown.returncode == 0 and "the old baseline" in shown.stdout and "46.5" in shown.stdout
    csv = gpt_tui(old_store, "export", "--format", "csv")
    assert csv.returncode == 0 and all(run_id in csv.stdout for run_id in (DONE, STOPPED, QUEUED))


def test_the_old_store_trains_its_queued_run_and_resumes_its_stopped_one(old_store):
    control.resume(old_store, STOPPED)
    engine = EngineProc(old_store, "--workers", "2")
    try:
        statuses = wait_all_ended(old_store, [STOPPED, QUEUED], timeout=240)
    finally:
        engine.stop()
    assert {r: str(s.state) for r, s in statuses.items()} == {STOPPED: "done", QUEUED: "done"}, engine.log()
    steps = [r["step"] for t, r in st.read_records(old_store.metrics_path(STOPPED)) if t == "train"]
    assert steps == list(range(1, 121))  # each step once, across the old attempt and the new one
    assert "resumed from step 94" in old_store.worker_log(STOPPED).read_text()
    rows = {row.run for row in st.read_results(old_store)}
    assert rows == {DONE, STOPPED, QUEUED}
