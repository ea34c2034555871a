"""`gpt-tui lr-find`: queue an LR range test, follow it, and say what learning rate it suggests
(also what `gpt-tui show` says of a range test)."""

from __future__ import annotations

import math
import shlex
import time
from pathlib import Path

import rich_click as click
from rich.console import Group
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from engine.core import config as cfgmod
from engine.core import lrfind as rule
from engine.core.errors import GptTuiError
from engine.core.presets import PRESETS
from engine.store import control
from engine.store import runs as st
from engine.store import table as trial
from engine.store.records import LrRecord, lr_records
from engine.store.schema import KIND_LRFIND
from tui.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    config_from,
    config_options,
    console,
    ensure_engine,
    fail,
    store,
)

POLL_S = 0.5
# Past this many fields away from every preset, the command names the run's config.toml instead.
MAX_SETS = 12


@click.command(
    "lr-find",
    help="an LR range test: train a fresh model while the learning rate rises exponentially from "
    "--min to --max, and suggest a learning rate (steepest descent of the smoothed loss, and minimum / 10)",
)
@config_options
@click.option("--min", "lr_min", type=float, default=rule.DEFAULT_MIN, help="the learning rate of the first step")
@click.option("--max", "lr_max", type=float, default=rule.DEFAULT_MAX, help="the learning rate of the last step")
@click.option(
    "--steps", type=int, default=rule.DEFAULT_STEPS, help="optimizer steps, one learning rate each (at least 10)"
)
@click.option("--name", "-n", help="a name for the run (part of its id; default lr-find)")
@click.option("--priority", type=int, default=0, help="-99..99; higher runs first")
@click.option("--wait", "-w", is_flag=True, help="follow it to its end and print the suggestion")
@click.option("--no-engine", is_flag=True, help="only queue it; do not start an engine")
def lr_find(
    preset: str | None,
    config: Path | None,
    overrides: tuple[str, ...],
    lr_min: float,
    lr_max: float,
    steps: int,
    name: str | None,
    priority: int,
    wait: bool,
    no_engine: bool,
) -> int:
    problems = rule.range_problems(lr_min, lr_max, steps)
    if not -99 <= priority <= 99:
        problems.append(f"--priority must be from -99 to 99, got {priority}")
    for problem in problems:  # every one at once, before anything is written
        fail(problem)
    if problems:
        return EXIT_USAGE
    cfg = config_from(preset, config, overrides)
    s = store()
    run_id = control.submit(
        s,
        cfg,
        name or "lr-find",
        priority,
        source="cli lr-find",
        kind=KIND_LRFIND,
        lrfind_min=lr_min,
        lrfind_max=lr_max,
        lrfind_steps=steps,
    )
    console.print(
        f"queued [bold]{run_id}[/]: LR range test, {steps} steps from {lr_min:g} to {lr_max:g} "
        f"(batch {cfg.batch_label})"
    )
    if not no_engine:
        ensure_engine(s)
    if not wait:
        return EXIT_OK
    try:
        follow_range_test(s, run_id, steps)
    except KeyboardInterrupt:
        console.print(f"[yellow]stopped waiting; the test goes on (`gpt-tui stop {run_id}` stops it)[/]")
        return EXIT_FAILED
    status = s.status(run_id)
    if status.state != st.RunState.DONE:
        console.print(f"[red]{status.state}[/]: {escape(status.reason)}  (log: {s.worker_log(run_id)})")
        return EXIT_FAILED
    print_findings(s, run_id, status)
    return EXIT_OK


def follow_range_test(s: st.Store, run_id: str, steps: int) -> None:
    """A progress bar fed by the test's [[lr]] records (rate, loss, smoothed loss) until it has ended."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    tail = st.LogTail(s.metrics_path(run_id))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(run_id[-24:], total=steps, info="waiting to start")
        while True:
            over = ended(s, run_id)  # read before the last poll so no record is missed
            for r in lr_records(tail.poll(), str(tail.path)):
                info = f"lr {r.lr:.3g}  loss {trial.shown(r.loss, '.4f')}  smoothed {trial.shown(r.smooth, '.4f')}"
                progress.update(task, completed=r.step, info=info)
            if over:
                return
            time.sleep(POLL_S)


def ended(s: st.Store, run_id: str) -> bool:
    try:
        return s.status(run_id).settled
    except st.StoreError:
        return False


def print_findings(s: st.Store, run_id: str, status: st.Status) -> None:
    """What a range test found: its range, both rules, the rate it suggests with the min_lr that
    keeps the config's ratio, and the command that trains with them (one line, to copy whole)."""
    found, command = findings(s, run_id, status)
    console.print(found)
    if command:
        console.print("[bold]train with them:[/]")
        console.print(Text(f"  {command}"), soft_wrap=True)


