"""Real datasets in the app and the CLI: a preparation's row (badge, progress, rates), the datasets
screen and `gpt-tui datasets` (listed with their users; an unused one deleted, a used one refused),
and tokens per parameter and epochs in the estimates. Datasets are prepared here with prepare() on
tiny corpora; statuses are written as a worker would write them, so no engine runs."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from engine.core import config as cfgmod
from engine.data import prepare as data
from engine.store import runs as st
from tests.tui.test_cli import gpt_tui
from tests.tui_store import BASE, make_app, runs_loaded, until
from tui.models import data_budget as db
from tui.models import datasets_view as dv
from tui.models import editor_model as em
from tui.screens.confirm import ConfirmScreen
from tui.screens.datasets import DatasetsScreen

PREPARING = "20260101-160000-000-prepare-stories-2a07"
USED_BY = ("lr-grid-1", "lr-grid-2")  # the fixed store's running and queued runs train on pydocs/char


def add_preparation(store: st.Store) -> None:
    """A preparation under way: 45 of 100 MB read, as the worker writes it."""
    (store.root / PREPARING).mkdir()
    cfg = cfgmod.from_mapping({**BASE, "dataset": "hf:roneneldan/TinyStories", "tokenizer": "gpt2"})
    st.write_atomic(store.config_path(PREPARING), cfgmod.to_toml(cfg))
    status = dict(state="running", name="prepare-TinyStories", kind="prepare", created="2026-01-01T16:00:00.000Z")
    status.update(prepare_bytes_done=45_000_000, prepare_bytes_total=100_000_000, prepare_tokens=9_000_000)
    status.update(prepare_rate_mb_s=12.3, prepare_tokens_per_s=4_100_000.0, prepare_eta_s=180.0)
    store.write_status(PREPARING, st.Status.from_toml(status), durable=False)


def prepare_two(store: st.Store, tmp_path: Path) -> tuple[str, str]:
    """pydocs/char, which the fixed store's live runs use, and an unused one from a small text file."""
    text = tmp_path / "tiny.txt"
    text.write_text("A small corpus of words, said over and over.\n\n" * 400)
    used = data.prepare("pydocs", "char", store.datasets_dir).dir.name
    unused = data.prepare(str(text), "byte", store.datasets_dir).dir.name
    return used, unused


# -- a preparation's row ----------------------------------------------------------------------


async def test_a_preparation_shows_its_badge_progress_and_rates(fixed_store):
    add_preparation(fixed_store)
    app = make_app(fixed_store)
    async with app.run_test(size=(160, 36)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert table.get_cell(PREPARING, "state").plain == "⚙ prepare"
        assert table.get_cell(PREPARING, "progress").plain == "██░░  45%"
        assert table.get_cell(PREPARING, "note").plain == "12.3 MB/s · 4.10M tok/s · ETA 3m00s"
        assert table.get_cell(PREPARING, "val_ppl").plain == "-" and table.get_cell(PREPARING, "params").plain == "-"


def test_ls_shows_a_preparation_with_its_progress(fixed_store):
    add_preparation(fixed_store)
    out = gpt_tui("ls", store=fixed_store.root)
    assert out.returncode == 0, out.stderr
    (line,) = [x for x in out.stdout.splitlines() if "prepare-TinyStories" in x]
    assert line.split()[:4] == ["prepare", "running", "45%", "prepare-TinyStories"]
    assert "12.3 MB/s · 4.10M tok/s" in line


# -- the datasets screen ----------------------------------------------------------------------


async def datasets_shown(pilot, count: int) -> DataTable:
    await runs_loaded(pilot)
    await pilot.press("D")
    await until(pilot, lambda: isinstance(pilot.app.screen, DatasetsScreen))
    screen = pilot.app.screen
    await until(pilot, lambda: screen.infos is not None and len(screen.infos) == count)
    return screen.query_one(DataTable)


async def test_the_datasets_screen_lists_them_with_the_runs_that_use_them(fixed_store, tmp_path):
    used, unused = prepare_two(fixed_store, tmp_path)
    app = make_app(fixed_store)
    async with app.run_test(size=(140, 36)) as pilot:
        table = await datasets_shown(pilot, 2)
        row = {key: cell.plain for (key, _), cell in zip(dv.COLUMNS, table.get_row(used))}
        assert row["tokenizer"] == "char" and row["source"] != "-"
        assert row["used"] == "6 runs (2 live)"  # every fixed run trains on pydocs/char; two are queued or running
        assert table.get_row(unused)[-1].plain == "-"
        assert "2 datasets" in str(app.screen.query_one("#datasets-summary").content)


async def test_d_deletes_an_unused_dataset_after_asking(fixed_store, tmp_path):
    _, unused = prepare_two(fixed_store, tmp_path)
    app = make_app(fixed_store)
    async with app.run_test(size=(140, 36)) as pilot:
        table = await datasets_shown(pilot, 2)
        table.move_cursor(row=table.get_row_index(unused))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.screen.infos is not None and unused not in app.screen.infos)
    assert not (fixed_store.datasets_dir / unused).exists()


