"""The trial table's columns, shared by `ls`, `export` and the app's runs table: what each cell says,
their order (what a person tunes by first), and which a narrow terminal drops first. Light."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from engine.core.fields import FIELDS
from engine.core.text import printable
from engine.core.units import shown, shown_count, shown_seconds
from engine.store.row import Row
from engine.store.schema import BROKEN, KIND_LRFIND, KIND_PREPARE, RunState

NAME_WIDTH = 20
LRFIND_BADGE = "lr-find"  # an LR range test's rows say so in their state
PREPARE_BADGE = "prepare"  # and so do a dataset preparation's
ENDED_WITH_A_REASON = (RunState.FAILED, RunState.OOM, RunState.DIVERGED, RunState.PRUNED, BROKEN)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def short_name(r: Row) -> str:
    """A sweep trial's number (`t001`); any other run's name, or its id's tail when it has none."""
    if r.sweep and r.trial is not None and 0 <= r.trial < 10**6:
        return f"t{r.trial:03d}"
    tail = r.name.removeprefix(f"{r.sweep}-") if r.sweep else r.name
    if r.sweep and tail[:1] == "t" and tail[1:].isdigit():
        return tail
    return r.name or r.run[-12:]


def label(r: Row, width: int = NAME_WIDTH) -> str:
    """`sweep/t001`, the sweep's name once; a long sweep name is cut, never the trial's number."""
    name = short_name(r)
    if not r.sweep:
        return name if len(name) <= width else name[: width - 1] + "…"
    room = width - len(name) - 1
    sweep = r.sweep if len(r.sweep) <= room else r.sweep[: max(room - 1, 1)] + "…"
    return f"{sweep}/{name}"


def val_ppl(r: Row) -> float | None:
    """The final val PPL, or the latest one of a run that has not ended."""
    if r.final_val_ppl is not None:
        return r.final_val_ppl
    if r.val_loss is not None and r.val_loss < 700:  # exp overflows past ~709
        return math.exp(r.val_loss)
    return None


