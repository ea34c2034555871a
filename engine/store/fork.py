"""A fork: a new run that starts from another run's checkpoint, prepared from the store's files
alone (no torch), so the CLI and the TUI share it."""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core import config as cfgmod
from engine.core.config import ConfigError, Problem, RunConfig
from engine.core.errors import GptTuiError
from engine.core.forking import FIXED_FIELDS, checkpoint_name, fork_problems
from engine.core.text import printable
from engine.store import ckpt_files
from engine.store import runs as st
from engine.store.schema import KIND_LRFIND


class ForkError(GptTuiError):
    """A fork that cannot be made: no such run, no such checkpoint; the message says what can be done."""


@dataclass
class ForkPlan:
    parent: str
    parent_name: str
    checkpoint: str  # file name under the parent's ckpt/
    parent_step: int | None  # as the checkpoint index says; the worker writes the step it loaded
    config: RunConfig
    message: str  # "" or a word for the person, e.g. that the parent is running


def parent_config(store: st.Store, parent_id: str) -> RunConfig:
    """The parent's config.toml (ConfigError naming the file when it cannot be used)."""
    return cfgmod.load(store.config_path(parent_id))


def child_config(parent: RunConfig, changes: Mapping[str, Any], source: str = "--set") -> RunConfig:
    """The parent's config with `changes` (key -> value, as overrides_to_mapping gives them).
    ConfigError names each field a checkpoint fixes and says why, with every other problem."""
    problems: list[Problem] = []
    rest = {}
    for key, value in changes.items():
        if key not in FIXED_FIELDS:
            rest[key] = value
            continue
        try:
            typed = cfgmod.check_type(key, value)
        except ValueError:
            typed = value
        problems.extend(fork_problems(parent, dataclasses.replace(parent, **{key: typed})))
    try:
        cfg = cfgmod.from_mapping(rest, parent, source=source)
    except ConfigError as e:
        problems.extend(e.problems)
    if problems:
        raise ConfigError(problems, source)
    return cfg


def plan_fork(store: st.Store, parent_id: str, source: str = "last", config: RunConfig | None = None) -> ForkPlan:
    """What forking `parent_id` from `source` (last, best or a kept step) would do, with `config`
    (default: the parent's). ForkError when the run or its checkpoint is not there; ConfigError
    naming each fixed field `config` changes."""
    status = _parent_status(store, parent_id)
    label = printable(status.name or parent_id)  # said to a terminal: a stored name may hold escapes
    if str(source).strip().isdigit() and len(str(source).strip()) > 18:
        raise ForkError(f"--from {str(source).strip()[:24]}...: no run keeps a step that large")
    try:
        name = checkpoint_name(str(source))
    except ValueError as e:
        raise ForkError(str(e)) from None
    if status.kind == KIND_LRFIND:
        raise ForkError(f"{label} is an LR range test, its weights saw a sweep of learning rates; fork a training run")
    _check_checkpoint(store, parent_id, label, name, status)
    step = ckpt_files.step_of(store.ckpt_dir(parent_id), name)
    message = ""
    if status.state == st.RunState.RUNNING:
        # Every checkpoint is replaced whole, never written in place: a running parent's is as good.
        at = f" (step {step})" if step is not None else ""
        what = f"checkpoint kept at step {step}" if name.startswith("step-") else f"{name[:-3]} checkpoint{at}"
        message = f"{label} is running: forking from its {what}; it goes on training"
    base = parent_config(store, parent_id)
    cfg = base if config is None else config
    problems = fork_problems(base, cfg)
    if step is not None and cfg.max_iters <= step:
        problems.append(
            Problem(
                "max_iters",
                f"the checkpoint is at step {step} and a fork trains on from there, so max_iters "
                f"({cfg.max_iters}) must be above it; raise it (and lr_decay_iters with it)",
            )
        )
    if problems:
        raise ConfigError(problems, f"a fork of {label}")
    return ForkPlan(parent_id, status.name, name, step, cfg, message)


