"""A fixed run store for the TUI's tests and snapshots: fixed ids, values and timestamps, no engine."""

from __future__ import annotations

import math
from pathlib import Path

from engine.core import config as cfgmod
from engine.store import runs as st

BASE = dict(
    n_layer=4,
    n_head=4,
    n_embd=128,
    block_size=128,
    learning_rate=1e-3,
    min_lr=1e-4,
    warmup_iters=40,
    max_iters=800,
    batch_size=16,
    gradient_accumulation_steps=1,
    dataset="pydocs",
    tokenizer="char",
    eval_interval=100,
    eval_iters=20,
    log_interval=10,
)

RUNS = {
    # run id: (config changes, status)
    "20260101-090000-000-baseline-0a01": (
        {},
        dict(
            state="done",
            name="baseline",
            step=800,
            max_iters=800,
            params=823_552,
            best_val_loss=1.4821,
            val_loss=1.4903,
            final_val_ppl=4.438,
            tokens_per_s=6150.0,
            train_seconds=342.0,
            device="AMD EPYC",
            vocab_size=103,
        ),
    ),
    "20260101-100000-000-deeper-0b02": (
        {"n_layer": 6, "batch_size": 8, "gradient_accumulation_steps": 2},
        dict(
            state="done",
            name="deeper",
            step=800,
            max_iters=800,
            params=1_219_712,
            best_val_loss=1.4410,
            val_loss=1.4502,
            final_val_ppl=4.264,
            tokens_per_s=4420.0,
            train_seconds=476.0,
            device="AMD EPYC",
            vocab_size=103,
        ),
    ),
    "20260101-110000-000-slow-lr-0c03": (
        {"learning_rate": 3e-4, "min_lr": 3e-5},
        dict(
            state="stopped",
            name="slow-lr",
            step=300,
            max_iters=800,
            params=823_552,
            best_val_loss=1.9120,
            val_loss=1.9120,
            tokens_per_s=6080.0,
            train_seconds=128.0,
            reason="stop requested",
            device="AMD EPYC",
            vocab_size=103,
        ),
    ),
    "20260101-120000-000-lr-grid-1-0d04": (
        {"learning_rate": 6e-4},
        dict(
            state="running",
            name="lr-grid-1",
            sweep="lr-grid",
            step=250,
            max_iters=800,
            params=823_552,
            best_val_loss=2.0515,
            val_loss=2.0515,
            val_ppl=7.779,
            tokens_per_s=6010.0,
            eta_s=212.0,
            device="AMD EPYC",
            vocab_size=103,
            pid=0,
            host="elsewhere",
        ),
    ),
    "20260101-130000-000-lr-grid-2-0e05": (
        {"learning_rate": 2e-3},
        dict(state="queued", name="lr-grid-2", sweep="lr-grid"),
    ),
    "20260101-140000-000-too-hot-0f06": (
        {"learning_rate": 0.5},
        dict(
            state="diverged",
            name="too-hot",
            step=40,
            max_iters=800,
            params=823_552,
            reason="loss 9.41 above 2 x ln(vocab); lower learning_rate",
            device="AMD EPYC",
        ),
    ),
}
NOTES = {"20260101-090000-000-baseline-0a01": "good start"}
RUNNING = "20260101-120000-000-lr-grid-1-0d04"


def train_record(step: int, tokens_per_iter: int = 2048, floor: float = 1.3) -> dict:
    return dict(
        step=step,
        tokens=step * tokens_per_iter,
        loss=round(4.2 * math.exp(-step / 300) + floor, 4),
        lr=1e-3 if step > 40 else 1e-3 * step / 40,
        ms_per_iter=330.0,
        tokens_per_s=6000.0 + step,
        t=1767258000.0 + step,
        mem_rss=300 * 2**20 + step * 1024,
    )


def eval_record(step: int, tokens_per_iter: int = 2048, floor: float = 1.45) -> dict:
    val = round(4.0 * math.exp(-step / 300) + floor, 4)
    return dict(
        step=step,
        tokens=step * tokens_per_iter,
        train_loss=val - 0.05,
        val_loss=val,
        val_ppl=math.exp(val),
        best_val_loss=val,
        t=1767258000.0 + step,
    )


def write_metrics(
    store: st.Store,
    run_id: str,
    steps: int,
    floor: float,
    tokens_per_iter: int = 2048,
    every: int = 10,
    eval_every: int = 100,
) -> None:
    text = []
    for step in range(0, steps + 1):
        if step % eval_every == 0:
            text.append(st.format_record("eval", eval_record(step, tokens_per_iter, floor)))
        if step and step % every == 0:
            text.append(st.format_record("train", train_record(step, tokens_per_iter, floor - 0.15)))
    store.metrics_path(run_id).write_text("".join(text))


