"""Every kind of store file, written at random by hypothesis: random bytes, a real file spliced, and
real TOML with fields of the wrong type. `ls`, `show`, `sweep ls`, the app's first frame and an
engine training a healthy run beside it all go on, and the healthy run ends `done`.

The examples are derandomized so CI sees the same ones each time; set GPT_TUI_FUZZ_EXAMPLES (and
GPT_TUI_FUZZ_RANDOM=1 for fresh ones) to look harder by hand."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from engine.core.hosts import this_host
from engine.store import runs as st
from engine.store.engine_record import EngineRecord
from engine.store.ticket import Ticket
from engine.sweeps import files as sf
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice
from tests.tui.test_cli import TINY, gpt_tui
from tests.tui_store import RUNNING, build_store, make_app

pytestmark = pytest.mark.slow

KINDS = ("status", "config", "metrics", "control", "ticket", "sweep", "heartbeat", "results")
VICTIM = "20260101-090000-000-baseline-0a01"  # the done run whose files are attacked
HEALTHY = "20260101-100000-000-deeper-0b02"  # a done run left alone: every reader must still show it
HOSTILE_SWEEP = "fuzzed"
EXAMPLES = int(os.environ.get("GPT_TUI_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=not os.environ.get("GPT_TUI_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the store under attack --------------------------------------------------------------------


def _sweep(sweep_id: str) -> sf.SweepRecord:
    spec = sw.SweepSpec(id=sweep_id, method="grid", preset="quickstart", params={"learning_rate": Choice((1e-3, 3e-3))})
    # Every trial has its run and the sweep is finished: an engine must find nothing of it to train.
    runs = [
        {"number": 1, "run": HEALTHY, "params": {"learning_rate": 1e-3}},
        {"number": 2, "run": VICTIM, "params": {"learning_rate": 3e-3}},
    ]
    return sf.SweepRecord(spec, "2026-01-01T00:00:00.000Z", runs=runs, finished="2026-01-01T01:00:00.000Z")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The fixed store without its active runs (an engine would train them for minutes), plus a
    sweep file and a results ledger: one file of every kind, each valid."""
    root = tmp_path_factory.mktemp("fuzz") / "runs"
    store = build_store(root)
    shutil.rmtree(store.run_dir(RUNNING))
    shutil.rmtree(store.run_dir("20260101-130000-000-lr-grid-2-0e05"))
    sf.save(store, _sweep("healthy"))
    st.append_result(store, st.ResultRow.from_toml(_result_row(HEALTHY)))
    return root


def _result_row(run_id: str) -> dict[str, Any]:
    return {
        "run": run_id,
        "name": "deeper",
        "sweep": "",
        "state": "done",
        "n_layer": 6,
        "n_head": 4,
        "n_embd": 128,
        "block_size": 128,
        "learning_rate": 1e-3,
        "batch_size": 8,
        "gradient_accumulation_steps": 2,
        "batch": "16 (8x2)",
        "params": 1_219_712,
        "steps": 800,
        "tokens": 800 * 2048,
        "best_val_loss": 1.441,
        "final_val_loss": 1.4502,
        "final_val_ppl": 4.264,
        "tokens_per_s": 4420.0,
        "duration_s": 476.0,
        "finished": "2026-01-01T00:00:00.000Z",
        "device": "AMD EPYC",
        "note": "",
    }


def _valid(kind: str, store: st.Store) -> tuple[Path, Any]:
    """Where a file of `kind` lives in the attacked store, and valid content for it (a mapping, or
    for the logs a list of (table, record) pairs)."""
    if kind == "status":
        return store.status_path(VICTIM), st.read_toml(store.status_path(VICTIM))
    if kind == "config":
        return store.config_path(VICTIM), st.read_toml(store.config_path(VICTIM))
    if kind == "metrics":
        return store.metrics_path(VICTIM), st.read_log(store.metrics_path(VICTIM)).records[:6]
    if kind == "control":
        return store.control_path(VICTIM), {"request": "stop", "requested": "2026-01-01T00:00:00.000Z"}
    if kind == "ticket":
        ticket = Ticket(VICTIM, 0, "2026-01-01T00:00:00.000Z", "fuzz", attempt_id="a1")
        return store.queue_dir / f"099-{'0' * 20}-{VICTIM}.toml", ticket.to_toml()
    if kind == "sweep":
        return store.sweeps_dir / f"{HOSTILE_SWEEP}.toml", _sweep(HOSTILE_SWEEP).to_mapping()
    if kind == "heartbeat":
        record = EngineRecord(pid=4_000_000, host=this_host(), started="2026-01-01T00:00:00.000Z", slots=1)
        return store.root / f"engine-{this_host()}-4000000.toml", record.to_toml()
    if kind == "results":
        return store.results_path, [("run", _result_row(VICTIM))]
    raise AssertionError(kind)


def _dump(content: Any) -> bytes:
    if isinstance(content, list):
        return "".join(st.format_record(table, record) for table, record in content).encode()
    return tomli_w.dumps(content).encode()


# -- what hypothesis writes --------------------------------------------------------------------

SCALARS = hs.one_of(
    hs.integers(),  # past 64 bits too: TOML readers accept them
    hs.floats(),  # nan, inf, 1e308, -0.0
    hs.text(max_size=30),  # control characters and escape sequences included
    hs.booleans(),
    hs.datetimes(),
    hs.dates(),
)
VALUES = hs.recursive(
    SCALARS,
    lambda inner: hs.lists(inner, max_size=3) | hs.dictionaries(hs.text(min_size=1, max_size=8), inner, max_size=3),
    max_leaves=6,
)


