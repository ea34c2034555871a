"""Sampling while a CPU run trains: the sampler's wall time idle and during a busy training run.

    .venv/bin/python benchmarks/sample_while_training.py [--repeats N] [--tokens N] [--busy-threads N]

The claim (issue 14): sampling during a CPU run takes no more than 3x its idle time. The sampler
(`python -m engine.train.sample`, the command the app's sample screen and `gpt-tui sample` run)
yields to training: it is niced and uses a few threads (engine.train.sample.yield_to_training). For
comparison the table also times it greedy, as it was before: every core and no nice.

A tiny model is trained first (the real worker, a few steps) to have a checkpoint to sample. Then
each sampler variant is timed idle, a busy CPU run is started (the real worker, every core, a
model large enough to keep them all busy), and each variant is timed again while it trains.
Variants alternate within each repeat; the table reports medians. Each time is the whole process:
start-up, torch import, checkpoint load and `--tokens` tokens.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.core import config as cfgmod  # noqa: E402
from engine.store import runs as st  # noqa: E402
from engine.train.sample import NICE, default_threads  # noqa: E402
from tui.models.sample_command import sample_command  # noqa: E402

SAMPLED = dict(  # the run sampled: small, as a person's first runs are
    n_layer=2,
    n_head=2,
    n_embd=64,
    block_size=64,
    batch_size=8,
    max_iters=20,
    eval_interval=10,
    eval_iters=2,
    log_interval=5,
    warmup_iters=0,
    dataset="pydocs",
    tokenizer="char",
    device="cpu",
    threads=0,
)
BUSY = dict(  # the run training meanwhile: every core, long steps, evaluations out of the way
    n_layer=4,
    n_head=4,
    n_embd=256,
    block_size=128,
    batch_size=16,
    max_iters=100_000,
    eval_interval=50_000,
    eval_iters=2,
    log_interval=5,
    warmup_iters=0,
    dataset="pydocs",
    tokenizer="char",
    device="cpu",
    threads=0,
)
GOAL = 3.0  # during / idle


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def new_run(store: st.Store, config: dict, name: str) -> str:
    return store.create_run(cfgmod.to_toml(cfgmod.from_mapping(config)), name, {"source": "benchmark"})


def start_worker(store: st.Store, run_id: str) -> subprocess.Popen:
    log = open(store.worker_log(run_id), "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def train_records(store: st.Store, run_id: str) -> list[dict]:
    return [r for t, r in st.read_log(store.metrics_path(run_id)).records if t == "train"]


def time_sampler(cmd: list[str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"the sampler failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--busy-threads", type=int, default=0, help="the training run's threads (0: every core)")
    p.add_argument("--nice", type=int, nargs="+", default=[NICE], help="the yielding sampler's nice values to time")
    a = p.parse_args()
    store = st.Store(Path(tempfile.mkdtemp(prefix="sample-bench-")) / "runs")
    store.ensure()

    sampled = new_run(store, SAMPLED, "sampled")
    if start_worker(store, sampled).wait(timeout=600) != 0:
        raise SystemExit(store.worker_log(sampled).read_text()[-2000:])
    base = sample_command(str(store.run_dir(sampled)), "The ", a.tokens, 0.8, 200, "best", seed=1)
    threads = default_threads()
    variants = {
        f"yielding: nice {n}, {threads} thread(s)" + (" (default)" if n == NICE else ""): [*base, "--nice", str(n)]
        for n in a.nice
    }
    variants["greedy (before): every core, no nice"] = [*base, "--threads", str(cores()), "--nice", "0"]
    idle: dict[str, list[float]] = {v: [] for v in variants}
    busy: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(a.repeats):
        for name in list(variants)[:: 1 if i % 2 == 0 else -1]:
            idle[name].append(time_sampler(variants[name]))

    busy_run = new_run(store, {**BUSY, "threads": a.busy_threads}, "busy")
    worker = start_worker(store, busy_run)
    try:
        deadline = time.time() + 300
        while len(train_records(store, busy_run)) < 3:  # past start-up and the step-0 evaluation
            if worker.poll() is not None or time.time() > deadline:
                raise SystemExit(store.worker_log(busy_run).read_text()[-2000:])
            time.sleep(0.5)
        rate_before = statistics.median(r["tokens_per_s"] for r in train_records(store, busy_run)[-3:])
        for i in range(a.repeats):
            for name in list(variants)[:: 1 if i % 2 == 0 else -1]:
                busy[name].append(time_sampler(variants[name]))
        still_training = worker.poll() is None
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()
    if not still_training:
        raise SystemExit("the busy run ended before the samplers did: lengthen BUSY's max_iters")

    t = Table(
        title=f"sampling {a.tokens} tokens: idle vs during a CPU training run ({cores()} cores, "
        f"training at ~{rate_before:,.0f} tokens/s on {a.busy_threads or cores()} threads; medians of {a.repeats})"
    )
    for col in ("sampler", "idle", "while training", "slowdown", f"<= {GOAL:g}x"):
        t.add_column(col, justify="left" if col == "sampler" else "right")
    for name in variants:
        before, during = statistics.median(idle[name]), statistics.median(busy[name])
        ratio = during / before
        t.add_row(name, f"{before:.2f} s", f"{during:.2f} s", f"{ratio:.2f}x", "yes" if ratio <= GOAL else "NO")
    Console(width=140).print(t)
    print(f"(every time, in s: idle {idle}, while training {busy})")
    first = next(iter(variants))
    return 0 if statistics.median(busy[first]) <= GOAL * statistics.median(idle[first]) else 1


if __name__ == "__main__":
    sys.exit(main())