def lr_text(v: Any) -> str:
    """A learning rate as the lesson writes it: 6e-4, 1.5e-3; 0.5 for a large one."""
    if not isinstance(v, float) or v == 0 or not 1e-99 < abs(v) < 0.01:
        return shown(v, ".3g")
    mantissa, exponent = f"{v:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def value_text(name: str, v: Any) -> str:
    """A hyperparameter's value in a swept column."""
    if name in ("learning_rate", "min_lr"):
        return lr_text(v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return shown(v, "d" if isinstance(v, int) else ".4g")
    return "-" if v is None else printable(str(v))


def shape_text(r: Row) -> str:
    if r.n_layer is None or r.n_embd is None:
        return "-"
    return f"{shown(r.n_layer, 'd')}×{shown(r.n_embd, 'd')}"


def progress(r: Row) -> float | None:
    if r.kind == KIND_PREPARE:  # the share of the source read; a done one has read it all
        if r.state == RunState.DONE:
            return 1.0
        return min(1.0, (r.bytes_done or 0) / r.bytes_total) if r.bytes_total else None
    return min(1.0, r.step / r.max_iters) if r.max_iters else None


def progress_text(r: Row) -> str:
    frac = progress(r)
    return "-" if frac is None else f"{frac:.0%}"


def state_text(r: Row) -> str:
    """The state; a running run's with how far it is; an LR range test's after its badge."""
    frac = progress(r)
    state = f"{r.state} {frac:.0%}" if r.state == RunState.RUNNING and frac is not None else r.state
    badge = {KIND_LRFIND: LRFIND_BADGE, KIND_PREPARE: PREPARE_BADGE}.get(r.kind)
    return f"{badge} {state}" if badge else state


def suggestion_text(r: Row) -> str:
    """What an ended LR range test suggests."""
    return f"suggests {lr_text(r.lr_suggested)}" if r.kind == KIND_LRFIND and r.lr_suggested is not None else ""


def prepare_text(r: Row) -> str:
    """A preparation's rates and time left while it runs (`12.3 MB/s · 4.1M tok/s · ETA 3m`); the
    folder it made and its tokens once done."""
    if r.kind != KIND_PREPARE:
        return ""
    if r.state == RunState.RUNNING:
        parts = [f"{shown(r.mb_per_s, '.1f')} MB/s" if r.mb_per_s is not None else ""]
        parts.append(f"{shown_count(r.tokens_per_s)} tok/s" if r.tokens_per_s is not None else "")
        parts.append(f"ETA {shown_seconds(r.eta_s)}" if r.eta_s is not None else "")
        return " · ".join(p for p in parts if p) or "starting"
    if r.state == RunState.DONE and r.dataset_dir:
        return f"datasets/{printable(r.dataset_dir)} · {shown_count(r.dataset_tokens)} tokens"
    return ""


def time_text(r: Row) -> str:
    if r.state == RunState.RUNNING:
        return f"ETA {shown_seconds(r.eta_s)}" if r.eta_s is not None else "starting"
    return shown_seconds(r.duration_s)


def fork_text(parent: str, parent_name: str, parent_step: int | None, parent_ckpt: str) -> str:
    """`fork of NAME@STEP`: the parent's name as the fork recorded it (the parent may be gone since);
    before a worker has loaded the checkpoint, its file's name stands for the step."""
    name = printable(parent_name) or parent[-12:] or "?"
    ckpt = parent_ckpt.removesuffix(".pt")
    at = str(parent_step) if parent_step is not None else ckpt.removeprefix("step-") or "?"
    return f"fork of {name}@{printable(at)}"


def lineage_text(r: Row) -> str:
    return f"└ {fork_text(r.parent, r.parent_name, r.parent_step, r.parent_ckpt)}" if r.parent else ""


def note_text(r: Row) -> str:
    """The person's note; first why the run ended, for a run that failed, diverged, ran out of memory,
    was pruned or is broken, then what an LR range test suggests (a preparation: its rates or its
    folder) and the run a fork started from."""
    reason = r.reason if r.state in ENDED_WITH_A_REASON else ""
    return " · ".join(p for p in (reason, suggestion_text(r), prepare_text(r), lineage_text(r), r.note) if p)


def app_note_text(r: Row) -> str:
    """The app's one-line note cell: a person's note comes first and stands for why the run ended
    (the monitor says that); what the run found or came from follows it."""
    if not r.note:
        return note_text(r)
    return " · ".join(p for p in (r.note, suggestion_text(r), prepare_text(r), lineage_text(r)) if p)


# -- the columns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column. `priority`: lower stays longer, and a narrow terminal drops the highest first;
    0 is never dropped. `width`: the app's fixed width, its widest value in full. A flexible column
    (the note) takes what room is left, at least FLEXIBLE_MIN, and is wrapped or cut, as text is."""

    key: str
    title: str
    priority: int
    width: int
    text: Callable[[Row], str]
    sort_key: Callable[[Row], Any]
    numeric: bool = False
    where: str = "app cli"
    flexible: bool = False


def _attr(name: str) -> Callable[[Row], Any]:
    return lambda r: getattr(r, name)


SWEPT_PRIORITY, SWEPT_AFTER, FLEXIBLE_MIN = 4, "shape", 16
COLUMNS_SPEC: tuple[Column, ...] = (
    Column("state", "state", 0, 10, state_text, _attr("state")),
    Column("name", "name", 0, NAME_WIDTH, label, label),
    Column("val_ppl", "val PPL", 1, 7, lambda r: shown(val_ppl(r), ".2f"), val_ppl, True),
    Column("best_val_loss", "best val", 5, 8, lambda r: shown(r.best_val_loss, ".4f"), _attr("best_val_loss"), True),
    Column("learning_rate", "LR", 2, 7, lambda r: lr_text(r.learning_rate), _attr("learning_rate"), True),
    Column("batch", "batch", 3, 10, _attr("batch"), lambda r: _batch_total(r.batch)),
    Column("shape", "shape", 8, 7, shape_text, lambda r: None if shape_text(r) == "-" else (r.n_layer, r.n_embd)),
    Column("params", "params", 9, 7, lambda r: shown_count(r.params), _attr("params"), True),
    Column("progress", "progress", 6, 9, progress_text, progress, True, where="app"),  # ls: in the state
    Column("time", "time", 6, 9, time_text, lambda r: r.eta_s if r.state == RunState.RUNNING else r.duration_s, True),
    Column("run", "run", 10, 34, _attr("run"), _attr("run"), where="cli"),
    Column("note", "note", 7, 30, note_text, lambda r: note_text(r) or None, flexible=True),
    Column("tokens_per_s", "tok/s", 11, 7, lambda r: shown_count(r.tokens_per_s), _attr("tokens_per_s"), True),
    Column("block_size", "block", 12, 5, lambda r: shown(r.block_size, "d"), _attr("block_size"), True),
)
# Swept hyperparameters the table has a column for already: that column moves up to the swept ones.
COVERED_BY = {
    "learning_rate": "learning_rate",
    "batch_size": "batch",
    "gradient_accumulation_steps": "batch",
    "n_layer": "shape",
    "n_embd": "shape",
}


def _batch_total(batch: str) -> int | None:
    head = batch.split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def swept_keys(items: Iterable[Row]) -> list[str]:
    """The hyperparameters a sweep varies among its trials, in config order. min_lr that follows
    learning_rate (the same ratio in every trial) is not swept: it was not chosen."""
    by_sweep: dict[str, list[dict[str, Any]]] = {}
    for r in items:
        if r.sweep and r.hyperparameters:  # a broken config says nothing about what was swept
            by_sweep.setdefault(r.sweep, []).append(dict(r.hyperparameters))
    found: set[str] = set()
    for configs in by_sweep.values():
        for name in FIELDS:
            values = [c.get(name) for c in configs]
            if any(v != values[0] for v in values[1:]):
                found.add(name)
        if "min_lr" in found and _follows_learning_rate(configs, "min_lr"):
            found.discard("min_lr")
    return [name for name in FIELDS if name in found]


def _follows_learning_rate(configs: list[dict[str, Any]], name: str) -> bool:
    """Whether `name` keeps one ratio to learning_rate in every config (as a sweep sets min_lr)."""
    ratios = []
    for c in configs:
        v, lr = _num(c.get(name)), _num(c.get("learning_rate"))
        if v is None or not lr:
            return False
        ratios.append(v / lr)
    return all(math.isclose(x, ratios[0], rel_tol=1e-6) for x in ratios)


def swept_column(name: str, items: Sequence[Row] = ()) -> Column:
    """A column of its own for a swept hyperparameter, as wide as its values (at most 16)."""
    text = lambda r: value_text(name, r.hyperparameter(name))  # noqa: E731
    width = min(16, max([len(name), *(len(text(r)) for r in items)]))
    numeric = FIELDS[name].type in ("int", "float")
    return Column(name, name, SWEPT_PRIORITY, width, text, lambda r: _sortable(r.hyperparameter(name)), numeric)


def _sortable(v: Any) -> tuple[int, Any] | None:
    """Numbers before text, so that a hand-edited config (a string where a number belongs) still sorts."""
    if v is None:
        return None
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def columns_for(items: Sequence[Row], where: str = "cli") -> list[Column]:
    """Every column for these rows, in order, for `where` ("cli" or "app"): a swept hyperparameter's
    column right after the shape, and the column that shows one already (LR, batch, shape) moved up
    in priority to them."""
    swept = swept_keys(items)
    moved_up = {COVERED_BY[name] for name in swept if name in COVERED_BY}
    own = [swept_column(name, items) for name in swept if name not in COVERED_BY]
    out: list[Column] = []
    for col in COLUMNS_SPEC:
        if where not in col.where or col.key in {c.key for c in own}:
            continue
        out.append(replace(col, priority=min(col.priority, SWEPT_PRIORITY)) if col.key in moved_up else col)
        if col.key == SWEPT_AFTER:
            out.extend(own)
    return out


def fit(
    columns: Sequence[Column], room: int, gap: int, width: Callable[[Column], int] | None = None
) -> list[tuple[Column, int]]:
    """The columns that fit in `room` cells, each in full, with their widths, shown in their own order.
    They are taken by priority (ties in order) until the next does not fit: what is left out is always
    of a lower priority than what is shown. `gap`: the cells each column spends besides its width."""
    width = width or (lambda c: c.width)
    need = {c.key: min(width(c), FLEXIBLE_MIN) if c.flexible else width(c) for c in columns}
    chosen, used = set(), 0
    for col in sorted(columns, key=lambda c: c.priority):
        if used + need[col.key] + gap > room and col.priority > 0:
            break
        chosen.add(col.key)
        used += need[col.key] + gap
    for col in columns:  # the room left goes to a flexible column, up to its full width
        if col.flexible and col.key in chosen:
            extra = min(width(col) - need[col.key], max(room - used, 0))
            need[col.key] += extra
            used += extra
    return [(c, need[c.key]) for c in columns if c.key in chosen]


# The one-run view (`run --wait`) and the old callers: the fixed columns, titles and texts.
COLUMNS = tuple(c.title for c in COLUMNS_SPEC)


def cells(r: Row) -> list[str]:
    return [c.text(r) for c in COLUMNS_SPEC]
