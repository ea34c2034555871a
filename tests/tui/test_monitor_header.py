"""The monitor's header says why a run ended, its log wraps long lines, and its speed is shown both
live and as the run's mean (issue 14)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from engine.core.units import shown_count
from engine.store import runs as st
from tests.tui_store import RUNNING, make_app, monitor_loaded, runs_loaded, until
from tui.widgets.worker_log import WorkerLog, wrap

BASELINE = "20260101-090000-000-baseline-0a01"
TOO_HOT = "20260101-140000-000-too-hot-0f06"
LONG_REASON = (
    "DataError: dataset '/data/corpora/shakespeare/complete-works.txt' not found: no such file or folder "
    "(use 'pydocs' for the built-in corpus, or a path to text)"
)


def header_reason(monitor) -> str:
    widget = monitor.query_one("#run-reason")
    return " ".join(str(widget.content).split()) if widget.display else ""


@pytest.mark.parametrize(
    "state,reason",
    [
        ("failed", LONG_REASON),
        ("pruned", "pruned at step 200: val loss 2.31 is above the median 1.98 of 3 trials"),
        ("oom", "CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
    ids=["failed", "pruned", "oom"],
)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_the_header_says_why_a_run_ended(fixed_store, state, reason, size):
    fixed_store.update_status(BASELINE, state=state, reason=reason, step=0, max_iters=0)
    app = make_app(fixed_store)
    async with app.run_test(size=size) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot, BASELINE)
        await until(pilot, lambda: header_reason(monitor))
        assert header_reason(monitor) == f"{state}: {reason}"  # whole: a long reason wraps, never cut
        assert monitor.query_one("#run-reason").size.height >= cell_len(f"{state}: {reason}") // size[0]


async def test_the_header_of_a_diverged_run_gives_its_reason_and_a_running_run_has_none(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot, TOO_HOT)
        await until(pilot, lambda: header_reason(monitor))
        assert header_reason(monitor) == "diverged: loss 9.41 above 2 x ln(vocab); lower learning_rate"
        await pilot.press("escape")
        running = await monitor_loaded(pilot, RUNNING)
        assert header_reason(running) == "" and not running.query_one("#run-reason").display


async def test_a_reason_with_markup_or_escapes_is_shown_as_text(fixed_store):
    fixed_store.update_status(BASELINE, state="failed", reason="[bold]x[/] \x1b]0;pwned\x07 y")
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot, BASELINE)
        await until(pilot, lambda: header_reason(monitor))
        assert header_reason(monitor) == "failed: [bold]x[/] \\x1b]0;pwned\\x07 y"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_the_worker_log_wraps_a_long_line_instead_of_cutting_it(fixed_store, size):
    long_line = "[2026-01-01 12:05:00] Traceback (most recent call last): " + " ".join(
        f"frame{i}=/usr/lib/python3/site-packages/module{i}.py" for i in range(6)
    )
    with open(fixed_store.worker_log(RUNNING), "a") as f:
        f.write(long_line + "\nEND-OF-LOG\n")
    app = make_app(fixed_store)
    async with app.run_test(size=size) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot, RUNNING)
        log = monitor.query_one("#worker-log", WorkerLog)
        await until(pilot, lambda: "END-OF-LOG" in log.lines)
        assert long_line in log.lines  # the log's own lines, as written
        rows = list(log._lines)
        assert rows and max(cell_len(r) for r in rows) <= log.wrap_width < log.size.width + 1
        assert "".join(r.strip() for r in rows).replace(" ", "").count(long_line.replace(" ", "")) == 1
        assert log.virtual_size.width <= log.size.width  # nothing to scroll sideways to


def test_wrap_cuts_at_spaces_indents_what_follows_and_keeps_every_character():
    pieces = wrap("alpha beta gamma delta epsilon " + "x" * 30, 16)
    assert all(cell_len(p) <= 16 for p in pieces) and pieces[0] == "alpha beta gamma"
    assert all(p.startswith("  ") for p in pieces[1:])
    assert "".join(pieces).replace(" ", "") == "alphabetagammadeltaepsilon" + "x" * 30
    wide = wrap("短" * 20, 9)  # two cells a character
    assert all(cell_len(p) <= 9 for p in wide) and "".join(p.strip() for p in wide) == "短" * 20


async def test_tokens_per_s_shows_the_live_value_and_the_runs_mean(fixed_store):
    fixed_store.update_status(BASELINE, tokens=1_638_400.0, train_seconds=320.0)  # 5,120 tokens/s overall
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot, BASELINE)
        readouts = monitor.query_one("#readouts")
        await until(pilot, lambda: readouts.values.get("mean tok/s") == shown_count(5120.0))
        assert readouts.values["tok/s"] == shown_count(6800.0)  # the last logged record's (step 800)
        st.append_record(fixed_store.metrics_path(BASELINE), "train", {"step": 801, "tokens_per_s": 9000.0})
        await until(pilot, lambda: readouts.values.get("tok/s") == shown_count(9000.0))
        assert readouts.values["mean tok/s"] == shown_count(5120.0)
