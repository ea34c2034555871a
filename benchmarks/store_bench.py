"""Run-store benchmark: tailing a 100,000-record metrics log, and reading 1,000 run statuses.

Run: .venv/bin/python benchmarks/store_bench.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.store.runs import AppendLog, LogTail, Store, format_record, read_log

LOG_RECORDS = 100_000
NEW_RECORDS = 100
TAIL_REPEATS = 200
RUNS = 1_000


def train_record(step: int, rng: random.Random) -> dict:
    ms = rng.uniform(80, 160)
    loss = 1.3 + 2.9 * 0.9999**step + rng.gauss(0, 0.02)  # 4.2 falling to about 1.3
    return {
        "step": step,
        "tokens": step * 49_152,
        "loss": loss,
        "lr": 6e-4 * min(1.0, step / 2000) * rng.uniform(0.1, 1.0),
        "ms_per_iter": ms,
        "tokens_per_s": 49_152 / ms * 1000,
        "mfu": rng.uniform(0.28, 0.41),
        "mem_rss": rng.randrange(2_000_000_000, 3_000_000_000),
    }


def status_record(i: int, rng: random.Random) -> dict:
    return {
        "state": rng.choice(["done", "done", "failed", "stopped", "queued", "running"]),
        "name": f"sweep-lr-{i}",
        "created": "2024-05-01T12:00:00.000Z",
        "sweep": "lr-scan",
        "source": "sweep",
        "pid": rng.randrange(1000, 99999),
        "host": "gpu-box-1",
        "attempts": 1,
        "step": 400,
        "max_iters": 400,
        "device": "cuda:0",
        "dtype": "bfloat16",
        "params": 10_745_088,
        "best_val_loss": rng.uniform(1.4, 2.2),
        "final_train_loss": rng.uniform(1.3, 2.1),
        "started": "2024-05-01T12:00:01.000Z",
        "finished": "2024-05-01T12:09:41.000Z",
        "error": "",
        "reason": "",
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_log(root: Path, rows: list[tuple[str, str, str]]) -> None:
    rng = random.Random(0)
    path = root / "metrics.toml"
    # Built in one write: the benchmark is about reading; appends are timed below.
    path.write_text("".join(format_record("train", train_record(s, rng)) for s in range(LOG_RECORDS)))
    size_mb = path.stat().st_size / 1e6

    start = time.perf_counter()
    read = read_log(path)
    rows.append(
        (f"read_log: whole log ({LOG_RECORDS:,} records, {size_mb:.1f} MB)", ms(time.perf_counter() - start), "once")
    )
    assert len(read.records) == LOG_RECORDS

    tail = LogTail(path)
    start = time.perf_counter()
    assert len(tail.poll()) == LOG_RECORDS
    rows.append(("LogTail: first poll (the whole log)", ms(time.perf_counter() - start), "once"))

    polls, appends, step = [], [], LOG_RECORDS
    with AppendLog(path) as log:
        for _ in range(TAIL_REPEATS):
            start = time.perf_counter()
            for _ in range(NEW_RECORDS):
                log.append("train", train_record(step, rng))
                step += 1
            appends.append((time.perf_counter() - start) / NEW_RECORDS)
            start = time.perf_counter()
            new = tail.poll()
            polls.append(time.perf_counter() - start)
            assert len(new) == NEW_RECORDS and not tail.reset
    rows.append(
        (f"LogTail.poll: {NEW_RECORDS} new records (median)", ms(statistics.median(polls)), f"{TAIL_REPEATS} polls")
    )
    rows.append(
        (f"LogTail.poll: {NEW_RECORDS} new records (p95)", ms(percentile(polls, 0.95)), f"{TAIL_REPEATS} polls")
    )

    chunks = [format_record("train", train_record(s, rng))[:-2] for s in range(NEW_RECORDS)]
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        for chunk in chunks:
            tomllib.loads(chunk)
        timings.append(time.perf_counter() - start)
    rows.append(
        (
            f"  for comparison: tomllib on the same {NEW_RECORDS} records (median)",
            ms(statistics.median(timings)),
            "20 runs",
        )
    )
    rows.append(
        (
            "AppendLog.append: one record (median of batch means)",
            ms(statistics.median(appends)),
            f"{TAIL_REPEATS * NEW_RECORDS:,} appends",
        )
    )


def bench_status(root: Path, rows: list[tuple[str, str, str]]) -> None:
    rng = random.Random(1)
    store = Store(root / "runs")
    store.ensure()
    for i in range(RUNS):
        run_dir = store.root / f"20240501-120000-{i % 1000:03d}-trial-{i:04x}"
        run_dir.mkdir()
        (run_dir / "config.toml").write_text("n_layer = 4\n")
        (run_dir / "status.toml").write_text(tomli_w.dumps(status_record(i, rng)))
    timings = []
    for _ in range(9):
        start = time.perf_counter()
        statuses = store.statuses()
        timings.append(time.perf_counter() - start)
        assert len(statuses) == RUNS
    rows.append((f"statuses: {RUNS:,} runs (median)", ms(statistics.median(timings)), "9 runs"))
    rows.append((f"statuses: {RUNS:,} runs (slowest)", ms(max(timings)), "9 runs"))
    timings = []
    for _ in range(9):
        start = time.perf_counter()
        store.list_runs()
        timings.append(time.perf_counter() - start)
    rows.append((f"list_runs: {RUNS:,} runs (median)", ms(statistics.median(timings)), "9 runs"))


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        bench_log(Path(tmp), rows)
        bench_status(Path(tmp), rows)
    table = Table(title="Run store benchmark")
    table.add_column("operation")
    table.add_column("time", justify="right")
    table.add_column("samples", justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
