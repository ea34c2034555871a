"""Issue "Trust", the engine's cases, each through real engines, workers and files: odd status files
(F3), a copied store (F10), a run folder linked out of the store (F11), a run deleted between its
claim and its launch (F12), adoption bookkeeping (F13), the store deleted under a running engine
(F14), and what `engine stop` and an engine under a file size limit say (F15)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.core import config as cfgmod
from engine.core.hosts import this_host
from engine.serve import engines as eng
from engine.serve.daemon import Engine
from engine.store import control
from engine.store import runs as st
from engine.train.worker import EXIT_GONE, EXIT_REFUSED
from tests.serve.test_engine import ROOT, EngineProc, assert_logged_once, tiny, wait_all_ended
from tests.tui.test_cli import gpt_tui, tree

pytestmark = pytest.mark.slow

LONG = dict(max_iters=1_000_000, eval_interval=1000)  # trains until it is stopped


def wait_for(what, timeout: float = 60, every: float = 0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def status_or_none(store: st.Store, run_id: str) -> st.Status | None:
    try:
        return store.status(run_id)
    except st.StoreError:
        return None


def training(store: st.Store, run_id: str, steps: int = 5) -> st.Status | None:
    status = status_or_none(store, run_id)
    return status if status and status.state == "running" and status.pid and status.step >= steps else None


def line_of(listing: str, run_id: str) -> str:
    return next(line for line in listing.splitlines() if run_id in line)


def kill_all(store: st.Store) -> None:
    for status in store.statuses().values():
        if isinstance(status, st.Status) and status.pid:
            try:
                os.killpg(status.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    for e in eng.live_engines(store):
        os.kill(e.pid, signal.SIGKILL)


# -- one engine, started as a person starts it, serving a store with odd files in it ------------

ODD = {  # the line that makes a status.toml odd, and the field the error names
    "pid-negative": ("pid = -7", "pid"),
    "pid-text": ('pid = "abc"', "pid"),
    "attempts-text": ('attempts = "many"', "attempts"),
    "attempts-list": ("attempts = [1]", "attempts"),
    "priority-500": ("priority = 500", "priority"),
    "priority-text": ('priority = "high"', "priority"),
    "state-unknown": ('state = "exploded"', "state"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store holding a healthy run, a run that trains until stopped, every odd status twice (its
    ticket still queued, and without one, `running` as a dead engine left it) and a run folder that
    is a symbolic link out of the store; served by `gpt-tui engine start --workers 2`."""
    base = tmp_path_factory.mktemp("trust")
    store = st.Store(base / "runs")
    store.ensure()
    runs = {"healthy": control.submit(store, tiny(), "healthy"), "long": control.submit(store, tiny(**LONG), "long")}
    for kind, (line, _) in ODD.items():
        for ticketed in (True, False):
            run_id = control.submit(store, tiny(), f"{kind}-{'t' if ticketed else 'n'}")
            if not ticketed:
                store.cancel(control.ticket_of(store, run_id))
            state = "" if kind == "state-unknown" else 'state = "running"\n'
            text = f'format = 2\n{state}engine = "{this_host()}-1"\nhost = "{this_host()}"\n{line}\n'
            store.status_path(run_id).write_text(text)
            runs[f"{kind}-{ticketed}"] = run_id
    linked = control.submit(store, tiny(), "linked")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    shutil.move(store.run_dir(linked), elsewhere / linked)
    os.symlink(elsewhere / linked, store.run_dir(linked))
    runs["linked"] = linked
    before = {run_id: store.status_path(run_id).read_bytes() for key, run_id in runs.items() if "-" in key}
    started = gpt_tui("engine", "start", "--workers", "2", "--poll", "0.1", store=store.root)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield store, runs, before, tree(elsewhere)
    finally:
        kill_all(store)


def test_odd_status_fields_leave_their_run_broken_and_the_engine_serves_the_rest(served):
    store, runs, before, _ = served
    assert wait_all_ended(store, [runs["healthy"]])[runs["healthy"]].state == "done"
    assert_logged_once(store, runs["healthy"])
    wait_for(lambda: not store.list_queue() and not store.list_claimed())
    assert gpt_tui("engine", "status", store=store.root).returncode == 0  # alive, serving
    assert wait_for(lambda: training(store, runs["long"]))
    log = (store.root / eng.ENGINE_LOG).read_text()
    assert "Traceback" not in log
    listing = gpt_tui("ls", store=store.root, COLUMNS="600")
    assert listing.returncode == 0, listing.stderr
    for kind, (_, field) in ODD.items():
        for ticketed in (True, False):
            run_id = runs[f"{kind}-{ticketed}"]
            line = line_of(listing.stdout, run_id)
            assert "broken" in line and f"status.toml: {field} = " in line, line
            assert store.status_path(run_id).read_bytes() == before[run_id]  # left as it was
            assert f"run {run_id}: started worker" not in log
            if ticketed:  # its ticket is set aside, saying why
                (error,) = store.bad_dir.glob(f"*{run_id}.toml.error")
                assert f"{field} = " in error.read_text()


