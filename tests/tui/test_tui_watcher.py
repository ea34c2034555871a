"""The StoreWatcher alone and on a screen: bursts coalesce, pauses catch up, it stops, files come back."""

from __future__ import annotations

import time

from textual.app import App
from textual.screen import Screen

from engine.store import runs as st
from tests.tui_store import RUNNING, build_store, eval_record, train_record, until
from tui import watcher as watcher_module
from tui.models.run_feed import RunFeed
from tui.models.runs_reader import RunsReader
from tui.screens.watched import WatchedScreen
from tui.watcher import Source, StoreWatcher

TICK = 0.02


class Files(Source[set[str]]):
    """Reads nothing: hands over which of its paths changed."""

    def __init__(self, *paths) -> None:
        self._paths = [str(p) for p in paths]

    def paths(self) -> list[str]:
        return self._paths

    def read_changed(self, changed: set[str]) -> set[str]:
        return set(changed)


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(TICK / 2)


def started(source: Source) -> tuple[StoreWatcher, list[int]]:
    notes: list[int] = []
    w = StoreWatcher(source, lambda: notes.append(1), TICK)
    w.start()
    return w, notes


def test_a_burst_of_writes_is_one_notification_and_every_read_waits_in_the_inbox(tmp_path):
    path = tmp_path / "metrics.toml"
    w, notes = started(Files(path))
    wait_for(lambda: notes)  # the first pass reports every path, here a missing one
    assert w.take() == [{str(path)}]
    for step in range(20):  # over several ticks, while nobody takes
        st.append_record(path, "train", train_record(step))
        time.sleep(TICK / 2)
    time.sleep(3 * TICK)
    assert len(notes) == 2
    items = w.take()
    assert items and all(item == {str(path)} for item in items)
    st.append_record(path, "train", train_record(99))
    wait_for(lambda: len(notes) == 3)
    w.stop()


def test_nothing_comes_while_paused_and_resume_catches_up(tmp_path):
    path = tmp_path / "status.toml"
    w, notes = started(Files(path))
    wait_for(lambda: notes)
    w.take()
    w.pause()
    time.sleep(3 * TICK)  # a pass under way when pausing has finished
    st.write_toml(path, {"state": "running"})
    time.sleep(5 * TICK)
    assert len(notes) == 1 and w.take() == []
    w.resume()
    wait_for(lambda: len(notes) == 2)
    assert w.take() == [{str(path)}]
    w.stop()


def test_a_log_deleted_and_written_again_is_read_from_its_start(tmp_path):
    store = build_store(tmp_path / "runs")
    feed = RunFeed(store, RUNNING)
    w, notes = started(feed)
    wait_for(lambda: notes)
    first = w.take()
    assert first[0].status.state == "running" and first[0].records
    path = store.metrics_path(RUNNING)
    path.unlink()
    time.sleep(5 * TICK)
    assert len(notes) == 1 and w.take() == []  # gone: nothing new to show
    st.append_record(path, "eval", {**eval_record(10), "val_loss": 2.5})
    wait_for(lambda: len(notes) == 2)
    (update,) = w.take()
    assert update.reset and [r.val_loss for r in update.records] == [2.5]
    w.stop()


def test_a_record_missing_its_blank_line_is_taken_once_the_file_is_still(tmp_path, monkeypatch):
    monkeypatch.setitem(st.LogTail.poll.__globals__, "SETTLED_TAIL_S", 0.2)
    monkeypatch.setattr(watcher_module, "SETTLED_TAIL_S", 0.2)
    store = build_store(tmp_path / "runs")
    trimmed = st.format_record("train", train_record(10)).rstrip("\n") + "\n"  # as an editor saves it
    store.metrics_path(RUNNING).write_text(trimmed)
    w, _ = started(RunFeed(store, RUNNING))
    got: list = []
    wait_for(lambda: got.extend(w.take()) or any(u.records for u in got))
    assert got[0].status is not None and not got[0].records  # not still yet: it may be half a record
    w.stop()


def test_a_run_created_while_watched_is_listed(tmp_path):
    store = build_store(tmp_path / "runs")
    w, notes = started(RunsReader(store))
    wait_for(lambda: notes)
    assert len(w.take()[-1]) == 6
    run_id = store.create_run(store.config_path(RUNNING).read_text(), "new", {"source": "test"})
    wait_for(lambda: len(notes) == 2)
    assert run_id in w.take()[-1]
    w.stop()


def test_a_read_that_fails_is_reported_once_and_tried_again(tmp_path):
    class Failing(Files):
        failures = 3

        def read_changed(self, changed: set[str]) -> set[str]:
            if self.failures:
                self.failures -= 1
                raise PermissionError("not allowed")
            return super().read_changed(changed)

    errors: list[Exception] = []
    w = StoreWatcher(Failing(tmp_path / "status.toml"), lambda: None, TICK, on_error=errors.append)
    w.start()
    wait_for(lambda: w.take() == [{str(tmp_path / "status.toml")}])
    assert [str(e) for e in errors] == ["not allowed"]
    w.stop()


# -- on a screen ----------------------------------------------------------------------------


class Probe(WatchedScreen):
    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.got: list[list] = []

    def on_mount(self) -> None:
        self.start_watcher(self.source, TICK, self.store_changed)

    def store_changed(self, items: list) -> None:
        self.got.append(items)


class ProbeApp(App[None]):
    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_mount(self) -> None:
        self.push_screen(self.probe)


async def test_a_screen_gets_one_message_per_burst_none_while_covered_and_none_once_gone(tmp_path):
    path = tmp_path / "worker.log"
    probe = Probe(Files(path))
    async with ProbeApp(probe).run_test() as pilot:
        await until(pilot, lambda: probe.got)
        for _ in range(10):  # the UI is busy (this loop holds it) while the file grows
            with open(path, "a") as f:
                f.write("a line\n")
            time.sleep(TICK)
        await until(pilot, lambda: len(probe.got) >= 2)
        await pilot.pause(5 * TICK)
        # One message, many reads. On a loaded machine the watcher's pass after the last write can
        # land after the UI took that message: then one more, never one per read.
        assert len(probe.got[1]) > 1 and len(probe.got) <= 3, [len(g) for g in probe.got]
        seen = len(probe.got)
        pilot.app.push_screen(Screen())
        await pilot.pause(3 * TICK)
        path.write_text("replaced\n")
        await pilot.pause(5 * TICK)
        assert len(probe.got) == seen
        pilot.app.pop_screen()
        await until(pilot, lambda: len(probe.got) == seen + 1)
        watcher = probe.watcher
        pilot.app.pop_screen()
        await until(pilot, lambda: not watcher.alive)
        path.write_text("after the screen went\n")
        await pilot.pause(5 * TICK)
        assert len(probe.got) == seen + 1
