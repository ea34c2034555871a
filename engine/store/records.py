"""The metrics log's [[train]] and [[eval]] records and the results ledger's [[run]] rows, typed.

A log is untrusted like every store file: `from_toml` checks each known field's type and range and
names the file and the field when one is wrong; `parse` is the readers' tolerant twin, which returns
None for a record that does not fit so that one bad record is skipped, not fatal. Fields a reader
does not know are kept in `extra` and written back after the known ones. A known field is None
where the record lacks it (an older writer's, or one a person wrote), and is then not written.

Losses may be non-finite (nan or inf): a run whose eval diverges past a limit of inf logs an inf
val loss and PPL, and a run that never evaluated has a final val loss of nan in its results row.
Rates, times and the learning rate are finite numbers from 0; steps, tokens and sizes whole numbers
from 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from engine.store.fieldcheck import Checks, SchemaError, _finite, _number, _text, _whole, typed_fields
from engine.store.logformat import Record
from engine.store.schema import RunState

_FIX = "fix or delete the record (readers skip it meanwhile)"
_COUNT = (_whole(0, 2**62), "a whole number from 0")
_LOSS = (_number, "a number (nan and inf allowed: a diverged run logs them)")
_RATE = (_finite(0.0, math.inf), "a finite number from 0")
_TEXT = (_text, "a string")


def _state(value: Any) -> RunState | None:
    try:
        return RunState(value)
    except ValueError:
        return None


class _Typed:
    """from_toml, to_toml and parse, shared by the record kinds; each names its table and checks."""

    TABLE: ClassVar[str]
    CHECKS: ClassVar[Checks]
    REQUIRED: ClassVar[tuple[str, ...]]
    extra: dict[str, Any]

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str = "record") -> Self:
        """The typed record; SchemaError names the file and the first field that does not fit."""
        if not isinstance(data, Mapping):
            raise SchemaError(f"{source}: a [[{cls.TABLE}]] record is not a table")
        known, extra = typed_fields(data, cls.CHECKS, f"{source} [[{cls.TABLE}]]", _FIX)
        missing = [name for name in cls.REQUIRED if name not in known]
        if missing:
            raise SchemaError(f"{source}: a [[{cls.TABLE}]] record has no {missing[0]}; {_FIX}")
        return cls(**known, extra=extra)

    def to_toml(self) -> dict[str, Any]:
        """The mapping to write: known fields in their order (those that are None left out), then
        the unknown ones as read."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type] - every subclass is a dataclass
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None:
                out[f.name] = str(value) if isinstance(value, RunState) else value
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out


@dataclass
class TrainRecord(_Typed):
    """One [[train]] record: the loss and rates at a log step, and memory readings (mem_*)."""

    TABLE: ClassVar[str] = "train"
    REQUIRED: ClassVar[tuple[str, ...]] = ("step",)
    step: int
    tokens: int | None = None
    loss: float | None = None
    lr: float | None = None
    ms_per_iter: float | None = None
    tokens_per_s: float | None = None
    t: float | None = None
    mfu: float | None = None
    mem_rss: int | None = None
    mem_allocated: int | None = None
    mem_reserved: int | None = None
    mem_peak: int | None = None
    mem_device_total: int | None = None
    mem_device_used: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalRecord(_Typed):
    """One [[eval]] record: the losses measured at an eval step."""

    TABLE: ClassVar[str] = "eval"
    REQUIRED: ClassVar[tuple[str, ...]] = ("step",)
    step: int
    tokens: int | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    val_ppl: float | None = None
    t: float | None = None
    best_val_loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LrRecord(_Typed):
    """One [[lr]] record of an LR range test: the learning rate of a step, its loss, and the
    bias-corrected moving average of the loss (engine.core.lrfind)."""

    TABLE: ClassVar[str] = "lr"
    REQUIRED: ClassVar[tuple[str, ...]] = ("step", "lr")
    step: int
    lr: float
    loss: float | None = None
    smooth: float | None = None
    t: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResultRow(_Typed):
    """One finished run's [[run]] row of results.toml (engine.train.recorder.result_row writes it)."""

    TABLE: ClassVar[str] = "run"
    REQUIRED: ClassVar[tuple[str, ...]] = ("run",)
    run: str
    name: str | None = None
    sweep: str | None = None
    state: RunState | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    batch: str | None = None
    params: int | None = None
    steps: int | None = None
    tokens: int | None = None
    best_val_loss: float | None = None
    final_val_loss: float | None = None
    final_val_ppl: float | None = None
    tokens_per_s: float | None = None
    duration_s: float | None = None
    finished: str | None = None
    device: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


