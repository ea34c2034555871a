"""Every store file is untrusted input: a FIFO, a device or a directory where a file belongs is
refused without being waited on, a file over its size cap is refused naming its size, and numbers
of any magnitude (1e308, inf, nan) are shown compactly and drawn without ending the app. Issue 16,
cases F4 and F5."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from engine.store import control
from engine.store import runs as st
from engine.store import table as trial
from engine.store.files import LOG_CAP, STATE_CAP, read_regular, read_toml
from engine.store.tail import READ_CAP, TextTail
from tests.serve.test_engine import EngineProc, assert_logged_once, tiny, wait_all_ended
from tests.tui.test_cli import gpt_tui
from tests.tui_store import RUNNING, build_store, make_app, monitor_loaded, runs_loaded, until
from tui.models.series import PLOT_LIMIT, RunSeries, points
from tui.widgets import LineChart, Readouts, RunCharts

pytestmark = pytest.mark.slow

# A "ticket" that sorts first in the queue (priority 99, the oldest possible): the engine claims it first.
FIFO_TICKET = "001-00000000000000000001-20260101-000000-000-fifo-0f0f.toml"
HUGE = (
    "[[eval]]\nstep = 260\ntokens = 4611686018427387904\ntrain_loss = 1e308\nval_loss = 1e308\nval_ppl = inf\n"
    "best_val_loss = -1e308\n\n"
)
HUGE_TRAIN = (
    "[[train]]\nstep = 261\ntokens = 4611686018427387904\nloss = 1e308\nlr = 1e308\ntokens_per_s = 1e308\n"
    "mem_rss = 4611686018427387904\nmfu = 1e308\nmem_device_total = 4611686018427387904\n\n"
)


def hand_edit_status(store: st.Store, run_id: str, **fields: str) -> None:
    """Set fields of status.toml to TOML texts as a person's editor would (inf, nan, 1e308):
    the store's own writer never writes a number that is not finite."""
    path = store.status_path(run_id)
    kept = [line for line in path.read_text().splitlines() if line.split(" = ")[0] not in fields]
    path.write_text("\n".join([*kept, *(f"{key} = {value}" for key, value in fields.items())]) + "\n")


@pytest.fixture
def no_hang():
    """A read that blocks (open() of a FIFO) fails the test after 10 s instead of hanging it."""

    def hung(signum, frame):
        raise AssertionError("a read blocked for 10 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- regular files only, with a size cap --------------------------------------------------------


def test_a_fifo_a_directory_or_a_device_where_a_store_file_belongs_is_refused_naming_it(tmp_path, no_hang):
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "dir.toml").mkdir()
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    for name, kind in (("fifo.toml", "a FIFO"), ("dir.toml", "a directory"), ("zero.toml", "a character device")):
        said = f"{tmp_path / name} is {kind}, not a regular file; remove it"
        with pytest.raises(st.StoreError, match=re.escape(said)):
            read_toml(tmp_path / name)
        with pytest.raises(st.StoreError, match="not a regular file"):
            st.read_log(tmp_path / name)
        with pytest.raises(st.StoreError, match="not a regular file"):
            st.LogTail(tmp_path / name).poll()
        with pytest.raises(st.StoreError, match="not a regular file"):
            TextTail(tmp_path / name).poll()
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing.toml")
    assert st.read_log(tmp_path / "missing.toml").records == [] and TextTail(tmp_path / "missing.log").poll() == []


def test_a_file_over_its_size_cap_is_refused_naming_its_size_and_the_cap(tmp_path, no_hang):
    status = tmp_path / "status.toml"
    with open(status, "wb") as f:
        f.truncate(STATE_CAP + 1)  # sparse: the cap is checked before anything is read
    with pytest.raises(
        st.StoreError, match=r"status.toml is 1,048,577 bytes \(1 MiB\), more than the 1 MiB such a store file may be"
    ):
        read_toml(status, STATE_CAP)
    read_regular(status, 2 * STATE_CAP)  # a larger cap takes it
    metrics = tmp_path / "metrics.toml"
    with open(metrics, "wb") as f:
        f.truncate(LOG_CAP + 1)
    with pytest.raises(st.StoreError, match=r"metrics.toml is 1,073,741,825 bytes \(1 GiB\), more than the 1 GiB"):
        st.read_log(metrics)
    with pytest.raises(st.StoreError, match=r"metrics.toml is 1,073,741,825 bytes"):
        st.LogTail(metrics).poll()


