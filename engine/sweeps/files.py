"""A sweep in the run store: sweeps/<id>.toml holds its spec and a record of each trial as it is
created, and creating a sweep queues its trials. Light: the CLI, the TUI and the engine share it.

Only one process changes a sweep file at a time: whoever holds sweeps/.<id>.lock (an flock the
kernel drops when the holder dies). Each change rewrites the file atomically. A trial is written
down (number and params) before its run is created and gets its run id right after, so a crash in
between leaves a pending record that the next holder completes, never a second draw.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from engine.core import config as cfgmod
from engine.core.config import ConfigError
from engine.store import control
from engine.store import runs as st
from engine.store.fieldcheck import Checks, SchemaError, _table_list, _text, schema_error, shown, typed_fields
from engine.store.ids import is_valid_run_id
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw


@dataclass
class SweepRecord:
    spec: sw.SweepSpec
    created: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # number, run ("" while pending), params
    skipped: list[dict[str, Any]] = field(default_factory=list)  # number (0: never numbered), params, reason
    finished: str = ""
    stopped: str = ""  # why no more trials are created before the plan's end (a budget)

    def run_ids(self) -> list[str]:
        return [r["run"] for r in self.runs if r.get("run")]

    def next_number(self) -> int:
        return max([0, *(r["number"] for r in self.runs + self.skipped)]) + 1

    def to_mapping(self) -> dict[str, Any]:
        out = sw.to_mapping(self.spec)
        out.update(created=self.created, finished=self.finished, stopped=self.stopped)
        out["run"] = self.runs
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def trial_name(sweep_id: str, number: int) -> str:
    return f"{sweep_id}-t{number:03d}"


def sweep_path(store: st.Store, sweep_id: str) -> os.PathLike[str]:
    if not sw.is_sweep_id(sweep_id):
        raise st.StoreError(f"sweep id {sweep_id!r} is not a sweep id; `gpt-tui sweep ls` lists them")
    return store.sweeps_dir / f"{sweep_id}.toml"


def ids(store: st.Store) -> list[str]:
    try:
        names = os.listdir(store.sweeps_dir)
    except FileNotFoundError:
        return []
    return sorted(n[:-5] for n in names if n.endswith(".toml") and sw.is_sweep_id(n[:-5]))


def load(store: st.Store, sweep_id: str) -> SweepRecord:
    """The sweep's record, every field checked: a sweep file is untrusted input. StoreError when it
    is missing or unreadable, SchemaError (a StoreError) naming the file and the field that does not fit."""
    path = sweep_path(store, sweep_id)
    if not os.path.exists(path):
        raise st.StoreError(f"no sweep {sweep_id!r} in {store.root}; `gpt-tui sweep ls` lists them")
    data = st.read_toml(path)
    source = str(path)
    known, _ = typed_fields(data, _RECORD_FIELDS, source, FIX)
    try:
        spec = sw.from_mapping(data, source=source, default_id=sweep_id)
        spec.base_config()  # a preset that is gone, a base no run could train
    except ConfigError as e:
        p = e.problems[0]
        more = f" (and {len(e.problems) - 1} more problem(s))" if len(e.problems) > 1 else ""
        raise SchemaError(f"{source}: {p.field}: {p.message}{more}; {FIX}") from None
    if spec.id != sweep_id:
        raise schema_error(source, "id", spec.id, f"the file's own name {sweep_id!r}", FIX)
    runs = [_trial_entry(source, "run", i, e) for i, e in enumerate(known.get("run", []), 1)]
    skipped = [_trial_entry(source, "skipped", i, e) for i, e in enumerate(known.get("skipped", []), 1)]
    _unique(source, "number", [e["number"] for e in runs + skipped if e["number"]])
    _unique(source, "run", [e["run"] for e in runs if e["run"]])
    return SweepRecord(
        spec, known.get("created", ""), runs, skipped, known.get("finished", ""), known.get("stopped", "")
    )


FIX = "fix it by hand or delete it (its trials' runs stay in the store)"
_RECORD_FIELDS: Checks = {
    "created": (_text, "text (when the sweep was created)"),
    "finished": (_text, "text (when it finished, or empty)"),
    "stopped": (_text, "text (why it stopped early, or empty)"),
    "run": (_table_list, "a list of trial tables ({ number, run, params })"),
    "skipped": (_table_list, "a list of skipped-trial tables ({ number, params, reason })"),
}


def _trial_entry(source: str, table: str, index: int, entry: dict[str, Any]) -> dict[str, Any]:
    """One [[run]] or [[skipped]] table, typed: a whole trial number, a run id or "", known
    hyperparameters (of their type, for a trial that runs), a reason; anything else raises SchemaError."""
    where = f"{table}[{index}]"
    low = 1 if table == "run" else 0  # a skipped combination of a planned sweep was never numbered
    number = entry.get("number")
    if type(number) is not int or not low <= number <= sw.MAX_TRIALS:
        raise schema_error(source, f"{where}.number", number, f"a whole number from {low} to {sw.MAX_TRIALS:,}", FIX)
    params = entry.get("params")
    if not isinstance(params, dict):
        raise schema_error(source, f"{where}.params", params, "a table of hyperparameters", FIX)
    for name, value in params.items():
        if name not in cfgmod.FIELDS:
            raise schema_error(source, f"{where}.params", name, "a hyperparameter (`gpt-tui fields`)", FIX)
        if table != "run":
            continue  # a skipped combination may be skipped for its value's type: kept as it was given
        try:
            cfgmod.check_type(name, value)
        except ValueError as e:
            raise SchemaError(f"{source}: {where}.params.{name} {e}; {FIX}") from None
    typed: dict[str, Any] = {**entry, "number": number, "params": dict(params)}
    key = "run" if table == "run" else "reason"
    text = entry.get(key, "")
    if not isinstance(text, str) or (key == "run" and text and not is_valid_run_id(text)):
        expected = "a run id, or empty while the trial is created" if key == "run" else "text"
        raise schema_error(source, f"{where}.{key}", text, expected, FIX)
    typed[key] = text
    return typed


def _unique(source: str, key: str, values: list[Any]) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise SchemaError(f"{source}: two trials have {key} = {shown(value)}; {FIX}")
        seen.add(value)


def save(store: st.Store, record: SweepRecord) -> None:
    st.write_toml(sweep_path(store, record.spec.id), record.to_mapping())


@contextmanager
def locked(store: st.Store, sweep_id: str, wait: bool = True) -> Iterator[bool]:
    """Hold the sweep's lock; yields False at once when `wait` is off and another process has it."""
    store.ensure()
    fd = os.open(store.sweeps_dir / f".{sweep_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def new_id(store: st.Store, name: str) -> str:
    """A free sweep id from a name: `lr-batch`, else `lr-batch-2`, `lr-batch-3`, ..."""
    base = sw.slug(name) or "sweep"
    taken = set(ids(store))
    if base not in taken:
        return base
    for n in range(2, 10_000):
        candidate = f"{base[: sw.MAX_SWEEP_ID - len(str(n)) - 1].rstrip('-')}-{n}"
        if candidate not in taken:
            return candidate
    raise st.StoreError(f"no free sweep id for {name!r}; pick another --name")


def create(store: st.Store, plan: sp.Plan, priority: int = 0) -> SweepRecord:
    """Write the sweep file and queue its trials (grid, random, list; TPE's come from the engine).

    This is what `gpt-tui sweep` and the TUI's sweep screen both call."""
    spec = plan.spec
    if type(priority) is not int or not -99 <= priority <= 99:  # before anything is written
        raise st.StoreError(f"queue priority {priority!r} must be a whole number from -99 to 99")
    with locked(store, spec.id):
        if os.path.exists(sweep_path(store, spec.id)):
            raise st.StoreError(f"a sweep {spec.id!r} exists already; pick another --name")
        record = SweepRecord(
            spec,
            st.now_iso(),
            runs=[{"number": t.number, "run": "", "params": t.params} for t in plan.trials],
            skipped=[{"number": 0, "params": t.params, "reason": t.reason} for t in plan.skipped],
        )
        save(store, record)
        materialise(store, record, priority, after_crash=False)
    return record


def materialise(store: st.Store, record: SweepRecord, priority: int = 0, after_crash: bool = True) -> list[str]:
    """Create the runs of pending trials (the caller holds the lock); returns their ids.

    A pending trial left by a crash may have got its run just before: those are looked up first."""
    pending = [r for r in record.runs if not r.get("run")]
    if not pending:
        return []
    existing = _runs_by_trial(store, record.spec.id) if after_crash else {}
    base = record.spec.base_config()
    created = []
    for entry in pending:
        number = entry["number"]
        run_id = existing.get(number)
        if run_id is None:
            trial = sp.check_trial(record.spec, base, number, entry["params"])
            if trial.config is None:  # cannot happen for a trial the plan accepted; kept honest
                record.runs.remove(entry)
                record.skipped.append({"number": number, "params": entry["params"], "reason": trial.reason})
                save(store, record)
                continue
            run_id = submit_trial(store, record.spec.id, number, trial.config, priority)
            created.append(run_id)
        entry["run"] = run_id
        save(store, record)
    return created


def submit_trial(store: st.Store, sweep_id: str, number: int, config: dict[str, Any], priority: int = 0) -> str:
    cfg = cfgmod.from_mapping(config)
    return control.submit(
        store, cfg, trial_name(sweep_id, number), priority, source=f"sweep {sweep_id}", sweep=sweep_id, trial=number
    )


def _runs_by_trial(store: st.Store, sweep_id: str) -> dict[int, str]:
    out = {}
    for run_id, status in store.statuses().items():
        if isinstance(status, st.Status) and status.sweep == sweep_id and status.trial is not None:
            out[status.trial] = run_id
    return out


TrialStatus = st.Status | st.StoreError  # an unreadable trial status is the error that says why


def trial_statuses(store: st.Store, record: SweepRecord) -> dict[int, TrialStatus]:
    """Each created trial's status by number; an unreadable one maps to its StoreError (broken)."""
    out: dict[int, TrialStatus] = {}
    for entry in record.runs:
        if entry.get("run"):
            try:
                out[entry["number"]] = store.status(entry["run"])
            except st.StoreError as e:
                out[entry["number"]] = e
    return out


def settled(status: TrialStatus) -> bool:
    return isinstance(status, st.StoreError) or status.state in st.SETTLED


DONE, STOPPED, IN_PROGRESS = "done", "stopped", "in progress"


def all_created(record: SweepRecord) -> bool:
    """Every trial the sweep will have has its run: the plan's, or TPE's whole budget (or a stop)."""
    if any(not r.get("run") for r in record.runs):
        return False
    if record.spec.method != "tpe" or record.stopped:
        return True
    return record.next_number() > (record.spec.trial_cap or 0)


def ended_for_good(status: TrialStatus) -> bool:
    """Ended, and no engine will take the trial up again (unlike `settled`, which the engine's pass uses)."""
    return isinstance(status, st.StoreError) or status.settled


def sweep_state(record: SweepRecord, statuses: dict[int, TrialStatus]) -> str:
    """`done` once every trial has ended for good, read from the trials themselves: whether an engine
    is alive to write `finished` into the sweep file or not. A trial an engine will take up again
    (stopped by a signal, a retryable failure, an OOM retry) has not ended."""
    ended = all(ended_for_good(s) for s in statuses.values())
    if record.finished or (all_created(record) and ended):
        return DONE
    return STOPPED if record.stopped else IN_PROGRESS
