"""A dataset preparation as an engine job: a run of kind "prepare" tokenizes its config's dataset into
the store's datasets/, its progress in status.toml; no model, no checkpoint, no results row."""

from __future__ import annotations

import time
from typing import Any

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store.schema import RunState
from engine.train.recorder import STATUS_EVERY_S, RunRecorder, log


class StopPreparing(BaseException):
    """Raised from the progress callback: preparation stops after the unit of text it has just
    written, and the next attempt goes on from the last complete shard. A BaseException, as
    KeyboardInterrupt is: prepare() deletes its partial folder on an Exception (an error that would
    only happen again), and a stop is no error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def progress_fields(p: Any) -> dict[str, Any]:
    """status.toml's progress fields from a PrepareProgress: bytes, tokens, rates and time left."""
    seconds = max(float(p.seconds), 1e-9)
    done, total = int(p.source_bytes_done), p.source_bytes_total
    fields: dict[str, Any] = {
        "prepare_bytes_done": done,
        "prepare_tokens": int(p.tokens),
        "prepare_documents": int(p.documents),
        "prepare_rate_mb_s": done / seconds / 1e6,
        "prepare_tokens_per_s": p.tokens / seconds,
    }
    if total:
        fields["prepare_bytes_total"] = int(total)
        if done > 0:
            fields["prepare_eta_s"] = max(0.0, (total - done) * seconds / done)
    return fields


class ProgressWriter:
    """The `on_progress` callback: status.toml at most once a second, and a stop request (control.toml
    or a signal) turned into StopPreparing."""

    def __init__(self, rec: RunRecorder) -> None:
        self.rec = rec
        self.fields: dict[str, Any] = {}
        self._written_at = 0.0

    def __call__(self, progress: Any) -> None:
        self.fields = progress_fields(progress)
        now = time.monotonic()
        if now - self._written_at >= STATUS_EVERY_S:
            self._written_at = now
            self.rec.write_status(durable=False, **self.fields)
        reason = self.rec.should_stop()
        if reason:
            raise StopPreparing(reason)


def run_in_worker(store: st.Store, run_id: str, cfg: cfgmod.RunConfig, rec: RunRecorder) -> tuple[RunState, str, dict]:
    """Prepare `cfg`'s dataset and tokenizer; the state it ended in, why, and the status fields to write."""
    from engine.data import prepare as data  # numpy and the tokenizer

    log(f"preparing {cfg.dataset} with tokenizer {cfg.tokenizer} into {store.datasets_dir}")
    writer = ProgressWriter(rec)
    try:
        prepared = data.prepare(
            cfg.dataset, cfg.tokenizer, store.datasets_dir, on_progress=writer, text_field=cfg.text_field
        )
    except StopPreparing as s:
        log(f"preparation stopped ({s.reason}); the shards written are kept and a resume continues from them")
        fields = {k: v for k, v in writer.fields.items() if k != "prepare_eta_s"}
        return RunState.STOPPED, s.reason, fields
    rec.check_run_dir()
    meta = prepared.meta
    fields = {**writer.fields, "prepare_tokens": int(meta["tokens"]), "dataset_dir": prepared.dir.name}
    fields.pop("prepare_eta_s", None)
    log(f"prepared {prepared.dir.name}: {meta['train_tokens']:,} train and {meta['val_tokens']:,} val tokens")
    return RunState.DONE, "", fields
