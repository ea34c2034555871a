"""The engine's side of sweeps, run every few seconds by the daemon: finish creating trials a crash
interrupted, top TPE sweeps up to `parallel` trials in flight, keep the budgets, mark sweeps done.
Optuna is imported only when a TPE sweep needs a proposal."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.core.errors import GptTuiError
from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import plan as sp

# oom: the engine queues it again at a smaller batch
IN_FLIGHT = frozenset({st.RunState.QUEUED, st.RunState.RUNNING, st.RunState.OOM})
_finished: dict[str, int] = {}  # sweep file -> its mtime when found finished (or broken): not read again


def drive(store: st.Store, log: Callable[[str], None] = print) -> list[str]:
    """One pass over every unfinished sweep; returns the ids of the runs it created.

    A sweep whose lock another process holds (the CLI creating it, another engine) is left for
    the next pass."""
    created: list[str] = []
    for sweep_id in sf.ids(store):
        path = sf.sweep_path(store, sweep_id)
        if _finished.get(str(path)) == _mtime(path):
            continue
        try:
            with sf.locked(store, sweep_id, wait=False) as held:
                if held:
                    created.extend(_drive_held(store, sweep_id, path, log))
        except OSError as e:  # the store's disk or permissions: tried again on the next pass
            log(f"sweep {sweep_id}: {type(e).__name__}: {e}; trying again on the next pass")
        except Exception as e:  # a bug, shown as one; the other sweeps are still served
            log(f"sweep {sweep_id}: skipped until its file changes, after a bug: {type(e).__name__}: {e}")
            _finished[str(path)] = _mtime(path)
    return created


def _drive_held(store: st.Store, sweep_id: str, path: os.PathLike[str], log: Callable[[str], None]) -> list[str]:
    """One sweep's pass, its lock held. A broken sweep file is logged and left until it changes."""
    try:
        record = sf.load(store, sweep_id)
    except GptTuiError as e:  # StoreError, SchemaError: a broken file never stops the engine
        log(f"sweep {sweep_id}: broken, skipped until its file changes: {str(e).splitlines()[0]}")
        _finished[str(path)] = _mtime(path)
        return []
    stopped = record.stopped
    try:
        new = [] if record.finished else drive_one(store, record)
    except GptTuiError as e:  # e.g. a base that no longer validates on this engine
        log(f"sweep {sweep_id}: skipped until its file changes: {str(e).splitlines()[0]}")
        _finished[str(path)] = _mtime(path)
        return []
    for run_id in new:
        log(f"sweep {sweep_id}: queued trial {run_id}")
    if record.stopped != stopped:
        log(f"sweep {sweep_id}: no more trials: {record.stopped}")
    if record.finished:
        _finished[str(path)] = _mtime(path)
    return new


def _mtime(path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return -1


def drive_one(store: st.Store, record: sf.SweepRecord) -> list[str]:
    """Everything one sweep needs now; the caller holds its lock."""
    spec = record.spec
    created = sf.materialise(store, record)
    statuses = sf.trial_statuses(store, record)
    if not record.stopped and spec.max_total_seconds and spent_seconds(statuses) >= spec.max_total_seconds:
        record.stopped = f"time budget of {spec.max_total_seconds:g}s spent"
        cancel_queued(store, record, statuses)
        statuses = sf.trial_statuses(store, record)
        sf.save(store, record)
    if spec.method == "tpe" and not record.stopped:
        created += top_up(store, record, statuses)
        statuses = sf.trial_statuses(store, record)
    if all_created(record) and all(sf.settled(s) for s in statuses.values()):
        record.finished = st.now_iso()
        sf.save(store, record)
    return created


def all_created(record: sf.SweepRecord) -> bool:
    if any(not r.get("run") for r in record.runs):
        return False
    if record.spec.method != "tpe" or record.stopped:
        return True
    return record.next_number() > (record.spec.trial_cap or 0)


def top_up(store: st.Store, record: sf.SweepRecord, statuses: dict[int, sf.TrialStatus]) -> list[str]:
    """Propose and queue TPE trials until `parallel` are in flight, the trial budget is used, or
    every point of a discrete space has been tried (the sweep then stops, saying so).

    Each proposal is written to the sweep file (number + params) before its run exists, so a
    restart completes it rather than drawing again."""
    from engine.sweeps import tpe

    spec = record.spec
    cap = spec.trial_cap or 0
    base = spec.base_config()
    created: list[str] = []
    in_flight = sum(1 for s in statuses.values() if _state(s) in IN_FLIGHT)
    while in_flight < spec.parallel and record.next_number() <= cap:
        number = record.next_number()
        params = tpe.propose(spec, outcomes(record, statuses), number)
        if params is None:
            record.stopped = f"every one of the space's {sp.grid_size(spec.params)} points has been tried"
            sf.save(store, record)
            break
        trial = sp.check_trial(spec, base, number, params)
        if trial.config is None:
            record.skipped.append({"number": number, "params": params, "reason": trial.reason})
            sf.save(store, record)
            continue
        entry = {"number": number, "run": "", "params": params}
        record.runs.append(entry)
        sf.save(store, record)
        entry["run"] = sf.submit_trial(store, spec.id, number, trial.config)
        sf.save(store, record)
        statuses[number] = st.Status(st.RunState.QUEUED)
        created.append(entry["run"])
        in_flight += 1
    return created


def outcomes(record: sf.SweepRecord, statuses: dict[int, sf.TrialStatus]) -> list[Any]:
    """Every trial of the sweep as the study should see it; skipped proposals count as failed."""
    from engine.sweeps.tpe import Outcome

    out = []
    for entry in record.runs:
        status = statuses.get(entry["number"], st.Status(st.RunState.QUEUED))
        state = _state(status)
        if isinstance(status, st.Status) and state == st.RunState.DONE:
            out.append(Outcome(entry["params"], state, status.final_val_loss))
        elif isinstance(status, st.Status) and state == st.RunState.PRUNED:
            out.append(Outcome(entry["params"], state, status.val_loss, status.step))
        elif state in IN_FLIGHT:
            out.append(Outcome(entry["params"], st.RunState.RUNNING))
        else:
            out.append(Outcome(entry["params"], st.RunState.FAILED))
    out.extend(Outcome(s["params"], st.RunState.FAILED) for s in record.skipped if s.get("number"))
    return out


def _state(status: sf.TrialStatus) -> st.RunState | None:
    return status.state if isinstance(status, st.Status) else None


def spent_seconds(statuses: dict[int, sf.TrialStatus]) -> float:
    """Training time the sweep's trials have used: ended attempts, plus the running one so far."""
    total = 0.0
    for s in statuses.values():
        if not isinstance(s, st.Status):
            continue
        total += s.train_seconds
        if s.state == st.RunState.RUNNING:
            total += max(0.0, time.time() - _timestamp(s.claimed))
    return total


def _timestamp(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def cancel_queued(store: st.Store, record: sf.SweepRecord, statuses: dict[int, sf.TrialStatus]) -> None:
    """Take the sweep's waiting trials out of the queue; running ones finish."""
    waiting = {
        r["run"] for r in record.runs if _state(statuses.get(r["number"], st.StoreError(""))) == st.RunState.QUEUED
    }
    for entry in store.list_queue():
        if entry.run_id in waiting and store.cancel(entry):
            store.update_status(
                entry.run_id,
                state=st.RunState.STOPPED,
                finished=st.now_iso(),
                reason=f"not started: the sweep's {record.stopped}",
            )
