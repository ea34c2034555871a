"""An engine's heartbeat file, engine-HOST-PID.toml, as a typed record read as untrusted input."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.store.fieldcheck import Checks, SchemaError, _finite, _int_list, _run_ids, _text, _whole, typed_fields

_ENGINE_CHECKS: Checks = {
    "pid": (_whole(1, 2**31), "a whole number from 1"),
    "heartbeat_unix": (_finite(0.0, 2.0**40), "a time in seconds since 1970"),
    "gpus": (_int_list, "a list of GPU indices"),
    "slots": (_whole(0, 2**31), "a whole number from 0"),
    "running": (_run_ids, "a list of run ids"),
    "queued": (_whole(0, 2**62), "a whole number from 0"),
    **{name: (_text, "a string") for name in ("host", "started", "heartbeat", "python", "executor")},
}


@dataclass
class EngineRecord:
    """An engine's heartbeat file, engine-HOST-PID.toml, rewritten every few seconds while it lives."""

    pid: int
    host: str
    started: str = ""
    heartbeat: str = ""
    heartbeat_unix: float = 0.0
    gpus: list[int] = field(default_factory=list)
    slots: int = 0
    running: list[str] = field(default_factory=list)  # the run ids its workers train
    queued: int = 0  # tickets in the queue at the last beat
    python: str = ""
    executor: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str = "engine.toml") -> EngineRecord:
        """The typed record of a parsed heartbeat file; SchemaError names the first field that does not fit."""
        # A live engine rewrites its file within seconds, so a bad one is left by something else.
        known, extra = typed_fields(data, _ENGINE_CHECKS, source, "delete the file unless an engine writes it")
        for required in ("pid", "host"):
            if required not in known:
                raise SchemaError(f"{source} has no {required}; it is no engine's heartbeat: delete it")
        return cls(**known, extra=extra)

    def to_toml(self) -> dict[str, Any]:
        """Every field, defaults too (tools read the file as it is), then the unknown ones as read."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out
