"""The run store's typed contract: run states, the status file and the engine heartbeat file.

Every value read from the store is untrusted: `Status.from_toml` and `EngineRecord.from_toml` check
each known field's type and range and name the file and the field when one is wrong. Fields they do
not know are kept in `extra` and written back unchanged, so a newer writer's fields survive an older
reader.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.store.engine_record import EngineRecord  # noqa: F401 - the heartbeat file's schema, st.EngineRecord
from engine.store.fieldcheck import (
    SchemaError,
    _flag,
    _int_list,
    _number,
    _table_list,
    _text,
    _whole,
    typed_fields,
)

STATUS_FORMAT = 2  # 1: written before the format field existed; read the same, written as 2


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"
    DIVERGED = "diverged"
    OOM = "oom"
    PRUNED = "pruned"


# Shown, never written: a run whose status, config or checkpoint cannot be read.
BROKEN = "broken"
ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING})
ENDED = frozenset(RunState) - ACTIVE
RESUMABLE = ENDED - {RunState.DONE}
# Under an engine `oom` is a moment: the engine queues the run again at a smaller batch or fails it.
SETTLED = ENDED - {RunState.OOM}


# What a run does: train (the default, written as nothing), an LR range test, or preparing its
# config's dataset (engine.train.prepare_job: no model, no checkpoint, no results row).
KIND_TRAIN, KIND_LRFIND, KIND_PREPARE = "", "lrfind", "prepare"
RUN_KINDS = (KIND_TRAIN, KIND_LRFIND, KIND_PREPARE)


def _kind(value: Any) -> str | None:
    return value if value in RUN_KINDS else None


def _state(value: Any) -> RunState | None:
    try:
        return RunState(value)
    except ValueError:
        return None


# field: (check returning the typed value or None when it does not fit, what a good value looks like)
_CHECKS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "state": (_state, f"one of {', '.join(RunState)}"),
    "format": (_whole(1, 1000), "a whole number"),
    "attempt_id": (_text, "a string"),
    "attempts": (_whole(0, 10**6), "a whole number from 0"),
    "pid": (_whole(0, 2**31), "a whole number from 0 (0: no live worker)"),
    "priority": (_whole(-99, 99), "a whole number from -99 to 99"),
    "processes": (_whole(1, 4096), "a whole number from 1"),
    "step": (_whole(0, 2**62), "a whole number from 0"),
    "max_iters": (_whole(0, 2**62), "a whole number from 0"),
    "params": (_whole(0, 2**62), "a whole number from 0"),
    "vocab_size": (_whole(0, 2**31), "a whole number from 0"),
    "trial": (_whole(0, 2**31), "a whole number from 0"),
    "kind": (_kind, f"one of {', '.join(repr(k) for k in RUN_KINDS)}"),
    "lrfind_steps": (_whole(0, 10**6), "a whole number from 0"),
    **{
        name: (_whole(0, 2**62), "a whole number from 0")
        for name in ("prepare_bytes_done", "prepare_bytes_total", "prepare_tokens", "prepare_documents")
    },
    "parent_step": (_whole(0, 2**62), "a whole number from 0"),
    "fresh_optimizer": (_flag, "true or false"),
    "gpu_ids": (_int_list, "a list of GPU indices"),
    "retryable": (_flag, "true or false"),
    "attempt_history": (_table_list, "a list of tables"),
    **{
        name: (_text, "a string")
        for name in (
            "name",
            "created",
            "started",
            "finished",
            "updated",
            "claimed",
            "host",
            "engine",
            "executor",
            "sweep",
            "source",
            "reason",
            "error",
            "device",
            "dtype",
            "note",
            "parent",
            "parent_name",
            "parent_ckpt",
            "transferred_from",
            "dataset_dir",
        )
    },
    **{
        name: (_number, "a number")
        for name in (
            "train_seconds",
            "eta_s",
            "loss",
            "lr",
            "tokens",
            "tokens_per_s",
            "val_loss",
            "val_ppl",
            "best_val_loss",
            "final_val_loss",
            "final_val_ppl",
            "lrfind_min",
            "lrfind_max",
            "lr_steepest",
            "lr_min_div10",
            "lr_suggested",
            "prepare_rate_mb_s",
            "prepare_tokens_per_s",
            "prepare_eta_s",
            "startup_s",
            "first_step_s",
            "cpu_seconds",
        )
    },
    "startup": (_table_list, "a list of tables"),
}


@dataclass
class Status:
    """A run's status.toml. Metrics fields are None until the run has them."""

    state: RunState
    name: str = ""
    created: str = ""
    started: str = ""
    finished: str = ""
    updated: str = ""
    claimed: str = ""
    attempt_id: str | None = None
    attempts: int = 0
    pid: int = 0
    host: str = ""
    engine: str = ""
    executor: str = ""
    priority: int = 0
    processes: int = 1
    gpu_ids: list[int] = field(default_factory=list)
    sweep: str = ""
    trial: int | None = None
    source: str = ""
    reason: str = ""
    error: str = ""
    retryable: bool = False
    attempt_history: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    kind: str = KIND_TRAIN
    # An LR range test: its bounds and steps, then what it found (engine.core.lrfind).
    lrfind_min: float | None = None
    lrfind_max: float | None = None
    lrfind_steps: int = 0
    lr_steepest: float | None = None
    lr_min_div10: float | None = None
    lr_suggested: float | None = None
    # A fork: the run and checkpoint it starts from (the worker writes parent_step once loaded).
    parent: str = ""
    parent_name: str = ""
    parent_ckpt: str = ""
    parent_step: int | None = None
    fresh_optimizer: bool = False
    # µTransfer: the sweep and trial ("day38-proxy/t007") whose tuned values this wider run took.
    transferred_from: str = ""
    # Preparing a dataset (kind prepare): how far it is, and the folder under datasets/ it made.
    prepare_bytes_done: int | None = None
    prepare_bytes_total: int | None = None
    prepare_tokens: int | None = None
    prepare_documents: int | None = None
    prepare_rate_mb_s: float | None = None
    prepare_tokens_per_s: float | None = None
    prepare_eta_s: float | None = None
    dataset_dir: str = ""
    step: int = 0
    max_iters: int = 0
    params: int = 0
    vocab_size: int = 0
    device: str = ""
    dtype: str = ""
    train_seconds: float = 0.0
    # The worker's start: its phases ([{phase, s}], seconds each, in order), from its process start
    # to the end of its first step (startup_s), and from the run's `created` to that step
    # (first_step_s). cpu_seconds: the worker's CPU time (user + system, every thread) so far.
    startup: list[dict[str, Any]] = field(default_factory=list)
    startup_s: float | None = None
    first_step_s: float | None = None
    cpu_seconds: float | None = None
    eta_s: float | None = None
    loss: float | None = None
    lr: float | None = None
    tokens: float | None = None
    tokens_per_s: float | None = None
    val_loss: float | None = None
    val_ppl: float | None = None
    best_val_loss: float | None = None
    final_val_loss: float | None = None
    final_val_ppl: float | None = None
    format: int = STATUS_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know, kept as read

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str = "status.toml") -> Status:
        """The typed status of a parsed status.toml; SchemaError names the first field that does not fit."""
        known, extra = typed_fields(
            data, _CHECKS, source, "fix the field or delete the file (`gpt-tui show RUN` says what the run needs)"
        )
        if "state" not in known:
            raise SchemaError(f'{source} has no state; write state = "queued" to queue the run again, or delete it')
        status = cls(**known, extra=extra)
        status.format = STATUS_FORMAT  # migrated on read: format 1 lacks only this field and attempt_id
        return status

    def to_toml(self) -> dict[str, Any]:
        """The mapping to write: known fields at their defaults are left out, unknown ones kept."""
        out: dict[str, Any] = {"format": self.format, "state": str(self.state)}
        for f in dataclasses.fields(self):
            if f.name in ("format", "state", "extra"):
                continue
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value is None or (value == default and f.name not in ("attempts", "pid")):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue  # TOML could hold it, but a status is read by people and tools: leave it out
            out[f.name] = value
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out

    def changed(self, **changes: Any) -> Status:
        """A copy with `changes` applied: a known field set (None restores its default), an unknown
        one kept in `extra` (None removes it)."""
        known = {f.name: f for f in dataclasses.fields(self) if f.name != "extra"}
        updates: dict[str, Any] = {}
        extra = dict(self.extra)
        for key, value in changes.items():
            if key in known:
                f = known[key]
                if value is None:
                    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                updates[key] = RunState(value) if key == "state" else value
            elif value is None:
                extra.pop(key, None)
            else:
                extra[key] = value
        return dataclasses.replace(self, **updates, extra=extra)

    @property
    def settled(self) -> bool:
        """Ended for good: not a moment before the engine queues it again (oom, a retryable failure,
        a stop by a signal)."""
        if self.state == RunState.STOPPED and self.reason.startswith("signal"):
            return False
        return self.state in SETTLED and not self.retryable
