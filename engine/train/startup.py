"""A worker's start-up timeline: where the time goes from its start to the end of its first step.

The clock starts at the worker's process start, or, for the engine's standby worker (imports done
ahead of need), at the moment the engine handed it the run. Phases are marked as the worker passes
them; the first optimizer step writes one line to worker.log and the phases into status.toml.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from datetime import datetime
from typing import Any

PROCESS_START = "the worker's start"
HAND_OVER = "the hand-over to the standby worker"


class StartUpStopped(BaseException):
    """A stop signal that came while the worker was starting, before the run could checkpoint on it
    (imports, the wait for the run's lock): the worker exits at once, the run left to resume
    (stop_reason says which signal). A BaseException, as KeyboardInterrupt is: no `except
    Exception` on the way swallows it."""


_pending: list[int] = []  # a stop signal that came before the worker's main() could act on it


def note_signal(signum: int, frame: object = None) -> None:
    _pending.append(signum)


def note_stop_signals() -> None:
    """From the worker process's first line until its main() runs: a stop signal is noted, for
    main() to act on (stop_start_up_on_signals), instead of killing the process with no word."""
    signal.signal(signal.SIGTERM, note_signal)
    signal.signal(signal.SIGINT, note_signal)


def stop_start_up_on_signals() -> None:
    """Until the run installs its own handlers (it checkpoints, then ends `stopped`), SIGTERM and
    SIGINT raise StartUpStopped wherever the worker is: it need not finish importing torch, or
    wait out a previous worker's lock, to stop. One noted before this raises now."""

    def stop(signum: int, frame: object) -> None:
        note_signal(signum)  # kept too: a bare `except:` in a library being imported may swallow the raise
        raise StartUpStopped()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    raise_if_stopped()


def raise_if_stopped() -> None:
    """Raise StartUpStopped for a stop signal noted so far (one whose raise was swallowed too)."""
    if _pending:
        raise StartUpStopped()


def stop_reason() -> str | None:
    """The stop signal of the start-up, if one came: for the run's own handlers to act on, should
    its StartUpStopped have been swallowed on the way."""
    return f"signal {signal.Signals(_pending[0]).name}" if _pending else None


def preload() -> None:
    """Import what training needs (torch above all), so that the imports are one phase, done
    before the run is touched; the standby worker does this while it waits for a run."""
    import torch._dynamo  # noqa: F401 - the optimizer's first call imports it anyway (torch._disable_dynamo)

    import engine.data.prepare
    import engine.sweeps.pruning
    import engine.train.model
    import engine.train.trainer  # noqa: F401


def process_start() -> float:
    """When this process started (Unix time, to the kernel's clock tick, 10 ms): its start in ticks
    since boot against the boot clock. psutil's create_time counts from a boot time rounded to the
    second, off by up to a second."""
    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(0.0, age)
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:
        return time.time()


class Timeline:
    """Phases marked in order, each the seconds since the previous mark (the first, since `origin`)."""

    def __init__(self, origin: float, since: str = PROCESS_START) -> None:
        self.origin, self.since = origin, since
        self.phases: list[tuple[str, float]] = []
        self.at = origin
        self.finished = False

    @classmethod
    def from_process_start(cls) -> Timeline:
        return cls(process_start())

    def mark(self, phase: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.phases.append((phase, max(0.0, now - self.at)))
        self.at = max(self.at, now)

    def total(self) -> float:
        return self.at - self.origin

    def table(self) -> list[dict[str, Any]]:
        return [{"phase": phase, "s": round(s, 3)} for phase, s in self.phases]

    def line(self, since_queued: float | None, queued_what: str) -> str:
        # The phases that took time, and always the imports, the step-0 evaluation and the first step.
        shown = [(p, s) for p, s in self.phases if round(s, 2) > 0 or p in ("imports", "eval", "first step")]
        phases = ", ".join(f"{phase} {round(s, 3):.2f} s" for phase, s in shown)
        # Rounded as status.toml keeps them, so that the line and `gpt-tui show` say the same.
        said = f"start-up: {phases or 'no phase'}: {round(self.total(), 3):.2f} s from {self.since}"
        if since_queued is not None:
            said += f", {round(since_queued, 3):.2f} s from {queued_what}"
        return said


def watch(timeline: Timeline, events: Any, rec: Any, log: Any) -> Any:
    """The trainer's Events with the loop's start marked: the step-0 evaluation, the checkpoint
    written after it, and the end of the first optimizer step, where the timeline is recorded."""
    on_eval, should_stop, on_progress = events.on_eval, events.should_stop, events.on_progress
    evaluated = [False]

    def on_eval_marked(record: dict[str, Any]) -> None:
        if not timeline.finished and not evaluated[0]:
            timeline.mark("eval")
            evaluated[0] = True
        on_eval(record)

    def should_stop_marked() -> str | None:
        if not timeline.finished and evaluated[0] and timeline.phases[-1][0] == "eval":
            timeline.mark("checkpoint")  # the step-0 checkpoint, saved after the eval record
        return should_stop()

    def on_progress_marked(last: dict[str, Any]) -> None:
        if not timeline.finished:
            timeline.mark("first step")
            timeline.finished = True
            record(timeline, rec, log)
        on_progress(last)

    return dataclasses.replace(
        events, on_eval=on_eval_marked, should_stop=should_stop_marked, on_progress=on_progress_marked
    )


def record(timeline: Timeline, rec: Any, log: Any) -> None:
    """One line to worker.log and the phases into status.toml. first_step_s (from the run's
    `created`) is the run's: written by the first attempt to reach a step; a later attempt says
    its time from the engine's claim instead."""
    status, now = rec.status, timeline.at
    first_step_s = None
    if status.first_step_s is None and (created := _unix(status.created)) is not None:
        first_step_s = max(0.0, now - created)
        said = timeline.line(first_step_s, "queued")
    elif (claimed := _unix(status.claimed)) is not None:
        said = timeline.line(max(0.0, now - claimed), "the engine's claim")
    else:
        said = timeline.line(None, "")
    log(said)
    rec.write_status(
        durable=False,
        startup=timeline.table(),
        startup_s=round(timeline.total(), 3),
        first_step_s=None if first_step_s is None else round(first_step_s, 3),
    )


def _unix(stamp: str) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
