"""Transfer best → in the app: ctrl+o on the sweep screen asks the target width (the sweep base's by
default) and shows both costs side by side; enter opens the editor with the target; ctrl+s queues it
with the trial it came from in its status."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Input

from engine.core import config as cfgmod
from tests.sweeps.proxy_store import BEST_LR, add_grid
from tests.tui_store import make_app, runs_loaded, shown, until
from tui.screens.sweep import SweepScreen
from tui.screens.transfer import TransferScreen
from tui.screens.transfer_editor import TransferEditorScreen


def text_of(renderable) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return " ".join(console.export_text().split())


async def test_transfer_best_opens_the_editor_with_the_target_and_ctrl_s_queues_it_with_its_trial(fixed_store):
    add_grid(fixed_store, "proxy", proxy=True)
    before = set(fixed_store.statuses())
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, SweepScreen))
        app.screen.query_one("#sweep-proxy", Input).value = "32"  # the form declares a proxy as --proxy does
        assert app.screen.request().proxy == ("n_embd=32",)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, TransferScreen) and app.screen.transfer is not None)
        dialog = app.screen
        assert dialog.query_one("#transfer-width", Input).value == "64"  # the sweep base's width
        preview = text_of(shown(app, "#transfer-preview"))
        assert "best trial proxy/t002" in preview and "learning_rate 0.003" in preview
        assert "1 x 32, m = 1" in preview and "1 x 64, m = 2" in preview and "FLOPs/token" in preview
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TransferEditorScreen))
        editor = app.screen
        values = {n: editor.query_one(f"#f-{n}", Input).value for n in ("n_embd", "parametrization", "mup_base_width")}
        assert values == {"n_embd": "64", "parametrization": "mup", "mup_base_width": "32"}
        assert editor.query_one("#f-learning_rate", Input).value == str(BEST_LR)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SweepScreen) and set(fixed_store.statuses()) - before)
    (run_id,) = set(fixed_store.statuses()) - before
    status = fixed_store.status(run_id)
    assert (status.transferred_from, status.name, status.state) == ("proxy/t002", "proxy-w64", "queued")
    c = cfgmod.load(fixed_store.config_path(run_id))
    assert (c.n_embd, c.parametrization, c.mup_base_width, c.learning_rate) == (64, "mup", 32, BEST_LR)
