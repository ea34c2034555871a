"""The open app's cost to a training run: the same short run watched by the app and not, in
interleaved pairs, with a 95% confidence interval and a verdict against the goal (at most 2%).

    .venv/bin/python benchmarks/app_cost.py [--pairs 10] [--steps 40] [--threads 1 0] [--json PATH] [--quick]

Each run is `quickstart` on the CPU with a [[train]] record every step (ten times what the preset
logs: the most for the app to read and draw), its worker started by hand. With the app, the app
starts first in a real terminal (a tmux server of its own, 120x36) and `m` opens the new run's
monitor, as a person would watch it; the worker starts once the monitor shows. No engine on either
side (the app is told not to start one): it would cost both alike (engine_bench.py measures it).

Pair i runs alone-then-app when i is even, app-then-alone when odd (ABBA...), and the series take
turns pair by pair: a drift in the machine's speed falls on both sides alike. Per run: tokens/s
from the first record at or past step WARMUP to the last; the worker's CPU seconds from that record
on (its final status's `cpu_seconds` less a psutil reading taken when the record appeared: its
start-up does not dilute the ratio); the CPU of the app and of its terminal (the tmux server) over
the same window. Per series: the geometric mean of the pairs' ratios (app / alone), t-interval
made on the log ratios.

Threads: `threads = 0` (the default, every core) leaves the app no core of its own, and torch's
threads wait for each other at every op, so one that loses its core for a moment stalls the rest:
the app costs the most there. `threads = 1` on a 2-core machine leaves the app a core. People run
both, so both are measured, as separate series. Other load (niceness too) biases every number.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from engine.core import config as cfgmod  # noqa: E402
from engine.core.presets import PRESETS  # noqa: E402
from engine.store import runs as st  # noqa: E402

PY = sys.executable
WARMUP = 10  # steps before the timed part: the first ones allocate and run slower
GOAL = 0.02  # the open app may cost a training run at most this
LEVEL = 0.95
MIN_PAIRS = 5  # fewer, and one odd pair (a machine's hiccup) can make a tight interval by chance
TERMINAL = ["-x", "120", "-y", "36", "-e", "COLORTERM=truecolor"]  # 24-bit colour, as most terminals have now


def t_cdf(x: float, df: int, n: int = 2000) -> float:
    """Student's t distribution function at x >= 0 (Simpson's rule over the density from 0)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    weights = (1 if i in (0, n) else 4 if i % 2 else 2 for i in range(n + 1))
    return 0.5 + c * x / n / 3 * sum(w * (1 + (i * x / n) ** 2 / df) ** (-(df + 1) / 2) for i, w in enumerate(weights))


def t_quantile(p: float, df: int) -> float:
    """The x with t_cdf(x, df) = p, for 0.5 <= p <= 0.999 (bisection; t(0.999, 1) is 318)."""
    low, high = 0.0, 1000.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    mean: float  # the geometric mean of the ratios
    low: float  # nan with fewer than two ratios
    high: float
    pairs: int


def ratio_interval(ratios: list[float], level: float = LEVEL) -> Interval:
    """The geometric mean of paired ratios and its t-interval, made on the log ratios (a ratio's
    noise is multiplicative) and mapped back."""
    logs = [math.log(r) for r in ratios]
    n, mean = len(logs), statistics.fmean(logs)
    half = t_quantile((1 + level) / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n) if n > 1 else math.nan
    return Interval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n)


def verdict(iv: Interval, more_is_cost: bool, goal: float = GOAL) -> str:
    """Whether the interval shows the cost within `goal`, beyond it, or cannot tell. The cost is
    1 - ratio for a speed, ratio - 1 where more is the cost (CPU seconds)."""
    worst, best = (iv.high - 1, iv.low - 1) if more_is_cost else (1 - iv.low, 1 - iv.high)
    if iv.pairs < MIN_PAIRS:
        return f"none: under {MIN_PAIRS} pairs"
    if worst <= goal:
        return f"met: at most {goal:.0%}"
    if best > goal:
        return f"missed: over {goal:.0%}"
    return "not resolved"


@dataclass
class Run:
    pair: int
    threads: int
    app: bool
    tokens_per_s: float
    wall_s: float  # of the timed steps
    worker_cpu_s: float  # from the warm-up's record to the end
    worker_cpu_total_s: float
    window_s: float  # from the warm-up's record (as seen here) to the worker's exit
    app_cpu_s: float | None  # over the window; None without the app
    term_cpu_s: float | None


def cpu_seconds(p: psutil.Process) -> float:
    return sum(p.cpu_times()[:2])  # user + system, every thread


