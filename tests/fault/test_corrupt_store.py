"""A store with hand-corrupted files of every kind: each run shows what is wrong with it — the file
and what to do — in `gpt-tui ls`, `gpt-tui show` and the app's runs screen; nothing crashes, and the
engine resumes what can be resumed and fails the rest with their reasons."""

from __future__ import annotations

import shutil

import pytest

from engine.store import control
from engine.store import runs as st
from tests.serve.test_engine import EngineProc, assert_logged_once, tiny, wait_all_ended
from tests.train.test_worker import EXIT_FAILED, new_run, run_to_end
from tests.tui.test_cli import gpt_tui

pytestmark = pytest.mark.slow

GARBAGE = b"\x00\xff\xfe not = = toml [[\n"


def clone(store: st.Store, source: str, name: str) -> str:
    """A copy of `source` (config, status, metrics, checkpoints) under a new id, stopped mid-way."""
    run_id = st.new_run_id(name)
    shutil.copytree(store.run_dir(source), store.run_dir(run_id))
    store.update_status(run_id, name=name, state="stopped", reason="stop requested")
    return run_id


def cut_in_half(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: read by the first tests, then served by an engine in the last."""
    s = st.Store(tmp_path_factory.mktemp("corrupt") / "runs")
    s.ensure()
    return s


@pytest.fixture(scope="module")
def corrupted(store, tmp_path_factory):
    """One run trained to step 25 (checkpoints at step 20), cloned once per kind of damage."""
    tmp_path = tmp_path_factory.mktemp("sources")
    source = new_run(store, seed=3)
    assert run_to_end(store, source, env={"GPT_TUI_FAULT": "error@25"}) == EXIT_FAILED
    runs = {kind: clone(store, source, kind) for kind in ("status", "config", "metrics", "last", "both")}
    store.status_path(runs["status"]).write_bytes(b'state = "running\n' + GARBAGE)
    store.config_path(runs["config"]).write_bytes(b"n_layer = = 3\n" + GARBAGE)
    metrics = store.metrics_path(runs["metrics"]).read_bytes()
    middle = metrics.index(b"\n\n", len(metrics) // 2) + 2
    store.metrics_path(runs["metrics"]).write_bytes(
        metrics[:middle] + GARBAGE + b"\n" + b'[[eval]]\nstep = "ten"\n\n' + metrics[middle:]
    )
    cut_in_half(store.ckpt_dir(runs["last"]) / "last.pt")
    cut_in_half(store.ckpt_dir(runs["both"]) / "last.pt")
    cut_in_half(store.ckpt_dir(runs["both"]) / "best.pt")
    for prepared in store.datasets_dir.iterdir():  # the prepared token files: prepared again on demand
        shutil.rmtree(prepared)
    gone = tmp_path / "gone.txt"
    gone.write_text("text that will not be there when the run starts\n" * 50)
    runs["dataset"] = control.submit(store, tiny(dataset=str(gone)), "dataset")
    gone.unlink()
    runs["ticket"] = control.submit(store, tiny(), "ticket")
    (ticket,) = [e.path for e in store.list_queue() if e.run_id == runs["ticket"]]
    ticket.write_bytes(GARBAGE)
    with open(store.results_path, "ab") as f:  # a torn last row, as a writer killed mid-append leaves
        f.write(b'[[run]]\nrun = "torn-row')
    return runs


# What each damaged run shows in ls, show and the app: the file, and what to do about it.
SHOWS = {
    "status": ("status.toml is not valid TOML", "fix or delete the file"),
    "config": ("config.toml is not valid TOML", "fix it by hand"),
    "last": ("ckpt/last.pt is cut short or damaged", "delete it to clear this"),
    "both": ("ckpt/last.pt is cut short or damaged", "a resume falls back"),
}


def test_each_damaged_file_is_named_with_what_to_do_in_ls_and_show(store, corrupted):
    listing = gpt_tui("ls", store=store.root, COLUMNS="600")
    assert listing.returncode == 0, listing.stderr
    for kind, (what, todo) in SHOWS.items():
        line = next(line for line in listing.stdout.splitlines() if corrupted[kind] in line)
        assert "broken" in line and what in line and todo in line, line
    assert f"{len(corrupted) + 1} run(s)" in listing.stdout  # every run listed, the source too
    for kind, (what, todo) in SHOWS.items():
        show = gpt_tui("show", corrupted[kind], store=store.root, COLUMNS="600")
        assert show.returncode == 0 and what in show.stdout and todo in show.stdout, show.stdout + show.stderr
    show = gpt_tui("show", corrupted["metrics"], store=store.root, COLUMNS="600")
    assert show.returncode == 0, show.stderr
    assert "metrics.toml: 1 unreadable record(s) skipped" in show.stdout
    assert "metrics.toml: 1 record(s) with a field of the wrong type skipped" in show.stdout  # step = "ten"
    export = gpt_tui("export", "--format", "csv", store=store.root)
    assert export.returncode == 0 and "torn-row" not in export.stdout


async def test_the_app_lists_each_damaged_run_as_broken_with_the_file(store, corrupted):
    app_module = pytest.importorskip("tui.app", reason="the app (tui/app.py) is not built yet")
    from tests.tui_store import runs_loaded
    from tui.models.runs_view import COLUMN_KEYS

    if "state" not in COLUMN_KEYS or "note" not in COLUMN_KEYS:
        pytest.skip("the runs table has no state or note column")
    app = app_module.GptTuiApp(store, start_engine=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert set(corrupted.values()) <= set(table.shown_ids)
        for kind, (what, _) in SHOWS.items():
            assert table.get_cell(corrupted[kind], "state").plain == "? broken"
            assert table.get_cell(corrupted[kind], "note").plain.startswith(what.split(" is ")[0])
        assert app.is_running


def test_the_engine_resumes_what_it_can_and_fails_the_rest_with_their_reasons(store, corrupted):
    """Runs last in this module: it repairs the store the tests above read."""
    for kind in ("metrics", "last", "both"):
        control.resume(store, corrupted[kind])
    ids = [corrupted[k] for k in ("metrics", "last", "both", "dataset", "ticket")]
    engine = EngineProc(store, "--workers", "2")
    try:
        statuses = wait_all_ended(store, ids)
        assert engine.proc.poll() is None, engine.log()  # still serving
    finally:
        engine.stop()
    assert "Traceback" not in engine.log()
    for kind in ("metrics", "last", "both"):  # each step once, whatever was lost
        assert statuses[corrupted[kind]].state == "done", statuses[corrupted[kind]]
        assert_logged_once(store, corrupted[kind])
        assert st.read_log(store.metrics_path(corrupted[kind])).skipped == 0
    last_log = store.worker_log(corrupted["last"]).read_text()
    assert "ckpt/last.pt cannot be loaded" in last_log and "falling back to ckpt/best.pt (step 20)" in last_log
    both_log = store.worker_log(corrupted["both"]).read_text()
    assert "ckpt/best.pt cannot be loaded" in both_log and "starting over from step 0" in both_log
    assert list(store.datasets_dir.iterdir()), "the prepared dataset was made again"

    missing = statuses[corrupted["dataset"]]
    assert missing.state == "failed" and "gone.txt" in missing.reason and "not found" in missing.reason
    ticket = statuses[corrupted["ticket"]]
    assert ticket.state == "failed" and "queue ticket was unreadable" in ticket.reason
    assert f"gpt-tui resume {corrupted['ticket']}" in ticket.reason
    assert any(p.name.endswith(".error") for p in store.bad_dir.iterdir())

    finished = {row.run for row in st.read_results(store)}
    assert finished == {corrupted[k] for k in ("metrics", "last", "both")}  # the torn row cut, not kept
    listing = gpt_tui("ls", store=store.root, COLUMNS="600")
    assert listing.returncode == 0 and "queue ticket was unreadable" in listing.stdout
