"""Waking the engine the moment a run is queued, instead of at its next look at the queue.

A command that queues a run and finds this store's engine alive sends it WAKE_SIGNAL; the engine
sleeps between its looks in select() on its signal wake-up pipe, which any signal with a handler
makes readable: this one, a child's exit (a worker ended: settle it, start the next run), SIGTERM.
SIGURG does nothing by default, so an engine that does not listen for it (an older version) is
untouched. The store stays the interface: a lost signal costs one poll interval, no more.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time

WAKE_SIGNAL = signal.SIGURG
WAKING = (WAKE_SIGNAL, signal.SIGCHLD)  # and a worker's exit: it is settled, and the next run started, at once


def _nothing(signum: int, frame: object) -> None:
    """A handler, so that the signal reaches the wake-up pipe."""


def wake(pid: int) -> None:
    """Tell engine `pid` (a live engine of the store, found through its lock) to look at the queue."""
    try:
        os.kill(pid, WAKE_SIGNAL)
    except (ProcessLookupError, PermissionError):
        pass


class Nap:
    """The engine's sleep between looks, cut short by a signal; a plain sleep where no wake-up fd can
    be set (a thread other than the main one)."""

    def __init__(self) -> None:
        self.read_fd: int | None = None
        if threading.current_thread() is not threading.main_thread():
            return
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        try:
            self.previous_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:
            os.close(r)
            os.close(w)
            return
        self.read_fd, self.write_fd = r, w
        self.previous = {sig: signal.signal(sig, _nothing) for sig in WAKING}
        for sig in WAKING:
            signal.siginterrupt(sig, False)  # a system call it lands in goes on; only the nap ends

    def __call__(self, seconds: float) -> None:
        if self.read_fd is None:
            time.sleep(seconds)
            return
        ready, _, _ = select.select([self.read_fd], [], [], seconds)
        if ready:
            try:
                while os.read(self.read_fd, 512):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        if self.read_fd is None:
            return
        signal.set_wakeup_fd(self.previous_fd)
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        os.close(self.read_fd)
        os.close(self.write_fd)
        self.read_fd = None
