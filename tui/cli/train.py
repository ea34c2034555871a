"""Commands that train and sample in the foreground: `gpt-tui train`, `prepare`, `sample`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import rich_click as click
from rich.markup import escape

from engine.core import config as cfgmod
from engine.store import runs as st
from tui.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    config_from,
    config_options,
    console,
    existing_run,
    fail,
    store,
)
from tui.cli.prepare_job import engine_option, queue_prepare
from tui.cli.progress import follow_progress, trial_row_table
from tui.models.sample_command import sample_command

WORKER_EXIT_MEANING = {0: "done", 1: "failed", 3: "diverged", 4: "oom", 75: "stopped"}


def open_store() -> st.Store:
    s = store()
    s.ensure()
    return s


def start_worker(s: st.Store, run_id: str) -> subprocess.Popen:
    """The worker is a plain child process writing its own output to worker.log."""
    log = open(s.worker_log(run_id), "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.worker", str(s.run_dir(run_id))],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=os.getcwd(),
        )
    finally:
        log.close()


@click.command("train", help="train one run in the foreground (recorded in the store)")
@config_options
@click.option("--name", "-n", help="a name for the run (part of its id)")
def train(preset: str | None, config: Path | None, overrides: tuple[str, ...], name: str | None) -> int:
    """Queue-less training; the run lands in the store like any other."""
    cfg = config_from(preset, config, overrides)
    s = open_store()
    prepare_dataset(s, cfg)  # in the foreground, so a large corpus shows its progress here
    run_id = s.create_run(cfgmod.to_toml(cfg), name, {"source": "cli train", "attempts": 1})
    console.print(
        f"run [bold]{run_id}[/] in {s.run_dir(run_id)}  "
        f"(batch {cfg.batch_label}, {cfg.max_iters} steps; log: {s.worker_log(run_id)})"
    )
    proc = start_worker(s, run_id)
    try:
        follow_progress(s, run_id, cfg.max_iters, lambda: proc.poll() is not None)
        code = proc.wait()
    except KeyboardInterrupt:
        console.print("[yellow]stopping: the worker saves a checkpoint first[/]")
        code = proc.wait()
    status = s.status(run_id)
    console.print(trial_row_table(s, run_id))
    if status.state != st.RunState.DONE:
        reason = status.reason or WORKER_EXIT_MEANING.get(code, f"exit code {code}")
        console.print(f"[red]{status.state}[/]: {escape(reason)}  (log: {s.worker_log(run_id)})")
        return EXIT_FAILED
    return EXIT_OK


def prepare_dataset(s: st.Store, cfg: cfgmod.RunConfig, workers: int | None = None) -> int:
    from engine.data import prepare as data  # numpy, the tokenizer, maybe datasets; never torch

    t0 = time.perf_counter()
    prepared = data.prepare(
        cfg.dataset, cfg.tokenizer, s.datasets_dir, progress=True, text_field=cfg.text_field, workers=workers
    )
    prepared.check_block_size(cfg.block_size)
    meta = prepared.meta
    shards = len(meta["train_shards"]) + len(meta["val_shards"])
    console.print(
        f"dataset [bold]{escape(prepared.dir.name)}[/]: {meta['train_tokens']:,} train and "
        f"{meta['val_tokens']:,} val tokens in {shards} shard(s), vocabulary {prepared.vocab_size:,} "
        f"({time.perf_counter() - t0:.2f}s)"
    )
    return EXIT_OK


@click.command("prepare", help="tokenize a config's dataset into the store (with a progress bar)")
@config_options
@click.option("--workers", type=click.IntRange(min=1), default=None, help="tokenizing threads (default: every core)")
@engine_option
def prepare(
    preset: str | None, config: Path | None, overrides: tuple[str, ...], workers: int | None, as_job: str | None
) -> int:
    """Runs reuse the tokenized dataset; a large corpus is better tokenized up front. A preparation
    that was interrupted goes on from its last complete shard when run again."""
    cfg = config_from(preset, config, overrides)
    if as_job:  # an engine job: its progress in the runs table (tui.cli.prepare_job)
        return queue_prepare(open_store(), cfg, start_engine=as_job == "engine")
    return prepare_dataset(open_store(), cfg, workers)


@click.command("sample", help="text from a run's best checkpoint, streamed")
@click.argument("run", help="the run: its name, its id, or the start of its id")
@click.option("--prompt", default="", help="text to continue")
@click.option("--tokens", type=int, default=200, help="tokens to generate")
@click.option("--temperature", type=float, default=0.8, help="0 is greedy; higher is more random")
@click.option("--top-k", type=int, default=200, help="sample among the k likeliest tokens")
@click.option("--seed", type=int, default=1337, help="seed of the sampling")
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    default="best",
    help="the best checkpoint (lowest val loss) or the last one saved",
)
def sample(run: str, prompt: str, tokens: int, temperature: float, top_k: int, seed: int, checkpoint: str) -> int:
    """engine.train.sample runs in a subprocess (this process never imports torch) and is streamed."""
    s = store()
    run_dir = s.run_dir(existing_run(s, run))
    cmd = sample_command(str(run_dir), prompt, tokens, temperature, top_k, checkpoint, seed)
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


COMMANDS = [train, prepare, sample]
