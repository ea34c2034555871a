"""The LR range test in the app: its row says what it is and is never the best run; its monitor draws
the loss against the learning rate with both suggestions marked; ctrl+l in the editor queues one
and offers what it found; L on the runs screen queues one. The store files are written here, as a
worker would write them, so no engine and no training is needed."""

from __future__ import annotations

import math

from textual.widgets import Input

from engine.core import config as cfgmod
from engine.core import lrfind
from engine.store import runs as st
from engine.store.columns import lr_text as lr_label
from tests.tui.test_cli import gpt_tui
from tests.tui.test_tui_editor import new_runs, open_editor, type_into
from tests.tui_store import BASE, RUNS, make_app, monitor_loaded, runs_loaded, until
from tui.models import lrfind_queue as lq
from tui.screens.confirm import ConfirmScreen
from tui.widgets import Readouts
from tui.widgets.lr_chart import LrChart

LRFIND = "20260101-150000-000-baseline-lr-find-1f07"
PLANNED = 200


def lr_points(upto: int | None = None) -> list[dict]:
    """A test's [[lr]] records over 1e-7..10: a plateau, a fall around 5e-4, a blow-up past 3e-2,
    a little deterministic noise; it stops where the worker would (Smoother.should_stop)."""
    smoother, out = lrfind.Smoother(), []
    for step in range(PLANNED if upto is None else upto):
        lr = lrfind.lr_at(step, lrfind.DEFAULT_MIN, lrfind.DEFAULT_MAX, PLANNED)
        x = math.log10(lr)
        loss = 4.6 - 2.4 / (1 + math.exp(-(x + 3.3) * 2.2)) + max(0.0, x + 1.5) ** 2 * 25 + 0.05 * math.sin(step * 1.7)
        smooth = smoother.add(loss)
        out.append(dict(step=step + 1, lr=lr, loss=round(loss, 4), smooth=round(smooth, 4), t=1767272400.0 + step))
        if smoother.should_stop(smooth):
            break
    return out


def add_lrfind_run(store: st.Store, run_id: str = LRFIND, upto: int | None = None) -> lrfind.Suggestion:
    """An LR range test of baseline's config: done with its suggestion, or running at step `upto`."""
    points = lr_points(upto)
    (store.root / run_id).mkdir()
    st.write_atomic(store.config_path(run_id), cfgmod.to_toml(cfgmod.from_mapping(BASE)))
    status = dict(state="running", name="baseline-lr-find", kind="lrfind", step=len(points), device="AMD EPYC")
    status.update(lrfind_min=lrfind.DEFAULT_MIN, lrfind_max=lrfind.DEFAULT_MAX, lrfind_steps=PLANNED)
    status.update(created="2026-01-01T15:00:00.000Z", lr=points[-1]["lr"], loss=points[-1]["loss"])
    found = lrfind.suggest([p["lr"] for p in points], [p["smooth"] for p in points])
    if upto is None:
        status.update(
            state="done",
            train_seconds=41.0,
            reason=f"stopped early at step {len(points)}: the smoothed loss passed 4x its minimum",
        )
        status.update(lr_steepest=found.steepest, lr_min_div10=found.min_div10, lr_suggested=found.suggested)
    store.write_status(run_id, st.Status.from_toml(status), durable=False)
    store.metrics_path(run_id).write_text("".join(st.format_record("lr", p) for p in points))
    store.worker_log(run_id).write_text(
        f"[2026-01-01 15:00:00] run {run_id}: attempt 1, pid 4343\n"
        f"[2026-01-01 15:00:01] LR range test: {PLANNED} steps from 1e-7 to 10\n"
    )
    return found


# -- the runs table and `gpt-tui ls` --------------------------------------------------------


