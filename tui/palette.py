"""The command palette's runs: typing a run's name, its id or the start of its id offers to open its
monitor, and `fork RUN` to fork it. The runs it names first are the ones every `gpt-tui` command taking
a run would pick (engine.store.lookup.matching); others whose name or id the typing matches follow."""

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
        verb, _, rest = query.partition(" ")
        fork = verb.lower() == "fork" and bool(rest.strip())  # `fork RUN`: its fork editor
        query = rest.strip() if fork else query
        if not query:
            return
        named = lookup.matching(self.runs, query)
        for ref in named:
            yield self.hit(ref, 1.0, Text(self.title(ref, fork)), fork)
        matcher = self.matcher(query)
        for ref in self.runs:
            if ref in named:
                continue
            title = self.title(ref, fork)
            score = matcher.match(title)
            if score > 0:
                yield self.hit(ref, score * FUZZY_WEIGHT, matcher.highlight(title), fork)

    def hit(self, ref: lookup.RunRef, score: float, shown: Text, fork: bool = False) -> Hit:
        if fork:
            action, help = partial(self.open_fork, ref.run_id), "a new run from its checkpoint"
        else:
            action, help = partial(self.app.open_monitor, ref.run_id), f"{ref.state}: open its monitor"
        return Hit(score, shown, action, text=self.title(ref, fork), help=help)

    def open_fork(self, run_id: str) -> None:
        from tui.screens.fork import open_fork  # the editor's modules: loaded when first asked for

        open_fork(self.app, run_id)

    @staticmethod
    def title(ref: lookup.RunRef, fork: bool = False) -> str:
        name = printable(ref.name)  # a status anyone may have written: shown, never obeyed
        verb = "Fork" if fork else "Run"
        return f"{verb} {name}  {ref.run_id}" if name else f"{verb} {ref.run_id}"
