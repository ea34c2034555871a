"""The command palette's runs: typing a run's name, its id or the start of its id offers to open its
monitor. The runs it names first are the ones every `gpt-tui` command taking a run would pick
(engine.store.lookup.matching); others whose name or id the typing matches follow."""

from __future__ import annotations

import asyncio
from functools import partial

from rich.text import Text
from textual.command import Hit, Hits, Provider

from engine.core.text import printable
from engine.store import lookup

FUZZY_WEIGHT = 0.9  # a run the typing only resembles ranks below one it names


class RunsProvider(Provider):
    async def startup(self) -> None:
        try:  # every status.toml is read: off the UI thread, once each time the palette opens
            self.runs = await asyncio.to_thread(lookup.known_runs, self.app.store)
        except OSError:
            self.runs = []

    async def search(self, query: str) -> Hits:
        query = query.strip()
        if not query:
            return
        named = lookup.matching(self.runs, query)
        for ref in named:
            yield self.hit(ref, 1.0, Text(self.title(ref)))
        matcher = self.matcher(query)
        for ref in self.runs:
            if ref in named:
                continue
            title = self.title(ref)
            score = matcher.match(title)
            if score > 0:
                yield self.hit(ref, score * FUZZY_WEIGHT, matcher.highlight(title))

    def hit(self, ref: lookup.RunRef, score: float, shown: Text) -> Hit:
        return Hit(
            score,
            shown,
            partial(self.app.open_monitor, ref.run_id),
            text=self.title(ref),
            help=f"{ref.state}: open its monitor",
        )

    @staticmethod
    def title(ref: lookup.RunRef) -> str:
        name = printable(ref.name)  # a status anyone may have written: shown, never obeyed
        return f"Run {name}  {ref.run_id}" if name else f"Run {ref.run_id}"
