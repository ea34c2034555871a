"""The engine's intake of what it cannot start as it is: junk in the queue, tickets written by hand,
and claimed runs that failed to start."""

from __future__ import annotations

import os
import time
from typing import Any

from engine.core import config as cfgmod
from engine.serve.recovery import log
from engine.store import runs as st
from engine.store.schema import RunState
from engine.store.ticket import Ticket


class Intake:
    """The Engine's half that sets tickets aside; it uses the engine's store and caps."""

    def not_started(self, entry: st.QueueEntry, e: Exception) -> None:
        """A claimed run that could not be started: its ticket is set aside, and the run fails
        saying why, unless its folder is gone (deleted meanwhile: nothing is left to tell) or its
        status cannot be read (a broken run is left as it is, for a person to mend or delete)."""
        run_id = entry.run_id
        if not os.path.lexists(self.store.run_dir(run_id)):
            log(f"run {run_id}: its run folder is gone (deleted while it was being started); its ticket is dropped")
            self.store.release_claim(entry)
            return
        log(f"run {run_id}: not started: {e}")
        self.store._set_aside(entry, f"not started: {e}")
        try:
            self.store.status(run_id)
        except st.StoreError:
            log(f"run {run_id}: left as it is (broken); its ticket is in {self.store.bad_dir.name}/")
            return
        self.mark(run_id, state=RunState.FAILED, reason=f"not started: {e}", finished=st.now_iso())

    def adopt_hand_written(self, run_id: str, ticket: Ticket) -> None:
        """A ticket dropped into queue/ by hand, with its config inline: give it a run directory."""
        data = ticket.config
        if data is None:
            raise ValueError("the ticket has no run directory and no [config] table to create one from")
        cfg = cfgmod.from_mapping(data, caps=self.caps, source=f"ticket {run_id}")
        os.mkdir(self.store.run_dir(run_id), 0o755)
        st.write_atomic(self.store.config_path(run_id), cfgmod.to_toml(cfg))
        self.store.write_status(
            run_id, st.Status(RunState.QUEUED, name=ticket.name, created=st.now_iso(), source="hand-written ticket")
        )

    def set_aside_junk(self) -> None:
        for path in self.store.malformed_queue_files():
            entry = st.QueueEntry(path, path.stem, 0, 0)
            try:
                # A temp file is a ticket being written right now, gone a moment later: never an error.
                if path.name.startswith(".tmp-") and time.time() - path.stat().st_mtime < 3600:
                    continue
                self.store._set_aside(
                    entry,
                    f"{path.name} is not a ticket name "
                    "(<100-priority>-<time_ns>-<run-id>.toml); queue runs with `gpt-tui run`",
                )
                log(f"set aside {path.name}: not a ticket")
            except FileNotFoundError:
                pass

    def mark(self, run_id: str, **changes: Any) -> None:
        try:
            if self.store.run_dir(run_id).is_dir():
                self.store.update_status(run_id, **changes)
        except (st.StoreError, OSError) as e:
            log(f"run {run_id}: cannot update status: {e}")
