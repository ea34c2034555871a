"""StoreWatcher: a thread that stats the files a screen shows and reads them when they change."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from engine.store.logfile import SETTLED_TAIL_S, LogTail

T = TypeVar("T")
Stamp = tuple[int, int, int] | None
_UNSEEN = object()  # no stamp taken yet: the first pass reports every path


def stamp(path: str) -> Stamp:
    # The inode too: status.toml is replaced whole, and a replacement can keep size and mtime.
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def settling(tail: LogTail) -> bool:
    """True while `tail` holds an unterminated last record it may take later without the file
    changing again (LogTail takes one once the file has been still for SETTLED_TAIL_S)."""
    try:
        info = os.stat(tail.path)
    except OSError:
        return False
    return info.st_size > tail.offset and time.time() - info.st_mtime <= SETTLED_TAIL_S


class Source(ABC, Generic[T]):
    """What a watcher follows: the paths to stat, and how to read them once they changed."""

    # Paths to read on the next pass even if unchanged; a source sets this in read_changed().
    again: frozenset[str] = frozenset()

    @abstractmethod
    def paths(self) -> Iterable[str]: ...

    @abstractmethod
    def read_changed(self, changed: set[str]) -> T | None:
        """Read what is new in `changed` (incrementally); None when there is nothing to show."""


class StoreWatcher(Generic[T]):
    """Stats `source.paths()` every `interval` seconds on a daemon thread; os.stat, not inotify,
    which misses writes made by other hosts on NFS and Slurm clusters' filesystems. When a stamp
    changed, the thread reads the source and keeps the result in an inbox, and calls `notify()`
    unless a notification is already waiting to be taken: however fast the files change, the UI
    has at most one message from this watcher in its queue, and `take()` drains the inbox."""

    def __init__(
        self,
        source: Source[T],
        notify: Callable[[], object],
        interval: float = 1.0,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self.source = source
        self.notify = notify
        self.interval = interval
        self.on_error = on_error
        self._stamps: dict[str, Stamp] = {}
        self._lock = threading.Lock()  # guards the inbox and the flag below
        self._inbox: list[T] = []
        self._notified = False
        self._wake = threading.Event()
        self._paused = False
        self._stopped = False
        self._failure = ""  # the last error reported, so a lasting one is reported once
        self._thread: threading.Thread | None = None

    # -- the thread --------------------------------------------------------------------
    def start(self) -> None:
        # A copy of the caller's context: Textual finds its app through a context variable.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="store-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.clear()
            if self._stopped:
                return
            if not self._paused:
                self.check()
            self._wake.wait(None if self._paused else self.interval)  # paused: asleep until woken

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        """Start again, with a pass at once: it reports what changed while paused."""
        self._paused = False
        self._wake.set()

    def poke(self) -> None:
        """A pass now rather than at the next tick (after the UI wrote a file itself)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- one pass ----------------------------------------------------------------------
    def check(self) -> bool:
        """Stat every path; read the source if any changed. True when something was kept."""
        old, again = self._stamps, self.source.again
        self._stamps = {path: stamp(path) for path in self.source.paths()}
        changed = {path for path, s in self._stamps.items() if old.get(path, _UNSEEN) != s} | again
        if not changed:
            return False
        try:
            result = self.source.read_changed(changed)
        except Exception as err:
            for path in changed:
                self._stamps.pop(path, None)  # read them again on the next pass
            if self.on_error is not None and str(err) != self._failure:
                self.on_error(err)
            self._failure = str(err)
            return False
        self._failure = ""
        if result is None or self._stopped:
            return False
        with self._lock:
            self._inbox.append(result)
            if self._notified:
                return True
            self._notified = True
        self.notify()
        return True

    def take(self) -> list[T]:
        """Everything read since the last take, oldest first; the next change notifies again."""
        with self._lock:
            items, self._inbox = self._inbox, []
            self._notified = False
        return items
