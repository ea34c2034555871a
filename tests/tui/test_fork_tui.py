"""Forking in the app: `f` opens the editor on the run's config with the checkpoint's fields locked,
ctrl+s queues the fork; the table and `ls` show its lineage; its curves begin with its parent's."""

from __future__ import annotations

import zipfile

from textual.widgets import Input

from engine.core import config as cfgmod
from engine.core.forking import FIXED_FIELDS
from engine.store import control
from engine.store import fork as forking
from engine.store import runs as st
from tests.tui.test_cli import gpt_tui
from tests.tui_store import RUNS, make_app, runs_loaded, shown, train_record, until
from tui.models import fork_form
from tui.screens.fork import ForkScreen
from tui.screens.runs import RunsScreen

BASELINE, DEEPER = "20260101-090000-000-baseline-0a01", "20260101-100000-000-deeper-0b02"


def give_checkpoints(store: st.Store, run_id: str = BASELINE) -> None:
    """last.pt and best.pt at step 800 and a kept step 400: zips, as torch saves them."""
    ckpt = store.ckpt_dir(run_id)
    ckpt.mkdir()
    for name in ("last.pt", "best.pt", "step-400.pt"):
        with zipfile.ZipFile(ckpt / name, "w") as z:
            z.writestr("archive/data.pkl", b"weights")
    st.write_toml(ckpt / "index.toml", {"last": 800, "best": 800, "kept": [400]})


def new_runs(store: st.Store) -> list[str]:
    return [r for r in store.list_runs() if r not in RUNS]


async def open_fork(pilot) -> ForkScreen:
    await runs_loaded(pilot)
    await pilot.press("end", "f")  # newest first: the baseline is the last row
    await until(pilot, lambda: isinstance(pilot.app.screen, ForkScreen))
    return pilot.app.screen


async def type_into(pilot, name: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#f-{name}", Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*text)


def queue_fork(store: st.Store, source: str = "last", max_iters: int = 1200) -> str:
    """A fork of the baseline made as the engine API makes it, with its first records: they go on
    from the checkpoint's step, as a fork's worker logs them."""
    cfg = cfgmod.from_mapping({"max_iters": max_iters}, forking.parent_config(store, BASELINE))
    plan = forking.plan_fork(store, BASELINE, source, cfg)
    child = forking.fork(store, plan, "longer")
    steps = range(plan.parent_step + 10, plan.parent_step + 100, 10)
    text = "".join(st.format_record("train", train_record(step)) for step in steps)
    store.metrics_path(child).write_text(text)
    return child


async def test_f_opens_the_run_in_the_fork_editor_and_ctrl_s_queues_the_fork(fixed_store):
    give_checkpoints(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_fork(pilot)
        assert "fork of baseline@800" in str(shown(app, "#engine-bar"))
        assert editor.query_one("#f-learning_rate", Input).value == "0.001"  # the parent's config
        for name, why in FIXED_FIELDS.items():
            assert editor.query_one(f"#f-{name}", Input).disabled
            assert why in str(editor.query_one(f"#row-{name} .field-fixed").content)
        # The parent ran to its max_iters: a fork from step 800 must be given more steps.
        assert "raise max_iters" in str(editor.query_one("#e-max_iters").content)
        await type_into(pilot, "max_iters", "1200")
        await type_into(pilot, "learning_rate", "3e-4")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and new_runs(fixed_store))
        (child,) = new_runs(fixed_store)
        status = fixed_store.status(child)
        assert (status.parent, status.parent_name, status.parent_ckpt) == (BASELINE, "baseline", "last.pt")
        assert status.state == "queued" and status.name == "baseline-fork"
        cfg = cfgmod.load(fixed_store.config_path(child))
        assert (cfg.learning_rate, cfg.max_iters, cfg.n_layer) == (3e-4, 1200, 4)
        assert (fixed_store.ckpt_dir(child) / "fork.pt").is_file()
        assert any(f"queued fork {child}" in n.message for n in app._notifications)


async def test_a_fixed_field_is_locked_and_a_run_without_a_checkpoint_is_not_forked(fixed_store):
    give_checkpoints(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_fork(pilot)
        n_layer = editor.query_one("#f-n_layer", Input)
        n_layer.focus()
        await pilot.press("9")
        assert n_layer.disabled and not n_layer.has_focus and n_layer.value == "4"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("up", "f")  # deeper has no checkpoint
        await until(pilot, lambda: any("cannot fork" in n.message for n in app._notifications))
        (message,) = [n.message for n in app._notifications if "cannot fork" in n.message]
        assert "deeper has no checkpoint yet" in message
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunsScreen) and new_runs(fixed_store) == []


def test_the_editor_offers_the_checkpoints_a_fork_can_start_from(fixed_store):
    give_checkpoints(fixed_store)
    start = fork_form.prepare(fixed_store, BASELINE)
    assert [c.label for c in start.choices] == ["last · step 800", "best · step 800", "kept step 400"]
    (fixed_store.ckpt_dir(BASELINE) / "last.pt").write_bytes(b"cut short")  # no zip: left out
    assert [c.source for c in fork_form.prepare(fixed_store, BASELINE).choices] == ["best", "400"]


async def test_the_table_and_ls_show_the_lineage_also_once_the_parent_is_gone(fixed_store):
    give_checkpoints(fixed_store)
    child = queue_fork(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(160, 30)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert table.get_cell(child, "note").plain == "└ fork of baseline@800"
        control.delete(fixed_store, BASELINE)
        await until(pilot, lambda: BASELINE not in table.rows_by_id)
        assert table.get_cell(child, "note").plain == "└ fork of baseline@800"
    out = gpt_tui("ls", store=fixed_store.root)
    assert out.returncode == 0 and "└ fork of baseline@800" in out.stdout, out.stdout


async def test_a_forks_monitor_and_compare_join_its_parents_curve(fixed_store):
    give_checkpoints(fixed_store)
    child = queue_fork(fixed_store, source="400", max_iters=900)
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        app.open_monitor(child)
        await until(pilot, lambda: getattr(app.screen, "run_id", "") == child and app.screen.series.train.rows)
        steps = app.screen.series.train.get("step")
        assert steps == [*range(10, 401, 10), *range(410, 500, 10)]  # the parent's up to 400, then its own
        assert app.screen.series.eval.get("step") == [0.0, 100.0, 200.0, 300.0, 400.0]
        assert "fork of baseline@400" in str(shown(app, "#run-title"))
        await pilot.press("escape")
        app.open_compare([BASELINE, child])
        await until(pilot, lambda: len(getattr(app.screen, "curves", {})) == 2 and app.screen.curves[child].steps)
        assert app.screen.curves[child].steps == [0.0, 100.0, 200.0, 300.0, 400.0]
        assert len(app.screen.curves[BASELINE].steps) == 9
        await pilot.press("escape")
        control.delete(fixed_store, BASELINE)  # the parent gone: the fork alone, and no error
        app.open_monitor(child)
        await until(pilot, lambda: getattr(app.screen, "run_id", "") == child and app.screen.series.train.rows)
        assert app.screen.series.train.get("step") == list(range(410, 500, 10))
        assert not [n for n in app._notifications if n.severity == "error"]


async def test_the_palette_forks_a_run_by_its_name(fixed_store):
    from textual.command import CommandList

    give_checkpoints(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("ctrl+p", *"fork baseline")
        await until(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ForkScreen))
        assert app.screen.start.parent == BASELINE