class AppInTerminal:
    """The app in a tmux server of its own (its config left out), on the monitor of one run."""

    def __init__(self, work: Path, store: st.Store) -> None:
        self.sock = str(work / "tmux.sock")
        app = shlex.join(["cd", str(ROOT)]) + " && exec " + shlex.join([PY, __file__, "--child-app", str(store.root)])
        self.tmux("new-session", "-d", *TERMINAL, app)
        self.app = psutil.Process(int(self.tmux("display-message", "-p", "#{pane_pid}")))
        self.server = psutil.Process(int(self.tmux("display-message", "-p", "#{pid}")))

    def open_monitor(self, store: st.Store, run_id: str) -> None:
        self.wait_for(store.status(run_id).name)  # the runs screen; the newest run is on top, highlighted
        self.tmux("send-keys", "m")
        self.wait_for("step/tokens")  # the monitor's footer
        self.wait_for(run_id)  # and its title: this run's monitor
        time.sleep(1.0)  # its first read of the run and first draw

    def tmux(self, *args: str) -> str:
        return subprocess.check_output(["tmux", "-f", "/dev/null", "-S", self.sock, *args], text=True).strip()

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.time() + timeout
        while text not in (screen := self.tmux("capture-pane", "-p")):
            if time.time() > deadline:
                raise TimeoutError(f"the app did not show {text!r}; its screen:\n{screen}")
            time.sleep(0.1)

    def cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.app), cpu_seconds(self.server)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)
        for p in psutil.wait_procs([self.app, self.server], timeout=5)[1]:
            p.kill()


def new_run(store: st.Store, threads: int, steps: int) -> str:
    values = {**PRESETS["quickstart"], "threads": threads, "device": "cpu", "log_interval": 1, "eval_iters": 2}
    cfg = cfgmod.from_mapping({**values, "max_iters": steps, "eval_interval": steps})
    return store.create_run(cfgmod.to_toml(cfg), f"app-cost-t{threads}", {"source": "bench"})


def wait_for_step(path: Path, step: int, proc: subprocess.Popen) -> None:
    """Until the metrics log has a [[train]] record at or past `step` (read again only when it grew)."""
    size = -1
    while proc.poll() is None:
        if (now := path.stat().st_size if path.exists() else 0) != size:
            size = now
            if any(t == "train" and r["step"] >= step for t, r in st.read_records(path)):
                return
        time.sleep(0.02)
    raise RuntimeError(f"the worker exited (code {proc.returncode}) before step {step}; see its worker.log")


def measure(work: Path, store: st.Store, pair: int, threads: int, steps: int, with_app: bool) -> Run:
    run_id = new_run(store, threads, steps)
    app = AppInTerminal(work, store) if with_app else None
    proc = None
    try:
        if app is not None:
            app.open_monitor(store, run_id)
        with open(store.worker_log(run_id), "ab") as log:
            argv = [PY, "-m", "engine.worker", str(store.run_dir(run_id))]
            proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        worker = psutil.Process(proc.pid)
        wait_for_step(store.metrics_path(run_id), WARMUP, proc)
        worker_cpu, t0, app_cpu = cpu_seconds(worker), time.time(), app.cpu() if app else None
        proc.wait()
        window, app_cpu = time.time() - t0, [b - a for a, b in zip(app_cpu, app.cpu())] if app else (None, None)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if app is not None:
            app.close()
    status = store.status(run_id)
    if status.state != st.RunState.DONE or status.cpu_seconds is None:
        raise RuntimeError(f"run {run_id} ended {status.state} ({status.reason}); see its worker.log")
    train = [r for t, r in st.read_records(store.metrics_path(run_id)) if t == "train"]
    first, last = next(r for r in train if r["step"] >= WARMUP), train[-1]
    wall = last["t"] - first["t"]
    cpu, tokens_per_s = status.cpu_seconds, (last["tokens"] - first["tokens"]) / wall
    return Run(pair, threads, with_app, tokens_per_s, wall, cpu - worker_cpu, cpu, window, *app_cpu)


def pairs_of(runs: list[Run], threads: int) -> list[tuple[Run, Run]]:
    """(alone, with the app) for each pair of the series."""
    alone = {r.pair: r for r in runs if r.threads == threads and not r.app}
    return [(alone[r.pair], r) for r in runs if r.threads == threads and r.app and r.pair in alone]


