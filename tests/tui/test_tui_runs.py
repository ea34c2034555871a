"""The runs screen from the keyboard: every run listed and kept current, sorted, filtered, and
acted on — each test asserts on the store, not on the widgets alone."""

from __future__ import annotations

from engine.serve import engines as eng
from engine.store import runs as st
from tests.tui_store import RUNNING, RUNS, make_app, runs_loaded, until
from tui.models.runs_view import COLUMN_KEYS, COLUMNS, SORTABLE
from tui.screens.runs import RunsScreen
from tui.widgets import RunTable

BASELINE, DEEPER = "20260101-090000-000-baseline-0a01", "20260101-100000-000-deeper-0b02"
NEWEST_FIRST = sorted(RUNS, reverse=True)


async def test_every_run_is_listed_newest_first_with_the_best_marked(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert table.shown_ids == NEWEST_FIRST
        assert table.best == DEEPER
        assert table.get_cell(DEEPER, "mark").plain == " ★"
        assert table.get_cell(DEEPER, "batch").plain == "16 (8x2)"
        assert "engine ○ none" in str(app.screen.query_one("#engine-bar").content)


async def test_rows_follow_status_changes_cell_by_cell(fixed_store, monkeypatch):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        added, updated = [], []
        monkeypatch.setattr(table, "add_row", lambda *a, **k: added.append(k.get("key")))
        original_update = table.update_cell
        monkeypatch.setattr(
            table, "update_cell", lambda r, c, v, **k: updated.append(c) or original_update(r, c, v, **k)
        )
        fixed_store.update_status(RUNNING, step=500, eta_s=90.0)  # the watcher sees it: nothing asks
        await until(pilot, lambda: table.get_cell(RUNNING, "time").plain == "ETA 1m30s")
        assert table.get_cell(RUNNING, "progress").plain.endswith("62%")
        assert added == [] and sorted(updated) == ["progress", "time"]


async def test_stop_writes_the_stop_request(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("down", "down")  # newest first: too-hot, lr-grid-2, lr-grid-1 (running)
        assert app.screen.table.current_id == RUNNING
        await pilot.press("s", "y")  # stop asks first
        await until(pilot, lambda: fixed_store.control_path(RUNNING).exists())
        assert st.read_toml(fixed_store.control_path(RUNNING))["request"] == "stop"


async def test_stopping_an_ended_run_says_why_and_writes_nothing(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("end", "s")  # the oldest: baseline, done
        await until(pilot, lambda: any("not running" in n.message for n in app._notifications))
        assert not fixed_store.control_path(BASELINE).exists()


async def test_delete_asks_first_and_cancel_keeps_the_run(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("end", "d")
        assert "Delete run" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("n")
        await pilot.press("d", "y")
        await until(pilot, lambda: BASELINE not in fixed_store.list_runs())
        await until(pilot, lambda: BASELINE not in app.screen.table.shown_ids)


async def test_note_is_written_to_the_store_and_shown(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("e")  # too-hot, the newest
        await pilot.press(*"lr too high", "enter")
        run_id = NEWEST_FIRST[0]
        await until(pilot, lambda: (fixed_store.run_dir(run_id) / "note.toml").exists())
        assert st.read_toml(fixed_store.run_dir(run_id) / "note.toml")["note"] == "lr too high"
        await until(pilot, lambda: app.screen.table.get_cell(run_id, "note").plain == "lr too high")


async def test_resume_queues_a_stopped_run_and_retry_makes_a_copy(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        slow = "20260101-110000-000-slow-lr-0c03"
        await pilot.press("down", "down", "down")
        assert app.screen.table.current_id == slow
        await pilot.press("r")
        await until(pilot, lambda: fixed_store.status(slow).state == "queued")
        assert [e.run_id for e in fixed_store.list_queue()] == [slow]
        await pilot.press("t")
        await until(pilot, lambda: len(fixed_store.list_runs()) == len(RUNS) + 1)
        await until(pilot, lambda: app.screen.table.row_count == len(RUNS) + 1)


async def test_filter_by_state_then_clear(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("slash", *"state:done", "enter")
        assert sorted(app.screen.table.shown_ids) == [BASELINE, DEEPER]
        assert "2 of 6 runs" in str(app.screen.query_one("#runs-summary").content)
        await pilot.press("escape")
        assert app.screen.table.row_count == len(RUNS)


async def test_sort_by_best_val_then_flip(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        table.sort_by("best_val_loss")
        assert table.shown_ids[:2] == [DEEPER, BASELINE]
        await pilot.press("o")  # the sort dialog; the same column again flips
        app.screen.query_one("#sort-options").highlighted = [c.key for c in SORTABLE].index("best_val_loss")
        await pilot.press("enter")
        assert table.order == ("best_val_loss", True) and table.shown_ids[0] == RUNNING


async def test_the_mouse_sorts_by_a_header_and_opens_a_run_with_a_second_click(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        x = sum(c.width + 2 for c in COLUMNS[: COLUMN_KEYS.index("best_val_loss")]) + 2
        await pilot.click(RunTable, offset=(x, 0))
        assert table.order == ("best_val_loss", False) and table.shown_ids[0] == DEEPER
        await pilot.click(RunTable, offset=(30, 2))  # the second row: highlight it
        assert table.current_id == BASELINE and isinstance(app.screen, RunsScreen)
        await pilot.click(RunTable, offset=(30, 2))  # again: open it
        await until(pilot, lambda: type(app.screen).__name__ == "MonitorScreen")
        assert app.screen.run_id == BASELINE


async def test_compare_wants_two_runs_then_opens(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("c")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("end", "space", "up", "c")  # baseline selected, deeper highlighted
        assert type(app.screen).__name__ == "CompareScreen"
        assert app.screen.run_ids == [DEEPER, BASELINE]


async def test_sweep_key_says_sweeps_are_not_here_yet_when_the_module_is_missing(fixed_store, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tui.screens.sweep" else real(name, *a)
    )
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("w")
        assert any(n.message == "sweeps: not available yet" for n in app._notifications)


async def test_help_lists_every_screens_keys_and_the_palette_has_commands(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"New run", "New sweep", "Keys", "Monitor run", "Compare selected runs"} <= set(titles)
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        tables = [s.content for s in app.screen.query("Static") if hasattr(s.content, "columns")]
        keys = {cell for t in tables for cell in t.columns[0]._cells}
        assert {"n", "s", "space", "/", "ctrl+s", "x", "ctrl+g", "?"} <= keys
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_the_app_starts_an_engine_when_none_is_alive(fixed_store, monkeypatch):
    from tui.app import GptTuiApp

    started = []
    monkeypatch.setattr(
        eng,
        "start_engine",
        lambda store: (
            started.append(store.root)
            or eng.EngineInfo(store.root / "engine-x-1.toml", st.EngineRecord(4242, "x"), True)
        ),
    )
    app = GptTuiApp(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: started == [fixed_store.root])
        await until(pilot, lambda: any("started an engine (pid 4242)" in n.message for n in app._notifications))
