"""What the main screens look like on a fixed store (no engine, no clock in the text).
Update after a deliberate change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs in tests/__snapshots__/ before keeping them."""

from __future__ import annotations

from engine.core.estimate import param_count
from engine.data.tokenize import vocab_size_for
from tests.tui.test_lrfind_tui import LRFIND, add_lrfind_run
from tests.tui_store import add_sweep, make_app, monitor_loaded, runs_loaded, until

BASELINE, DEEPER = "20260101-090000-000-baseline-0a01", "20260101-100000-000-deeper-0b02"


def test_runs_screen(snap_compare, fixed_store):
    assert snap_compare(make_app(fixed_store), terminal_size=(120, 36), run_before=runs_loaded)


def test_runs_screen_at_80x24_with_a_filter(snap_compare, fixed_store):
    async def filtered(pilot):
        await runs_loaded(pilot)
        await pilot.press("slash", *"sweep:lr", "enter", "down")

    assert snap_compare(make_app(fixed_store), terminal_size=(80, 24), run_before=filtered)


def test_runs_table_with_a_finished_sweep_at_80x24(snap_compare, fixed_store):
    """The trial table at 80 columns: state, name, val PPL, LR, batch and the shape whole; t001..t003."""
    add_sweep(fixed_store)
    assert snap_compare(make_app(fixed_store), terminal_size=(80, 24), run_before=runs_loaded)


def test_runs_table_with_a_finished_sweep_at_120x40(snap_compare, fixed_store):
    add_sweep(fixed_store)
    assert snap_compare(make_app(fixed_store), terminal_size=(120, 40), run_before=runs_loaded)


def test_editor_with_live_estimates(snap_compare, fixed_store):
    async def editor(pilot):
        await runs_loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: getattr(pilot.app.screen, "device", None) is not None)
        pilot.app.screen.query_one("#f-n_layer").value = "6"
        want = f"{param_count(pilot.app.screen.config, vocab_size_for('pydocs', 'char')):,}"
        panel = pilot.app.screen.query_one("#estimates")
        await until(pilot, lambda: panel.lines.get("parameters") and panel.lines["parameters"].value == want)

    assert snap_compare(make_app(fixed_store), terminal_size=(120, 36), run_before=editor)


def test_editor_shows_a_problem_by_its_field_at_80x24(snap_compare, fixed_store):
    async def editor_with_a_problem(pilot):
        await runs_loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: getattr(pilot.app.screen, "device", None) is not None)
        field = pilot.app.screen.query_one("#f-batch_size")
        field.focus()
        field.value = "12x4"
        await until(pilot, lambda: pilot.app.screen.query_one("#row-batch_size").has_class("-invalid"))

    assert snap_compare(make_app(fixed_store), terminal_size=(80, 24), run_before=editor_with_a_problem)


def test_monitor(snap_compare, fixed_store):
    async def monitor(pilot):
        await runs_loaded(pilot)
        await monitor_loaded(pilot)
        await until(pilot, lambda: pilot.app.screen.query_one("#chart-memory").lines)

    assert snap_compare(make_app(fixed_store), terminal_size=(120, 36), run_before=monitor)


def test_monitor_of_an_lr_range_test(snap_compare, fixed_store):
    """The loss (raw dimmed, smoothed) against the learning rate on a log axis, both suggestions
    marked and in the legend, the readouts saying which rule chose the rate; the log below."""
    add_lrfind_run(fixed_store)

    async def monitor(pilot):
        await runs_loaded(pilot)
        screen = await monitor_loaded(pilot, LRFIND)
        await until(pilot, lambda: screen.query_one("#lr-chart").marks)

    assert snap_compare(make_app(fixed_store), terminal_size=(120, 36), run_before=monitor)


def test_compare(snap_compare, fixed_store):
    async def compare(pilot):
        await runs_loaded(pilot)
        pilot.app.open_compare([DEEPER, BASELINE])
        await until(pilot, lambda: getattr(pilot.app.screen, "diff", None))

    assert snap_compare(make_app(fixed_store), terminal_size=(120, 36), run_before=compare)
