"""The trial table a person reads first, in the app and from a shell: PPL, LR and batch at 80 columns,
whole values, a column at a time sideways, swept hyperparameters, trials told apart, mean tokens/s,
a selection that can be cleared, a stop that asks first, pruning reasons, and no ETA once a run ended."""

from __future__ import annotations

import csv
import io
import json

import pytest

from engine.store import runs as st
from tests.store.test_table_columns import DROPOUT_TRIALS
from tests.tui.test_cli import gpt_tui
from tests.tui_store import RUNNING, SWEEP_TRIALS, add_sweep, make_app, runs_loaded, until
from tui.screens.runs import RunsScreen

T001, T002, T003 = SWEEP_TRIALS
MUST_SHOW = {"state", "name", "val_ppl", "learning_rate", "batch"}
BASELINE = "20260101-090000-000-baseline-0a01"


@pytest.fixture
def sweep_store(fixed_store):
    """The fixed store and a finished three-trial sweep (the seed's Day 38 in miniature)."""
    add_sweep(fixed_store)
    return fixed_store


def summary(app) -> str:
    return str(app.screen.query_one("#runs-summary").content)


def assert_whole(table) -> None:
    """Every value shown fits its column: nothing is cut but the note, which is text."""
    for col, width in table.column_layout:
        if col.key != "note":
            for run_id in table.shown_ids:
                assert table.get_cell(run_id, col.key).cell_len <= width, (col.key, run_id)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_app_shows_ppl_lr_and_batch_whole_at_80_and_120_columns(sweep_store, size):
    app = make_app(sweep_store)
    async with app.run_test(size=size) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert set(table.shown_keys) >= MUST_SHOW, table.shown_keys
        assert table.shown_keys[:3] == ["mark", "state", "name"]
        assert sum(w + 2 for _, w in table.column_layout) <= table.scrollable_content_region.width
        assert_whole(table)
        assert (
            table.get_cell(T002, "batch").plain == "32 (8x4)" and table.get_cell(T003, "learning_rate").plain == "1e-3"
        )
        assert table.get_cell(T002, "val_ppl").plain == "7.18"


