"""WatchedScreen: a screen kept current by a StoreWatcher, which sleeps while the screen is covered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.message import Message
from textual.screen import Screen

from tui.watcher import Source, StoreWatcher


class WatchedScreen(Screen[None]):
    """Call `start_watcher(source, interval, on_change)`; `on_change(items)` then gets what the
    watcher read, on the UI thread. The watcher pauses while another screen is on top and stops with this one."""

    class StoreChanged(Message):
        """What the screen watches changed; what was read waits in the watcher's inbox."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, WatchedScreen.StoreChanged)

    class WatchFailed(Message):
        def __init__(self, error: Exception) -> None:
            super().__init__()
            self.error = error

    watcher: StoreWatcher | None = None

    def start_watcher(self, source: Source, interval: float, on_change: Callable[[list[Any]], None]) -> None:
        self._on_change = on_change
        self.watcher = StoreWatcher(
            source,
            lambda: self.post_message(self.StoreChanged()),
            interval,
            on_error=lambda err: self.post_message(self.WatchFailed(err)),
        )
        if self.app.screen is not self:
            self.watcher.pause()  # covered already: the first pass waits for resume
        self.watcher.start()

    @on(StoreChanged)
    def _take_inbox(self) -> None:
        if self.watcher is not None and (items := self.watcher.take()):
            self._on_change(items)

    @on(WatchFailed)
    def _report(self, message: WatchFailed) -> None:
        error = message.error
        self.notify(f"{type(error).__name__}: {error}", title="reading the store", severity="error", timeout=10)

    def on_screen_suspend(self) -> None:
        if self.watcher is not None:
            self.watcher.pause()  # nobody sees this screen: its files can wait

    def on_screen_resume(self) -> None:
        if self.watcher is not None:
            self.watcher.resume()

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
