"""The open app's cost to a training run, measured inside one run: the app opened on the run's
monitor and closed again, over and over, while one worker trains; each window with the app is
paired with the window alone next to it.

    .venv/bin/python benchmarks/app_cost_within.py [--pairs 20] [--window 6] [--threads 1 0] [--json PATH]

Why inside one run: app_cost.py pairs whole runs, and two processes of the same run on this kind
of machine differ by up to 10% in speed (where their memory and threads land), which gives its
intervals a width of several percent. Here every window is the same process, the same model and
the same memory; what changes from one window to the next is only whether the app is open.

Per series (a `threads` value): one `quickstart` run on the CPU with a [[train]] record every step
(the most for the app to read and draw), long enough for every window, its worker started by hand,
no engine. The first window starts once the run is past its first evaluation and WARMUP steps. Pair
i is alone-then-app when i is even, app-then-alone when odd. The app opens as a person would open
it (app_cost.AppInTerminal: a tmux server of its own, `m` on the run); its start-up (imports, first
draw) and its exit fall in SETTLE_S before and after its window, which counts only the app as it
sits open. Per window: tokens/s from the [[train]] records inside it (the first to the last), and
the worker's CPU seconds per token (psutil at the window's edges). Per series: the geometric mean
of the pairs' ratios (app / alone) and its 95% t-interval, with app_cost.py's verdict against the
goal (at most 2%). Evaluations fall inside windows too, alike on both sides (every 500 steps).
"""

from __future__ import annotations

import argparse
import json
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.app_cost import GOAL, LEVEL, PY, ROOT, AppInTerminal, cpu_seconds, ratio_interval, verdict
from engine.core import config as cfgmod
from engine.core.presets import PRESETS
from engine.store import runs as st

WARMUP = 20  # steps before the first window
SETTLE_S = 1.5  # after the app shows the monitor, and after it exits, before a window starts
FAST_STEP_S = 0.02  # the run is made long enough for steps this fast; it is stopped when done


@dataclass
class Window:
    pair: int
    app: bool
    start: float  # Unix time
    end: float
    tokens_per_s: float
    cpu_per_mtok: float  # the worker's CPU seconds per million tokens
    app_cpu_share: float | None  # of one core, over the window; None alone


def new_run(store: st.Store, threads: int, steps: int) -> str:
    values = {**PRESETS["quickstart"], "threads": threads, "device": "cpu", "log_interval": 1, "eval_iters": 2}
    cfg = cfgmod.from_mapping({**values, "max_iters": steps, "eval_interval": 500, "warmup_iters": 10})
    return store.create_run(cfgmod.to_toml(cfg), f"app-cost-within-t{threads}", {"source": "bench"})


def train_records(store: st.Store, run_id: str) -> list[dict]:
    return [r for t, r in st.read_records(store.metrics_path(run_id)) if t == "train"]


def window_speed(records: list[dict], start: float, end: float) -> tuple[float, int]:
    """Tokens/s from the first record at or after `start` to the last at or before `end`."""
    inside = [r for r in records if start <= r["t"] <= end]
    if len(inside) < 3:
        raise RuntimeError(f"only {len(inside)} steps in a window of {end - start:.1f} s: make --window longer")
    first, last = inside[0], inside[-1]
    return (last["tokens"] - first["tokens"]) / (last["t"] - first["t"]), last["tokens"] - first["tokens"]


def series(work: Path, store: st.Store, threads: int, pairs: int, window_s: float, console: Console) -> list[Window]:
    per_pair_s = 2 * (window_s + 2 * SETTLE_S) + 8  # and the app's start
    steps = int((pairs * per_pair_s + 60) / FAST_STEP_S)
    run_id = new_run(store, threads, steps)
    with open(store.worker_log(run_id), "ab") as log:
        argv = [PY, "-m", "engine.worker", str(store.run_dir(run_id))]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    worker = psutil.Process(proc.pid)
    marks: list[tuple[int, bool, float, float, float, float, float | None]] = []
    try:
        while not any(r["step"] >= WARMUP for r in train_records(store, run_id)):
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited (code {proc.returncode}); see {store.worker_log(run_id)}")
            time.sleep(0.1)
        for i in range(pairs):
            for with_app in (False, True) if i % 2 == 0 else (True, False):
                app = None
                if with_app:
                    app = AppInTerminal(work, store)
                    app.open_monitor(store, run_id)
                time.sleep(SETTLE_S)
                t0, c0, a0 = time.time(), cpu_seconds(worker), app.cpu()[0] if app else None
                time.sleep(window_s)
                t1, c1, a1 = time.time(), cpu_seconds(worker), app.cpu()[0] if app else None
                if app is not None:
                    app.close()
                    time.sleep(SETTLE_S)
                if proc.poll() is not None:
                    raise RuntimeError(f"the run ended during pair {i + 1}: make it longer (FAST_STEP_S)")
                share = (a1 - a0) / (t1 - t0) if app else None
                marks.append((i, with_app, t0, t1, c0, c1, share))
                console.print(f"[dim]threads={threads} pair {i + 1} {'app  ' if with_app else 'alone'} done[/]")
    finally:
        proc.kill()
        proc.wait()
    records = train_records(store, run_id)
    windows = []
    for i, with_app, t0, t1, c0, c1, share in marks:
        speed, tokens = window_speed(records, t0, t1)
        # CPU over the whole window against the tokens of the whole window (steps cut at its edges
        # count in part on each side: the tokens are taken at the same edges, pro rata).
        cpu_per_mtok = (c1 - c0) / (speed * (t1 - t0)) * 1e6
        windows.append(Window(i, with_app, t0, t1, speed, cpu_per_mtok, share))
    return windows


