"""The run store under real concurrency: racing processes and writers killed with SIGKILL."""

from __future__ import annotations

import multiprocessing
import random
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

from engine.store.runs import LogTail, Store, format_record, read_log, read_toml

REPO = Path(__file__).resolve().parents[2]
SPAWN = multiprocessing.get_context("spawn")


def run_processes(target, args_per_process: list[tuple]) -> None:
    """Start one spawned process per args tuple, all released at once by a barrier."""
    barrier = SPAWN.Barrier(len(args_per_process))
    processes = [SPAWN.Process(target=target, args=(*args, barrier)) for args in args_per_process]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def enqueue_many(root: str, worker: int, count: int, barrier) -> None:
    store = Store(root)
    barrier.wait()
    for j in range(count):
        store.enqueue(f"w{worker}-{j:04d}", {"worker": worker, "j": j}, priority=j % 3)


def claim_until_empty(root: str, owner: str, out: str, barrier) -> None:
    store = Store(root)
    barrier.wait()
    claimed = []
    while (got := store.claim_next(owner)) is not None:
        entry, ticket = got
        assert ticket.run_id == entry.run_id and ticket.claimed_by == owner
        claimed.append(entry.run_id)
    Path(out).write_text("\n".join(claimed))


def create_runs(root: str, count: int, barrier) -> None:
    store = Store(root)
    barrier.wait()
    for _ in range(count):
        store.create_run("n_layer = 1\n", "same name", {"source": "test"})


def test_eight_processes_enqueueing_250_each_lose_no_ticket(tmp_path):
    store = Store(tmp_path / "runs")
    run_processes(enqueue_many, [(str(store.root), w, 250) for w in range(8)])
    queued = store.list_queue()
    assert len(queued) == 2000
    assert len({e.run_id for e in queued}) == 2000
    assert {e.run_id for e in queued} == {f"w{w}-{j:04d}" for w in range(8) for j in range(250)}
    assert [e.priority for e in queued] == sorted((e.priority for e in queued), reverse=True)
    assert store.malformed_queue_files() == []


def test_four_racing_claimers_take_each_of_2000_tickets_exactly_once(tmp_path):
    store = Store(tmp_path / "runs")
    expected = {f"r{i:04d}" for i in range(2000)}
    for run_id in sorted(expected):
        store.enqueue(run_id, {"config": {"seed": 1}})
    outs = [tmp_path / f"claimed-{c}.txt" for c in range(4)]
    run_processes(claim_until_empty, [(str(store.root), f"engine-{c}", str(outs[c])) for c in range(4)])
    per_claimer = [out.read_text().split() for out in outs]
    every_claim = [run_id for claims in per_claimer for run_id in claims]
    assert len(every_claim) == 2000 and set(every_claim) == expected
    assert store.list_queue() == [] and len(store.list_claimed()) == 2000
    assert sum(1 for claims in per_claimer if claims) >= 2  # it was a race, not a relay


def test_processes_creating_runs_at_once_each_get_their_own_directory(tmp_path):
    store = Store(tmp_path / "runs")
    run_processes(create_runs, [(str(store.root), 50) for _ in range(4)])
    runs = store.list_runs()
    assert len(runs) == 200
    assert all(store.status(r).state == "queued" for r in runs)


# --- writers killed at random moments --------------------------------------------------------

LOG_WRITER = """
import random, sys, zlib
from engine.store.logfile import AppendLog
path, gen, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
log = AppendLog(path)
print("ready", flush=True)
for seq in range(count):
    note = "x" * rng.randrange(0, 200_000)  # many pages: a kill can land inside write()
    loss = rng.random()
    crc = zlib.crc32(f"{gen}:{seq}:{loss!r}:{note}".encode())
    log.append("train", {"gen": gen, "seq": seq, "loss": loss, "note": note, "crc": crc})
"""


def start(code: str, *args: object) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "ready\n"
    return process


def check_written_whole(records: list, counts: dict[int, int]) -> None:
    """Each record's checksum holds and each writer's records come in order, once each."""
    for table, r in records:
        assert table == "train"
        assert r["crc"] == zlib.crc32(f"{r['gen']}:{r['seq']}:{r['loss']!r}:{r['note']}".encode())
        assert r["seq"] == counts.get(r["gen"], 0)
        counts[r["gen"]] = r["seq"] + 1


def ends_mid_record(path: Path) -> bool:
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        file.seek(max(0, size - 2))
        return size > 0 and file.read() != b"\n\n"


def test_a_log_writer_killed_at_random_moments_never_leaves_a_partial_record(tmp_path):
    path = tmp_path / "metrics.toml"
    rng = random.Random(1234)
    tail, counts, everything = LogTail(path), {}, []
    torn_by_kill = 0
    for gen in range(30):
        writer = start(LOG_WRITER, path, gen, gen, 20)
        time.sleep(rng.uniform(0, 0.01))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        torn_by_kill += ends_mid_record(path)
        if gen % 3 == 0:  # and a torn record by hand, as a short write or power cut leaves
            text = format_record("train", {"gen": -1, "seq": 0, "note": "torn"})
            with open(path, "a") as file:
                file.write(text[: rng.randrange(1, len(text) - 1)])
        new = tail.poll()
        assert not tail.reset and tail.skipped == 0
        check_written_whole(new, counts)
        everything += new
    final = subprocess.run(
        [sys.executable, "-c", LOG_WRITER, str(path), "99", "99", "5"], cwd=REPO, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    check_written_whole(tail.poll(), counts)
    assert counts[99] == 5 and -1 not in counts
    log = read_log(path)
    assert log.skipped == 0 and log.torn_bytes == 0
    assert log.records[: len(everything)] == everything  # earlier records never lost
    print(f"{torn_by_kill} of 30 kills cut a record in two")


STATE_WRITER = """
import random, sys
from engine.store.runs import write_toml
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
for i in range(10**9):
    n = rng.randrange(0, 100000)
    write_toml(path, {"i": i, "n": n, "blob": "y" * n})
    if i == 0:
        print("ready", flush=True)
"""


def test_a_state_file_written_atomically_always_parses_whatever_the_moment_of_a_kill(tmp_path):
    path = tmp_path / "status.toml"
    rng = random.Random(99)
    for attempt in range(20):
        writer = start(STATE_WRITER, path, attempt)
        time.sleep(rng.uniform(0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        state = read_toml(path)
        assert len(state["blob"]) == state["n"]
    strays = [p.name for p in tmp_path.iterdir() if p != path]
    assert all(name.startswith(".tmp-status.toml-") for name in strays)  # killed mid-write
