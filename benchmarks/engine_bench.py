"""Engine overhead: time from `gpt-tui run` to the first logged step, and training tokens/s
under the engine against the worker started by hand.

    .venv/bin/python benchmarks/engine_bench.py [--repeats N] [--steps N]

Each repeat uses a fresh store with the dataset already prepared (both paths would pay the same
preparation). The two throughput measurements alternate so drift on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core import config as cfgmod  # noqa: E402
from engine.serve import engines as eng  # noqa: E402
from engine.store import runs as st  # noqa: E402

WARMUP_STEPS = 30


def overrides(steps: int) -> list[str]:
    return [f"max_iters={steps}", f"eval_interval={steps}", "log_interval=10"]


def quickstart_cli(steps: int) -> list[str]:
    return ["--preset", "quickstart", *(arg for o in overrides(steps) for arg in ("--set", o))]


def prepared_store(tmp: Path) -> st.Store:
    store = st.Store(tmp)
    store.ensure()
    from engine.data import prepare as data  # numpy only

    data.prepare("pydocs", "char", store.datasets_dir)
    return store


def first_step_latency(steps: int) -> float:
    """Wall seconds from starting `gpt-tui run` (no engine alive) to the first [[train]] record."""
    with tempfile.TemporaryDirectory() as tmp:
        store = prepared_store(Path(tmp))
        env = {**os.environ, "GPT_TUI_RUNS": str(store.root)}
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tui", "run", *quickstart_cli(steps)],
            env=env,
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        run_id = store.list_runs()[0]
        while True:
            if any(t == "train" for t, _ in st.read_log(store.metrics_path(run_id)).records):
                latency = time.perf_counter() - t0
                break
            time.sleep(0.005)
        eng.stop_engine(store)
        return latency


def steady_tokens_per_s(store: st.Store, run_id: str) -> float:
    records = [r for t, r in st.read_log(store.metrics_path(run_id)).records if t == "train"]
    steady = [r for r in records if r["step"] > WARMUP_STEPS]
    first, last = steady[0], steady[-1]
    return (last["tokens"] - first["tokens"]) / (last["t"] - first["t"])


def under_engine(steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = prepared_store(Path(tmp))
        from engine.store import control

        cfg = cfgmod.resolve("quickstart", overrides=overrides(steps))
        run_id = control.submit(store, cfg, "bench")
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--runs", str(store.root), "--until-idle"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc.wait()
        return steady_tokens_per_s(store, run_id)


def worker_alone(steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = prepared_store(Path(tmp))
        cfg = cfgmod.resolve("quickstart", overrides=overrides(steps))
        run_id = store.create_run(cfgmod.to_toml(cfg), "bench", {"attempts": 1})
        subprocess.run(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return steady_tokens_per_s(store, run_id)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=150)
    a = p.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    latencies, engine_rates, alone_rates = [], [], []
    for i in range(a.repeats):
        latencies.append(first_step_latency(a.steps))
        if i % 2 == 0:
            engine_rates.append(under_engine(a.steps))
            alone_rates.append(worker_alone(a.steps))
        else:
            alone_rates.append(worker_alone(a.steps))
            engine_rates.append(under_engine(a.steps))
        print(
            f"repeat {i + 1}: first step {latencies[-1]:.2f}s, engine {engine_rates[-1]:,.0f} tok/s, "
            f"alone {alone_rates[-1]:,.0f} tok/s",
            flush=True,
        )
    t = Table(title=f"engine overhead, quickstart preset, {a.repeats} repeats, medians")
    t.add_column("measure")
    t.add_column("median", justify="right")
    t.add_column("all", justify="right")
    t.add_row(
        "gpt-tui run -> first logged step (s)",
        f"{statistics.median(latencies):.2f}",
        ", ".join(f"{x:.2f}" for x in latencies),
    )
    t.add_row(
        "tokens/s under the engine",
        f"{statistics.median(engine_rates):,.0f}",
        ", ".join(f"{x:,.0f}" for x in engine_rates),
    )
    t.add_row(
        "tokens/s worker alone", f"{statistics.median(alone_rates):,.0f}", ", ".join(f"{x:,.0f}" for x in alone_rates)
    )
    ratio = statistics.median(e / w for e, w in zip(engine_rates, alone_rates))
    t.add_row("engine / alone (median of paired ratios)", f"{ratio:.3f}", "goal >= 0.98")
    Console().print(t)


if __name__ == "__main__":
    main()
