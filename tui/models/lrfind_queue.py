"""Queueing an LR range test from the app, and what the editor says of one: its progress line and
the learning rates it offers. No Textual; the store calls are for worker threads."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core import config as cfgmod
from engine.core import lrfind
from engine.core.text import printable
from engine.store import control
from engine.store import runs as st
from engine.store.columns import lr_text
from engine.store.schema import KIND_LRFIND

SUFFIX = "-lr-find"  # as `gpt-tui lr-find` names its runs (lr-find), after the run it tunes


def steps_for(max_iters: int) -> int:
    """The test's steps: DEFAULT_STEPS, but never more than the run it tunes takes (a 50-step run
    should not wait on a 200-step test, each step costing one of its own), and never fewer than
    MIN_STEPS (too few points to show where the loss falls fastest)."""
    return min(lrfind.DEFAULT_STEPS, max(lrfind.MIN_STEPS, max_iters))


def queue_lrfind(store: st.Store, cfg: cfgmod.RunConfig, name: str | None, source: str) -> str:
    """A new run of kind lrfind over the default range, queued; its id."""
    base = (name or "").removesuffix(SUFFIX)
    return control.submit(
        store,
        cfg,
        f"{base}{SUFFIX}" if base else SUFFIX[1:],
        source=source,
        kind=KIND_LRFIND,
        lrfind_min=lrfind.DEFAULT_MIN,
        lrfind_max=lrfind.DEFAULT_MAX,
        lrfind_steps=steps_for(cfg.max_iters),
    )


def queue_lrfind_of_run(store: st.Store, run_id: str) -> str:
    """An LR range test on a run's config (the runs screen's L); the toast's text."""
    status = control.status_of(store, run_id)
    cfg = cfgmod.load(store.config_path(run_id))
    new_id = queue_lrfind(store, cfg, status.name or run_id, f"lr-find of {run_id}")
    return f"queued an LR range test: {new_id}"


def progress_text(status: st.Status) -> str:
    """The editor's lines (its side panel is narrow): how far the test is, then what it found or
    why it ended."""
    steps = status.lrfind_steps or status.max_iters
    if status.state == st.RunState.QUEUED:
        return "LR find: queued, waiting for the engine"
    if status.state == st.RunState.RUNNING:
        head = f"LR find: step {status.step}/{steps}" if steps else f"LR find: step {status.step}"
        parts = [f"lr {lr_text(status.lr)}"] if status.lr is not None else []
        parts += [f"loss {status.loss:.3f}"] if status.loss is not None else []
        return "\n".join([head, " · ".join(parts)] if parts else [head])
    if status.state == st.RunState.DONE and status.lr_suggested is not None:
        found = lrfind.Suggestion(status.lr_steepest, status.lr_min_div10, status.lr_suggested)
        return f"LR find: done · suggests {lr_text(status.lr_suggested)}\nby the rule of {found.rule}"
    why = f": {printable(status.reason)}" if status.reason else ""
    return f"LR find: {status.state}, no suggestion{why}"


@dataclass(frozen=True)
class Offer:
    """The rates the editor offers to set, as the form would hold them."""

    learning_rate: str
    min_lr: str
    rule: str

    def question(self) -> str:
        return (
            f"The LR range test suggests learning_rate {self.learning_rate} ({self.rule}). "
            f"Set learning_rate = {self.learning_rate} and min_lr = {self.min_lr} "
            "(min_lr keeps its ratio to learning_rate)?"
        )


def offer(status: st.Status, cfg: cfgmod.RunConfig) -> Offer | None:
    """What a finished test offers for `cfg` (the form as it is now); None when it found nothing.
    The rate is rounded to three digits: the test is no finer than that, and the form reads better."""
    found = status.lr_suggested
    if status.state != st.RunState.DONE or found is None or not (0 < found < math.inf):
        return None
    rounded = float(lr_text(found))
    lr, min_lr = lrfind.with_min_lr(cfg.learning_rate, cfg.min_lr, rounded)
    rule = lrfind.Suggestion(status.lr_steepest, status.lr_min_div10, status.lr_suggested).rule
    return Offer(lr_text(lr), lr_text(min_lr), rule)
