"""The first step in seconds: `gpt-tui run --preset quickstart` to the run's first [[train]] record in the
store, with an engine already running (its standby worker ready), with one started with --no-standby,
and from cold (no engine: `gpt-tui run` starts one); then the worker's start-up phases from status.toml.

    .venv/bin/python benchmarks/startup_bench.py [--repeats N] [--modes warm,no-standby,cold]

Each mode uses a fresh store with the dataset prepared (`--cold-data`: not, so the worker prepares it).
Each run is stopped at its first record; every engine started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.serve import engines as eng  # noqa: E402
from engine.store import control  # noqa: E402
from engine.store import runs as st  # noqa: E402

GPT_TUI = [sys.executable, "-m", "tui"]
MODES = ("warm", "no-standby", "cold", "cold-no-standby")
GOALS = {"warm": 2.0, "no-standby": None, "cold": 5.0, "cold-no-standby": None}


def fresh_store(tmp: Path, prepared: bool) -> st.Store:
    store = st.Store(tmp / "runs")
    store.ensure()
    if prepared:
        from engine.data import prepare as data  # numpy only

        data.prepare("pydocs", "char", store.datasets_dir)
    return store


def standby_of(engine_pid: int) -> psutil.Process | None:
    try:
        kids = psutil.Process(engine_pid).children()
    except psutil.Error:
        return None
    for kid in kids:
        try:
            if "--standby" in kid.cmdline():
                return kid
        except psutil.Error:
            pass  # one that ended meanwhile
    return None


def wait_standby_ready(engine_pid: int, timeout: float = 60) -> psutil.Process:
    """The engine's idle standby once its imports are done: its CPU time stops growing."""
    deadline = time.time() + timeout
    last, still_since = -1.0, time.time()
    while time.time() < deadline:
        proc = standby_of(engine_pid)
        if proc is not None:
            try:
                used = sum(proc.cpu_times()[:2])
            except psutil.Error:
                used = -1.0
            if used != last:
                last, still_since = used, time.time()
            elif time.time() - still_since > 0.6:
                return proc
        time.sleep(0.1)
    raise SystemExit("the engine's standby worker was not ready within a minute")


@dataclass
class Sample:
    """One `gpt-tui run`: seconds to the first [[train]] record, and the run's status afterwards."""

    seconds: float
    started: float  # Unix time the command was started
    status: st.Status

    def legs(self) -> dict[str, float]:
        """Where the seconds went: the command to the ticket, the ticket to the worker's clock start
        (its process start, or the hand-over to the standby), its start-up, then on to the record."""
        queued = _unix(self.status.created) - self.started
        startup, first = self.status.startup_s or 0.0, self.status.first_step_s or 0.0
        return {
            "gpt-tui run to queued": queued,
            "queued to the worker's start": first - startup,
            "the worker's start-up": startup,
            "first step to first record": self.seconds - queued - first,
        }


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def first_record(store: st.Store, env: dict[str, str]) -> tuple[float, float, str]:
    """Run `gpt-tui run --preset quickstart`; seconds from its start to the first [[train]] record."""
    started, t0 = time.time(), time.perf_counter()
    subprocess.run([*GPT_TUI, "run", "--preset", "quickstart"], env=env, check=True, capture_output=True, cwd=ROOT)
    run_id = max(store.list_runs())
    path = store.metrics_path(run_id)
    while True:
        if path.exists() and b"[[train]]" in path.read_bytes():
            return time.perf_counter() - t0, started, run_id
        if time.perf_counter() - t0 > 300:
            raise SystemExit(f"no [[train]] record after 300 s; see {store.worker_log(run_id)}")
        time.sleep(0.01)


def host_line(store: st.Store, run_id: str) -> str:
    """What the worker chose for its own process (threads, malloc): its worker.log line."""
    lines = store.worker_log(run_id).read_text(errors="replace").splitlines()
    return next((line.split("] ", 1)[-1] for line in lines if "host: " in line), "no host: line")


def stop_run(store: st.Store, run_id: str) -> None:
    control.stop(store, run_id)
    deadline = time.time() + 120
    while time.time() < deadline and not store.status(run_id).settled:
        time.sleep(0.05)


