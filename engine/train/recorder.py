"""What a worker writes into its run's directory: the metrics log, the status (compare-and-set on
its attempt) and the stop requests it reads, plus the resume trim of the metrics log."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store.files import identity
from engine.store.records import LrRecord
from engine.store.schema import RunState

ATTEMPT_ENV = "GPT_TUI_ATTEMPT"
STATUS_EVERY_S = 1.0
CONTROL_EVERY_S = 0.5


def log(message: str) -> None:
    try:
        print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)
    except OSError:
        pass  # worker.log is on a full disk: the status file still says how the run ended


# What the engine owns in status.toml: a worker never writes these, so that an engine that adopts
# it (its own engine died) stays named, whatever the worker writes after.
ENGINE_FIELDS = frozenset({"engine", "claimed", "executor", "gpu_ids", "priority", "attempt_id"})


class Superseded(Exception):
    """The run was queued again while this worker lived: a newer attempt owns it, this one
    writes nothing more (no status, no record, no checkpoint) and exits."""


class RunGone(Superseded):
    """The run's folder is gone (deleted, or the store with it, or replaced by another): this
    worker writes nothing more, so that it never makes a run folder or a store again, and exits."""


class RunRecorder:
    """Writes a run's records and state into its directory, rate-limiting the status file.

    With writes=False (the other processes of a DDP job) it is a silent twin: it reads, never writes."""

    def __init__(self, store: st.Store, run_id: str, writes: bool = True) -> None:
        self.store, self.run_id, self.writes = store, run_id, writes
        self.run_dir = store.run_dir(run_id)
        self.run_dir_id = identity(self.run_dir)
        self.metrics: st.AppendLog | None = None  # opened once resume has trimmed the log
        self.control_path = store.control_path(run_id)
        self.status: st.Status = store.status(run_id)
        self._status_at = 0.0
        self._control_at = 0.0
        self._control_mtime: float | None = None
        self.signal_reason: str | None = None
        self.max_iters = self.tokens_per_iter = 0  # set once the trainer exists
        self.attempt_started = time.time()
        self.seconds_before = self.status.train_seconds
        # The attempt the engine started this worker for; None for a foreground `gpt-tui train`.
        self.attempt_id = os.environ.get(ATTEMPT_ENV) or None

    def train_seconds(self) -> float:
        """Time spent in attempts that ended in order (a killed attempt's time is not known)."""
        return self.seconds_before + time.time() - self.attempt_started

    def write_status(self, durable: bool = True, **changes: Any) -> None:
        """Apply `changes` to status.toml if the run is still this worker's attempt (compare and
        set under the status lock, keeping what others wrote meanwhile); else raise Superseded."""
        changes = {k: v for k, v in changes.items() if v is not None and k not in ENGINE_FIELDS}
        changes["updated"] = st.now_iso()
        changes["cpu_seconds"] = round(time.process_time(), 3)  # this process, every thread
        self._status_at = time.monotonic()
        if not self.writes:
            self.status = self.status.changed(**changes)
            return
        self.check_run_dir()
        try:
            status = self.store.update_status_if(self.run_id, self.owns, durable, **changes)
        except st.StoreError as e:  # status.toml damaged by a hand: this worker's own copy repairs it
            log(f"status.toml could not be read ({e}); rewriting it from this worker's copy")
            self.status = self.status.changed(**changes)
            self.store.write_status(self.run_id, self.status, durable)
            return
        if status is None:
            self._stop_writing()
            raise Superseded(
                f"run {self.run_id} was queued again while this worker (attempt {self.attempt_id}) "
                "was alive; the newer attempt owns it, so this one exits without writing"
            )
        self.status = status

    def check_run_dir(self) -> None:
        """Raise RunGone when the run folder is no longer the one this worker started in."""
        if identity(self.run_dir) == self.run_dir_id:
            return
        self._stop_writing()
        raise RunGone(
            f"run {self.run_id}: its folder {self.run_dir} is gone (deleted, or the store with it); "
            "this worker exits without writing anything"
        )

    def _stop_writing(self) -> None:
        self.writes = False
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None

    def owns(self, status: st.Status) -> bool:
        return self.attempt_id is None or status.attempt_id == self.attempt_id

    def open_metrics(self) -> None:
        if self.writes:
            self.metrics = st.AppendLog(self.store.metrics_path(self.run_id))

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()

    def on_train(self, record: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.append("train", _typed(st.TrainRecord, record))

    def on_eval(self, record: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.check_run_dir()  # the trainer saves a checkpoint next: never into a folder made anew
            self.metrics.append("eval", _typed(st.EvalRecord, record))

    def on_lr(self, record: dict[str, Any]) -> None:
        """One step of an LR range test; no checkpoint follows, so the folder is not checked here."""
        if self.metrics is not None:
            self.metrics.append("lr", _typed(LrRecord, record))

    def on_progress(self, last: dict[str, Any]) -> None:
        if time.monotonic() - self._status_at < STATUS_EVERY_S:
            return
        step, rate = last.get("step"), last.get("tokens_per_s")
        eta = None
        if step is not None and rate and self.tokens_per_iter:
            eta = (self.max_iters - step) * self.tokens_per_iter / rate
        self.write_status(durable=False, eta_s=eta, **{k: v for k, v in last.items() if _finite(v)})

    def should_stop(self) -> str | None:
        if self.signal_reason and self.writes:
            self.check_run_dir()  # before a stop by a signal, whose checkpoint would make the folder again
        if self.signal_reason or not self.writes:  # the main process alone reads requests
            return self.signal_reason
        now = time.monotonic()
        if now - self._control_at < CONTROL_EVERY_S:  # a stat or two a second, not one a step
            return None
        self._control_at = now
        self.check_run_dir()
        try:
            mtime = self.control_path.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime == self._control_mtime:
            return None
        self._control_mtime = mtime
        try:
            request = st.read_toml(self.control_path).get("request")
        except st.StoreError as e:
            log(f"ignoring unreadable control file: {e}")
            return None
        return "stop requested" if request == "stop" else None


def _finite(v: Any) -> bool:
    return not (isinstance(v, float) and not math.isfinite(v))


def _typed(kind: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The record as its typed schema writes it; a value the schema refuses (a run gone strange)
    is logged as the trainer gave it rather than ending the run: readers skip what does not fit."""
    try:
        return kind.from_toml(record, "the trainer's record").to_toml()
    except st.StoreError:
        return record


def keep_records_through(path: Path, step: int) -> str:
    """Rewrite the metrics log without records past `step`, so that a resumed run logs each step
    once; returns what was taken out, for worker.log. Whatever is taken out but will not be
    logged again (chunks that do not parse, a torn tail, records with no whole-number step) is
    kept in metrics.toml.rejected: a record is never dropped without a trace."""
    if not path.exists():
        return "no records yet"
    read = st.read_log(path)  # raw: a rewrite keeps each record as read, fields this version lacks too
    kept, past, stepless = [], 0, []
    for table, record in read.records:
        if type(record.get("step")) is not int:
            stepless.append((table, record))
        elif record["step"] <= step:
            kept.append((table, record))
        else:
            past += 1
    rejected = [*read.rejected, *(st.format_record(t, r) for t, r in stepless)]
    if read.torn_bytes:
        rejected.append(read.torn.decode("utf-8", "replace"))
    if kept != read.records or rejected or path.stat().st_size != len(_serialise(read.records)):
        for text in rejected:
            st.keep_rejected(path, text.encode("utf-8", "replace"))
        st.write_atomic(path, _serialise(kept))
    said = [f"{len(kept)} records kept through step {step}", f"{past} past it dropped (trained again)"]
    if rejected:
        said.append(
            f"{read.skipped} unreadable chunk(s), {len(stepless)} record(s) without a step and "
            f"{read.torn_bytes} torn byte(s) moved to {st.rejected_path(path).name}"
        )
    return ", ".join(said)


def _serialise(records: list[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(st.format_record(t, r) for t, r in records).encode()


def disk_full_reason(e: OSError, run_dir: Path) -> str:
    """One line for status.toml: which file could not be written, and what to do."""
    where = str(e.filename or "a file of the run")
    if where.startswith(f"{run_dir}{os.sep}"):
        where = where[len(str(run_dir)) + 1 :]
    return (
        f"disk full or file size limit reached while writing {where} ({e.strerror}); free some space "
        f"(or raise the limit), then `gpt-tui resume {run_dir.name}`"
    )


def latest(trainer: Any) -> dict[str, Any]:
    """The trainer's latest readings that status.toml can hold (TOML has no NaN-free guarantee)."""
    return {k: v for k, v in trainer.last.items() if _finite(v) and k != "step"}


def result_row(
    store: st.Store, run_id: str, cfg: cfgmod.RunConfig, trainer: Any, status: st.Status, duration: float
) -> st.ResultRow:
    """The run's row of the trial table (results.toml)."""
    metrics = st.metrics_records(st.read_log(store.metrics_path(run_id)).records)
    rates = sorted(r.tokens_per_s for r in metrics if isinstance(r, st.TrainRecord) and r.tokens_per_s)
    return st.ResultRow(
        run=run_id,
        name=status.name,
        sweep=status.sweep,
        state=RunState.DONE,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_embd=cfg.n_embd,
        block_size=cfg.block_size,
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        batch=cfg.batch_label,
        params=status.params,
        steps=trainer.step,
        tokens=trainer.tokens(),  # a fork counts on from its parent's tokens
        best_val_loss=trainer.best_val_loss,
        final_val_loss=trainer.last.get("val_loss", math.nan),
        final_val_ppl=trainer.last.get("val_ppl", math.nan),
        tokens_per_s=rates[len(rates) // 2] if rates else 0.0,
        duration_s=duration,
        finished=st.now_iso(),
        device=trainer.device_label,
        note=status.note,
    )
