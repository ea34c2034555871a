"""A fork's history before it: its parent's records up to the step the fork starts from."""

from __future__ import annotations

from rich.markup import escape

from engine.store import runs as st
from engine.store.columns import fork_text


def fork_step(status: st.Status) -> int | None:
    """The step a fork starts from, once known (the fork's plan or the worker that loaded it)."""
    return status.parent_step if status.parent else None


def parent_records(store: st.Store, status: st.Status) -> list[st.MetricsRecord]:
    """The parent's [[train]] and [[eval]] records up to the fork's step, in file order. A fork's
    own log continues at that step and its tokens, so these go first and the curve reads as one.
    [] for a run that is no fork, whose step is not known yet, or whose parent is gone or cannot
    be read: the child then shows alone, and a missing parent is no error."""
    step = fork_step(status)
    if step is None:
        return []
    try:
        # status.parent is anyone's to write: a bad id or a linked folder is refused, not followed.
        path = store.real_run_dir(status.parent) / "metrics.toml"
        records = st.metrics_records(st.LogTail(path).poll(), str(path))
    except (st.StoreError, OSError):
        return []
    return [r for r in records if r.step <= step]


def parent_evals(store: st.Store, status: st.Status) -> list[st.EvalRecord]:
    return [r for r in parent_records(store, status) if isinstance(r, st.EvalRecord)]


def fork_caption(status: st.Status) -> str:
    """Markup for the monitor's title: `└ fork of NAME@STEP`, dim; "" for a run that is no fork."""
    if not status.parent:
        return ""
    text = fork_text(status.parent, status.parent_name, status.parent_step, status.parent_ckpt)
    return f"  [dim]└ {escape(text)}[/]"