def measure(mode: str, repeats: int, prepared: bool) -> tuple[list[Sample], list[int]]:
    samples: list[Sample] = []
    rss: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = fresh_store(Path(tmp), prepared)
        env = {**os.environ, "GPT_TUI_RUNS": str(store.root)}
        if mode == "cold-no-standby":
            env["GPT_TUI_STANDBY"] = "0"  # the engine `gpt-tui run` starts keeps none
        try:
            for i in range(repeats):
                if not mode.startswith("cold"):
                    info = eng.start_engine(store, ["--no-standby"] if mode == "no-standby" else [])
                    if mode == "warm":
                        standby = wait_standby_ready(info.pid)
                        rss.append(standby.memory_info().rss)
                    else:
                        time.sleep(3.0)  # the last run's exit settles before the next measurement
                latency, started, run_id = first_record(store, env)
                stop_run(store, run_id)
                samples.append(Sample(latency, started, store.status(run_id)))
                phases = ", ".join(f"{p['phase']} {p['s']:.2f}" for p in samples[-1].status.startup)
                print(f"{mode} {i + 1}: {latency:.2f} s ({phases}); {host_line(store, run_id)}", flush=True)
                if mode.startswith("cold") or i == repeats - 1:
                    eng.stop_engine(store)
                if not prepared:  # each cold-data repeat prepares the dataset again
                    shutil.rmtree(store.datasets_dir)
        finally:
            eng.stop_engine(store)
            for status in store.statuses().values():
                if isinstance(status, st.Status) and status.pid:
                    try:
                        os.killpg(status.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
    return samples, rss


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def legs_table(results: dict[str, list[Sample]]) -> Table:
    t = Table(title="where the time goes: medians over the repeats, seconds")
    t.add_column("leg")
    for mode in results:
        t.add_column(mode, justify="right")
    for leg in next(iter(results.values()))[0].legs():
        t.add_row(leg, *(median([x.legs()[leg] for x in samples]) for samples in results.values()))
    return t


def phases_table(results: dict[str, list[Sample]]) -> Table:
    """A row per phase, a column per mode: the median over the repeats (a phase a mode lacks: -)."""
    t = Table(title="the worker's start-up phases (status.toml): medians over the repeats, seconds")
    names: list[str] = []
    for samples in results.values():
        for x in samples:
            names += [p["phase"] for p in x.status.startup if p["phase"] not in names]
    t.add_column("phase")
    for mode in results:
        t.add_column(mode, justify="right")
    for name in names:
        t.add_row(
            name,
            *(
                median([p["s"] for x in samples for p in x.status.startup if p["phase"] == name])
                for samples in results.values()
            ),
        )
    for key, label in (("startup_s", "startup_s (to the first step)"), ("first_step_s", "first_step_s (from queued)")):
        t.add_row(
            label,
            *(
                median([v for x in samples if (v := getattr(x.status, key)) is not None])
                for samples in results.values()
            ),
        )
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--cold-data", action="store_true", help="the dataset is not prepared: the worker prepares it")
    a = p.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        raise SystemExit(f"unknown mode(s): {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    load = os.getloadavg()[0]
    results: dict[str, list[Sample]] = {}
    rss: list[int] = []
    for mode in modes:
        results[mode], mode_rss = measure(mode, a.repeats, not a.cold_data)
        rss += mode_rss
    t = Table(title=escape(f"gpt-tui run --preset quickstart -> first [[train]] record, {a.repeats} repeats"))
    for col in ("mode", "median (s)", "best (s)", "all (s)", "goal (s)"):
        t.add_column(col, justify="right" if col != "mode" else "left")
    for mode, samples in results.items():
        values = [x.seconds for x in samples]
        goal = GOALS[mode]
        t.add_row(mode, median(values), f"{min(values):.2f}", ", ".join(f"{v:.2f}" for v in values), f"{goal or '-'}")
    console = Console()
    console.print(t)
    console.print(legs_table(results))
    console.print(phases_table(results))
    if rss:
        console.print(f"idle standby worker RSS: median {statistics.median(rss) / 2**20:.0f} MiB")
    console.print(
        f"load average: {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (1 min), {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
