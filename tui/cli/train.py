"""Commands that train and sample in the foreground: `gpt-tui train`, `gpt-tui sample`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Callable

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store import table as trial
from tui.cli.base import (
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_config_options, command, config_from_args, console, fail,
)

POLL_S = 0.5
WORKER_EXIT_MEANING = {0: "done", 1: "failed", 3: "diverged", 4: "oom", 75: "stopped"}


def open_store(args: argparse.Namespace) -> st.Store:
    store = st.Store(st.resolve_root(args.runs))
    store.ensure()
    return store


def start_worker(store: st.Store, run_id: str) -> subprocess.Popen:
    """The worker is a plain child process writing its own output to worker.log."""
    log = open(store.worker_log(run_id), "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=os.getcwd())
    finally:
        log.close()


# With room to spare, the row spells out what the ls columns abbreviate.
ROW_LABELS = {"best val": "best val loss", "val PPL": "final val PPL", "time": "duration"}


def trial_row_table(store: st.Store, run_id: str) -> Table:
    """The run's row of the trial table (engine.table), one column a line so it fits any terminal."""
    row = trial.row_for(store, run_id, store.read_status(run_id))
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for label, value in zip(trial.COLUMNS, trial.cells(row)):
        if value:
            t.add_row(ROW_LABELS.get(label, label), escape(value))
    return t


def follow_progress(store: st.Store, run_id: str, max_iters: int, is_over: Callable[[], bool]) -> None:
    """A progress bar with loss, val loss, tokens/s and ETA, fed by the run's log, until is_over()."""
    tail = st.LogTail(store.metrics_path(run_id))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(run_id[-24:], total=max_iters, info="waiting to start")
        loss = val = rate = None
        while True:
            over = is_over()  # read before the last poll so no record is missed
            for table, r in tail.poll():
                if table == "train":
                    loss, rate = r.get("loss"), r.get("tokens_per_s")
                elif table == "eval":
                    val = r.get("val_loss")
                progress.update(task, completed=r["step"])
                parts = [f"step {r['step']}", f"loss {loss:.4f}" if loss is not None else "",
                         f"val {val:.4f}" if val is not None else "", f"{rate:,.0f} tok/s" if rate else ""]
                progress.update(task, info="  ".join(p for p in parts if p))
            if over:
                return
            time.sleep(POLL_S)


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    """Queue-less training in the foreground; the run lands in the store like any other."""
    cfg = config_from_args(args)
    store = open_store(args)
    prepare_dataset(store, cfg)  # in the foreground, so a large corpus shows its progress here
    run_id = store.create_run(cfgmod.to_toml(cfg), args.name, {"source": "cli train", "attempts": 1})
    console.print(f"run [bold]{run_id}[/] in {store.run_dir(run_id)}  "
                  f"(batch {cfg.batch_label}, {cfg.max_iters} steps; log: {store.worker_log(run_id)})")
    proc = start_worker(store, run_id)
    try:
        follow_progress(store, run_id, cfg.max_iters, lambda: proc.poll() is not None)
        code = proc.wait()
    except KeyboardInterrupt:
        console.print("[yellow]stopping: the worker saves a checkpoint first[/]")
        code = proc.wait()
    status = store.read_status(run_id)
    console.print(trial_row_table(store, run_id))
    if status.get("state") != "done":
        reason = status.get("reason") or WORKER_EXIT_MEANING.get(code, f"exit code {code}")
        console.print(f"[red]{status.get('state', 'failed')}[/]: {escape(str(reason))}  (log: {store.worker_log(run_id)})")
        return EXIT_FAILED
    return EXIT_OK


def prepare_dataset(store: st.Store, cfg: cfgmod.RunConfig) -> int:
    from engine.data import prepare as data  # numpy and the tokenizer; never torch

    t0 = time.perf_counter()
    prepared = data.prepare(cfg.dataset, cfg.tokenizer, store.datasets_dir, progress=True)
    prepared.check_block_size(cfg.block_size)
    meta = prepared.meta
    console.print(f"dataset [bold]{prepared.dir.name}[/]: {meta['train_tokens']:,} train and "
                  f"{meta['val_tokens']:,} val tokens, vocabulary {prepared.vocab_size:,} "
                  f"({time.perf_counter() - t0:.2f}s)")
    return EXIT_OK


@command("prepare")
def cmd_prepare(args: argparse.Namespace) -> int:
    """Tokenize a config's corpus into the store now, with a progress bar (runs reuse it)."""
    return prepare_dataset(open_store(args), config_from_args(args))


@command("sample")
def cmd_sample(args: argparse.Namespace) -> int:
    """Runs engine.sample in a subprocess (this process never imports torch) and streams it."""
    store = st.Store(st.resolve_root(args.runs))
    try:
        run_dir = store.run_dir(args.run)
    except st.StoreError as e:
        return fail(str(e))
    if not run_dir.is_dir():
        return fail(f"no run {args.run!r} in {store.root}; `ls {store.root}` lists the runs")
    cmd = [sys.executable, "-m", "engine.train.sample", str(run_dir), "--prompt", args.prompt,
           "--tokens", str(args.tokens), "--temperature", str(args.temperature), "--top-k", str(args.top_k),
           "--seed", str(args.seed), "--checkpoint", args.checkpoint]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    while chunk := proc.stdout.read1(256):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    code = proc.wait()
    if code:
        return fail(err.removeprefix("error: ") or f"sampling failed (exit {code})", EXIT_USAGE if code == 2 else code)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run in the foreground (recorded in the store)")
    add_config_options(p)
    p.add_argument("--name", "-n", help="a name for the run (part of its id)")

    p = sub.add_parser("prepare", help="tokenize a config's dataset into the store (with a progress bar)")
    add_config_options(p)

    p = sub.add_parser("sample", help="text from a run's best checkpoint, streamed")
    p.add_argument("run", help="the run id")
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--tokens", type=int, default=200, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="0 is greedy; higher is more random")
    p.add_argument("--top-k", type=int, default=200, help="sample among the k likeliest tokens")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
