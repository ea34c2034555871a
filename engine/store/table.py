"""The trial table: one row per run, read from the store, as the seed's lesson writes it. Its columns,
shared by `ls`, `export` and the app, are engine.store.columns. Light."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.core.config import format_batch
from engine.core.fields import FIELDS
from engine.core.units import SHOWN_WIDTH, shown, shown_bytes, shown_count, shown_seconds  # noqa: F401 - trial.shown
from engine.store import row
from engine.store import runs as st
from engine.store.columns import COLUMNS, cells, label, val_ppl  # noqa: F401 - the old callers' trial.cells
from engine.store.control import read_note
from engine.store.run_files import damaged_checkpoint, misplaced_file, read_config, read_config_or_problem  # noqa: F401
from engine.store.schema import BROKEN, KIND_LRFIND, KIND_PREPARE

Row = row.Row
ROW_FIELDS = row.ROW_FIELDS
SORT_KEYS = (
    "run",
    "state",
    "n_layer",
    "n_embd",
    "learning_rate",
    "params",
    "best_val_loss",
    "final_val_ppl",
    "tokens_per_s",
    "duration_s",
    "created",
)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def row_for(store: st.Store, run_id: str, status: st.Status | st.StoreError) -> Row:
    """A row even for a broken run: its state says `broken` and the reason names the file that is
    wrong and what to do (its recorded state follows in brackets)."""
    cfg, problem = read_config_or_problem(store, run_id)
    problem = problem or damaged_checkpoint(store, run_id) or misplaced_file(store, run_id)
    if isinstance(status, st.StoreError):  # name the file, not its whole path
        state, reason = BROKEN, str(status).replace(f"{store.run_dir(run_id)}{os.sep}", "")
        status = st.Status(st.RunState.FAILED)
    else:
        state, reason = str(status.state), status.reason
        if problem:
            state, reason = BROKEN, f"{problem} (status: {status.state})"
    bs, acc = _int(cfg.get("batch_size")), _int(cfg.get("gradient_accumulation_steps"))
    cfg_iters = _int(cfg.get("max_iters")) or 0
    row = Row(
        run=run_id,
        name=status.name,
        sweep=status.sweep,
        trial=status.trial,
        state=state,
        step=status.step,
        max_iters=status.max_iters or (cfg_iters if 0 < cfg_iters <= 2**62 else 0),
        n_layer=_int(cfg.get("n_layer")),
        n_head=_int(cfg.get("n_head")),
        n_embd=_int(cfg.get("n_embd")),
        block_size=_int(cfg.get("block_size")),
        learning_rate=_num(cfg.get("learning_rate")),
        batch=_batch(bs, acc),
        params=status.params or None,
        best_val_loss=status.best_val_loss,
        final_val_ppl=status.final_val_ppl,
        val_loss=status.val_loss,
        tokens_per_s=mean_tokens_per_s(status),
        duration_s=status.train_seconds or None,
        eta_s=status.eta_s if state == st.RunState.RUNNING else None,  # an ended run has nothing left
        note=read_note(store, run_id),
        reason=reason,
        created=status.created,
        parent=status.parent,
        parent_name=status.parent_name,
        parent_step=status.parent_step,
        parent_ckpt=status.parent_ckpt,
        hyperparameters=tuple((k, v) for k, v in cfg.items() if k in FIELDS and _scalar(v)),
    )
    if status.kind == KIND_PREPARE:
        return _as_prepare(row, status)
    return _as_lrfind(row, status) if status.kind == KIND_LRFIND else row


def _as_lrfind(r: Row, status: st.Status) -> Row:
    """An LR range test's row: its kind, what it suggests, its own steps; no val loss or PPL, which
    it never measures (so that no test is ever the best run)."""
    steps = status.lrfind_steps or r.max_iters
    if status.state == st.RunState.DONE and status.step:
        steps = status.step  # it ends where the loss blows up, as planned: that is all of it
    r = replace(r, best_val_loss=None, final_val_ppl=None, val_loss=None)
    return replace(r, kind=status.kind, lr_suggested=status.lr_suggested, max_iters=steps)


def _as_prepare(r: Row, status: st.Status) -> Row:
    """A dataset preparation's row: its bytes, rates and folder; none of a training run's numbers,
    which it never has (its tokens per second are the tokenizer's)."""
    running = r.state == st.RunState.RUNNING
    r = replace(r, best_val_loss=None, final_val_ppl=None, val_loss=None, params=None, step=0, max_iters=0)
    r = replace(r, n_layer=None, n_head=None, n_embd=None, block_size=None, learning_rate=None, batch="-")
    return replace(
        r,
        kind=status.kind,
        bytes_done=status.prepare_bytes_done,
        bytes_total=status.prepare_bytes_total,
        mb_per_s=status.prepare_rate_mb_s if running else None,
        tokens_per_s=status.prepare_tokens_per_s,
        eta_s=status.prepare_eta_s if running else None,
        dataset_tokens=status.prepare_tokens,
        dataset_dir=status.dataset_dir,
    )


def _scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 200)


def mean_tokens_per_s(status: st.Status) -> float | None:
    """Tokens trained over seconds spent training: the run's mean, not its last logged rate. A running
    run's seconds are its earlier attempts' and this one's up to its last status write; a run that
    never recorded its tokens keeps the rate it logged."""
    tokens, seconds = _num(status.tokens), _num(status.train_seconds) or 0.0
    if status.state == st.RunState.RUNNING:
        seconds += _seconds_between(status.claimed or status.started, status.updated)
    if tokens and seconds > 0:
        return tokens / seconds
    return status.tokens_per_s


def _seconds_between(start: str, end: str) -> float:
    try:
        return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    except (ValueError, TypeError):  # missing, or written by hand
        return 0.0


def _batch(bs: int | None, acc: int | None) -> str:
    if not bs or not acc:
        return "-"
    if 0 < bs * acc <= 10**9:
        return format_batch(bs, acc)
    return f"{shown(bs, 'd')}x{shown(acc, 'd')}"  # a hand-edited config: not worth spelling out


def rows(store: st.Store, state: str | None = None, sweep: str | None = None) -> list[Row]:
    out = [row_for(store, run_id, status) for run_id, status in store.statuses().items()]
    return [r for r in out if (state is None or r.state == state) and (sweep is None or r.sweep == sweep)]


def sort_rows(items: list[Row], key: str, descending: bool = False) -> list[Row]:
    """Missing values sort last either way."""
    present = [r for r in items if getattr(r, key) is not None]
    missing = [r for r in items if getattr(r, key) is None]
    return sorted(present, key=lambda r: getattr(r, key), reverse=descending) + missing


def best_run(items: list[Row]) -> str | None:
    scored = [r for r in items if r.best_val_loss is not None and math.isfinite(r.best_val_loss) and not r.kind]
    return min(scored, key=lambda r: r.best_val_loss).run if scored else None
