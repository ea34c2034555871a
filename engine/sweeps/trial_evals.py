"""A trial's last evaluation, read from the end of its metrics log: the step its latest val PPL was
measured at, which is not the step it stopped at once it trained on after that eval."""

from __future__ import annotations

import math
import os

from engine.store import runs as st
from engine.store.files import open_regular
from engine.store.logformat import TERMINATOR
from engine.store.logread import parse_log

TAIL_BYTES = 64 << 10  # many evals' worth of records; the whole log is read only when it holds none


def last_eval(store: st.Store, run_id: str) -> tuple[int, float] | None:
    """(step, val_ppl) of the run's last well-formed [[eval]] record; None when it has none or the log
    cannot be read (a missing, foreign or oversized file: the caller falls back to the status)."""
    path = store.metrics_path(run_id)
    try:
        fd = open_regular(path)
    except (OSError, st.StoreError):
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - TAIL_BYTES)
        data = os.pread(fd, size - start, start)
    except OSError:
        return None
    finally:
        os.close(fd)
    if start:
        cut = data.find(TERMINATOR)
        data = data[cut + len(TERMINATOR) :] if cut >= 0 else b""
    found = _last_eval(parse_log(data).records)
    if found is None and start:
        try:
            found = _last_eval(st.read_log(path).records)
        except (OSError, st.StoreError):
            return None
    return found


def _last_eval(records: list[st.Record]) -> tuple[int, float] | None:
    for r in reversed(st.evals(records)):
        if r.val_ppl is not None and math.isfinite(r.val_ppl):  # a diverged eval's inf is no PPL to rank
            return r.step, r.val_ppl
    return None
