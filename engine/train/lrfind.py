"""The LR range test's loop: a fresh model trained while its learning rate rises exponentially, one
[[lr]] record a step, until the last step or the smoothed loss blows up (engine.core.lrfind)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core import lrfind as rule
from engine.core.estimate import param_count
from engine.store import runs as st
from engine.store.schema import RunState
from engine.train.loop_events import StopRequested
from engine.train.recorder import RunRecorder, keep_records_through, latest, log
from engine.train.trainer import Trainer


@dataclass(frozen=True)
class RangeTest:
    """How a range test went: its points, the steps it took, why it ended early (or ""), what it suggests."""

    lrs: list[float]
    losses: list[float]
    smooths: list[float]
    early: str
    suggestion: rule.Suggestion

    @property
    def steps(self) -> int:
        return len(self.lrs)


def range_test(
    trainer: Trainer,
    lr_min: float,
    lr_max: float,
    steps: int,
    on_lr: Callable[[dict[str, Any]], None] = lambda r: None,
) -> RangeTest:
    """Train `trainer`'s model for up to `steps` optimizer steps at lr_at(step), no warmup and no
    decay, reporting each step to on_lr. A stop request raises StopRequested (no checkpoint: a
    range test that comes back starts over). The loss is read every step, unlike training's:
    the smoothed loss decides each step whether to go on."""
    smoother = rule.Smoother()
    lrs: list[float] = []
    losses: list[float] = []
    smooths: list[float] = []
    early = ""
    trainer.step = 0
    trainer.model.train()
    t_last = time.perf_counter()
    for step in range(steps):
        reason = trainer.events.should_stop()
        if trainer.dist.any(bool(reason), trainer.device):  # every process stops at the same step
            raise StopRequested(step, reason or "stop requested on another process")
        lr = rule.lr_at(step, lr_min, lr_max, steps)
        loss_sum = trainer.optimizer_step(lr)  # each group's lr_scale kept, as in training
        trainer.step = step + 1
        loss = trainer.dist.mean(loss_sum).item()  # the same on every process: they stop alike
        smooth = smoother.add(loss)
        lrs.append(lr)
        losses.append(loss)
        smooths.append(smooth)
        now = time.perf_counter()
        rate = trainer.tokens_per_iter / (now - t_last) if now > t_last else 0.0
        t_last = now
        on_lr({"step": trainer.step, "lr": lr, "loss": loss, "smooth": smooth, "t": time.time()})
        trainer.last.update(
            step=trainer.step, loss=loss, lr=lr, tokens=trainer.step * trainer.tokens_per_iter, tokens_per_s=rate
        )
        trainer.events.on_progress(trainer.last)
        if smoother.should_stop(smooth):
            blown = f"passed {rule.STOP_FACTOR:g}x its minimum" if math.isfinite(smooth) else "became non-finite"
            early = f"stopped early at step {trainer.step}: the smoothed loss {blown}"
            break
    return RangeTest(lrs, losses, smooths, early, rule.suggest(lrs, smooths))


def run_in_worker(store: st.Store, run_id: str, rec: RunRecorder, trainer: Trainer) -> tuple[RunState, str, dict]:
    """The range test of an `lrfind` run, recorded in its folder: [[lr]] records and a status that
    ends with the suggestions. No checkpoint, no results row. Returns (state, reason, status fields)
    for the worker to end the run with; an error is raised as training's are."""
    status = rec.status
    lr_min = status.lrfind_min if status.lrfind_min is not None else rule.DEFAULT_MIN
    lr_max = status.lrfind_max if status.lrfind_max is not None else rule.DEFAULT_MAX
    steps = status.lrfind_steps or rule.DEFAULT_STEPS
    problems = rule.range_problems(lr_min, lr_max, steps)
    if problems:  # a status edited by hand: say which bound, and train nothing
        return RunState.FAILED, f"invalid LR range test: {'; '.join(problems)}", {}
    metrics = store.metrics_path(run_id)
    if trainer.dist.is_main and metrics.exists():
        # A range test is short and keeps no checkpoint: one that comes back (an engine restart,
        # a resume) runs again from its first step, its earlier records dropped.
        log(f"restarting the LR range test from step 0: metrics.toml: {keep_records_through(metrics, -1)}")
    rec.open_metrics()
    rec.max_iters, rec.tokens_per_iter = steps, trainer.tokens_per_iter
    rec.write_status(
        device=trainer.device_label,
        dtype=trainer.dtype,
        params=param_count(trainer.cfg, trainer.vocab_size),
        vocab_size=trainer.vocab_size,
        step=0,
        max_iters=steps,
    )
    log(f"LR range test: {steps} steps, learning rate {lr_min:g} to {lr_max:g}, exponentially")
    try:
        test = range_test(trainer, lr_min, lr_max, steps, rec.on_lr)
    except StopRequested as s:
        return RunState.STOPPED, s.reason, {**latest(trainer), "step": s.step}
    found = test.suggestion
    log(
        f"LR range test: {test.steps} steps; steepest descent {_g(found.steepest)}, "
        f"minimum / 10 {_g(found.min_div10)}; suggested {_g(found.suggested)} ({found.rule})"
    )
    fields = {
        **latest(trainer),
        "step": test.steps,
        "lr_steepest": found.steepest,
        "lr_min_div10": found.min_div10,
        "lr_suggested": found.suggested,
    }
    return RunState.DONE, test.early, fields


def _g(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g}"
