"""The editor: typed values land in the queued run's config.toml; a bad value is shown by its
field and nothing is queued; estimates follow the typing."""

from __future__ import annotations

from textual.widgets import Input

from engine.core import config as cfgmod
from tests.tui_store import RUNS, make_app, runs_loaded, until
from tui.screens.editor import EditorScreen
from tui.screens.runs import RunsScreen
from tui.widgets import EstimatePanel, FieldRow


async def open_editor(pilot) -> EditorScreen:
    await runs_loaded(pilot)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, EditorScreen))
    editor = pilot.app.screen
    await until(pilot, lambda: editor.device is not None and "parameters" in editor.query_one(EstimatePanel).lines)
    return editor


async def type_into(pilot, name: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#f-{name}", Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*text)


def new_runs(store) -> list[str]:
    return [r for r in store.list_runs() if r not in RUNS]


async def test_editor_queues_a_run_whose_config_holds_the_typed_values(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_editor(pilot)
        await type_into(pilot, "n_layer", "6")
        await type_into(pilot, "learning_rate", "3e-4")
        await type_into(pilot, "batch_size", "8")
        await type_into(pilot, "gradient_accumulation_steps", "4")
        await type_into(pilot, "max_iters", "120")
        app.screen.query_one("#run-name", Input).focus()
        await pilot.press(*"quick-deeper")  # q types a q here: it quits only where nothing is typed
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and len(new_runs(fixed_store)) == 1)
        (run_id,) = new_runs(fixed_store)
        cfg = cfgmod.load(fixed_store.config_path(run_id))
        assert (cfg.n_layer, cfg.learning_rate, cfg.batch_label, cfg.max_iters) == (6, 3e-4, "32 (8x4)", 120)
        assert cfg.n_embd == cfgmod.preset("quickstart").n_embd  # the rest from the preset
        assert "quick-deeper" in run_id and fixed_store.status(run_id).state == "queued"
        assert [e.run_id for e in fixed_store.list_queue()] == [run_id]
        await until(pilot, lambda: run_id in app.screen.table.shown_ids)


async def test_an_invalid_value_shows_its_message_by_the_field_and_queues_nothing(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "batch_size", "12x4")
        row = editor.query_one("#row-batch_size", FieldRow)
        assert row.has_class("-invalid")
        message = str(editor.query_one("#e-batch_size").content)
        assert "gradient_accumulation_steps=4" in message
        assert "problem" in str(editor.query_one("#form-status").content)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, EditorScreen) and new_runs(fixed_store) == []
        assert fixed_store.list_queue() == []
        await type_into(pilot, "batch_size", "12")
        assert not row.has_class("-invalid")


async def test_a_rule_across_fields_lands_on_its_field(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "n_head", "5")
        assert "divisible" in str(editor.query_one("#e-n_embd").content)
        assert editor.query_one("#row-n_embd").has_class("-invalid")


async def test_estimates_follow_the_typing_and_time_comes_from_finished_runs(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        editor = await open_editor(pilot)
        panel = editor.query_one(EstimatePanel)
        before = panel.lines["parameters"].value
        assert "measured from 2 finished runs" in panel.lines["time"].note
        assert panel.lines["memory"].note.startswith("under 1% of 16.00 GiB RAM")
        await type_into(pilot, "n_layer", "8")
        await until(pilot, lambda: panel.lines.get("parameters") and panel.lines["parameters"].value != before)
        await type_into(pilot, "gradient_accumulation_steps", "3")
        await until(
            pilot, lambda: panel.lines.get("effective batch") and panel.lines["effective batch"].value == "48 (16x3)"
        )


async def test_a_preset_fills_every_field_and_queue_and_watch_opens_the_monitor(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        editor = await open_editor(pilot)
        editor.query_one("#preset").value = "seed-deeper"
        await until(pilot, lambda: editor.query_one("#f-n_layer", Input).value == "16")
        assert editor.query_one("#f-batch_size", Input).value == "8"
        await type_into(pilot, "max_iters", "300")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: type(app.screen).__name__ == "MonitorScreen")
        (run_id,) = new_runs(fixed_store)
        assert app.screen.run_id == run_id
        assert cfgmod.load(fixed_store.config_path(run_id)).n_layer == 16


async def test_copy_of_a_run_starts_from_its_config(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("end", "up", "y")  # deeper
        await until(pilot, lambda: isinstance(app.screen, EditorScreen))
        assert app.screen.query_one("#f-n_layer", Input).value == "6"
        assert app.screen.query_one("#f-gradient_accumulation_steps", Input).value == "2"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
