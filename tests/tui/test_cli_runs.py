"""The run commands from a shell: queue, watch, control, list, export — and their errors."""

from __future__ import annotations

import csv
import io
import os
import signal

import pytest

from engine.serve import engines as eng
from engine.store import runs as st
from tests.tui.test_cli import TINY, gpt_tui, tree


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "runs"
    yield root
    s = st.Store(root)
    for e in eng.engines(s):
        try:
            os.kill(e.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def queue_one(store, *extra: str) -> str:
    out = gpt_tui("run", *TINY, "--no-engine", *extra, store=store)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[1]


@pytest.mark.slow
def test_run_wait_trains_through_a_new_engine_and_ls_shows_it(store):
    out = gpt_tui("run", *TINY, "--name", "first", "--wait", store=store, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "started an engine" in out.stderr and "final val PPL" in out.stdout
    (run_id,) = st.Store(store).list_runs()
    listing = gpt_tui("ls", store=store)
    assert run_id in listing.stdout and "done" in listing.stdout and "32 (32x1)" not in listing.stdout
    assert "16 (16x1)" in listing.stdout and "★" in listing.stdout
    assert gpt_tui("note", run_id, "good start", store=store).returncode == 0
    assert "good start" in gpt_tui("ls", store=store).stdout
    md = gpt_tui("export", "--format", "md", store=store).stdout
    assert md.startswith("| run | state |") and f"**{run_id}** (best)" in md and "good start" in md
    rows = list(csv.DictReader(io.StringIO(gpt_tui("export", "--format", "csv", store=store).stdout)))
    assert rows[0]["run"] == run_id and float(rows[0]["final_val_ppl"]) > 1
    show = gpt_tui("show", run_id, store=store)
    assert "evaluations" in show.stdout and "n_layer = 1" in show.stdout
    assert "resume" in gpt_tui("resume", run_id, store=store).stderr  # a done run: retry, not resume
    status = gpt_tui("engine", "status", store=store)
    assert status.returncode == 0 and "alive" in status.stdout
    assert "stopped" in gpt_tui("engine", "stop", store=store).stdout
    after = gpt_tui("engine", "status", store=store)
    assert after.returncode == 1 and "the last one: engine " in after.stdout and ": stopped at 20" in after.stdout


def test_queue_controls_without_an_engine(store):
    a = queue_one(store, "--name", "a")
    b = queue_one(store, "--name", "b")
    s = st.Store(store)
    assert [e.run_id for e in s.list_queue()] == [a, b]
    assert gpt_tui("priority", b, "5", store=store).returncode == 0
    assert [e.run_id for e in s.list_queue()] == [b, a]
    assert gpt_tui("cancel", a, store=store).returncode == 0
    assert s.status(a).state == "stopped" and [e.run_id for e in s.list_queue()] == [b]
    again = gpt_tui("cancel", a, store=store)
    assert again.returncode == 2 and "not waiting in the queue" in again.stderr
    assert gpt_tui("resume", a, "--no-engine", store=store).returncode == 0
    assert {e.run_id for e in s.list_queue()} == {a, b}
    retried = gpt_tui("retry", b, "--no-engine", store=store)
    assert retried.returncode == 0 and "b-retry" in retried.stdout
    assert len(s.list_runs()) == 3
    refused = gpt_tui("delete", b, store=store)  # stdin is not a terminal: needs --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr and b in s.list_runs()
    assert gpt_tui("delete", b, "--yes", store=store).returncode == 0
    assert b not in s.list_runs() and b not in [e.run_id for e in s.list_queue()]
    stop_queued = gpt_tui("stop", a, store=store)
    assert stop_queued.returncode == 0 and s.status(a).state == "stopped"


@pytest.mark.parametrize(
    "args,words",
    [
        (["show", "../../etc"], "path separator"),
        (["stop", "nope"], "no run 'nope'"),
        (["logs", "a b"], "whitespace"),
        (["priority", "nope", "3"], "no run"),
        (["note", "x\x01y", "hi"], "control character"),
        (["run", "--set", "max_iters=0", "--no-engine"], "max_iters"),
        (["run", "--priority", "500", "--no-engine"], "-99 to 99"),
        (["ls", "--sort", "colour"], "'colour' is not one of"),
        (["export", "--format", "xls"], "'xls' is not one of"),
    ],
)
def test_bad_run_commands_fail_clearly_and_touch_nothing(store, args, words):
    queue_one(store)
    before = tree(store)
    out = gpt_tui(*args, store=store)
    assert out.returncode == 2, out.stdout
    assert words in out.stderr
    assert tree(store) == before


def test_ls_shows_a_broken_run_with_its_reason(store):
    run_id = queue_one(store)
    (store / run_id / "status.toml").write_text("state = \n")
    out = gpt_tui("ls", store=store)
    assert out.returncode == 0 and "broken" in out.stdout and "status.toml" in out.stdout
    show = gpt_tui("show", run_id, store=store)
    assert show.returncode == 0 and "broken" in show.stdout
