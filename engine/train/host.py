"""The worker's own process, set up for training speed: how glibc's malloc keeps freed memory, and
how many threads torch uses on a CPU. Nothing here touches the user's shell or another process.
No torch import: the worker calls `keep_freed_memory` before torch loads.

- malloc: by default glibc hands big freed blocks back to the kernel (mmap'd chunks unmapped,
  the heap's top trimmed) and maps them again on the next step: thousands of minor page faults
  per training step for a small model's activations. The worker keeps them (`mallopt`), at the
  cost of holding its peak heap for the life of the run, which a training loop reaches every step.
- threads: with `threads = 0` a CPU run takes the cores the machine really has free when it
  starts (the affinity mask, a cgroup CPU quota, minus what other processes were using while the
  worker loaded) and keeps that count for its whole life, resumes included, so that a resumed run
  computes what the uninterrupted one would. Two OpenMP threads fighting another process for one
  core wait on each other at every barrier: a step can take several times as long as on one.

`GPT_TUI_HOST_TUNING=0` in the worker's environment leaves both as they are (a benchmark's control).
"""

from __future__ import annotations

import ctypes
import math
import os
import time
from pathlib import Path

HOST_TUNING_ENV = "GPT_TUI_HOST_TUNING"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling for it on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1024 * 1024 * 1024
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"
MIN_WINDOW_S = 0.2  # a shorter look at the machine tells nothing: every core is taken as free


def enabled() -> bool:
    return os.environ.get(HOST_TUNING_ENV, "1") != "0"


def keep_freed_memory() -> str:
    """Keep freed memory in this process (see the module's doc). Returns what was done, for worker.log."""
    if not enabled():
        return f"malloc as glibc sets it ({HOST_TUNING_ENV}=0)"
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's name; find_library would fork `ldconfig -p` to find it
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "malloc as it is (no glibc mallopt here)"
    mmap_ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    if not (mmap_ok and trim_ok):
        return "malloc as it is (mallopt refused the thresholds)"
    return f"malloc keeps freed memory (mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim {TRIM_THRESHOLD >> 20} MiB)"


def _busy_seconds() -> float:
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


class CoreWatch:
    """How much CPU other processes use from its making until `others_busy` is asked: the worker
    makes one before its imports (or a standby worker when it is handed a run), so the look at the
    machine costs no time of its own."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = time.monotonic(), _busy_seconds(), time.process_time()

    def others_busy(self) -> tuple[float | None, float]:
        """(cores other processes kept busy on average, the window in seconds); None for a window
        too short to tell."""
        window = time.monotonic() - self.t0
        if window < MIN_WINDOW_S:
            return None, window
        others = (_busy_seconds() - self.busy0) - (time.process_time() - self.own0)
        return max(0.0, others / window), window


def cgroup_cores(text: str | None) -> float | None:
    """The cores a cgroup v2 `cpu.max` allows ("200000 100000": 2.0), None for no limit or an unreadable file."""
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask, bounded by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota = cgroup_cores(CPU_MAX.read_text())
    except OSError:
        quota = None
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def pick_threads(cores: int, others_busy: float | None) -> int:
    """Threads for a CPU run: the usable cores less those other processes keep busy (half a core
    busy or more counts as one), at least one. Pure."""
    busy = 0 if others_busy is None else math.floor(others_busy + 0.5)
    return max(1, cores - busy)


def choose_threads(watch: CoreWatch | None) -> tuple[int, str]:
    """(threads, why) for a CPU run with `threads = 0`; 0 threads means leave torch's own count."""
    if not enabled():
        return 0, f"torch's own thread count ({HOST_TUNING_ENV}=0)"
    cores = usable_cores()
    busy, window = watch.others_busy() if watch is not None else (None, 0.0)
    n = pick_threads(cores, busy)
    seen = f"other processes kept {busy:.1f} cores busy over {window:.1f} s" if busy is not None else "no look"
    return n, f"{n} torch thread{'' if n == 1 else 's'}: {cores} usable cores, {seen}"


class ProcessTuning:
    """The worker process's tuning and its look at the machine. A worker starts it before torch
    loads; a standby worker, waiting for a run, looks again every few seconds (`look_again`), so
    that a run handed to it is judged by the last seconds, not by its whole wait."""

    def __init__(self) -> None:
        self.malloc = "malloc as it is"
        self.watch: CoreWatch | None = None
        self.previous: CoreWatch | None = None

    def start(self) -> None:
        self.malloc = keep_freed_memory()
        self.watch = CoreWatch()

    def look_again(self) -> None:
        self.previous, self.watch = self.watch, CoreWatch()

    def threads(self, on_cpu: bool) -> tuple[int, str]:
        """(torch threads for a run with `threads = 0`, 0 for torch's own count; what was done, for worker.log)."""
        if not on_cpu:
            return 0, self.malloc
        watch = self.watch
        if watch is not None and watch.others_busy()[0] is None and self.previous is not None:
            watch = self.previous  # just looked again: the look before spans the last seconds
        n, why = choose_threads(watch)
        return n, f"{self.malloc}; {why}"


PROCESS = ProcessTuning()