def test_a_log_tail_reads_at_most_its_cap_per_poll_and_says_what_it_passed_over(tmp_path):
    path = tmp_path / "worker.log"
    path.write_text("first\n")
    tail = TextTail(path, start_bytes=None)
    assert tail.poll() == ["first"]
    line = "x" * 99 + "\n"
    with open(path, "a") as f:
        f.write(line * (READ_CAP // 100 + 1000))
        f.write("last\n")
    lines = tail.poll()
    assert lines[0].startswith("[") and "bytes of worker.log passed over" in lines[0]
    assert lines[-1] == "last" and all(x == "x" * 99 for x in lines[1:-1])
    assert sum(len(x) + 1 for x in lines[1:]) <= READ_CAP
    assert tail.poll() == []


# -- F5: a FIFO in the store -------------------------------------------------------------------


def test_a_fifo_named_like_a_ticket_is_set_aside_the_engine_serves_on_and_stops_on_sigterm(store):
    os.mkfifo(store.queue_dir / FIFO_TICKET)
    odd = store.create_run("n_layer = 1\n", "odd", {})  # and a FIFO as another run's status.toml
    store.status_path(odd).unlink()
    os.mkfifo(store.status_path(odd))
    os.mkfifo(store.root / "engine-elsewhere-12345.toml")  # and as a heartbeat file
    fifo_log = control.submit(store, tiny(max_iters=20), "fifo-log")  # and as worker.log, config.toml
    os.mkfifo(store.worker_log(fifo_log))
    fifo_config = control.submit(store, tiny(max_iters=20), "fifo-config")
    store.config_path(fifo_config).unlink()
    os.mkfifo(store.config_path(fifo_config))
    healthy = control.submit(store, tiny(max_iters=20), "healthy")
    engine = EngineProc(store)
    try:
        statuses = wait_all_ended(store, [healthy, fifo_log, fifo_config], timeout=180)
        assert engine.proc.poll() is None, engine.log()  # still serving
        started = time.monotonic()
        engine.proc.send_signal(signal.SIGTERM)
        engine.proc.wait(30)
        stopped_in = time.monotonic() - started
    finally:
        if engine.proc.poll() is None:
            engine.proc.kill()
    assert statuses[healthy].state == "done", statuses[healthy]
    assert_logged_once(store, healthy, max_iters=20)
    for run_id, name in ((fifo_log, "worker.log"), (fifo_config, "config.toml")):  # failed, naming the file
        assert statuses[run_id].state == "failed" and name in statuses[run_id].reason, statuses[run_id]
    assert stopped_in < 15, engine.log()
    assert engine.proc.returncode == 0 and "Traceback" not in engine.log(), engine.log()
    set_aside = store.bad_dir / FIFO_TICKET
    assert set_aside.is_fifo() and not (store.queue_dir / FIFO_TICKET).exists()
    assert not (store.claimed_dir / FIFO_TICKET).exists()
    assert "is a FIFO, not a regular file; remove it" in (store.bad_dir / f"{FIFO_TICKET}.error").read_text()


@pytest.mark.parametrize("name", ["status.toml", "config.toml", "metrics.toml", "ckpt/last.pt"])
def test_ls_and_show_list_a_run_with_a_fifo_for_a_file_as_broken_naming_the_file(tmp_path, name):
    store = build_store(tmp_path / "runs")
    path = store.run_dir(RUNNING) / name
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    said = f"{name} is a FIFO, not a regular file; remove it"
    listing = gpt_tui("ls", store=store.root, COLUMNS="600", timeout=60)  # a hang fails by its timeout
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if RUNNING in line)
    assert "broken" in line and said in line, line
    assert "6 run(s)" in listing.stdout  # every other run listed as before
    show = gpt_tui("show", RUNNING, store=store.root, COLUMNS="600", timeout=60)
    assert show.returncode == 0, show.stderr
    assert said in show.stdout and "broken" in show.stdout


async def test_the_runs_table_shows_a_run_with_a_fifo_status_as_broken_and_the_others_as_they_are(fixed_store):
    fixed_store.status_path(RUNNING).unlink()
    os.mkfifo(fixed_store.status_path(RUNNING))
    app = make_app(fixed_store)
    async with app.run_test(size=(160, 40)) as pilot:
        await runs_loaded(pilot)
        table = app.screen.table
        assert len(table.shown_ids) == 6
        assert table.get_cell(RUNNING, "state").plain == "? broken"
        assert table.get_cell(RUNNING, "note").plain.startswith("status.toml is a FIFO, not a regular file")
        assert table.get_cell("20260101-090000-000-baseline-0a01", "state").plain == "✔ done"
        assert app.is_running


async def test_the_monitor_of_a_run_whose_metrics_log_is_a_fifo_says_so_and_stays_open(fixed_store):
    fixed_store.metrics_path(RUNNING).unlink()
    os.mkfifo(fixed_store.metrics_path(RUNNING))
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot)
        await until(pilot, lambda: any("metrics.toml is a FIFO" in n.message for n in app._notifications))
        await until(pilot, lambda: monitor.query_one("#worker-log").lines)  # the other files still read
        assert "step 250/800" in monitor.query_one("#progress").caption  # from status.toml
        assert app.screen is monitor and app.is_running


