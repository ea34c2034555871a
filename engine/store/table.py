"""The trial table: one row per run, read from the store, as the seed's lesson writes it. Light."""

from __future__ import annotations

import csv
import io
import math
import os
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from typing import Any

from engine.core.config import first_line, format_batch
from engine.core.units import SHOWN_WIDTH, shown, shown_bytes, shown_count, shown_seconds  # noqa: F401 - trial.shown
from engine.store import runs as st
from engine.store.control import read_note
from engine.store.files import STATE_CAP, check_regular, open_regular, read_regular
from engine.store.schema import BROKEN

CHECKPOINTS = ("last.pt", "best.pt")  # engine.checkpoint's LAST and BEST (that module imports torch)
OTHER_FILES = ("metrics.toml", "worker.log", "control.toml", "note.toml")  # a row reads none of them


@dataclass(frozen=True)
class Row:
    run: str
    name: str
    sweep: str
    state: str
    step: int
    max_iters: int
    n_layer: int | None
    n_head: int | None
    n_embd: int | None
    block_size: int | None
    learning_rate: float | None
    batch: str
    params: int | None
    best_val_loss: float | None
    final_val_ppl: float | None
    val_loss: float | None
    tokens_per_s: float | None
    duration_s: float | None
    eta_s: float | None
    note: str
    reason: str
    created: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def read_config(store: st.Store, run_id: str) -> dict[str, Any]:
    return _read_config(store, run_id)[0]


def _read_config(store: st.Store, run_id: str) -> tuple[dict[str, Any], str]:
    """The run's config.toml as a mapping, and what is wrong with it ("" when nothing)."""
    path = store.config_path(run_id)
    try:
        return tomllib.loads(read_regular(path, STATE_CAP).decode("utf-8")), ""
    except FileNotFoundError:
        return {}, "config.toml is missing; put the run's hyperparameters back in it, or delete the run"
    except st.StoreError as e:  # a FIFO, a device, a directory, a huge file, no permission
        return {}, str(e).replace(str(path), "config.toml")
    except (ValueError, RecursionError) as e:  # bad TOML or UTF-8, a huge int, deep nesting
        return {}, (
            f"config.toml is not valid TOML ({first_line(e)}); fix it by hand (`gpt-tui config` "
            "prints a valid one), or delete the run"
        )


def damaged_checkpoint(store: st.Store, run_id: str) -> str:
    """What is wrong with the run's checkpoints ("" when nothing). A checkpoint is a zip archive whose
    directory sits at its end, so one cut short is seen from its last bytes, without torch."""
    for name in CHECKPOINTS:
        path = store.ckpt_dir(run_id) / name
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            continue
        except st.StoreError as e:
            return str(e).replace(str(path), f"ckpt/{name}")
        with os.fdopen(fd, "rb") as f:
            whole = zipfile.is_zipfile(f)
        if not whole:
            return (
                f"ckpt/{name} is cut short or damaged and cannot be loaded (a resume falls back to the "
                "other checkpoint or starts over); delete it to clear this"
            )
    return ""


def misplaced_file(store: st.Store, run_id: str) -> str:
    """The first of the run's OTHER_FILES that is no regular file ("" when none): a FIFO, a device or a
    directory where the file belongs, which its next reader would refuse. A stat each, nothing opened."""
    for name in OTHER_FILES:
        try:
            check_regular(name, os.stat(store.run_dir(run_id) / name))
        except st.StoreError as e:
            return str(e)
        except OSError:  # none yet, or not reachable: the readers say so when they get there
            continue
    return ""


def row_for(store: st.Store, run_id: str, status: st.Status | st.StoreError) -> Row:
    """A row even for a broken run: its state says `broken` and the reason names the file that is
    wrong and what to do (its recorded state follows in brackets)."""
    cfg, problem = _read_config(store, run_id)
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
    return Row(
        run=run_id,
        name=status.name,
        sweep=status.sweep,
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
        tokens_per_s=status.tokens_per_s,
        duration_s=status.train_seconds or None,
        eta_s=status.eta_s,
        note=read_note(store, run_id),
        reason=reason,
        created=status.created,
    )


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
    scored = [r for r in items if r.best_val_loss is not None and math.isfinite(r.best_val_loss)]
    return min(scored, key=lambda r: r.best_val_loss).run if scored else None


COLUMNS = (
    "run",
    "state",
    "n_layer",
    "n_embd",
    "LR",
    "batch",
    "params",
    "best val",
    "val PPL",
    "tokens/s",
    "time",
    "note",
)


def cells(r: Row) -> list[str]:
    state = r.state if r.state != st.RunState.RUNNING or not r.max_iters else f"running {r.step}/{r.max_iters}"
    return [
        r.run,
        state,
        shown(r.n_layer, "d"),
        shown(r.n_embd, "d"),
        shown(r.learning_rate, "g"),
        r.batch,
        shown_count(r.params),
        shown(r.best_val_loss, ".4f"),
        shown(r.final_val_ppl, ".2f"),
        shown(r.tokens_per_s, ",.0f"),
        shown_seconds(r.duration_s),
        r.note,
    ]


def to_markdown(items: list[Row]) -> str:
    best = best_run(items)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in items:
        row = cells(r)
        if r.run == best:
            row[0] = f"**{row[0]}** (best)"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def to_csv(items: list[Row]) -> str:
    buf = io.StringIO()
    fields = list(Row.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in items:
        writer.writerow(r.as_dict())
    return buf.getvalue()