TrainRecord.CHECKS = {
    "step": _COUNT,
    "tokens": _COUNT,
    "loss": _LOSS,
    "lr": _RATE,
    "ms_per_iter": _RATE,
    "tokens_per_s": _RATE,
    "t": _RATE,
    "mfu": _RATE,
    **{name: _COUNT for name in ("mem_rss", "mem_allocated", "mem_reserved", "mem_peak")},
    **{name: _COUNT for name in ("mem_device_total", "mem_device_used")},
}
EvalRecord.CHECKS = {
    "step": _COUNT,
    "tokens": _COUNT,
    **{name: _LOSS for name in ("train_loss", "val_loss", "val_ppl", "best_val_loss")},
    "t": _RATE,
}
LrRecord.CHECKS = {
    "step": _COUNT,
    "lr": _RATE,
    **{name: _LOSS for name in ("loss", "smooth")},
    "t": _RATE,
}
ResultRow.CHECKS = {
    **{name: _TEXT for name in ("run", "name", "sweep", "batch", "finished", "device", "note")},
    "state": (_state, f"one of {', '.join(RunState)}"),
    **{
        name: _COUNT
        for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "gradient_accumulation_steps")
    },
    **{name: _COUNT for name in ("params", "steps", "tokens")},
    "learning_rate": _RATE,
    **{name: _LOSS for name in ("best_val_loss", "final_val_loss", "final_val_ppl")},
    "tokens_per_s": _RATE,
    "duration_s": _RATE,
}

MetricsRecord = TrainRecord | EvalRecord
_KINDS: dict[str, type[TrainRecord] | type[EvalRecord] | type[LrRecord] | type[ResultRow]] = {
    kind.TABLE: kind for kind in (TrainRecord, EvalRecord, LrRecord, ResultRow)
}


def parse(table: str, data: Any, source: str = "record") -> TrainRecord | EvalRecord | LrRecord | ResultRow | None:
    """The typed record of a `[[table]]` entry; None for a table no kind is for, or a record that
    does not fit (readers skip it)."""
    kind = _KINDS.get(table)
    if kind is None:
        return None
    try:
        return kind.from_toml(data, source)
    except SchemaError:
        return None


def metrics_records(records: Iterable[Record], source: str = "metrics.toml") -> list[MetricsRecord]:
    """The [[train]] and [[eval]] records of a metrics log read as (table, record), typed, in file
    order; records of other tables and records that do not fit are skipped."""
    out: list[MetricsRecord] = []
    for table, data in records:
        if table in ("train", "eval") and (typed := parse(table, data, source)) is not None:
            out.append(typed)  # type: ignore[arg-type] - a train or eval table parses to its kind
    return out


def evals(records: Iterable[Record], source: str = "metrics.toml") -> list[EvalRecord]:
    """The well-formed [[eval]] records, in file order."""
    return [r for r in metrics_records(records, source) if isinstance(r, EvalRecord)]


def lr_records(records: Iterable[Record], source: str = "metrics.toml") -> list[LrRecord]:
    """The well-formed [[lr]] records of an LR range test, in file order."""
    out: list[LrRecord] = []
    for table, data in records:
        if table == "lr" and isinstance(typed := parse(table, data, source), LrRecord):
            out.append(typed)
    return out
