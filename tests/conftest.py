"""The fixtures the test modules share: a run store that leaves no process behind, the TUI's fixed
store, and a cursor that does not blink (so snapshots do not depend on when they were taken)."""

from __future__ import annotations

import os
import signal

import pytest

from engine.serve import engines as eng
from engine.store import runs as st
from tests.tui_store import build_store


@pytest.fixture
def store(tmp_path):
    """An empty store; afterwards every worker and engine it recorded is killed, whatever the test did."""
    s = st.Store(tmp_path / "runs")
    s.ensure()
    yield s
    for status in s.statuses().values():
        if isinstance(status, st.Status) and status.pid:
            try:
                os.killpg(status.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    for e in eng.engines(s):
        try:
            os.kill(e.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def fixed_store(tmp_path) -> st.Store:
    """The TUI's store of fixed runs (tests/tui_store.py), with no engine."""
    return build_store(tmp_path / "runs")


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch):
    monkeypatch.setattr("textual.widgets._input.Input.cursor_blink", False)