def summary(runs: list[Run], threads: int) -> dict:
    pairs = pairs_of(runs, threads)
    speed = ratio_interval([w.tokens_per_s / a.tokens_per_s for a, w in pairs])
    cpu = ratio_interval([w.worker_cpu_s / a.worker_cpu_s for a, w in pairs])
    return {
        "threads": threads,
        "pairs": len(pairs),
        "tokens_per_s": asdict(speed) | {"verdict": verdict(speed, more_is_cost=False)},
        "worker_cpu": asdict(cpu) | {"verdict": verdict(cpu, more_is_cost=True)},
        "app_cpu_share": [w.app_cpu_s / w.window_s for _, w in pairs],
        "term_cpu_share": [w.term_cpu_s / w.window_s for _, w in pairs],
    }


def pair_table(runs: list[Run], threads: int, steps: int) -> Table:
    t = Table(title=f"threads={threads}, steps {WARMUP}-{steps} (odd pairs ran alone first)")
    for col in ("pair", "tok/s alone", "app", "ratio", "CPU s alone", "app", "ratio", "app CPU", "tmux"):
        t.add_column(col, justify="right")
    for a, w in pairs_of(runs, threads):
        speed, cpu = w.tokens_per_s / a.tokens_per_s, w.worker_cpu_s / a.worker_cpu_s
        t.add_row(
            str(a.pair + 1), f"{a.tokens_per_s:,.0f}", f"{w.tokens_per_s:,.0f}", f"{speed:.3f}",
            f"{a.worker_cpu_s:.2f}", f"{w.worker_cpu_s:.2f}", f"{cpu:.3f}",
            f"{w.app_cpu_s / w.window_s:.1%}", f"{w.term_cpu_s / w.window_s:.1%}",
        )  # fmt: skip
    return t


def summary_table(summaries: list[dict]) -> Table:
    t = Table(title=f"with the app / alone, geometric mean of the pairs; goal: cost <= {GOAL:.0%}")
    for col in ("threads", "measure", "ratio", f"{LEVEL:.0%} CI", "verdict"):
        t.add_column(col, justify="left" if col in ("measure", "verdict") else "right")
    for s in summaries:
        for key, label in (("tokens_per_s", "tokens/s"), ("worker_cpu", "worker CPU s")):
            iv = s[key]
            t.add_row(str(s["threads"]), label, f"{iv['mean']:.4f}", f"{iv['low']:.4f}-{iv['high']:.4f}", iv["verdict"])
        app, term = statistics.median(s["app_cpu_share"]), statistics.median(s["term_cpu_share"])
        t.add_row("", "app CPU, median", f"{app:.2%}", "", f"of a core, tmux {term:.2%}", end_section=True)
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--steps", type=int, default=40, help=f"steps per run (the first {WARMUP} not timed)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="torch threads, a series each (0: all)")
    p.add_argument("--quick", action="store_true", help="2 pairs of 30 steps: a smoke run, not for the record")
    p.add_argument("--json", metavar="PATH", help="write every run and the summaries here")
    p.add_argument("--child-app", metavar="STORE", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child_app:
        from tui.app import GptTuiApp

        return GptTuiApp(a.child_app, start_engine=False).run()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed: the app is measured in a real terminal")
    pairs, steps = (2, 30) if a.quick else (a.pairs, a.steps)
    if steps <= WARMUP + 1 or pairs < 1:
        sys.exit(f"--steps must be more than {WARMUP + 1}, --pairs at least 1")
    work = Path(tempfile.mkdtemp(prefix="app-cost-"))
    console, runs, started = Console(), [], time.time()
    try:
        store = st.Store(work / "runs")
        store.ensure()
        from engine.data import prepare as data  # numpy only: prepared once, not by each run

        data.prepare(PRESETS["quickstart"]["dataset"], PRESETS["quickstart"]["tokenizer"], store.datasets_dir)
        for i in range(pairs):
            for threads in a.threads:
                for with_app in (False, True) if i % 2 == 0 else (True, False):
                    runs.append(r := measure(work, store, i, threads, steps, with_app))
                    side = f"pair {i + 1} threads={threads} {'app  ' if with_app else 'alone'}"
                    console.print(f"[dim]{time.time() - started:4.0f} s  {side} {r.tokens_per_s:7,.0f} tok/s[/]")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summaries = [summary(runs, threads) for threads in a.threads]
    for threads in a.threads:
        console.print(pair_table(runs, threads, steps))
    console.print(summary_table(summaries))
    if a.json:
        doc = {"steps": steps, "warmup": WARMUP, "goal": GOAL, "runs": [asdict(r) for r in runs], "series": summaries}
        Path(a.json).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