async def test_left_and_right_move_the_columns_one_at_a_time(sweep_store):
    app = make_app(sweep_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        first = table.shown_keys
        assert "more columns →" in summary(app)
        await pilot.press("right")
        after = table.shown_keys
        assert first[3] not in after and after[:3] == first[:3]  # one column out on the left, the pinned kept
        assert [k for k in first[4:] if k not in after] == []  # the rest still there
        assert set(after) - set(first)  # and one in from the right
        assert "← 1 column ·" in summary(app)
        assert_whole(table)
        await pilot.press("left")
        assert table.shown_keys == first
        await pilot.press("left")  # at the first column already: nothing moves
        assert table.shown_keys == first and table.current_id == table.shown_ids[0]
        for _ in range(30):
            await pilot.press("right")
        assert table.hidden_columns()[1] == 0 and "note" in table.shown_keys  # the last column is reached


async def test_a_swept_hyperparameter_gets_a_column_and_trials_are_told_apart(fixed_store):
    add_sweep(fixed_store, DROPOUT_TRIALS, sweep="drop")
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert "dropout" in table.shown_keys
        assert table.get_cell("20260103-091000-000-drop-t002-2b02", "dropout").plain == "0.1"
        assert table.get_cell("20260103-091000-000-drop-t002-2b02", "name").plain == "drop/t002"
        add_sweep(fixed_store)  # a new sweep, seen by the watcher: its trials by number
        await until(pilot, lambda: T003 in table.shown_ids)
        assert [table.get_cell(t, "name").plain for t in SWEEP_TRIALS] == [f"day38-cpu/t00{i}" for i in (1, 2, 3)]


async def test_tokens_per_s_in_the_table_is_the_runs_mean(sweep_store):
    app = make_app(sweep_store)
    async with app.run_test(size=(160, 40)) as pilot:
        await runs_loaded(pilot)
        assert app.screen.table.get_cell(T001, "tokens_per_s").plain == "6.14K"  # 614,400 tokens in 100 s
        assert app.screen.table.get_cell(T002, "tokens_per_s").plain == "5.12K"  # not the last logged 5,000


async def test_a_key_clears_the_selection_and_the_count_covers_only_rows_shown(sweep_store):
    app = make_app(sweep_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        await pilot.press("space", "space", "space")  # the three trials, newest first
        assert table.selected == set(SWEEP_TRIALS) and "3 selected" in summary(app)
        await pilot.press("slash", *"t002", "enter")
        assert table.shown_ids == [T002]
        assert "1 selected" in summary(app) and table.selected_shown == [T002]
        await pilot.press("c")  # compare acts on what is shown: one run is not enough
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("u")
        assert table.selected == set() and "selected" not in summary(app)
        await pilot.press("escape", "space", "space")  # the filter cleared; two selected again
        assert len(table.selected) == 2
        await pilot.press("escape")  # no filter left to clear: esc clears the selection
        assert table.selected == set()
        assert all(table.get_cell(run_id, "mark").plain[0] == " " for run_id in table.shown_ids)


async def test_stop_asks_first_and_no_writes_nothing(sweep_store):
    app = make_app(sweep_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        await pilot.press(*["down"] * table.shown_ids.index(RUNNING))
        assert table.current_id == RUNNING
        await pilot.press("s")
        assert type(app.screen).__name__ == "ConfirmScreen"
        assert "Stop lr-grid/lr-grid-1?" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RunsScreen) and not sweep_store.control_path(RUNNING).exists()
        await pilot.press("s", "y")
        await until(pilot, lambda: sweep_store.control_path(RUNNING).exists())
        assert st.read_toml(sweep_store.control_path(RUNNING))["request"] == "stop"


# -- from a shell ------------------------------------------------------------------------------


def test_ls_at_80_columns_shows_ppl_lr_and_batch_whole_and_trials_by_number(sweep_store):
    out = gpt_tui("ls", store=sweep_store.root, COLUMNS="80")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.startswith("state"))
    assert {"state", "name", "PPL", "LR", "batch"} <= set(header.split()), header
    assert max(map(len, lines)) <= 80 and "…" not in out.stdout
    t002 = next(line for line in lines if "day38-cpu/t002" in line)
    assert "7.18" in t002 and "2e-3" in t002 and "32 (8x4)" in t002
    assert all(f"day38-cpu/t00{i}" in out.stdout for i in (1, 2, 3))
    assert "too-hot: loss 9.41 above 2 x ln(vocab)" in out.stdout  # no room for the note: below the table


def test_ls_shows_why_a_run_was_pruned(fixed_store):
    s = fixed_store
    (pruned,) = add_sweep(s, {"20260105-090000-000-p-t001-4a01": ({}, dict(best_val_loss=3.0))}, sweep="p")
    s.update_status(pruned, state="pruned", reason="pruned at step 100: val loss 3.0 above the median 2.1")
    said = "pruned at step 100: val loss 3.0 above the median 2.1"
    for width in ("400", "160", "80"):  # in the note column, wrapped in it at 160, below the table at 80
        out = gpt_tui("ls", store=s.root, COLUMNS=width)
        assert out.returncode == 0, out.stderr
        line = next(line for line in out.stdout.splitlines() if "p/t001" in line)
        assert ("pruned" in line and said in line) if width == "400" else "pruned at step" in out.stdout, width
    assert f"p/t001: {said}" in out.stdout


def test_export_has_a_column_for_each_swept_hyperparameter(fixed_store):
    add_sweep(fixed_store, DROPOUT_TRIALS, sweep="drop")
    add_sweep(fixed_store)
    table = gpt_tui("export", "--format", "csv", store=fixed_store.root)
    assert table.returncode == 0, table.stderr
    by_run = {r["run"]: r for r in csv.DictReader(io.StringIO(table.stdout))}
    assert by_run["20260103-091000-000-drop-t002-2b02"]["dropout"] == "0.1"
    assert by_run[T001]["eta_s"] == "" and by_run[RUNNING]["eta_s"] == "212.0"  # an ended run has no ETA
    assert float(by_run[T001]["tokens_per_s"]) == 6144.0
    records = json.loads(gpt_tui("export", "--format", "json", store=fixed_store.root).stdout)
    assert {r["run"]: r["dropout"] for r in records}["20260103-090000-000-drop-t001-2a01"] == 0.0
    md = gpt_tui("export", "--format", "md", "--sweep", "drop", store=fixed_store.root).stdout
    assert "| dropout |" in md.splitlines()[0] and "| drop/t002 |" in md


def test_show_gives_no_eta_for_a_finished_run(sweep_store):
    done = gpt_tui("show", T001, store=sweep_store.root)
    assert done.returncode == 0, done.stderr
    assert "eta_s" not in done.stdout and "tokens_per_s" in done.stdout
    running = gpt_tui("show", RUNNING, store=sweep_store.root)
    assert "eta_s" in running.stdout
