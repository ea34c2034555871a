"""The TUI's sweep screen queues the same sweep the command line would: same spec, same trials,
same run configs; a bad value is shown and nothing is queued."""

from __future__ import annotations

from textual.widgets import Checkbox, Input, Select

from engine.store import runs as stmod
from engine.sweeps import files as sf
from engine.sweeps import spec as sw
from tests.tui.test_cli import gpt_tui
from tests.tui_store import make_app, runs_loaded, until
from tui.screens.runs import RunsScreen
from tui.screens.sweep import SweepScreen

CLI = [
    "grid",
    "learning_rate=1e-3,3e-3",
    "batch_size=8,4",
    "--preset",
    "quickstart",
    "--name",
    "lr",
    "--keep-effective-batch",
    "--early-stop",
    "median",
    "--max-hours",
    "2",
]


async def open_sweep_screen(pilot) -> SweepScreen:
    await runs_loaded(pilot)
    await pilot.press("w")
    await until(pilot, lambda: isinstance(pilot.app.screen, SweepScreen))
    return pilot.app.screen


async def type_into(pilot, widget_id: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#{widget_id}", Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*text)


def comparable(store: stmod.Store, sweep_id: str) -> tuple:
    record = sf.load(store, sweep_id)
    configs = [store.config_path(r).read_text() for r in record.run_ids()]
    return sw.to_mapping(record.spec), [r["params"] for r in record.runs], configs


async def test_the_sweep_screen_queues_the_same_sweep_the_cli_would(fixed_store, tmp_path):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_screen(pilot)
        await type_into(pilot, "param-0", "learning_rate")
        await type_into(pilot, "values-0", "1e-3,3e-3")
        await type_into(pilot, "param-1", "batch_size")
        await type_into(pilot, "values-1", "8,4")
        await type_into(pilot, "sweep-name", "lr")
        await type_into(pilot, "sweep-max-hours", "2")
        screen.query_one("#sweep-keep-batch", Checkbox).value = True
        screen.query_one("#sweep-early-stop", Select).value = "median"
        await until(pilot, lambda: screen.ready and "--early-stop median" in screen.command)
        assert (
            screen.command == "gpt-tui sweep " + " ".join(CLI[:7]) + " --early-stop median --max-hours 2.0 "
            "--keep-effective-batch"
        )
        plan_text = str(screen.query_one("#sweep-plan").content)
        assert "4 trial(s); estimated total time" in plan_text
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and sf.ids(fixed_store) == ["lr"])

    cli_store = stmod.Store(tmp_path / "cli-runs")
    out = gpt_tui("sweep", *CLI, "--no-engine", store=cli_store.root)
    assert out.returncode == 0, out.stderr
    assert comparable(fixed_store, "lr") == comparable(cli_store, "lr")


async def test_a_bad_range_is_shown_and_nothing_is_queued(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_screen(pilot)
        await type_into(pilot, "param-0", "learning_rate")
        await type_into(pilot, "values-0", "log:1e-3")
        await until(pilot, lambda: "must look like log:LO:HI" in screen.problem)
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SweepScreen) and sf.ids(fixed_store) == []
        assert fixed_store.list_queue() == []
