"""The monitor follows a run's log as it grows; compare overlays runs and lists only what
differs; sample streams a real checkpoint's text from a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Log

from engine.core import config as cfgmod
from engine.store import runs as st
from tests.tui_store import (
    RUNNING,
    eval_record,
    make_app,
    monitor_loaded,
    runs_loaded,
    train_record,
    until,
)
from tui.screens.compare import CompareScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.sample import SampleScreen
from tui.widgets import LineChart, Readouts, RunCharts

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=32,
    batch_size=8,
    max_iters=20,
    eval_interval=10,
    eval_iters=2,
    log_interval=5,
    warmup_iters=5,
    learning_rate=3e-3,
    min_lr=3e-4,
    threads=1,
    device="cpu",
    dataset="pydocs",
    tokenizer="char",
    seed=7,
)


async def open_monitor(pilot, run_id: str = RUNNING) -> MonitorScreen:
    return await monitor_loaded(pilot, run_id)


async def test_monitor_numbers_follow_records_appended_to_the_log(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        monitor = await open_monitor(pilot)
        readouts = monitor.query_one(Readouts)
        assert readouts.values["loss"] == f"{train_record(250, floor=0.3135 - 0.15)['loss']:.4f}"
        assert "step 250/800" in monitor.query_one("#progress").caption
        path = fixed_store.metrics_path(RUNNING)
        st.append_record(path, "train", {**train_record(260), "loss": 1.2345, "tokens_per_s": 7777.0})
        await until(pilot, lambda: readouts.values["loss"] == "1.2345")
        assert readouts.values["tok/s"] == "7.78K" and "step 260/800" in monitor.query_one("#progress").caption
        st.append_record(
            path, "eval", {**eval_record(300), "val_loss": 1.1111, "val_ppl": 3.0377, "best_val_loss": 1.1111}
        )
        await until(pilot, lambda: readouts.values["val"] == "1.1111")
        assert readouts.values["PPL"] == "3.04" and readouts.values["best"] == "1.1111"
        assert monitor.series.eval.get("val_loss")[-1] == 1.1111


async def test_monitor_shows_new_log_lines_and_the_cpu_memory_label(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        monitor = await open_monitor(pilot)
        log = monitor.query_one("#worker-log", Log)
        assert "prepared pydocs" in log.lines[1]
        with open(fixed_store.worker_log(RUNNING), "a") as f:
            f.write("[2026-01-01 12:05:00] step 260: a new line\n")
        await until(pilot, lambda: any("a new line" in line for line in log.lines))
        memory = monitor.query_one("#chart-memory", LineChart)
        await until(pilot, lambda: memory.lines)
        assert memory.title == "process memory (CPU), MiB"


async def test_monitor_draws_vram_against_the_device_total_on_a_gpu_log(fixed_store):
    app = make_app(fixed_store)
    path = fixed_store.metrics_path(RUNNING)
    path.unlink()
    for step in (10, 20):
        st.append_record(
            path,
            "train",
            {
                **train_record(step),
                "mfu": 0.31,
                "mem_allocated": 2 * 2**30,
                "mem_reserved": 3 * 2**30,
                "mem_peak": 4 * 2**30,
                "mem_device_total": 80 * 2**30,
                "mem_device_used": 5 * 2**30,
            },
        )
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        monitor = await open_monitor(pilot)
        memory = monitor.query_one("#chart-memory", LineChart)
        await until(pilot, lambda: memory.lines)
        assert memory.title == "VRAM (GiB) of 80 GiB"
        assert [line.label for line in memory.lines] == ["allocated", "reserved", "peak"]
        assert monitor.query_one(Readouts).values["MFU"] == "31.0%"
        assert monitor.query_one("#chart-speed", LineChart).title == "tokens/s and MFU (%)"


async def test_monitor_x_axis_toggles_to_tokens_and_stop_writes_the_request(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        monitor = await open_monitor(pilot)
        loss = monitor.query_one("#chart-loss", LineChart)
        await until(pilot, lambda: loss.lines)
        assert loss.lines[0].xs[-1] == 250
        await pilot.press("x")
        assert monitor.query_one(RunCharts).by_tokens and loss.lines[0].xs[-1] == 250 * 2048
        await pilot.press("s")
        await until(pilot, lambda: fixed_store.control_path(RUNNING).exists())
        assert st.read_toml(fixed_store.control_path(RUNNING))["request"] == "stop"
        await pilot.press("escape")
        assert type(app.screen).__name__ == "RunsScreen"


async def test_compare_overlays_val_loss_and_lists_only_differing_hyperparameters(fixed_store):
    baseline, slow = "20260101-090000-000-baseline-0a01", "20260101-110000-000-slow-lr-0c03"
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        app.open_compare([baseline, slow])
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.diff)
        table = app.screen.query_one("#diff", DataTable)
        fields = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert fields == ["learning_rate", "min_lr"]
        assert table.get_row_at(0)[1:] == ["0.001", "0.0003"]
        chart = app.screen.query_one("#compare-chart", LineChart)
        assert [line.label for line in chart.lines] == ["baseline", "slow-lr"]
        assert chart.lines[0].xs[-1] == 800 and chart.lines[1].xs[-1] == 300
        await pilot.press("x")
        assert chart.lines[0].xs[-1] == 800 * 2048


async def test_sample_without_a_checkpoint_shows_why(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        app.open_sample(RUNNING)
        await until(pilot, lambda: isinstance(app.screen, SampleScreen))
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.exit_code is not None, timeout=60)
        assert app.screen.exit_code == 2 and "no checkpoint yet" in app.screen.error
        assert "no checkpoint yet" in str(app.screen.query_one("#sample-status").content)


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory) -> st.Store:
    """One tiny run trained by the real worker, shared by the tests that need a checkpoint."""
    store = st.Store(tmp_path_factory.mktemp("trained") / "runs")
    store.ensure()
    cfg = cfgmod.from_mapping(TINY)
    run_id = store.create_run(cfgmod.to_toml(cfg), "tiny", {"source": "test"})
    with open(store.worker_log(run_id), "ab") as log:
        code = subprocess.run(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=300,
        ).returncode
    assert code == 0, store.worker_log(run_id).read_text()
    return store


async def test_sample_streams_text_from_a_trained_run(trained_store, tmp_path):
    store = st.Store(tmp_path / "runs")
    shutil.copytree(trained_store.root, store.root)
    (run_id,) = store.list_runs()
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, SampleScreen))
        screen = app.screen
        screen.query_one("#tokens").value = "60"
        await pilot.press(*"The ", "enter")
        await until(pilot, lambda: screen.exit_code is not None, timeout=60)
        assert screen.exit_code == 0, screen.error
        text = "\n".join(screen.query_one("#sample-out", Log).lines)
        assert text.startswith("The ") and len(text) >= len("The ") + 40