async def test_an_lr_find_run_shows_its_badge_and_suggestion_and_is_never_the_best(fixed_store):
    found = add_lrfind_run(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert table.get_cell(LRFIND, "state").plain == "✔ lr-find"
        assert table.get_cell(LRFIND, "val_ppl").plain == "-"
        assert table.get_cell(LRFIND, "note").plain == f"suggests {lr_label(found.suggested)}"
        assert table.best == "20260101-100000-000-deeper-0b02"  # unchanged by the test


def test_ls_shows_the_lr_find_badge_and_no_ppl(fixed_store):
    found = add_lrfind_run(fixed_store)
    out = gpt_tui("ls", store=fixed_store.root)
    assert out.returncode == 0, out.stderr
    (line,) = [x for x in out.stdout.splitlines() if "baseline-lr-find" in x]
    assert line.split()[:3] == ["lr-find", "done", "baseline-lr-find"]
    assert "  -  " in line and f"suggests {lr_label(found.suggested)}" in line  # no val PPL, no best val


# -- the monitor ------------------------------------------------------------------------------


async def test_the_monitor_of_an_lr_find_run_marks_both_suggestions(fixed_store):
    found = add_lrfind_run(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        monitor = await monitor_loaded(pilot, LRFIND)
        chart = monitor.query_one(LrChart)
        await until(pilot, lambda: chart.marks)
        assert chart.display and monitor.has_class("-lrfind")
        assert chart.marks == [
            (f"steepest {lr_label(found.steepest)}", found.steepest),
            (f"min/10 {lr_label(found.min_div10)}", found.min_div10),
        ]
        assert [line.label for line in chart.lines] == ["loss", "smoothed"]
        assert len(chart.lines[1].xs) == len(lr_points())
        assert not monitor.query_one("#chart-loss").display  # no training charts for a test
        readouts = monitor.query_one(Readouts).values
        assert readouts["suggested"] == f"{lr_label(found.suggested)} (steepest descent)"
        assert readouts["smoothed"] == f"{lr_points()[-1]['smooth']:.4f}"
        assert f"step {len(lr_points())}/{len(lr_points())}" in monitor.query_one("#progress").caption  # done: whole


async def test_the_lr_chart_grows_as_records_arrive(fixed_store):
    add_lrfind_run(fixed_store, upto=60)
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        monitor = await monitor_loaded(pilot, LRFIND)
        chart = monitor.query_one(LrChart)
        await until(pilot, lambda: chart.lines)
        assert "suggested" not in monitor.query_one(Readouts).values  # not before the test has ended
        more = lr_points(90)[60:]
        path = fixed_store.metrics_path(LRFIND)
        for record in more:
            st.append_record(path, "lr", record)
        await until(pilot, lambda: monitor.query_one(Readouts).values["lr"] == lr_label(more[-1]["lr"]), timeout=8)
        await until(pilot, lambda: len(chart.lines[1].xs) == 90, timeout=8)
        assert "step 90/200" in monitor.query_one("#progress").caption


# -- the editor's ctrl+l ----------------------------------------------------------------------


def finish(store: st.Store, run_id: str, suggested: float) -> None:
    """What the worker writes at the end of a test."""
    store.update_status(
        run_id, state="done", step=120, lr_steepest=suggested, lr_min_div10=suggested / 3, lr_suggested=suggested
    )


async def test_ctrl_l_queues_a_test_of_the_form_and_yes_sets_the_rates_it_found(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "learning_rate", "1e-3")
        await type_into(pilot, "min_lr", "2e-4")  # a ratio of 0.2, to be kept
        await type_into(pilot, "max_iters", "60")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: len(new_runs(fixed_store)) == 1)
        (run_id,) = new_runs(fixed_store)
        status = fixed_store.status(run_id)
        assert (status.kind, status.lrfind_steps, status.state) == ("lrfind", 60, "queued")  # steps: max_iters
        assert (status.lrfind_min, status.lrfind_max) == (lrfind.DEFAULT_MIN, lrfind.DEFAULT_MAX)
        assert [e.run_id for e in fixed_store.list_queue()] == [run_id]
        assert cfgmod.load(fixed_store.config_path(run_id)).max_iters == 60
        line = editor.query_one("#lrfind-line")
        await until(pilot, lambda: "queued" in str(line.content))
        fixed_store.update_status(run_id, state="running", step=37, lr=3.2e-4, loss=2.5)
        await until(pilot, lambda: str(line.content).startswith("LR find: step 37/60"))
        finish(fixed_store, run_id, 3.162e-3)
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "suggests learning_rate 3.16e-3 (steepest descent)" in app.screen.question
        await pilot.press("y")
        await until(pilot, lambda: editor.query_one("#f-learning_rate", Input).value == "3.16e-3")
        assert editor.query_one("#f-min_lr", Input).value == "6.32e-4"
        assert editor.config is not None and editor.config.min_lr == 6.32e-4
        assert "suggests 3.16e-3" in str(line.content)


async def test_no_to_the_offer_leaves_the_rates(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        editor = await open_editor(pilot)
        before = editor.query_one("#f-learning_rate", Input).value, editor.query_one("#f-min_lr", Input).value
        await pilot.press("ctrl+l")
        await until(pilot, lambda: len(new_runs(fixed_store)) == 1)
        (run_id,) = new_runs(fixed_store)
        assert fixed_store.status(run_id).lrfind_steps == lq.steps_for(cfgmod.preset("quickstart").max_iters)
        finish(fixed_store, run_id, 2e-3)
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is editor)
        after = editor.query_one("#f-learning_rate", Input).value, editor.query_one("#f-min_lr", Input).value
        assert after == before


async def test_ctrl_l_with_a_problem_in_the_form_queues_nothing(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_editor(pilot)
        await type_into(pilot, "batch_size", "0")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: any("no LR range test" in n.message for n in app._notifications))
        assert new_runs(fixed_store) == [] and fixed_store.list_queue() == []


def test_the_test_takes_no_more_steps_than_the_run_and_no_fewer_than_ten():
    assert [lq.steps_for(n) for n in (3, 10, 60, 200, 5000)] == [10, 10, 60, 200, 200]


# -- the runs screen's L ----------------------------------------------------------------------


async def test_L_queues_a_test_of_the_highlighted_runs_config(fixed_store):
    deeper = "20260101-100000-000-deeper-0b02"
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("end", "up")
        assert app.screen.table.current_id == deeper
        await pilot.press("L")
        await until(pilot, lambda: len([r for r in fixed_store.list_runs() if r not in RUNS]) == 1)
        (run_id,) = [r for r in fixed_store.list_runs() if r not in RUNS]
        status = fixed_store.status(run_id)
        assert (status.kind, status.name, status.source) == ("lrfind", "deeper-lr-find", f"lr-find of {deeper}")
        assert cfgmod.load(fixed_store.config_path(run_id)) == cfgmod.load(fixed_store.config_path(deeper))
        assert [e.run_id for e in fixed_store.list_queue()] == [run_id]
        await until(pilot, lambda: any("queued an LR range test" in n.message for n in app._notifications))
        await until(pilot, lambda: run_id in app.screen.table.shown_ids)
        assert app.screen.table.get_cell(run_id, "state").plain == "◌ lr-find"


async def test_a_hand_written_test_log_with_odd_numbers_is_drawn_not_fatal(fixed_store):
    add_lrfind_run(fixed_store, upto=20)
    odd = [dict(step=21, lr=1e-3, loss=1e300, smooth=-1e300), dict(step=22, lr=0.0, loss=math.inf, smooth=math.nan)]
    with fixed_store.metrics_path(LRFIND).open("a") as f:
        f.write("".join(st.format_record("lr", r) for r in odd))
    app = make_app(fixed_store)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await monitor_loaded(pilot, LRFIND)
        chart = monitor.query_one(LrChart)
        await until(pilot, lambda: chart.lines)
        await pilot.pause(0.1)
        assert "cannot draw" not in str(chart.render())
        assert monitor.query_one(Readouts).values["smoothed"] == "nan"