@hs.composite
def hostile(draw, kind: str, store: st.Store) -> bytes:
    """Bytes for a file of `kind`: random, a valid file spliced, or valid TOML with fields retyped."""
    valid = _valid(kind, store)[1]
    how = draw(hs.sampled_from(("bytes", "spliced", "retyped", "retyped", "retyped")))
    if how == "bytes":
        return draw(hs.binary(max_size=600))
    if how == "spliced":
        data = _dump(valid)
        start = draw(hs.integers(0, len(data)))
        end = draw(hs.integers(start, min(len(data), start + 200)))
        return data[:start] + draw(hs.binary(max_size=40)) + data[end:]
    if isinstance(valid, list):  # a log: retype fields of one record
        index = draw(hs.integers(0, len(valid) - 1))
        table, record = valid[index]
        record = _retyped(draw, record)
        return _dump([*valid[:index], (table, record), *valid[index + 1 :]])
    return _dump(_retyped(draw, valid))


def _retyped(draw, mapping: dict[str, Any]) -> dict[str, Any]:
    out = dict(mapping)
    for key in draw(hs.lists(hs.sampled_from(sorted(mapping)), min_size=1, max_size=3, unique=True)):
        out[key] = draw(VALUES)
    if draw(hs.booleans()):
        out.update(draw(hs.dictionaries(hs.text(min_size=1, max_size=8), VALUES, max_size=2)))
    return out


@contextmanager
def attacked(template: Path, files: dict[str, bytes]) -> Iterator[st.Store]:
    """A copy of the template store with `files` (kind -> bytes) written in place; afterwards every
    process whose command line names the copy is killed (never by a pid read from the store)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        shutil.copytree(template, root, symlinks=True)
        store = st.Store(root)
        for kind, data in files.items():
            path = _valid(kind, store)[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            yield store
        finally:
            _kill_processes_of(root)


def _kill_processes_of(root: Path) -> None:
    mine = str(root)
    for p in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            words = " ".join(p.info["cmdline"] or []) + " " + (p.info["environ"] or {}).get("GPT_TUI_RUNS", "")
        except psutil.Error:
            continue
        if mine in words and p.pid != os.getpid():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- the readers -------------------------------------------------------------------------------


def _cli(store: st.Store, capsys, *args: str) -> tuple[int, str]:
    from tui.cli.main import main

    code = main(["--runs", str(store.root), *args])
    out = capsys.readouterr()
    bug = "Traceback" in out.err or "a bug in gpt-tui" in out.err
    assert not bug, f"gpt-tui {' '.join(args)} failed as a bug:\n{out.err[-3000:]}"
    return code, out.out + out.err


def _readers_survive(store: st.Store, capsys) -> None:
    code, out = _cli(store, capsys, "ls")
    healthy_row = next((line for line in out.splitlines() if HEALTHY in line), "")
    assert code == 0 and "4.26" in healthy_row and "1.4410" in healthy_row, out  # its row whole, on one line
    _cli(store, capsys, "show", VICTIM)
    code, out = _cli(store, capsys, "show", HEALTHY)
    assert code == 0 and "deeper" in out, out
    code, out = _cli(store, capsys, "sweep", "ls")
    assert code == 0 and "healthy" in out, out
    _cli(store, capsys, "sweep", "show", HOSTILE_SWEEP)
    _cli(store, capsys, "engine", "status")


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_hostile_file_leaves_ls_show_and_sweep_ls_working(kind, template, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("GPT_TUI_RUNS", str(template))  # `--runs` in-process sets it: undone after the test

    @settings(FUZZ, max_examples=EXAMPLES or 40)
    @given(data=hs.data())
    def check(data):
        content = data.draw(hostile(kind, st.Store(template)))
        with attacked(template, {kind: content}) as store:
            _readers_survive(store, capsys)

    check()


async def _first_frame(store: st.Store) -> str:
    from tests.tui_store import runs_loaded

    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        await pilot.pause(0.2)
        frame = app.export_screenshot()
    return frame


@settings(FUZZ, max_examples=EXAMPLES or 6)
@given(data=hs.data())
def test_the_apps_first_frame_survives_every_kind_at_once(template, data):
    files = {kind: data.draw(hostile(kind, st.Store(template)), label=kind) for kind in KINDS}
    with attacked(template, files) as store:
        frame = asyncio.run(_first_frame(store))
    assert "deeper" in frame


@settings(FUZZ, max_examples=EXAMPLES or 2)
@given(data=hs.data())
def test_an_engine_trains_a_healthy_run_beside_every_kind_at_once(template, data):
    files = {kind: data.draw(hostile(kind, st.Store(template)), label=kind) for kind in KINDS}
    with attacked(template, files) as store:
        env = {"GPT_TUI_RUNS": str(store.root)}
        started = gpt_tui("engine", "start", store=store.root, timeout=120)
        assert started.returncode == 0, started.stderr + _engine_log(store)
        queued = gpt_tui("run", *TINY, "--name", "healthy-new", store=store.root, timeout=120, **env)
        assert queued.returncode == 0, queued.stderr
        run_id = next(r for r in store.list_runs() if "healthy-new" in r)
        state = _wait_settled(store, run_id, timeout=240)
        assert state == "done", f"{run_id} ended {state}\n{_engine_log(store)}"
        stopped = gpt_tui("engine", "stop", store=store.root, timeout=120)
        assert stopped.returncode == 0, stopped.stderr + _engine_log(store)


def _wait_settled(store: st.Store, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = store.statuses().get(run_id)
        if isinstance(status, st.Status) and status.settled:
            return str(status.state)
        time.sleep(0.3)
    return "not settled"


def _engine_log(store: st.Store) -> str:
    path = store.root / "engine.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no engine.log)"
