"""The engine daemon's options, declared once: `python -m engine` parses them, and `gpt-tui engine
start` parses the same and hands them to the daemon it spawns (EngineOptions.argv)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import rich_click as click

F = TypeVar("F", bound=Callable[..., Any])
EXECUTORS = ("local", "slurm", "submitit-local")


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    workers: int = 1
    max_attempts: int = 3
    poll: float = 0.25
    host: str | None = None
    until_idle: bool = False
    executor: str = "local"
    partition: str | None = None
    gpus_per_run: int = 1
    time_min: float = 60.0
    signal_delay_s: int = 90
    max_jobs: int = 8
    no_standby: bool = False

    def argv(self) -> list[str]:
        """The daemon's command line for these options; a default is left out, as a person would."""
        out: list[str] = []
        for flag, *_ in SPECS:
            value = getattr(self, field_of(flag))
            if value == getattr(DEFAULTS, field_of(flag)):
                continue
            out += [flag] if isinstance(value, bool) else [flag, str(value)]
        return out


DEFAULTS = EngineOptions()

# flag, type (None: a flag without a value), metavar, help
SPECS: tuple[tuple[str, Any, str, str], ...] = (
    ("--workers", click.IntRange(min=1), "N", "concurrent runs on a machine without GPUs"),
    ("--max-attempts", click.IntRange(min=1), "N", "worker deaths before a run is failed"),
    ("--poll", click.FloatRange(min=0, min_open=True), "SECONDS", "time between looks at the queue"),
    ("--host", str, "NAME", "this engine's host name (default: $GPT_TUI_HOST, else the hostname)"),
    ("--until-idle", None, "", "exit once the queue is empty and no run is left"),
    (
        "--executor",
        click.Choice(EXECUTORS),
        "KIND",
        "where workers run: local processes (local), Slurm jobs "
        "through submitit (slurm), or submitit's local executor, the "
        "Slurm path on this machine (submitit-local)",
    ),
    ("--partition", str, "NAME", "Slurm partition"),
    ("--gpus-per-run", click.IntRange(min=0), "N", "GPUs a Slurm job asks for"),
    (
        "--time-min",
        click.FloatRange(min=0, min_open=True),
        "MINUTES",
        "a Slurm job's time limit; at its end the run checkpoints and continues in a new job",
    ),
    ("--signal-delay-s", click.IntRange(min=0), "SECONDS", "how long before the time limit the job is warned"),
    ("--max-jobs", click.IntRange(min=1), "N", "Slurm jobs in flight at once"),
    (
        "--no-standby",
        None,
        "",
        "start every run's worker afresh; by default a local engine keeps one standby worker ready, "
        "torch imported (about 0.3 GB of memory idle), and hands it the next run, which skips the "
        "imports (2-3 s on a CPU); GPT_TUI_STANDBY=0 says the same to any engine started",
    ),
)


def field_of(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def engine_options(f: F) -> F:
    """Every option of EngineOptions on a click command, as keyword arguments named like its fields."""
    for flag, kind, metavar, text in reversed(SPECS):
        default = getattr(DEFAULTS, field_of(flag))
        if kind is None:
            f = click.option(flag, is_flag=True, help=text)(f)
        else:
            f = click.option(
                flag, type=kind, metavar=metavar, default=default, show_default=default is not None, help=text
            )(f)
    return f


def from_values(values: dict[str, Any]) -> EngineOptions:
    """The options among a command's parsed values (it may have others, such as --runs)."""
    return EngineOptions(**{k: v for k, v in values.items() if k in EngineOptions.__dataclass_fields__})