def findings(s: st.Store, run_id: str, status: st.Status) -> tuple[Group, str]:
    """print_findings' text, and its command ("" when there is none)."""
    lo, hi = status.lrfind_min, status.lrfind_max
    head = f"LR range test: {status.lrfind_steps} steps"
    if lo is not None and hi is not None:
        head += f", learning rate {lo:g} to {hi:g}"
    lines: list[Text | Table] = [Text(head, style="bold")]
    if status.state != st.RunState.DONE:
        lines.append(Text(f"{status.state} at step {status.step}: no suggestion", style="yellow"))
        return Group(*lines), ""
    if status.reason:
        lines.append(Text(status.reason))
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    suggested = status.lr_suggested
    if suggested is not None and not (math.isfinite(suggested) and suggested > 0):
        suggested = None  # a hand edit: no rate to train with
    rule_name = rule.Suggestion(status.lr_steepest, status.lr_min_div10, suggested).rule
    t.add_row("steepest descent", rate(status.lr_steepest) + "  (where the smoothed loss falls fastest)")
    t.add_row("minimum / 10", rate(status.lr_min_div10) + "  (the rate at the lowest smoothed loss, / 10)")
    if suggested is None:
        t.add_row("suggested", "none: the loss never fell; try a wider range or more steps")
        return Group(*lines, t), ""
    try:
        cfg = cfgmod.load(s.config_path(run_id))
    except (GptTuiError, OSError) as e:
        t.add_row("suggested", f"{rate(suggested)}  ({rule_name})")
        return Group(*lines, t, Text(f"config.toml cannot be read: {e}", style="red")), ""
    lr = float(f"{suggested:.3g}")  # three figures: what a person would type
    _, min_lr = rule.with_min_lr(cfg.learning_rate, cfg.min_lr, lr)
    min_lr = float(f"{min_lr:.3g}")
    t.add_row("suggested", f"[green]{rate(lr)}[/]  ({rule_name})")
    ratio = cfg.min_lr / cfg.learning_rate if cfg.learning_rate > 0 else 0.0
    t.add_row("min_lr", f"{rate(min_lr)}  (keeps the config's min_lr / learning_rate = {ratio:g})")
    return Group(*lines, t), rerun_command(cfg, lr, min_lr, s.config_path(run_id))


def points_table(records: list[LrRecord], rows: int = 12) -> Table:
    """About `rows` of a range test's steps, evenly spread, and the lowest smoothed loss among them."""
    every = max(1, -(-len(records) // rows))
    shown = records[::every]
    finite = [r for r in records if r.smooth is not None and math.isfinite(r.smooth)]
    lowest = min(finite, key=lambda r: r.smooth or 0.0) if finite else None
    if lowest is not None and lowest not in shown:
        shown = sorted([*shown, lowest], key=lambda r: r.step)
    if shown[-1] is not records[-1]:
        shown.append(records[-1])
    t = Table(title="LR range test")
    for col in ("step", "lr", "loss", "smoothed"):
        t.add_column(col, justify="right")
    t.add_column("")
    for r in shown:
        mark = "← lowest" if r is lowest else ""
        t.add_row(str(r.step), f"{r.lr:.3g}", trial.shown(r.loss, ".4f"), trial.shown(r.smooth, ".4f"), mark)
    return t


def rate(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g}"


def rerun_command(cfg: cfgmod.RunConfig, lr: float, min_lr: float, config_path: Path) -> str:
    """`gpt-tui run` with the tested config and the suggested rates: the nearest preset and the
    fields that differ from it, or the run's config.toml when no preset is near."""
    mine = cfg.to_dict()
    nearest, differing = "", list(mine)
    for name in PRESETS:
        base = cfgmod.preset(name).to_dict()
        diffs = [k for k in mine if k not in ("learning_rate", "min_lr") and mine[k] != base.get(k)]
        if len(diffs) < len(differing):
            nearest, differing = name, diffs
    if nearest and len(differing) <= MAX_SETS:
        args = ["--preset", nearest, *(a for k in differing for a in ("--set", f"{k}={set_text(mine[k])}"))]
    else:
        args = ["--config", str(config_path)]
    args += ["--set", f"learning_rate={lr:g}", "--set", f"min_lr={min_lr:g}"]
    return shlex.join(["gpt-tui", "run", *args])


def set_text(value: object) -> str:
    """A config value as `--set` reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
