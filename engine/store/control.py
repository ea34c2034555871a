"""What a person asks of runs — submit, stop, resume, cancel, retry, delete, priority, note —
done through the store alone, so the CLI and the TUI share it. Light: no torch."""

from __future__ import annotations

import os
import shutil
from typing import Any

from engine.core import config as cfgmod
from engine.core.errors import GptTuiError
from engine.store import runs as st
from engine.store.schema import KIND_LRFIND, KIND_PREPARE


class ControlError(GptTuiError):
    """A request that cannot be carried out; the message says why and what to do instead."""


def submit(store: st.Store, cfg: cfgmod.RunConfig, name: str | None = None, priority: int = 0, **meta: Any) -> str:
    """A new run, queued: its directory (config + status) and its ticket."""
    attempt_id = st.new_attempt_id()
    meta = {k: v for k, v in meta.items() if v}
    run_id = store.create_run(cfgmod.to_toml(cfg), name, {**meta, "attempt_id": attempt_id})
    store.enqueue(run_id, {"config": cfg.to_dict(), "reason": "new", "attempt_id": attempt_id}, priority)
    return run_id


def ticket_of(store: st.Store, run_id: str) -> st.QueueEntry | None:
    return next((e for e in store.list_queue() if e.run_id == run_id), None)


def status_of(store: st.Store, run_id: str) -> st.Status:
    if not store.run_dir(run_id).is_dir():
        raise ControlError(f"no run {run_id!r} in {store.root}; `gpt-tui ls` lists the runs")
    try:
        return store.status(run_id)
    except st.StoreError as e:
        raise ControlError(f"run {run_id}: {e}") from None


def stop(store: st.Store, run_id: str) -> str:
    """A running run checkpoints and ends `stopped`; a queued one is cancelled."""
    state = status_of(store, run_id).state
    if state == st.RunState.QUEUED:
        return cancel(store, run_id)
    if state != st.RunState.RUNNING:
        raise ControlError(f"run {run_id} is {state}, not running; nothing to stop")
    st.write_toml(store.control_path(run_id), {"request": "stop", "requested": st.now_iso()})
    return "stop requested: the worker saves a checkpoint and ends the run as stopped"


def cancel(store: st.Store, run_id: str) -> str:
    status = status_of(store, run_id)
    entry = ticket_of(store, run_id)
    if status.state != st.RunState.QUEUED or entry is None or not store.cancel(entry):
        raise ControlError(
            f"run {run_id} is {status.state}, not waiting in the queue; use `gpt-tui stop` for a running run"
        )
    store.update_status_if(
        run_id,
        lambda s: s.state == st.RunState.QUEUED,
        state=st.RunState.STOPPED,
        reason="cancelled before it started",
        finished=st.now_iso(),
    )
    return "cancelled"


def resume(store: st.Store, run_id: str, priority: int = 0) -> str:
    """Queue an ended run again; the worker continues from its last checkpoint."""
    state = status_of(store, run_id).state
    if state not in st.RESUMABLE:
        hint = "`gpt-tui retry` starts a fresh copy" if state == st.RunState.DONE else "it is already on its way"
        raise ControlError(
            f"run {run_id} is {state}; only a stopped, failed, diverged, oom or pruned run can be resumed ({hint})"
        )
    store.control_path(run_id).unlink(missing_ok=True)
    # Compare and set: a run that changed state since it was read (resumed twice at once) is
    # queued once; the new attempt id makes the ended worker's exit settle nothing.
    if (
        store.queue_again(
            run_id,
            {"reason": "resume"},
            priority,
            lambda s: s.state == state,
            reason=f"resumed after {state}",
            attempts=0,
            pid=0,
        )
        is None
    ):
        raise ControlError(f"run {run_id} changed state while it was being resumed; `gpt-tui show` says what it is now")
    kind = status_of(store, run_id).kind
    if kind == KIND_PREPARE:
        return "queued: the preparation goes on from its last complete shard"
    if kind == KIND_LRFIND:
        return "queued: the LR range test starts over (it keeps no checkpoint)"
    ckpt = store.ckpt_dir(run_id)
    if any((ckpt / name).exists() for name in ("last.pt", "best.pt", "fork.pt")):
        return "queued to resume from its last checkpoint"
    return "queued (no checkpoint yet: starts over)"


def retry(store: st.Store, run_id: str, priority: int = 0) -> str:
    """A new run with the same config."""
    status = status_of(store, run_id)
    cfg = cfgmod.load(store.config_path(run_id))
    name = status.name or run_id
    # An LR range test is retried as one, over the same range; a fork's copy starts from scratch.
    test = {"kind": status.kind, "lrfind_min": status.lrfind_min, "lrfind_max": status.lrfind_max}
    test["lrfind_steps"] = status.lrfind_steps
    return submit(store, cfg, f"{name}-retry", priority, source=f"retry of {run_id}", sweep=status.sweep, **test)


def delete(store: st.Store, run_id: str) -> str:
    run_dir = store.run_dir(run_id)
    if run_dir.is_symlink():  # a run folder linked out of the store: the link goes, its target stays
        entry = ticket_of(store, run_id)
        if entry is not None:
            store.cancel(entry)
        os.unlink(run_dir)
        return "deleted the link; its target was left alone"
    if status_of(store, run_id).state == st.RunState.RUNNING:
        raise ControlError(f"run {run_id} is running; stop it first (`gpt-tui stop {run_id}`)")
    entry = ticket_of(store, run_id)
    if entry is not None:
        store.cancel(entry)
    # One rename takes it out of every listing at once; the files go after.
    trash = store.root / f".trash-{run_id}-{os.getpid()}"
    os.rename(run_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return "deleted"


def set_priority(store: st.Store, run_id: str, priority: int) -> str:
    entry = ticket_of(store, run_id)
    if entry is None:
        raise ControlError(f"run {run_id} is not waiting in the queue; priority applies to queued runs")
    if store.set_priority(entry, priority) is None:
        raise ControlError(f"run {run_id} was claimed by an engine a moment ago; it is starting")
    return f"priority {priority}"


def note_path(store: st.Store, run_id: str):
    return store.run_dir(run_id) / "note.toml"


def set_note(store: st.Store, run_id: str, text: str) -> str:
    """Notes live in their own file: the worker owns status.toml and rewrites it whole."""
    status_of(store, run_id)
    if any(ord(c) < 32 and c not in "\t" for c in text):
        raise ControlError("a note is one line of text; remove the newlines or control characters")
    st.write_toml(note_path(store, run_id), {"note": text, "written": st.now_iso()})
    return "noted"


def read_note(store: st.Store, run_id: str) -> str:
    try:
        return str(st.read_toml(note_path(store, run_id)).get("note", ""))
    except st.StoreError:
        return ""