def build_store(root: Path) -> st.Store:
    store = st.Store(root)
    store.ensure()
    for run_id, (changes, status) in RUNS.items():
        cfg = cfgmod.from_mapping({**BASE, **changes})
        (root / run_id).mkdir()
        st.write_atomic(store.config_path(run_id), cfgmod.to_toml(cfg))
        created = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T00:00:00.000Z"
        store.write_status(run_id, st.Status.from_toml({"created": created, **status}), durable=False)
    for run_id, note in NOTES.items():
        st.write_toml(store.run_dir(run_id) / "note.toml", {"note": note, "written": "2026-01-01T00:00:00Z"})
    for run_id, steps, floor, tokens_per_iter in (
        # floors chosen so that the last eval matches the status's best val loss
        ("20260101-090000-000-baseline-0a01", 800, 1.2042, 2048),
        ("20260101-100000-000-deeper-0b02", 800, 1.1631, 2048),
        ("20260101-110000-000-slow-lr-0c03", 300, 0.4405, 2048),
        (RUNNING, 250, 0.3135, 2048),
    ):
        write_metrics(store, run_id, steps, floor, tokens_per_iter)
    store.worker_log(RUNNING).write_text(
        "[2026-01-01 12:00:00] run 20260101-120000-000-lr-grid-1-0d04: attempt 1, pid 4242\n"
        "[2026-01-01 12:00:01] prepared pydocs with char: 103 tokens\n"
    )
    return store


# -- the app the TUI tests open ------------------------------------------------------------

from tui.models.editor_model import Device  # noqa: E402

FIXED_DEVICE = Device("AMD EPYC", "cpu", 16 * 2**30)


def make_app(store: st.Store):
    from tui.app import GptTuiApp

    return GptTuiApp(store, start_engine=False, device=FIXED_DEVICE)


async def until(pilot, condition, timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds (thread workers report through messages)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


def shown(app, selector, attribute: str = "content"):
    """`attribute` of the widget `selector` on the app's screen; None until there is one."""
    try:
        return getattr(app.screen.query_one(selector), attribute)
    except Exception:
        return None


async def runs_loaded(pilot) -> None:
    """Until the runs screen shows the store (its summary says how many runs) and the engine bar
    shows a read of the heartbeats: threads read both, and each says so through a message."""
    app = pilot.app
    await until(pilot, lambda: str(shown(app, "#runs-summary") or "") and app.engine_state != type(app.engine_state)())


async def monitor_loaded(pilot, run_id: str = RUNNING):
    """Open the monitor on `run_id` and wait until it shows the run's numbers."""
    from tui.screens.monitor import MonitorScreen
    from tui.widgets import Readouts

    pilot.app.open_monitor(run_id)
    await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen) and shown(pilot.app, Readouts, "values"))
    return pilot.app.screen


# -- a finished three-trial sweep: the seed's Day 38 in miniature (examples/day38-cpu.toml) ----------
# Added to the fixed store by add_sweep (the runs above stay as they are: other tests count them).

SWEEP = "day38-cpu"
SWEEP_BASE = {**BASE, "n_layer": 3, "n_embd": 64, "block_size": 64, "learning_rate": 2e-3, "min_lr": 2e-4}
SWEEP_BASE.update(warmup_iters=20, max_iters=200, batch_size=12, gradient_accumulation_steps=4, eval_interval=50)
SWEEP_TRIALS = {
    # run id: (config changes, status); tokens / train_seconds is each trial's mean rate, which differs
    # from its last logged tokens_per_s, and eta_s is what a worker leaves behind at its last progress write
    "20260102-090000-000-day38-cpu-t001-1a01": (
        {},
        dict(params=158_592, best_val_loss=2.0042, final_val_ppl=7.42, tokens=614_400.0, train_seconds=100.0),
    ),
    "20260102-091000-000-day38-cpu-t002-1b02": (
        {"n_layer": 4, "batch_size": 8},
        dict(params=208_000, best_val_loss=1.9713, final_val_ppl=7.18, tokens=409_600.0, train_seconds=80.0),
    ),
    "20260102-092000-000-day38-cpu-t003-1c03": (
        {"learning_rate": 1e-3, "min_lr": 1e-4},
        dict(params=158_592, best_val_loss=2.0857, final_val_ppl=8.05, tokens=614_400.0, train_seconds=96.0),
    ),
}


def add_sweep(store: st.Store, trials: dict | None = None, sweep: str = SWEEP, base: dict | None = None) -> list[str]:
    """The sweep's trials, done, in `store`; their run ids in trial order."""
    for number, (run_id, (changes, status)) in enumerate((trials or SWEEP_TRIALS).items(), start=1):
        cfg = cfgmod.from_mapping({**(base or SWEEP_BASE), **changes})
        (store.root / run_id).mkdir()
        st.write_atomic(store.config_path(run_id), cfgmod.to_toml(cfg))
        done = dict(state="done", name=f"{sweep}-t{number:03d}", sweep=sweep, trial=number, step=cfg.max_iters)
        done.update(max_iters=cfg.max_iters, tokens_per_s=5000.0, eta_s=4.0, device="AMD EPYC", vocab_size=103)
        done.update(created=f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T00:00:00.000Z", **status)
        if "best_val_loss" in done:
            done.setdefault("val_loss", done["best_val_loss"])
        store.write_status(run_id, st.Status.from_toml(done), durable=False)
    return list(trials or SWEEP_TRIALS)
