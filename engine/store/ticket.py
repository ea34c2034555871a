"""A queue ticket as read from queue/: the run it queues, its attempt, and (hand-written) its config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.store.files import StoreError

_TEXT = ("run_id", "enqueued", "reason", "name", "claimed_by", "claimed")


@dataclass
class Ticket:
    run_id: str
    priority: int = 0  # the file name is the truth; this copy is rewritten on claim
    enqueued: str = ""
    reason: str = ""
    attempt_id: str | None = None  # the run's trip through the queue this ticket is for
    config: dict[str, Any] | None = None  # a hand-written ticket carries the run's config inline
    name: str = ""
    claimed_by: str = ""
    claimed: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know, kept

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str = "ticket") -> Ticket:
        """The typed ticket; StoreError names the file and the first field that does not fit."""
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in _TEXT or key == "attempt_id":
                ok = isinstance(value, str)
            elif key == "priority":
                ok = type(value) is int and -99 <= value <= 99
            elif key == "config":
                ok = isinstance(value, dict)
            else:
                extra[key] = value
                continue
            if not ok:
                raise StoreError(
                    f"{source}: {key} = {value!r:.60} does not fit a ticket; "
                    "delete the ticket and queue the run again (`gpt-tui resume RUN`)"
                )
            known[key] = value
        if "run_id" not in known:
            raise StoreError(f"{source} has no run_id; delete it and queue the run again")
        return cls(**known, extra=extra)

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "priority": self.priority}
        for key in ("enqueued", "reason", "attempt_id", "config", "name", "claimed_by", "claimed"):
            value = getattr(self, key)
            if value:
                out[key] = value
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out
