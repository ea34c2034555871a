"""The run store: atomic files, run ids, runs and their status, the queue, the results ledger."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from engine.core.errors import GptTuiError
from engine.store import runs as store_module
from engine.store.runs import (
    QueueEntry,
    ResultRow,
    Store,
    StoreError,
    append_result,
    check_run_id,
    new_run_id,
    read_results,
    read_toml,
    resolve_root,
    write_atomic,
    write_toml,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "runs")
    s.ensure()
    return s


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_the_store_imports_neither_torch_nor_textual():
    code = "import sys, engine.store; print(sorted({'torch', 'textual'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


# --- atomic files ----------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["state = 'done'\n", b"\x00binary\xff", ""])
def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path, content):
    path = tmp_path / "status.toml"
    path.write_text("old")
    write_atomic(path, content)
    expected = content.encode() if isinstance(content, str) else content
    assert path.read_bytes() == expected
    assert os.listdir(tmp_path) == ["status.toml"]


def test_files_and_dirs_are_never_world_writable_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        s = Store(tmp_path / "a" / "b" / "runs")
        s.ensure()
        run_id = s.create_run("x = 1\n", None, {})
        s.enqueue(run_id, {})
    finally:
        os.umask(old)
    for path in [tmp_path / "a", *(tmp_path / "a").rglob("*")]:
        assert path.stat().st_mode & 0o002 == 0, path
    assert s.status_path(run_id).stat().st_mode & 0o777 == 0o644
    assert s.run_dir(run_id).stat().st_mode & 0o777 == 0o755


def test_write_toml_and_read_toml_round_trip(tmp_path):
    data = {"state": "running", "step": 3, "best": {"val_loss": 1.25}}
    write_toml(tmp_path / "s.toml", data)
    assert read_toml(tmp_path / "s.toml") == data


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("state = ", "is not valid TOML"),
        (b"\xff\xfe", "is not valid TOML"),
    ],
)
def test_read_toml_names_the_file_and_what_to_do(tmp_path, content, message):
    path = tmp_path / "status.toml"
    if content is not None:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(StoreError, match=message) as info:
        read_toml(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, GptTuiError)


# --- run ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, slug",
    [
        (None, None),
        ("", None),
        ("!!!", None),
        ("My Run", "my-run"),
        ("lr=3e-4, bs 64", "lr-3e-4-bs-64"),
        ("  spaced--out  ", "spaced-out"),
        ("a" * 40, "a" * 24),
        ("x" * 23 + " y", "x" * 23),  # no trailing '-' after the cut
        ("Réglage", "r-glage"),
    ],
)
def test_new_run_id_is_a_utc_stamp_a_slug_and_four_hex_digits(name, slug):
    run_id = new_run_id(name)
    match = re.fullmatch(r"(\d{8}-\d{6}-\d{3})(?:-(.+))?-([0-9a-f]{4})", run_id)
    assert match and match[2] == slug
    assert time.strftime("%Y%m%d", time.gmtime()) <= match[1][:8]
    assert check_run_id(run_id) == run_id


def test_run_ids_sort_by_creation_time():
    ids = []
    for _ in range(5):
        ids.append(new_run_id("z" if len(ids) % 2 else "a"))
        time.sleep(0.002)
    assert sorted(ids) == ids


HOSTILE_IDS = [
    ("", "is empty"),
    ("x" * 200, "200 characters"),
    ("../x", "path separator"),
    ("a/b", "path separator"),
    ("a\\b", "path separator"),
    ("..", "contains '..'"),
    ("a..b", "contains '..'"),
    (".hidden", "starts with '.'"),
    ("-rf", "starts with '-'"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    (" a", "whitespace"),
    ("a b", "whitespace"),
    ("a\u00a0b", "whitespace"),
    ("run:1", "contains ':'"),
    ("rün", "contains 'ü'"),
    ("queue", "store uses"),
    ("results.toml", "store uses"),
    ("engine-gpu-box-4242", "store uses"),
]


@pytest.mark.parametrize("run_id, problem", HOSTILE_IDS)
def test_unsafe_run_ids_are_refused_with_the_reason(run_id, problem):
    with pytest.raises(StoreError, match=re.escape(problem)) as info:
        check_run_id(run_id)
    assert "a run id looks like" in str(info.value)


@pytest.mark.parametrize("run_id", ["a", "20240501-120000-123-my-run-1a2b", "run_1.v2", "x" * 128])
def test_safe_run_ids_are_accepted(run_id):
    assert check_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", [run_id for run_id, _ in HOSTILE_IDS])
def test_no_store_operation_touches_the_disk_for_an_unsafe_run_id(store, run_id):
    before = tree(store.root)
    operations = [
        lambda: store.run_dir(run_id),
        lambda: store.status_path(run_id),
        lambda: store.metrics_path(run_id),
        lambda: store.status(run_id),
        lambda: store.write_status(run_id, {"state": "queued"}),
        lambda: store.update_status(run_id, state="done"),
        lambda: store.enqueue(run_id, {"config": {}}),
        lambda: store.requeue(run_id, {}, 5),
    ]
    for operation in operations:
        with pytest.raises(StoreError):
            operation()
    assert tree(store.root) == before


# --- the store and its runs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, env, expected",
    [
        ("/data/runs", "/env/runs", "/data/runs"),
        (None, "/env/runs", "/env/runs"),
        (None, None, "runs"),
    ],
)
def test_the_store_root_is_the_option_else_the_environment_else_runs(monkeypatch, option, env, expected):
    if env is None:
        monkeypatch.delenv("GPT_TUI_RUNS", raising=False)
    else:
        monkeypatch.setenv("GPT_TUI_RUNS", env)
    assert resolve_root(option) == Path(expected)


def test_ensure_creates_the_layout_and_can_run_again(tmp_path):
    s = Store(tmp_path / "runs")
    s.ensure()
    s.ensure()
    assert tree(s.root) == ["datasets", "queue", "queue/claimed", "sweeps"]
    assert s.results_path == s.root / "results.toml"


def test_a_created_run_has_its_config_and_a_queued_status(store):
    run_id = store.create_run("n_layer = 2\n", "tiny test", {"source": "cli", "sweep": None})
    assert "-tiny-test-" in run_id
    assert store.config_path(run_id).read_text() == "n_layer = 2\n"
    status = store.status(run_id)
    assert status.state == "queued" and status.name == "tiny test"
    assert status.source == "cli" and status.sweep == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", status.created)
    assert store.list_runs() == [run_id]


def test_create_run_takes_a_new_id_when_the_one_it_drew_exists(store, monkeypatch):
    drawn = iter(["20240101-000000-000-a-0000", "20240101-000000-000-a-0000", "20240101-000000-000-a-0001"])
    monkeypatch.setattr(store_module, "new_run_id", lambda name=None: next(drawn))
    assert store.create_run("", "a", {}) == "20240101-000000-000-a-0000"
    assert store.create_run("", "a", {}) == "20240101-000000-000-a-0001"


def test_update_status_changes_keys_and_none_removes_them(store):
    run_id = store.create_run("", None, {})
    store.update_status(run_id, state="failed", error="out of memory")
    assert store.update_status(run_id, state="queued", error=None).state == "queued"
    assert store.status(run_id).error == ""


def test_list_runs_holds_only_run_directories_oldest_first(store):
    ids = [store.create_run("", f"r{i}", {}) for i in range(3)]
    (store.root / "empty-dir").mkdir()
    (store.root / ".hidden").mkdir()
    (store.root / ".hidden" / "status.toml").write_text("")
    (store.root / "stray-file").write_text("x")
    (store.root / "config-only").mkdir()
    (store.root / "config-only" / "config.toml").write_text("")
    assert store.list_runs() == sorted(ids + ["config-only"])
    assert Store(store.root / "nowhere").list_runs() == []


def test_a_broken_status_maps_to_its_error_and_the_others_still_read(store):
    good = store.create_run("", "good", {})
    broken = store.create_run("", "broken", {})
    missing = store.create_run("", "missing", {})
    store.status_path(broken).write_text("state = 'running\n")
    store.status_path(missing).unlink()
    statuses = store.statuses()
    assert statuses[good].name == "good"
    assert isinstance(statuses[broken], StoreError) and "not valid TOML" in str(statuses[broken])
    assert isinstance(statuses[missing], StoreError) and "does not exist" in str(statuses[missing])


def test_reading_every_status_of_a_thousand_runs_takes_well_under_half_a_second(store):
    status = {
        "state": "done",
        "name": "sweep trial",
        "created": "2024-05-01T12:00:00.000Z",
        "step": 400,
        "max_iters": 400,
        "best_val_loss": 1.4321,
        "pid": 0,
        "host": "gpu-box",
        "attempts": 1,
        "device": "cuda:0",
        "params": 812544,
    }
    text = tomli_w.dumps(status).encode()
    for i in range(1000):
        run_dir = store.root / f"20240501-120000-{i:03d}-{i:04x}"
        run_dir.mkdir()
        (run_dir / "status.toml").write_bytes(text)
    best = min(_timed(store.statuses) for _ in range(3))
    assert len(store.statuses()) == 1000
    assert best < 0.5


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- the queue -------------------------------------------------------------------------------


def test_a_ticket_name_sorts_by_priority_then_age(store):
    path = store.enqueue("r1", {}, priority=7)
    assert re.fullmatch(r"093-\d{20}-r1\.toml", path.name)


@pytest.mark.parametrize(
    "enqueued, claim_order",
    [
        ([("a", 0), ("b", 0), ("c", 0)], ["a", "b", "c"]),  # oldest first
        ([("a", 0), ("b", 5), ("c", -5)], ["b", "a", "c"]),  # higher priority first
        ([("a", -99), ("b", 99), ("c", 99)], ["b", "c", "a"]),
        ([("a", 1), ("b", 10), ("c", 2)], ["b", "c", "a"]),  # numbers, not text, order
    ],
)
def test_claims_follow_priority_then_age(store, enqueued, claim_order):
    for run_id, priority in enqueued:
        store.enqueue(run_id, {"config": {"seed": 1}}, priority)
    assert [e.run_id for e in store.list_queue()] == claim_order
    claimed = [store.claim_next("engine-a")[0].run_id for _ in enqueued]
    assert claimed == claim_order and store.claim_next("engine-a") is None


def test_a_claimed_ticket_holds_what_was_enqueued_and_who_claimed_it(store):
    store.enqueue("r1", {"config": {"n_layer": 2}, "source": "sweep", "sweep": "s1"}, 3)
    entry, ticket = store.claim_next("engine-host-42")
    assert entry.path.parent == store.claimed_dir and entry.run_id == "r1"
    assert ticket.config == {"n_layer": 2} and ticket.extra["sweep"] == "s1"
    assert ticket.priority == 3 and ticket.claimed_by == "engine-host-42"
    assert read_toml(entry.path) == ticket.to_toml()
    assert store.list_claimed() == [entry] and store.list_queue() == []
    store.release_claim(entry)
    assert store.list_claimed() == []


@pytest.mark.parametrize("priority", [100, -100, 1.5, True, "1"])
def test_priorities_outside_minus_99_to_99_are_refused(store, priority):
    with pytest.raises(StoreError, match="priority"):
        store.enqueue("r1", {}, priority)
    assert store.list_queue() == []


def test_enqueue_leaves_no_temp_file_and_junk_is_reported_not_listed(store):
    store.enqueue("r1", {})
    junk = [
        "notes.txt",
        ".tmp-ticket-dead",
        "100-123-r2.toml",
        "500-" + "0" * 20 + "-r3.toml",
        "100-" + "0" * 20 + "-..toml",
    ]
    for name in junk:
        (store.queue_dir / name).write_text("")
    assert [e.run_id for e in store.list_queue()] == ["r1"]
    assert sorted(p.name for p in store.malformed_queue_files()) == sorted(junk)


@pytest.mark.parametrize(
    "content, reason",
    [
        ("run_id = ", "not valid TOML"),
        ("run_id = 'someone-else'\n", "holds run_id 'someone-else'"),
    ],
)
def test_a_bad_ticket_is_set_aside_with_an_explanation_and_the_next_is_claimed(store, content, reason):
    bad = store.enqueue("bad-run", {}, priority=9)
    bad.write_text(content)
    store.enqueue("good-run", {})
    entry, _ = store.claim_next("engine-a")
    assert entry.run_id == "good-run"
    assert (store.bad_dir / bad.name).exists()
    assert reason in (store.bad_dir / (bad.name + ".error")).read_text()


def test_set_priority_moves_a_ticket_and_keeps_its_age(store):
    store.enqueue("a", {})
    store.enqueue("b", {})
    entry_b = store.list_queue()[1]
    moved = store.set_priority(entry_b, 50)
    assert moved.priority == 50 and moved.enqueued_ns == entry_b.enqueued_ns
    assert [e.run_id for e in store.list_queue()] == ["b", "a"]
    _, ticket = store.claim_next("engine-a")
    assert ticket.priority == 50
    assert store.set_priority(moved, 1) is None  # already claimed


def test_cancel_removes_a_queued_ticket_once(store):
    store.enqueue("a", {})
    entry = store.list_queue()[0]
    assert store.cancel(entry) is True
    assert store.cancel(entry) is False
    assert store.claim_next("engine-a") is None


def test_requeue_puts_a_claimed_run_back_without_its_claim(store):
    store.enqueue("a", {"config": {"seed": 3}})
    entry, ticket = store.claim_next("engine-a")
    store.release_claim(entry)
    store.requeue("a", ticket, priority=1)
    _, again = store.claim_next("engine-b")
    assert again.config == {"seed": 3} and again.claimed_by == "engine-b"
    assert store.list_queue() == [] and [e.run_id for e in store.list_claimed()] == ["a"]


def test_queue_entries_are_plain_values():
    entry = QueueEntry(Path("q/100-1-a.toml"), "a", 0, 1)
    with pytest.raises(AttributeError):
        entry.priority = 5  # type: ignore[misc]


# --- the results ledger ----------------------------------------------------------------------


def test_results_are_appended_one_row_per_run_and_read_back_in_order(tmp_path):
    s = Store(tmp_path / "new-store")
    rows = [{"run": f"r{i}", "state": "done", "final_val_loss": 1.5 - i / 10, "learning_rate": 3e-4} for i in range(3)]
    for row in rows:
        append_result(s, ResultRow.from_toml(row))
    assert [r.to_toml() for r in read_results(s)] == rows
    assert tomllib.loads(s.results_path.read_text()) == {"run": rows}