async def test_d_refuses_a_dataset_a_live_run_uses_naming_the_runs(fixed_store, tmp_path):
    used, _ = prepare_two(fixed_store, tmp_path)
    app = make_app(fixed_store)
    async with app.run_test(size=(140, 36)) as pilot:
        table = await datasets_shown(pilot, 2)
        table.move_cursor(row=table.get_row_index(used))
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)  # not even asked
        (toast,) = [n for n in app._notifications]
        assert all(name in toast.message for name in USED_BY) and "not deleted" in toast.message
    assert (fixed_store.datasets_dir / used / "meta.toml").exists()


# -- the CLI twins ----------------------------------------------------------------------------


def test_gpt_tui_datasets_lists_deletes_the_unused_and_refuses_the_used(fixed_store, tmp_path):
    used, unused = prepare_two(fixed_store, tmp_path)
    listed = gpt_tui("datasets", store=fixed_store.root)
    assert listed.returncode == 0, listed.stderr
    assert used in listed.stdout and unused in listed.stdout and "6 runs (2 live)" in listed.stdout
    refused = gpt_tui("datasets", "delete", used, store=fixed_store.root)
    assert refused.returncode == 2
    assert all(name in refused.stderr for name in USED_BY) and (fixed_store.datasets_dir / used).exists()
    deleted = gpt_tui("datasets", "delete", unused, store=fixed_store.root)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {unused}" in deleted.stdout and not (fixed_store.datasets_dir / unused).exists()


# -- tokens per parameter and epochs ----------------------------------------------------------


def test_the_estimate_lines_say_tokens_per_parameter_and_epochs_and_warn_out_of_range(tmp_path):
    cfg = cfgmod.from_mapping(BASE)  # 823,552 parameters at vocab 103; 800 × 2,048 tokens = 1.6M tokens read
    few = {ln.label: ln for ln in em.data_lines(cfg, 103, 100_000)}
    assert few["tokens/param"].value == "0.12" and few["epochs"].value == "16.38"
    assert few[em.WARNING_LABEL].value == "0.12 tokens/param, below 1 · 16.4 epochs, above 10"
    plenty = {ln.label: ln for ln in em.data_lines(cfg, 103, 50_000_000)}
    assert plenty["epochs"].value == "0.03" and em.WARNING_LABEL not in plenty
    assert em.data_lines(cfg, 103, None)[0].note == db.NOT_PREPARED
    store = st.Store(tmp_path / "runs")
    store.ensure()
    assert em.estimate_lines(cfg, 103, None, None, store.datasets_dir)[-1].value == "not prepared"
    train_tokens = data.prepare("pydocs", "char", store.datasets_dir).meta["train_tokens"]
    lines = {ln.label: ln for ln in em.estimate_lines(cfg, 103, None, None, store.datasets_dir)}
    assert lines["tokens/param"].value == f"{train_tokens / 823_552:,.2f}"


def test_gpt_tui_estimate_warns_of_too_many_epochs_once_the_dataset_is_prepared(tmp_path):
    store = st.Store(tmp_path / "runs")
    store.ensure()
    before = gpt_tui("estimate", "--preset", "quickstart", store=store.root)
    assert before.returncode == 0 and db.NOT_PREPARED in before.stdout and "warning" not in before.stderr
    data.prepare("pydocs", "char", store.datasets_dir)
    after = gpt_tui("estimate", "--preset", "quickstart", "--set", "max_iters=100000", store=store.root)
    assert after.returncode == 0, after.stderr
    assert "tokens/param" in after.stdout and "epochs" in after.stdout
    assert "warning:" in after.stderr and "above 10" in after.stderr


def test_gpt_tui_prepare_queue_queues_a_preparation_for_the_engine(tmp_path):
    store = st.Store(tmp_path / "runs")
    out = gpt_tui("prepare", "--set", "dataset=pydocs", "--set", "tokenizer=byte", "--queue", store=store.root)
    assert out.returncode == 0, out.stderr
    (run_id,) = store.list_runs()
    status = store.status(run_id)
    assert status.kind == "prepare" and status.state == st.RunState.QUEUED and status.name == "prepare-pydocs"
    assert [e.run_id for e in store.list_queue()] == [run_id] and not list(store.datasets_dir.glob("*"))