# -- F4: numbers of any magnitude ------------------------------------------------------------


def test_numbers_a_person_reads_stay_narrow_whatever_their_magnitude():
    for value in (1e308, -1e308, float("inf"), float("-inf"), float("nan"), 10**400, 2**70, 123456789012345.0):
        for text in (
            trial.shown(value, ".4f"),
            trial.shown(value, ",.0f"),
            trial.shown(value, "d"),
            trial.shown_count(value),
            trial.shown_bytes(value),
            trial.shown_seconds(value),
        ):
            assert len(text) <= trial.SHOWN_WIDTH, (value, text)
    assert trial.shown(1e308, ".4f") == "1e+308" and trial.shown(float("inf"), ".2f") == "inf"
    assert trial.shown(1.48213, ".4f") == "1.4821" and trial.shown_seconds(342.0) == "5m42s"
    assert trial.shown(None, ".4f") == "-" and trial.shown("fast", ".4f") == "?"


def test_chart_points_skip_what_cannot_be_drawn_and_clamp_what_is_too_large():
    xs, ys = points([0, 1, 2, 3, 4], [1.0, float("nan"), float("inf"), 1e308, -1e308])
    assert xs == [0, 3, 4] and ys == [1.0, PLOT_LIMIT, -PLOT_LIMIT]
    xs, ys = points([0, 1], [1.0, 1e307], scale=100)  # finite before the scale, infinite after it
    assert xs == [0] and ys == [100.0]
    series = RunSeries()
    typed = st.metrics_records(
        [("train", {"step": 10**400, "loss": 10**400}), ("eval", {"step": "ten", "val_loss": 1.0})]
    )
    assert typed == []  # neither fits the schema: skipped before a chart sees it
    series.add([st.TrainRecord(2**62, loss=1e308), st.EvalRecord(1, val_loss=float("nan"))])
    assert series.train.get("loss") == [1e308] and series.step == 2**62


async def test_the_monitor_opens_on_a_run_logging_1e308_inf_and_nan_and_draws_every_chart(fixed_store):
    with open(fixed_store.metrics_path(RUNNING), "a") as f:
        f.write(HUGE + HUGE_TRAIN)
    hand_edit_status(fixed_store, RUNNING, val_loss="1e308", eta_s="1e308", train_seconds="inf")
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot)
        readouts = monitor.query_one(Readouts)
        await until(pilot, lambda: readouts.values["val"] == "1e+308")
        assert readouts.values == {
            "loss": "1e+308",
            "val": "1e+308",
            "best": "-1e+308",
            "PPL": "inf",
            "tok/s": "1e+308",
            "mean tok/s": "6.01K",
            "lr": "1.00e+308",
            "MFU": "inf%",  # 1e308 as a percent
            "RSS": "4.61e+18 B",
        }
        monitor.query_one(RunCharts).draw(now=True)
        await pilot.pause(0.5)
        for chart in monitor.query(LineChart):
            assert "cannot draw" not in str(chart.render()), chart.title  # plotext drew it
        assert "ETA 1e+308s" in monitor.query_one("#progress").caption
        await pilot.press("x")  # by tokens: x values of 1e308 too
        await pilot.pause(0.5)
        assert isinstance(app.screen, type(monitor)) and app.is_running


def test_ls_and_show_print_huge_and_non_finite_numbers_compactly(tmp_path):
    store = build_store(tmp_path / "runs")
    with open(store.metrics_path(RUNNING), "a") as f:
        f.write(HUGE)
    hand_edit_status(store, RUNNING, best_val_loss="-1e308", final_val_ppl="inf", tokens_per_s="1e308")
    hand_edit_status(store, RUNNING, train_seconds="1e308", eta_s="nan", val_loss="nan", step="250")
    listing = gpt_tui("ls", store=store.root, COLUMNS="160", timeout=60)
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if RUNNING in line)
    assert "-1e+308" in line and "1e+308" in line and "inf" in line, line
    assert not re.search(r"\d{16}", listing.stdout), listing.stdout
    assert max(len(line) for line in listing.stdout.splitlines()) <= 160
    show = gpt_tui("show", RUNNING, store=store.root, COLUMNS="160", timeout=60)
    assert show.returncode == 0, show.stderr
    assert "1e+308" in show.stdout and not re.search(r"\d{16}", show.stdout), show.stdout
