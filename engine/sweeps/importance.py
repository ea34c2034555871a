"""`python -m engine.sweeps.importance ID`: Optuna's parameter importances of a sweep, as JSON.
Run in a subprocess by engine.sweeps.report, so that the app and the CLI never import optuna."""

from __future__ import annotations

import argparse
import json
import sys

from engine.core.errors import GptTuiError
from engine.store import runs as st
from engine.sweeps import driver as sweep_driver
from engine.sweeps import files as sf
from engine.sweeps import tpe
from engine.sweeps.report import Importance


def optuna_importance(store: st.Store, sweep_id: str) -> Importance:
    record = sf.load(store, sweep_id)
    outcomes = sweep_driver.outcomes(record, sf.trial_statuses(store, record))
    method, values = tpe.importances(record.spec.params, outcomes)
    return Importance(method, values)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m engine.sweeps.importance", description="Optuna's parameter importances of a sweep, as JSON"
    )
    p.add_argument("--runs", help="the run store (default: $GPT_TUI_RUNS, else ./runs)")
    p.add_argument("sweep")
    a = p.parse_args(argv)
    try:
        imp = optuna_importance(st.Store(st.resolve_root(a.runs)), a.sweep)
    except GptTuiError as e:  # a broken sweep file: the caller falls back to rank correlation
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"method": imp.method, "values": imp.values}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
