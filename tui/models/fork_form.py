"""The fork editor's logic without widgets: what a run can be forked from, and what a fork may not
change, told as you type (engine.store.fork.plan_fork decides when it is queued)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.config import ConfigError, RunConfig
from engine.core.forking import fork_problems
from engine.store import ckpt_files
from engine.store import fork as forking
from engine.store import runs as st
from engine.store.columns import fork_text


@dataclass(frozen=True)
class Choice:
    """One checkpoint to fork from: `source` as plan_fork takes it (last, best, a kept step)."""

    source: str
    checkpoint: str  # its file under ckpt/
    step: int | None  # as the checkpoint index says; None when it does not

    @property
    def label(self) -> str:
        if self.checkpoint.startswith("step-"):
            return f"kept step {self.step}"
        return self.source if self.step is None else f"{self.source} · step {self.step}"


@dataclass
class ForkStart:
    """What the fork editor opens with: the parent, its config, and its checkpoints (one at least;
    the first is chosen)."""

    parent: str
    parent_name: str
    config: RunConfig
    choices: list[Choice] = field(default_factory=list)

    def title(self, choice: Choice) -> str:
        return fork_text(self.parent, self.parent_name, choice.step, choice.checkpoint)


def checkpoint_choices(store: st.Store, run_id: str) -> list[Choice]:
    """last and best where their files are, then the kept steps, newest first."""
    ckpt = store.ckpt_dir(run_id)
    out = [
        Choice(name, f"{name}.pt", ckpt_files.step_of(ckpt, f"{name}.pt"))
        for name in ("last", "best")
        if (ckpt / f"{name}.pt").is_file()
    ]
    kept = reversed(ckpt_files.kept_steps(ckpt))
    return out + [Choice(str(step), ckpt_files.kept_name(step), step) for step in kept]


def prepare(store: st.Store, run_id: str) -> ForkStart:
    """The fork editor's start, read off the UI thread, with the checkpoints plan_fork accepts (a
    damaged one is left out). ForkError when none is (no checkpoint yet, an LR range test) and
    ConfigError when the run's config cannot be read: nothing opens. A max_iters at or below a
    checkpoint's step is no reason: the form asks for a higher one."""
    usable: list[Choice] = []
    refused: forking.ForkError | None = None
    for choice in checkpoint_choices(store, run_id):
        try:
            forking.plan_fork(store, run_id, choice.source)
        except ConfigError:
            pass
        except forking.ForkError as e:
            refused = refused or e
            continue
        usable.append(choice)
    if refused is not None and not usable:
        raise refused
    if not usable:  # no checkpoint at all: plan_fork's ForkError says so in its own words
        usable = [Choice("last", "last.pt", forking.plan_fork(store, run_id).parent_step)]
    config = forking.parent_config(store, run_id)
    return ForkStart(run_id, store.status(run_id).name, config, usable)


def form_problems(parent: RunConfig, child: RunConfig, step: int | None) -> dict[str, list[str]]:
    """What plan_fork would refuse, by field: a fixed field changed (the form locks them; a paste
    could not), and a max_iters that leaves nothing to train after the checkpoint's step."""
    problems: dict[str, list[str]] = {}
    for p in fork_problems(parent, child):
        problems.setdefault(p.field, []).append(p.message)
    if step is not None and child.max_iters <= step:
        problems.setdefault("max_iters", []).append(
            f"the checkpoint is at step {step}: a fork trains on from there, so raise max_iters above it"
        )
    return problems


def problems_by_field(error: ConfigError) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for p in error.problems:
        problems.setdefault(p.field, []).append(p.message)
    return problems
