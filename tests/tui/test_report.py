"""`gpt-tui report`: report.md and PNG figures of a sweep a real engine ran, or of some runs; bad input
is a clear error with exit 2; values that cannot be plotted are left out; the sweep screen's key
writes the same report; and neither the app nor the command line loads matplotlib until asked."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.reports import data as rd
from engine.reports import figures
from engine.store import runs as stmod
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import report
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice
from tests.serve.test_engine import TINY, EngineProc, wait_all_ended
from tests.tui.test_cli import gpt_tui
from tests.tui.test_sweep_cli import finished_sweep
from tests.tui_store import make_app, until

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SWEEP_FIGURES = {
    "val_loss_by_step.png",
    "val_loss_by_tokens.png",
    "ppl_by_learning_rate.png",
    "importance.png",
}


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory) -> stmod.Store:
    """A grid of three learning rates of the tiniest model, 20 steps each, run by a real engine."""
    store = stmod.Store(tmp_path_factory.mktemp("report") / "runs")
    spec = sw.SweepSpec(
        id="lr",
        method="grid",
        base={**TINY, "max_iters": 20, "warmup_iters": 0},
        params={"learning_rate": Choice((1e-3, 3e-3, 1e-2))},
    )
    record = sf.create(store, sp.plan(spec))
    engine = EngineProc(store)
    try:
        statuses = wait_all_ended(store, record.run_ids())
    finally:
        engine.stop()
    assert all(s.state == "done" for s in statuses.values()), statuses
    return store


def assert_png_opens(path: Path) -> None:
    from PIL import Image

    raw = path.read_bytes()
    assert raw.startswith(PNG_SIGNATURE) and len(raw) > 1000, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (700, 420)


def figures_in(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.png")}


# -- a sweep ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_finished_sweep_s_report_writes_report_md_and_figures_that_open(lr_sweep, tmp_path):
    out = gpt_tui("report", "lr", "--out", str(tmp_path / "rep"), store=lr_sweep.root)
    assert out.returncode == 0, out.stderr
    assert "report.md and 4 figure(s)" in " ".join(out.stdout.split())
    assert figures_in(tmp_path / "rep") == SWEEP_FIGURES
    for name in SWEEP_FIGURES:
        assert_png_opens(tmp_path / "rep" / name)


@pytest.mark.slow
def test_the_report_md_links_every_figure_and_holds_the_trial_table_and_importances(lr_sweep, tmp_path):
    assert gpt_tui("report", "lr", "-o", str(tmp_path / "rep"), store=lr_sweep.root).returncode == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    for name in SWEEP_FIGURES:
        assert f"]({name})" in md
    table = report.build(lr_sweep, "lr")
    assert report.to_markdown(table) in md  # the table `sweep show --format md` writes, best marked
    assert "**t00" in md and "(best)" in md
    assert "How much each parameter mattered (Spearman rank correlation" in md
    assert "3 of 3 trial(s) finished; the best is t00" in md


@pytest.mark.slow
def test_final_ppl_is_drawn_against_the_learning_rate_on_a_log_axis(lr_sweep):
    data = rd.sweep_report(lr_sweep, "lr")
    (points,) = data.points
    assert points.name == "learning_rate" and points.log_x and sorted(points.xs) == [1e-3, 3e-3, 1e-2]
    axes = figures.ppl_figure(points).axes[0]
    assert axes.get_xscale() == "log"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0.001", "0.003", "0.01"]
    assert [len(c.points) for c in data.curves] == [3, 3, 3]  # evals at steps 0, 10 and 20
    assert sum(c.best for c in data.curves) == 1


@pytest.mark.slow
def test_without_out_the_report_goes_to_the_store_s_reports_folder(lr_sweep):
    out = gpt_tui("report", "lr", store=lr_sweep.root)
    assert out.returncode == 0, out.stderr
    assert (lr_sweep.root / "reports" / "lr" / "report.md").is_file()
    assert "reports" not in lr_sweep.list_runs()


@pytest.mark.slow
async def test_the_sweep_screen_s_ctrl_r_writes_the_report_and_shows_its_path(lr_sweep):
    from tests.tui.test_sweep_screen import open_sweep_screen

    app = make_app(lr_sweep)
    folder = lr_sweep.root / "reports" / "lr"
    async with app.run_test(size=(120, 40)) as pilot:
        await open_sweep_screen(pilot)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: any("report.md" in n.message for n in app._notifications), timeout=60)
        (note,) = [n.message for n in app._notifications if "report.md" in n.message]
    assert f"report of sweep lr: {folder / 'report.md'} (4 figure(s))" in note
    assert figures_in(folder) == SWEEP_FIGURES


# -- some runs ------------------------------------------------------------------------------

BASELINE, DEEPER, SLOW = (
    "20260101-090000-000-baseline-0a01",
    "20260101-100000-000-deeper-0b02",
    "20260101-110000-000-slow-lr-0c03",
)
NO_EVALS = "20260101-140000-000-too-hot-0f06"


def test_a_report_of_runs_overlays_their_curves_and_tabulates_them(fixed_store, tmp_path):
    out = gpt_tui("report", BASELINE, DEEPER, SLOW, "--out", str(tmp_path / "rep"), store=fixed_store.root)
    assert out.returncode == 0, out.stderr
    names = figures_in(tmp_path / "rep")
    assert {"val_loss_by_step.png", "val_loss_by_tokens.png"} <= names
    for name in names:
        assert_png_opens(tmp_path / "rep" / name)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "# 3 run(s) compared" in md and "2 of 3 run(s) finished; the best (lowest val loss) is deeper." in md
    assert f"| **{DEEPER}** (best) |" in md and f"| {SLOW} |" in md  # engine.store.table's trial table
    data = rd.runs_report(fixed_store, [BASELINE, DEEPER, SLOW])
    assert [c.label for c in data.curves] == ["baseline", "deeper", "slow-lr"]
    assert [c.label for c in data.curves if c.best] == ["deeper"]


def test_a_run_with_no_evals_is_said_so_rather_than_drawn_empty(fixed_store, tmp_path):
    out = gpt_tui("report", NO_EVALS, "--out", str(tmp_path / "rep"), store=fixed_store.root)
    assert out.returncode == 0, out.stderr
    assert figures_in(tmp_path / "rep") == set()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "No run has an evaluation yet: no curve to draw." in md
    assert "No evaluation yet, so no curve:\n\n- too-hot" in md


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["nosuch", "../etc", "20260101-090000-000-nosuch-0000"])
def test_an_unknown_sweep_or_run_exits_2_naming_it(fixed_store, tmp_path, target):
    alone = gpt_tui("report", target, "--out", str(tmp_path / "rep"), store=fixed_store.root)
    among = gpt_tui("report", BASELINE, target, "--out", str(tmp_path / "rep"), store=fixed_store.root)
    for out in (alone, among):
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"no run {target!r}" in " ".join(out.stderr.split())
        assert "Traceback" not in out.stderr and not (tmp_path / "rep").exists()
    assert f"no sweep {target!r} (`gpt-tui sweep ls` lists them), and no run" in " ".join(alone.stderr.split())


def test_an_out_that_cannot_be_written_is_a_clear_error(fixed_store, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = {
        str(a_file): "it is a file, not a folder",
        str(a_file / "under"): "Not a directory",
        "/proc/no/such": "cannot write the report into /proc/no/such",
    }
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases[str(locked / "rep")] = "permission denied"
    for out_dir, words in cases.items():
        out = gpt_tui("report", BASELINE, "--out", out_dir, store=fixed_store.root)
        assert out.returncode == 2, (out_dir, out.stderr)
        assert words in " ".join(out.stderr.split()) and "give another --out" in " ".join(out.stderr.split())
        assert "Traceback" not in out.stderr


def test_stored_values_that_cannot_be_plotted_are_left_out(tmp_path):
    store = finished_sweep(tmp_path)  # a grid of three learning rates, two done, one pruned
    runs = sf.load(store, "seed").run_ids()
    odd = [float("nan"), math.inf, 1e308, "4.2", True, -math.inf]
    for i, run_id in enumerate(runs):
        records = [dict(step=s, tokens=s * 100, val_loss=3.9 - s / 1000) for s in (0, 100, 200)]
        records.append(dict(step=300, tokens="many", val_loss=odd[2 * i]))
        records.append(dict(step=float("nan"), tokens=1, val_loss=odd[2 * i + 1]))
        store.metrics_path(run_id).write_text("".join(stmod.format_record("eval", r) for r in records))
    store.update_status(runs[1], final_val_ppl=1e308)
    store.update_status(runs[0], name="a $\\frac{1}{$ name")
    data = rd.sweep_report(store, "seed")
    assert [len(c.points) for c in data.curves] == [3, 3, 3]
    (points,) = [p for p in data.points if p.name == "learning_rate"]
    assert points.xs == [6e-4] and points.left_out == 1  # the PPL of 1e308 is no point to draw
    written = rd_write(data, tmp_path / "rep")
    for path in written.files[1:]:
        assert_png_opens(path)
    by_run = rd.runs_report(store, runs)
    assert by_run.curves[0].label == "a $\\frac{1}{$ name"  # drawn as text: a "$" starts no formula
    by_run = rd_write(by_run, tmp_path / "runs-rep")
    for path in by_run.files[1:]:
        assert_png_opens(path)
    assert figures.plain("a $x$") == "a \\$x\\$"


def rd_write(data: rd.ReportData, folder: Path):
    from engine.reports import write

    return write.write_report(data, folder)


# -- what loads when ------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["tui.app", "tui.cli.main", "tui.screens.sweep", "engine.reports.data"])
def test_matplotlib_is_not_loaded_until_a_report_is_asked_for(module):
    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