def test_a_run_folder_linked_out_of_the_store_is_refused_and_only_the_link_is_deleted(served):
    store, runs, _, elsewhere_before = served
    linked = runs["linked"]
    elsewhere = store.run_dir(linked).resolve().parent
    wait_for(lambda: not store.list_queue() and not store.list_claimed())
    assert tree(elsewhere) == elsewhere_before  # nothing written through the link
    assert not (elsewhere / "results.toml").exists() and not (elsewhere / "datasets").exists()
    (error,) = store.bad_dir.glob(f"*{linked}.toml.error")
    assert "is a symbolic link" in error.read_text()
    listing = gpt_tui("ls", store=store.root, COLUMNS="600")
    line = line_of(listing.stdout, linked)
    assert "broken" in line and "is a symbolic link" in line, line

    # a worker started on it by hand refuses it too, as it refuses a folder that is not in the store
    for run_dir in (store.run_dir(linked), elsewhere / linked):
        worker = subprocess.run(
            [sys.executable, "-m", "engine.worker", str(run_dir), "--store", str(store.root)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == EXIT_REFUSED, worker.stderr
        assert "nothing was written" in worker.stderr
    assert tree(elsewhere) == elsewhere_before

    deleted = gpt_tui("delete", linked, "--yes", store=store.root)
    assert deleted.returncode == 0 and "link" in deleted.stdout, deleted.stdout + deleted.stderr
    assert not os.path.lexists(store.run_dir(linked))
    assert tree(elsewhere) == elsewhere_before  # the target, whole
    assert not list(store.root.glob(".trash-*"))


def test_engine_stop_names_only_the_runs_it_checkpointed_and_queued(served):
    """Runs last in its module: it stops the engine. A run that finished just before the stop is
    not said to be checkpointed; the one that was training is, by its id."""
    store, runs, _, _ = served
    quick = control.submit(store, tiny(max_iters=20), "quick")
    assert wait_all_ended(store, [quick])[quick].state == "done"
    stopped = gpt_tui("engine", "stop", store=store.root)
    assert stopped.returncode == 0, stopped.stderr
    out = " ".join(stopped.stdout.split())
    assert f"1 run(s) checkpointed and queued to resume: {runs['long']}" in out, out
    assert quick not in out
    long = store.status(runs["long"])
    assert long.state == "queued" and "SIGTERM" in long.reason
    assert store.status(quick).state == "done"


# -- F10: a copy of a store whose engine is alive -----------------------------------------------


def test_a_copied_store_never_talks_to_the_original_engine(store, tmp_path):
    started = gpt_tui("engine", "start", store=store.root)
    assert started.returncode == 0, started.stderr
    original = eng.local_engine(store)
    assert original is not None
    copy = st.Store(tmp_path / "copy")
    subprocess.run(["cp", "-a", str(store.root), str(copy.root)], check=True)
    assert (copy.root / original.path.name).exists()  # the original's heartbeat, copied
    try:
        status = gpt_tui("engine", "status", store=copy.root)
        assert status.returncode == 1 and "alive" not in status.stdout, status.stdout
        assert eng.local_engine(copy) is None
        stop = gpt_tui("engine", "stop", store=copy.root)
        assert stop.returncode == 0 and "no engine serves" in stop.stdout, stop.stdout
        assert eng.serves_store(original.pid, store, original.host)  # the original's, untouched

        config = tmp_path / "tiny.toml"
        config.write_text(cfgmod.to_toml(tiny(max_iters=20)))
        queued = gpt_tui("run", "--config", str(config), "--name", "in-copy", store=copy.root)
        assert queued.returncode == 0, queued.stderr
        assert "started an engine" in queued.stderr  # its own, not the original
        (run_id,) = copy.list_runs()
        assert wait_all_ended(copy, [run_id])[run_id].state == "done"
        ours = eng.local_engine(copy)
        assert ours is not None and ours.pid != original.pid
        assert not (copy.root / original.path.name).exists()  # removed by the copy's engine, logged
        assert f"removed {original.path.name}" in (copy.root / eng.ENGINE_LOG).read_text()
        stop = gpt_tui("engine", "stop", store=copy.root)
        assert f"engine {ours.pid} stopped" in stop.stdout, stop.stdout
        assert eng.serves_store(original.pid, store, original.host)
        assert original.path.exists()
    finally:
        kill_all(copy)
    assert gpt_tui("engine", "stop", store=store.root).returncode == 0


# -- F12: claim, delete, launch ----------------------------------------------------------------


def test_a_run_deleted_between_its_claim_and_its_launch_stays_deleted(store, capsys):
    victim = control.submit(store, tiny(), "victim")
    healthy = control.submit(store, tiny(max_iters=20), "healthy")

    class DeleteAfterClaim(Engine):
        """The real engine, with a person's `gpt-tui delete` landing between a claim and its launch."""

        def launch(self, entry, ticket):
            if entry.run_id == victim:
                assert entry.path.parent == self.store.claimed_dir
                control.delete(self.store, victim)
            return super().launch(entry, ticket)

    DeleteAfterClaim(store, poll_s=0.05).serve(until_idle=True)
    log = capsys.readouterr().out
    assert not os.path.lexists(store.run_dir(victim))
    assert f"run {victim}: its run folder is gone" in log and "its ticket is dropped" in log
    assert f"run {victim}: started worker" not in log
    assert not [p for p in store.root.rglob(f"*{victim}*")]  # no ticket left anywhere, none set aside
    assert store.status(healthy).state == "done"


# -- F13: adoption ---------------------------------------------------------------------------


def test_the_adopting_engine_is_named_in_the_status_and_the_dead_ones_heartbeat_removed(store):
    run_id = control.submit(store, tiny(**LONG), "adopted")
    first = EngineProc(store)
    wait_for(lambda: training(store, run_id, 20))
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    dead = eng.heartbeat_path(store, this_host(), first.proc.pid)
    assert dead.exists()
    second = EngineProc(store)
    try:
        second.wait_heartbeat()
        owner = f"{this_host()}-{second.proc.pid}"
        wait_for(lambda: "adopted live worker" in second.log())
        adopted_at = store.status(run_id).step
        writes: dict[str, str] = {}  # the worker's status writes since the adoption: when -> engine named
        deadline = time.time() + 60
        while len(writes) < 3:
            assert time.time() < deadline, writes
            status = store.status(run_id)
            if status.step > adopted_at:
                writes[status.updated] = status.engine
            time.sleep(0.05)
        control.stop(store, run_id)
        final = wait_all_ended(store, [run_id])[run_id]
    finally:
        second.stop()
    assert set(writes.values()) == {owner}, writes
    assert final.state == "stopped" and final.engine == owner and final.attempts == 1, final
    assert not dead.exists() and f"removed {dead.name}" in second.log()


# -- F14: the store deleted under its engine ---------------------------------------------------


def remove_tree(path: Path) -> None:
    """rm -rf, again while something still writes into it (a status update, a heartbeat)."""
    while path.exists():
        shutil.rmtree(path, ignore_errors=True)


def test_a_store_deleted_under_its_engine_ends_it_and_its_worker_and_is_not_made_again(tmp_path):
    store = st.Store(tmp_path / "doomed")
    store.ensure()
    run_id = control.submit(store, tiny(**LONG), "doomed")
    output = tmp_path / "engine.out"  # outside the store: engine.log goes with it
    with open(output, "wb") as out:
        engine = subprocess.Popen(
            [sys.executable, "-m", "engine", "--runs", str(store.root), "--poll", "0.1"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        worker = wait_for(lambda: training(store, run_id)).pid
        remove_tree(store.root)
        assert engine.wait(30) == 3
        wait_for(lambda: not eng.pid_alive(worker), timeout=20)
        time.sleep(1.0)
        assert not store.root.exists()  # neither made it again
    finally:
        if engine.poll() is None:
            engine.kill()
    said = output.read_text().strip().splitlines()
    assert "Traceback" not in "\n".join(said)
    assert said[-1].startswith("error: engine ") and f"its store {store.root} is gone" in said[-1], said[-1]


def test_a_worker_whose_run_folder_is_deleted_exits_without_making_it_again(store):
    run_id = control.submit(store, tiny(**LONG), "orphan")
    store.cancel(control.ticket_of(store, run_id))
    store.update_status(run_id, attempts=1)
    with open(store.root / "orphan.log", "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id)), "--store", str(store.root)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: training(store, run_id))
        remove_tree(store.run_dir(run_id))
        assert worker.wait(30) == EXIT_GONE
    finally:
        if worker.poll() is None:
            worker.kill()
    assert not os.path.lexists(store.run_dir(run_id))
    assert "is gone" in (store.root / "orphan.log").read_text()


# -- F15: an engine under a file size limit ----------------------------------------------------


@pytest.mark.parametrize("limit_kib, log_bytes", [(1, 3000), (0, 0)], ids=["log-over-the-limit", "no-room-at-all"])
def test_an_engine_under_a_file_size_limit_says_so_and_names_no_log_it_could_not_write(tmp_path, limit_kib, log_bytes):
    root = tmp_path / "runs"
    root.mkdir()
    (root / eng.ENGINE_LOG).write_bytes(b"x" * log_bytes)
    out = subprocess.run(
        ["bash", "-c", f'ulimit -f {limit_kib}; exec "{sys.executable}" -m tui --runs "{root}" engine start'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "400"},
    )
    said = " ".join(out.stderr.split())
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"the engine cannot write {root / eng.ENGINE_LOG} (File too large)" in said, said
    assert "ulimit -f" in said and "see " not in said
    assert (root / eng.ENGINE_LOG).read_bytes() == b"x" * log_bytes
    assert eng.engines(st.Store(root)) == []