def fork(
    store: st.Store,
    plan: ForkPlan,
    name: str | None = None,
    priority: int = 0,
    fresh_optimizer: bool = False,
    source: str = "cli fork",
) -> str:
    """Make the child run of `plan` and queue it; returns its id. The checkpoint is linked (or copied)
    into the child's ckpt/ before its ticket is queued, so no worker ever finds the child without it."""
    if type(priority) is not int or not -99 <= priority <= 99:
        raise ForkError(f"priority must be a whole number from -99 to 99, got {priority!r}")
    if name is None:
        name = f"{plan.parent_name}-fork" if plan.parent_name else "fork"
    attempt_id = st.new_attempt_id()
    meta = {
        "source": source,
        "parent": plan.parent,
        "parent_name": plan.parent_name,
        "parent_ckpt": plan.checkpoint,
        "parent_step": plan.parent_step,
        "fresh_optimizer": fresh_optimizer,
        "attempt_id": attempt_id,
    }
    run_id = store.create_run(cfgmod.to_toml(plan.config), name, meta)
    try:
        ckpt_dir = store.ckpt_dir(run_id)
        ckpt_dir.mkdir(st.DIR_MODE)
        try:
            ckpt_files.link_or_copy(store.ckpt_dir(plan.parent) / plan.checkpoint, ckpt_dir / ckpt_files.FORK)
        except FileNotFoundError:
            raise ForkError(
                f"ckpt/{plan.checkpoint} of {plan.parent_name or plan.parent} is gone (the run was deleted, "
                "or the file replaced, a moment ago); nothing was made"
            ) from None
        store.enqueue(run_id, {"config": plan.config.to_dict(), "reason": "new", "attempt_id": attempt_id}, priority)
    except BaseException:
        shutil.rmtree(store.run_dir(run_id), ignore_errors=True)  # no ticket yet: nothing else knows it
        raise
    return run_id


def _parent_status(store: st.Store, parent_id: str) -> st.Status:
    try:
        if not store.run_dir(parent_id).is_dir():
            raise ForkError(f"no run {parent_id!r} in {store.root}; `gpt-tui ls` lists the runs")
        return store.status(parent_id)
    except st.StoreError as e:
        raise ForkError(f"cannot fork {parent_id}: {e}") from None


def _check_checkpoint(store: st.Store, parent_id: str, label: str, name: str, status: st.Status) -> None:
    """ForkError unless ckpt/`name` is a whole checkpoint file: there, regular, not cut short."""
    path = store.ckpt_dir(parent_id) / name
    try:
        fd = ckpt_files.open_checkpoint(path)
    except FileNotFoundError:
        raise ForkError(_missing(store, parent_id, label, name, status)) from None
    except st.StoreError as e:
        raise ForkError(f"cannot fork from {str(e).replace(str(path), f'ckpt/{name}')}") from None
    except OSError as e:  # no permission, a name too long
        raise ForkError(f"cannot read ckpt/{name} of {label} ({e.strerror})") from None
    with open(fd, "rb") as f:
        whole = zipfile.is_zipfile(f)  # a checkpoint is a zip: one cut short has lost its directory
    if not whole:
        raise ForkError(f"ckpt/{name} of {label} is cut short or damaged; fork from another checkpoint")


def _missing(store: st.Store, parent_id: str, label: str, name: str, status: st.Status) -> str:
    kept = ckpt_files.kept_steps(store.ckpt_dir(parent_id))
    if not name.startswith("step-"):
        if not any((store.ckpt_dir(parent_id) / n).exists() for n in ("last.pt", "best.pt")):
            return (
                f"{label} has no checkpoint yet ({status.state}); a run saves one at each evaluation, "
                "so fork it once it has evaluated"
            )
        return f"{label} has no {name.removesuffix('.pt')} checkpoint; fork from last"
    step = name.removeprefix("step-").removesuffix(".pt")
    if kept:
        steps = ", ".join(map(str, kept))
        return f"{label} kept no checkpoint at step {step}; it kept steps {steps} (or fork from last or best)"
    return (
        f"{label} kept no checkpoint at step {step}: it keeps last and best only; fork from those, or "
        "set keep_checkpoints = N on a run to keep one every N evaluations"
    )
