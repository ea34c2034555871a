"""The store's typed files: status.toml and the engine heartbeat, read back as written or refused by name."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from engine.serve import engines as eng
from engine.store import runs as st

ROOT = Path(__file__).resolve().parents[2]
RUN = "20260101-090000-000-baseline-0a01"


def through_toml(data: dict) -> dict:
    """What a reader gets back from a file written with `data`."""
    return tomllib.loads(tomli_w.dumps(data))


# -- Status -------------------------------------------------------------------------------


def test_a_status_round_trips_through_toml_with_unknown_keys_kept():
    status = st.Status(
        st.RunState.RUNNING,
        name="a",
        pid=4242,
        step=30,
        max_iters=100,
        gpu_ids=[0, 1],
        loss=1.25,
        retryable=True,
        attempt_history=[{"batch": "16 (8x2)"}],
        extra={"memory": {"mem_rss": 1024}, "from_a_newer_writer": "kept"},
    )
    back = st.Status.from_toml(through_toml(status.to_toml()))
    assert back == status
    assert back.extra == {"memory": {"mem_rss": 1024}, "from_a_newer_writer": "kept"}
    assert back.state is st.RunState.RUNNING and back.state == "running"


def test_a_status_leaves_out_defaults_but_keeps_pid_and_attempts():
    data = st.Status(st.RunState.QUEUED).to_toml()
    assert data == {"format": st.schema.STATUS_FORMAT, "state": "queued", "attempts": 0, "pid": 0}
    back = st.Status.from_toml(data)
    assert (back.reason, back.sweep, back.trial, back.loss, back.gpu_ids) == ("", "", None, None, [])


def test_a_format_1_status_reads_as_the_current_format():
    back = st.Status.from_toml({"state": "done", "step": 20, "format": 1})
    assert back.format == st.schema.STATUS_FORMAT and back.attempt_id is None and back.step == 20


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [
        ("step", "abc", "a whole number from 0"),  # wrong type
        ("step", 1.5, "a whole number from 0"),
        ("pid", True, "a whole number from 0"),  # a bool is not a number here
        ("step", -1, "a whole number from 0"),  # out of range
        ("priority", 100, "a whole number from -99 to 99"),
        ("processes", 0, "a whole number from 1"),
        ("gpu_ids", [0, "1"], "a list of GPU indices"),
        ("reason", 3, "a string"),
        ("loss", "low", "a number"),
        ("state", "finished", "one of queued, running"),  # not a state
    ],
)
def test_a_status_field_that_does_not_fit_is_refused_naming_the_file_and_field(key, value, what):
    with pytest.raises(st.SchemaError) as err:
        st.Status.from_toml({"state": "running", key: value}, source="runs/x/status.toml")
    assert str(err.value).startswith(f"runs/x/status.toml: {key} = ") and what in str(err.value)


def test_a_status_without_a_state_is_refused():
    with pytest.raises(st.SchemaError, match="status.toml has no state"):
        st.Status.from_toml({"step": 3})


def test_a_status_changed_sets_known_fields_and_keeps_unknown_ones_apart():
    status = st.Status(st.RunState.RUNNING, reason="r", extra={"x": 1})
    changed = status.changed(state="failed", reason=None, x=None, y=2)
    assert changed.state is st.RunState.FAILED and changed.reason == "" and changed.extra == {"y": 2}
    assert status.extra == {"x": 1}  # a copy


# -- EngineRecord --------------------------------------------------------------------------


def record(**changes) -> st.EngineRecord:
    fields = dict(
        pid=4242,
        host="box",
        started="2026-01-01T00:00:00.000Z",
        heartbeat="2026-01-01T00:00:02.000Z",
        heartbeat_unix=1767225602.5,
        gpus=[0, 1],
        slots=2,
        running=[RUN],
        queued=3,
        python="/usr/bin/python3",
        executor="local",
    )
    return st.EngineRecord(**{**fields, **changes})


def test_an_engine_record_round_trips_through_toml_with_unknown_keys_kept():
    written = record(extra={"from_a_newer_engine": [1, 2]})
    data = written.to_toml()
    assert data["running"] == [RUN] and data["queued"] == 3 and data["from_a_newer_engine"] == [1, 2]
    back = st.EngineRecord.from_toml(through_toml(data))
    assert back == written and back.extra == {"from_a_newer_engine": [1, 2]}
    assert st.EngineRecord.from_toml({"pid": 7, "host": "h"}) == st.EngineRecord(7, "h")  # the rest: defaults


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [
        ("pid", "abc", "a whole number from 1"),  # wrong type
        ("pid", 0, "a whole number from 1"),  # out of range
        ("heartbeat_unix", math.inf, "a time in seconds"),  # what `heartbeat_unix = 1e400` reads as
        ("heartbeat_unix", math.nan, "a time in seconds"),
        ("heartbeat_unix", -5.0, "a time in seconds"),
        ("heartbeat_unix", "now", "a time in seconds"),
        ("gpus", [0, -1], "a list of GPU indices"),
        ("slots", -1, "a whole number from 0"),
        ("running", "a-run", "a list of run ids"),
        ("running", ["../../etc"], "a list of run ids"),  # not a run id: never a path to follow
        ("running", [RUN, 3], "a list of run ids"),
        ("queued", 2.0, "a whole number from 0"),
        ("host", 1, "a string"),
    ],
)
def test_an_engine_record_field_that_does_not_fit_is_refused_naming_the_file_and_field(key, value, what):
    with pytest.raises(st.SchemaError) as err:
        st.EngineRecord.from_toml({**record().to_toml(), key: value}, source="runs/engine-box-4242.toml")
    assert str(err.value).startswith(f"runs/engine-box-4242.toml: {key} = ") and what in str(err.value)


@pytest.mark.parametrize("missing", ["pid", "host"])
def test_an_engine_record_without_its_pid_or_host_is_refused(missing):
    data = record().to_toml()
    del data[missing]
    with pytest.raises(st.SchemaError, match=f"has no {missing}"):
        st.EngineRecord.from_toml(data)


# -- heartbeat files in a store ------------------------------------------------------------

BAD_HEARTBEATS = {
    "engine-box-1.toml": 'pid = "abc"\nhost = "box"\n',
    "engine-box-2.toml": 'pid = 2\nhost = "box"\nheartbeat_unix = 1e400\n',
    "engine-box-3.toml": 'host = "box"\n',
    "engine-box-4.toml": 'pid = 4\nhost = "box"\nrunning = ["[red]not a run id[/]"]\n',
    "engine-box-5.toml": "pid = = 5\n",  # not TOML at all
}


@pytest.fixture
def store_with_bad_heartbeats(tmp_path) -> st.Store:
    s = st.Store(tmp_path / "runs")
    s.ensure()
    for name, text in BAD_HEARTBEATS.items():
        (s.root / name).write_text(text)
    return s


def beat_from_elsewhere(s: st.Store) -> None:
    """A fresh heartbeat of an engine on another host: alive by its beat, with no process to look up."""
    good = record(host="elsewhere", pid=77, heartbeat_unix=time.time(), gpus=[], running=[RUN], slots=2)
    st.write_toml(eng.heartbeat_path(s, "elsewhere", 77), good.to_toml())


def test_heartbeat_files_that_do_not_fit_the_schema_are_skipped(store_with_bad_heartbeats):
    s = store_with_bad_heartbeats
    assert eng.engines(s) == []
    beat_from_elsewhere(s)
    (found,) = eng.engines(s)
    assert (found.host, found.pid, found.alive, found.record.running) == ("elsewhere", 77, True, [RUN])
    assert 0 <= found.age_s < eng.STALE_AFTER_S
    assert eng.live_engines(s) == [found] and eng.local_engine(s) is None


def gpt_tui(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui", "--runs", str(root), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_engine_status_and_ls_go_on_past_a_bad_heartbeat_file(store_with_bad_heartbeats):
    s = store_with_bad_heartbeats
    alone = gpt_tui(s.root, "engine", "status")
    assert alone.returncode == 1 and "no engine has served" in alone.stdout, alone.stderr  # none alive: 1
    assert "bug" not in alone.stderr and "Traceback" not in alone.stderr, alone.stderr

    beat_from_elsewhere(s)
    status = gpt_tui(s.root, "engine", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "alive elsewhere pid 77" in status.stdout and f"1/2 running: {RUN}" in status.stdout
    assert status.stderr == ""
    listing = gpt_tui(s.root, "ls")
    assert listing.returncode == 0 and "engine elsewhere:77" in listing.stdout, listing.stderr