def pairs_of(windows: list[Window]) -> list[tuple[Window, Window]]:
    alone = {w.pair: w for w in windows if not w.app}
    return [(alone[w.pair], w) for w in windows if w.app]


def summary(threads: int, windows: list[Window]) -> dict:
    pairs = pairs_of(windows)
    speed = ratio_interval([w.tokens_per_s / a.tokens_per_s for a, w in pairs])
    cpu = ratio_interval([w.cpu_per_mtok / a.cpu_per_mtok for a, w in pairs])
    return {
        "threads": threads,
        "pairs": len(pairs),
        "tokens_per_s": asdict(speed) | {"verdict": verdict(speed, more_is_cost=False)},
        "worker_cpu_per_token": asdict(cpu) | {"verdict": verdict(cpu, more_is_cost=True)},
        "app_cpu_share": statistics.median(w.app_cpu_share or 0.0 for _, w in pairs),
        "alone_tokens_per_s": [a.tokens_per_s for a, _ in pairs],
        "app_tokens_per_s": [w.tokens_per_s for _, w in pairs],
    }


def summary_table(summaries: list[dict]) -> Table:
    t = Table(title=f"with the app / alone, windows of one run; goal: cost <= {GOAL:.0%}")
    for col in ("threads", "pairs", "measure", "ratio", f"{LEVEL:.0%} CI", "verdict"):
        t.add_column(col, justify="left" if col in ("measure", "verdict") else "right")
    for s in summaries:
        for key, label in (("tokens_per_s", "tokens/s"), ("worker_cpu_per_token", "worker CPU per token")):
            iv = s[key]
            t.add_row(
                str(s["threads"]), str(s["pairs"]), label, f"{iv['mean']:.4f}",
                f"{iv['low']:.4f}-{iv['high']:.4f}", iv["verdict"],
            )  # fmt: skip
        alone = statistics.median(s["alone_tokens_per_s"])
        t.add_row("", "", "app CPU, median", f"{s['app_cpu_share']:.2%}", "", f"of a core; alone {alone:,.0f} tok/s")
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--window", type=float, default=6.0, help="seconds each window is measured")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="torch threads, a series each (0: all)")
    p.add_argument("--json", metavar="PATH", help="write every window and the summaries here")
    a = p.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed: the app is measured in a real terminal")
    if a.pairs < 2 or a.window < 1:
        sys.exit("--pairs must be at least 2 and --window at least 1 s")
    work = Path(tempfile.mkdtemp(prefix="app-cost-within-"))
    console, results = Console(), {}
    try:
        store = st.Store(work / "runs")
        store.ensure()
        from engine.data import prepare as data

        data.prepare(PRESETS["quickstart"]["dataset"], PRESETS["quickstart"]["tokenizer"], store.datasets_dir)
        for threads in a.threads:
            results[threads] = series(work, store, threads, a.pairs, a.window, console)
            report(results, a.window, a.json, console)  # a series at a time: a later failure keeps it
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[int, list[Window]], window_s: float, json_path: str | None, console: Console) -> None:
    summaries = [summary(threads, windows) for threads, windows in results.items()]
    console.print(summary_table(summaries))
    if json_path:
        doc = {
            "window_s": window_s,
            "settle_s": SETTLE_S,
            "windows": {str(k): [asdict(w) for w in v] for k, v in results.items()},
            "series": summaries,
        }
        Path(json_path).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
