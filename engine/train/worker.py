"""One run as one process: `python -m engine.worker RUN_DIR [--store ROOT]` trains it and records
everything. The run folder must be a real folder of the store (no symbolic link): the worker writes
into the store it is told, never into one it finds by following a link.

Exit codes tell the launcher how the run ended, the same as status.toml's state does. The start-up,
from the process start to the end of the first step, is timed by phase (engine.train.startup).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from engine.core import config as cfgmod
from engine.core.hosts import this_host
from engine.store import runs as st
from engine.store.schema import KIND_LRFIND, KIND_PREPARE, RunState
from engine.sweeps import pruning
from engine.train import faults, startup
from engine.train.guard import WORKER_LOCK_WAIT_S, hold_worker_lock, refused, start_beating, stopped_while_starting
from engine.train.recorder import (  # noqa: F401 - STATUS_EVERY_S and RunRecorder are used from here too
    ATTEMPT_ENV,
    STATUS_EVERY_S,
    RunGone,
    RunRecorder,
    Superseded,
    _finite,
    disk_full_reason,
    keep_records_through,
    latest,
    log,
    result_row,
)
from engine.train.resume import first_line, restore_checkpoint
from engine.train.startup import Timeline

EXIT_DONE, EXIT_FAILED, EXIT_DIVERGED, EXIT_OOM, EXIT_TERMINATED = 0, 1, 3, 4, 75
EXIT_SUPERSEDED, EXIT_BUSY, EXIT_GONE, EXIT_REFUSED = 6, 7, 8, 2
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def run(run_dir: Path, store_root: Path | None = None, timeline: Timeline | None = None) -> int:
    """Train the run in `run_dir`, a folder of the store at `store_root` (its parent when not
    given), from its checkpoint (or from scratch) to one of its ends. `timeline`: the start-up so
    far (the imports), marked on to the end of the first step."""
    from engine.train import distributed

    timeline = timeline or Timeline.from_process_start()

    store = st.Store(store_root if store_root is not None else run_dir.parent)
    run_id = st.check_run_id(run_dir.name)
    run_dir = store.run_dir(run_id)
    dist = distributed.from_env()
    # At most one live worker per run: the one holding .worker.lock. A worker started while the
    # previous one is still exiting (a stop, then a quick resume) waits for it here, before it
    # reads or writes anything of the run.
    if dist.is_main and not hold_worker_lock(run_dir):
        log(
            f"run {run_id}: another worker of this run still holds .worker.lock after "
            f"{WORKER_LOCK_WAIT_S:.0f} s; this one exits without touching the run"
        )
        return EXIT_BUSY
    timeline.mark("lock")
    rec = RunRecorder(store, run_id, writes=dist.is_main)
    try:
        return run_attempt(store, run_id, run_dir, rec, dist, timeline)
    except Superseded as e:  # or RunGone: either way this worker writes nothing more
        log(str(e))
        return EXIT_GONE if isinstance(e, RunGone) else EXIT_SUPERSEDED
    finally:
        rec.close()
        distributed.shutdown(dist)


def run_attempt(store: st.Store, run_id: str, run_dir: Path, rec: RunRecorder, dist: Any, timeline: Timeline) -> int:
    attempts = rec.status.attempts  # counted by whoever launched this worker
    rec.write_status(
        state=RunState.RUNNING,
        pid=os.getpid(),
        host=this_host(),
        attempts=attempts,
        started=rec.status.started or st.now_iso(),
        error="",
        reason="",
        processes=dist.world,
    )
    log(
        f"run {run_id}: attempt {attempts}, pid {os.getpid()}"
        + (f", rank {dist.rank} of {dist.world}" if dist.enabled else "")
    )

    def on_signal(signum, frame):
        rec.signal_reason = f"signal {signal.Signals(signum).name}"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rec.signal_reason = startup.stop_reason()  # one that came in the start-up: the run stops at its first look
    # A file size limit (ulimit -f) would kill the process with SIGXFSZ and no word of why;
    # ignored, the write fails with EFBIG and the run ends `failed` saying so.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if dist.is_main:
        start_beating(run_dir)

    try:
        cfg = cfgmod.load(store.config_path(run_id))
        faults.limit_file_size(cfg)
        timeline.mark("config")
        return train_run(store, run_id, cfg, rec, dist, timeline)
    except cfgmod.ConfigError as e:
        return end(rec, RunState.FAILED, EXIT_FAILED, reason=f"invalid config: {'; '.join(map(str, e.problems))}")
    except Superseded:
        raise
    except Exception as e:
        import torch

        rec.check_run_dir()  # an error from a folder deleted under it is no failure to record
        if isinstance(e, torch.OutOfMemoryError):
            from engine.train import telemetry

            device = "cuda" if torch.cuda.is_available() else "cpu"
            print_traceback()
            return end(rec, RunState.OOM, EXIT_OOM, reason=first_line(e), memory=telemetry.memory_reading(device))
        print_traceback()
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            return end(rec, RunState.FAILED, EXIT_FAILED, reason=disk_full_reason(e, run_dir))
        # In a DDP job the usual cause is a peer process that died: worth another attempt.
        return end(
            rec, RunState.FAILED, EXIT_FAILED, reason=f"{type(e).__name__}: {first_line(e)}", retryable=dist.enabled
        )


def print_traceback() -> None:
    try:
        traceback.print_exc()
    except OSError:
        pass  # worker.log is on a full disk


def end(rec: RunRecorder, state: RunState, code: int, reason: str = "", **extra: Any) -> int:
    log(f"run {rec.run_id}: {state}{' - ' + reason if reason else ''}")
    rec.write_status(
        state=state, reason=reason, finished=st.now_iso(), pid=0, train_seconds=rec.train_seconds(), **extra
    )
    return code


def train_run(
    store: st.Store, run_id: str, cfg: cfgmod.RunConfig, rec: RunRecorder, dist: Any, timeline: Timeline
) -> int:
    from engine.data import prepare as data
    from engine.train.trainer import Diverged, Events, StopRequested, Trainer

    # datasets/ is made here, in the store root as it is: never the root itself (prepare would).
    rec.check_run_dir()  # the run folder is there, so its parent, the store root, is
    try:
        os.mkdir(store.datasets_dir, st.DIR_MODE)
    except FileExistsError:
        pass
    if rec.status.kind == KIND_PREPARE:  # a dataset preparation: no model, no checkpoint, no results row
        from engine.train import prepare_job

        state, reason, fields = prepare_job.run_in_worker(store, run_id, cfg, rec)
        stopped_by_signal = state == RunState.STOPPED and reason.startswith("signal")
        return end(rec, state, EXIT_TERMINATED if stopped_by_signal else EXIT_DONE, reason=reason, **fields)
    prepared = data.prepare(cfg.dataset, cfg.tokenizer, store.datasets_dir, text_field=cfg.text_field)
    rec.check_run_dir()
    prepared.check_block_size(cfg.block_size)
    timeline.mark("data")
    events = Events(
        on_train=rec.on_train, on_eval=rec.on_eval, on_progress=rec.on_progress, should_stop=rec.should_stop
    )
    # A sweep trial with early stopping is judged after each eval; every other run is untouched.
    pruner = pruning.for_run(store, run_id, rec.status, cfg) if dist.is_main else None
    if pruner is not None:
        events = pruner.watch(events)
    if dist.is_main and rec.status.kind != KIND_LRFIND:
        events = startup.watch(timeline, events, rec, log)
    threads = tuned_threads(cfg, dist)
    trainer = Trainer(
        cfg, prepared.train(), prepared.val(), prepared.vocab_size, store.ckpt_dir(run_id), events, dist, threads
    )
    timeline.mark("model")
    if rec.status.kind == KIND_LRFIND:  # an LR range test: its own loop, no checkpoint, no results row
        from engine.train import lrfind

        state, reason, fields = lrfind.run_in_worker(store, run_id, rec, trainer)
        codes = {RunState.DONE: EXIT_DONE, RunState.FAILED: EXIT_FAILED}
        code = codes.get(state, EXIT_TERMINATED if reason.startswith("signal") else EXIT_DONE)
        return end(rec, state, code, reason=reason, **fields)
    rec.max_iters, rec.tokens_per_iter = cfg.max_iters, trainer.tokens_per_iter
    resumed = restore_checkpoint(trainer, store.ckpt_dir(run_id), rec)
    if dist.is_main and resumed:
        log(
            f"resumed from step {trainer.step}: metrics.toml: "
            f"{keep_records_through(store.metrics_path(run_id), trainer.step)}"
        )
    elif dist.is_main and store.metrics_path(run_id).exists():
        log(f"starting from step 0: metrics.toml: {keep_records_through(store.metrics_path(run_id), -1)}")
    rec.open_metrics()
    from engine.core.estimate import param_count

    rec.write_status(
        device=trainer.device_label,
        dtype=trainer.dtype,
        params=param_count(cfg, prepared.vocab_size),
        vocab_size=prepared.vocab_size,
        dataset_dir=prepared.dir.name,  # the folder under datasets/ it trains on: not deleted under it
        step=trainer.step,
        max_iters=cfg.max_iters,
    )
    timeline.mark("restore" if resumed else "records")
    if os.environ.get(faults.FAULT_ENV):
        original = trainer.events.should_stop

        def should_stop_with_fault() -> str | None:
            faults.inject_fault(trainer.step, cfg)
            return original()

        trainer.events.should_stop = should_stop_with_fault
    try:
        trainer.train(resumed=resumed)
    except StopRequested as s:
        if pruner is not None and s.reason == pruner.reason:
            return end(rec, RunState.PRUNED, EXIT_DONE, reason=s.reason, **latest(trainer), step=s.step)
        code = EXIT_TERMINATED if s.reason.startswith("signal") else EXIT_DONE
        return end(rec, RunState.STOPPED, code, reason=s.reason, **latest(trainer), step=s.step)
    except Diverged as d:
        return end(rec, RunState.DIVERGED, EXIT_DIVERGED, reason=str(d), **latest(trainer), step=d.step)
    if not dist.is_main:
        return EXIT_DONE
    rec.check_run_dir()
    row = result_row(store, run_id, cfg, trainer, rec.status, rec.train_seconds())
    if not any(r.run == run_id for r in st.read_results(store)):  # a kill after it, before `done`
        st.append_result(store, row, make_store=False)
    final = {
        **latest(trainer),
        "step": trainer.step,
        "tokens_per_s": row.tokens_per_s,
        "final_val_loss": row.final_val_loss,
        "final_val_ppl": row.final_val_ppl,
    }
    return end(rec, RunState.DONE, EXIT_DONE, **final)


def tuned_threads(cfg: cfgmod.RunConfig, dist: Any) -> int:
    """Torch threads for this run (engine.train.host), said in worker.log; 0: torch's own count (a
    config that names its threads, a GPU run, or a DDP job, whose processes share the cores)."""
    from engine.train.host import PROCESS
    from engine.train.loop_events import pick_device

    on_cpu = not cfg.threads and not dist.enabled and pick_device(cfg).type == "cpu"
    threads, note = PROCESS.threads(on_cpu)
    if dist.is_main:
        threads_said = f"threads = {cfg.threads}, the config's" if cfg.threads else "torch's own thread count"
        log(f"host: {note}" + ("" if on_cpu else f"; {threads_said}"))
    return threads


def main(argv: list[str] | None = None, timeline: Timeline | None = None) -> int:
    """`timeline`: the start-up so far, from a standby worker handed the run; a worker started for
    the run counts from its process start, its imports the first phase."""
    p = argparse.ArgumentParser(prog="python -m engine.worker", description=__doc__)
    p.add_argument("run_dir", type=Path, help="the run's directory in the store")
    p.add_argument("--store", type=Path, help="the store root (default: the run directory's parent)")
    args = p.parse_args(argv)
    run_dir = Path(os.path.abspath(args.run_dir))  # not resolved: a link is refused, not followed
    store_root = Path(os.path.abspath(args.store)) if args.store is not None else run_dir.parent
    st.never_world_writable()
    problem = refused(run_dir, store_root)
    if problem:
        print(f"error: {problem}; nothing was written", file=sys.stderr)
        return EXIT_REFUSED
    try:
        startup.stop_start_up_on_signals()  # run_attempt takes them over once it can checkpoint
        if timeline is None:  # imported only now: a refused or mistyped command does not wait for torch
            timeline = Timeline.from_process_start()
            startup.preload()
            startup.raise_if_stopped()
            timeline.mark("imports")
        return run(run_dir, store_root, timeline)
    except BaseException:  # StartUpStopped, or what an import it interrupted made of it
        reason = startup.stop_reason()
        if reason is None:
            raise
        stopped_while_starting(store_root, run_dir, reason)
        return EXIT_TERMINATED


if __name__ == "__main__":
    sys.exit(main())
