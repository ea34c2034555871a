"""TUI benchmark: start to first frame on a 1,000-run store, and the cost of a monitor refresh.
What the open app costs a training run (and the CPU it uses watching one): benchmarks/app_cost.py.

Run: .venv/bin/python benchmarks/tui_bench.py [--quick]
The app runs on a real pseudo-terminal (120x36); nothing here imports torch in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from engine.core import config as cfgmod  # noqa: E402
from engine.store import runs as st  # noqa: E402

PY = sys.executable


# -- stores ---------------------------------------------------------------------------------


def build_big_store(root: Path, runs: int = 1000, seed: int = 0) -> st.Store:
    """Realistic run directories: a config, a 25-key status like a worker's, a note on some."""
    rng = random.Random(seed)
    store = st.Store(root)
    store.ensure()
    presets = ["quickstart", "seed-baseline", "seed-deeper", "seed-slow-lr"]
    for i in range(runs):
        run_id = f"20260101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-000-trial-{i}-{i:04x}"
        os.mkdir(root / run_id)
        cfg = cfgmod.preset(rng.choice(presets)).replace(learning_rate=rng.choice([1e-4, 3e-4, 6e-4, 1e-3]))
        st.write_atomic(store.config_path(run_id), cfgmod.to_toml(cfg))
        state = rng.choice(["done"] * 6 + ["stopped", "failed", "diverged", "pruned", "running", "queued"])
        best = rng.uniform(1.3, 2.5)
        st.write_toml(
            store.status_path(run_id),
            {
                "state": state,
                "name": f"trial-{i}",
                "created": "2026-01-01T00:00:00.000Z",
                "source": "sweep",
                "sweep": f"sweep-{i // 100}",
                "pid": 0,
                "host": "vm",
                "attempts": 1,
                "started": "2026-01-01T00:00:01Z",
                "error": "",
                "reason": "",
                "updated": "2026-01-01T00:10:00Z",
                "device": "AMD EPYC",
                "dtype": "float32",
                "params": 823_552,
                "vocab_size": 103,
                "step": cfg.max_iters,
                "max_iters": cfg.max_iters,
                "finished": "2026-01-01T00:10:00Z",
                "train_seconds": rng.uniform(60, 900),
                "val_loss": best + 0.01,
                "val_ppl": 2.718 ** (best + 0.01),
                "best_val_loss": best,
                "loss": best - 0.1,
                "lr": 1e-4,
                "tokens_per_s": rng.uniform(4000, 7000),
                "tokens": 1_638_400,
                "mem_rss": 330_000_000,
                "eta_s": 30.0,
            },
        )
        if i % 10 == 0:
            st.write_toml(store.run_dir(run_id) / "note.toml", {"note": f"note {i}", "written": "2026-01-01"})
    return store


# -- the app in a real terminal -----------------------------------------------------------------


def child_first_frame(store_root: str, out: str) -> None:
    """In the terminal: note when the runs screen is first painted, and when all rows are in."""
    from tui.app import GptTuiApp
    from tui.screens.runs import RunsScreen
    from tui.widgets import RunTable

    marks: dict[str, float] = {}
    mounted, shown = RunsScreen.on_mount, RunTable.show_rows

    def on_mount(self):
        mounted(self)
        self.call_after_refresh(lambda: marks.setdefault("first_frame", time.time()))

    def show_rows(self, rows):
        shown(self, rows)
        if self.row_count and "rows" not in marks:
            marks["rows"] = 0.0

            def done():
                marks["rows"] = time.time()
                marks["row_count"] = self.row_count
                Path(out).write_text(json.dumps(marks))
                self.app.exit()

            self.call_after_refresh(done)

    RunsScreen.on_mount, RunTable.show_rows = on_mount, show_rows
    GptTuiApp(store_root, start_engine=False).run()


def child_bare(out: str) -> None:
    """The reference: a bare Textual app (one Static), timed the same way."""
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

        def on_mount(self) -> None:
            def painted() -> None:
                Path(out).write_text(json.dumps({"first_frame": time.time()}))
                self.exit()

            self.call_after_refresh(painted)

    Bare().run()


def run_in_pty(command: list[str], size: tuple[int, int] = (120, 36), timeout: float = 60) -> float:
    """Run `command` on a fresh pseudo-terminal of `size` (its output drained and dropped);
    return the wall time at which it was started."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))

    def drain() -> None:
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    started = time.time()
    proc = subprocess.Popen(
        command,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": str(size[0]), "LINES": str(size[1])},
    )
    os.close(slave)
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return started


def bench_first_frame(work: Path, repeats: int) -> dict:
    store = build_big_store(work / "big")
    results = []
    for i in range(repeats):
        out = work / f"first-{i}.json"
        started = run_in_pty([PY, __file__, "--child-first-frame", str(store.root), str(out)])
        m = json.loads(out.read_text())
        results.append((m["first_frame"] - started, m["rows"] - started, m["row_count"]))
    bare = []
    for i in range(repeats):
        out = work / f"bare-{i}.json"
        started = run_in_pty([PY, __file__, "--child-bare", str(out)])
        bare.append(json.loads(out.read_text())["first_frame"] - started)
    first = [r[0] for r in results]
    rows = [r[1] for r in results]
    return {
        "first_frame_median": statistics.median(first),
        "first_frame_max": max(first),
        "rows_median": statistics.median(rows),
        "rows_max": max(rows),
        "row_count": results[0][2],
        "bare_median": statistics.median(bare),
        "repeats": repeats,
    }


# -- a monitor refresh ------------------------------------------------------------------------


def train_record(step: int, rng: random.Random) -> dict:
    ms = rng.uniform(300, 360)
    return {
        "step": step,
        "tokens": step * 2048,
        "loss": 1.3 + 2.9 * 0.9999**step + rng.gauss(0, 0.02),
        "lr": 1e-3 * rng.uniform(0.1, 1.0),
        "ms_per_iter": ms,
        "tokens_per_s": 2048 / ms * 1000,
        "t": 1767225600.0 + step * 0.33,
        "mem_rss": rng.randrange(300_000_000, 340_000_000),
    }


def bench_monitor_refresh(work: Path, records: int = 100_000, new: int = 10, repeats: int = 200) -> dict:
    """One pass of the monitor's StoreWatcher (stat its three files, read what grew), run here
    without its thread so that each pass is timed alone."""
    from tui.models.run_feed import RunFeed
    from tui.models.series import RunSeries
    from tui.watcher import StoreWatcher

    rng = random.Random(1)
    store = st.Store(work / "mon")
    store.ensure()
    run_id = "20260101-000000-000-long-0001"
    os.mkdir(store.root / run_id)
    st.write_toml(store.status_path(run_id), {"state": "running", "step": records, "max_iters": 2 * records})
    path = store.metrics_path(run_id)
    path.write_text("".join(st.format_record("train", train_record(s, rng)) for s in range(1, records + 1)))
    store.worker_log(run_id).write_text("".join(f"[t] step {s}\n" for s in range(0, records, 100)))
    feed = RunFeed(store, run_id)
    watcher = StoreWatcher(feed, lambda: None)
    series = RunSeries()
    t0 = time.perf_counter()
    watcher.check()
    series.add(watcher.take()[0].records)
    first = time.perf_counter() - t0
    polls, nbytes, adds, idle = [], [], [], []
    step = records
    with st.AppendLog(path) as log:
        for _ in range(repeats):
            t = time.perf_counter()
            assert not watcher.check()
            idle.append(time.perf_counter() - t)
            before = feed.metrics.offset
            for _ in range(new):
                step += 1
                log.append("train", train_record(step, rng))
            t = time.perf_counter()
            watcher.check()
            (update,) = watcher.take()
            polls.append(time.perf_counter() - t)
            nbytes.append(feed.metrics.offset - before)
            assert len(update.records) == new
            t = time.perf_counter()
            series.add(update.records)
            adds.append(time.perf_counter() - t)
    return {
        "records": records,
        "log_mb": path.stat().st_size / 1e6,
        "first_poll_s": first,
        "poll_median_ms": statistics.median(polls) * 1e3,
        "poll_p95_ms": sorted(polls)[int(0.95 * repeats)] * 1e3,
        "bytes_read": statistics.median(nbytes),
        "idle_poll_median_ms": statistics.median(idle) * 1e3,
        "series_add_ms": statistics.median(adds) * 1e3,
        "chart_redraw_ms": chart_redraw_ms(series),
    }


def chart_redraw_ms(series, repeats: int = 20) -> float:
    """The four charts fed by [[train]] records: thinning 100,000 points and plotext's build,
    at 38x14 each (the monitor at 120x36); median of `repeats`, after one warm-up."""
    from textual_plotext.plot import Plot

    from tui.models.series import points

    train = series.train
    plot = Plot()
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        for key in ("loss", "lr", "tokens_per_s", "mem_rss"):
            plot.clear_data()
            plot.clear_figure()
            xs, ys = points(train.get("step"), train.get(key), 76)
            plot.plot(xs, ys, marker="hd")
            plot.plotsize(38, 14)
            plot._set_size(38, 14)
            plot.build()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]) * 1e3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run, not for the record)")
    p.add_argument("--child-first-frame", nargs=2, metavar=("STORE", "OUT"))
    p.add_argument("--child-bare", metavar="OUT")
    p.add_argument("--only", choices=("first", "monitor"))
    a = p.parse_args()
    if a.child_first_frame:
        return child_first_frame(*a.child_first_frame)
    if a.child_bare:
        return child_bare(a.child_bare)
    work = Path(tempfile.mkdtemp(prefix="tui-bench-"))
    try:
        if a.only in (None, "first"):
            r = bench_first_frame(work, 3 if a.quick else 7)
            print(
                f"first frame, 1,000 runs: median {r['first_frame_median']:.3f} s, max {r['first_frame_max']:.3f} s; "
                f"all {r['row_count']} rows in the table: median {r['rows_median']:.3f} s, "
                f"max {r['rows_max']:.3f} s ({r['repeats']} starts, timed from the parent's Popen); a bare "
                f"Textual app on the same terminal: median {r['bare_median']:.3f} s"
            )
        if a.only in (None, "monitor"):
            r = bench_monitor_refresh(work, repeats=50 if a.quick else 200)
            print(
                f"monitor refresh on a {r['records']:,}-record log ({r['log_mb']:.1f} MB): poll with 10 new "
                f"records median {r['poll_median_ms']:.3f} ms (p95 {r['poll_p95_ms']:.3f} ms), "
                f"{r['bytes_read']:,.0f} bytes read; poll with nothing new {r['idle_poll_median_ms']:.3f} ms; "
                f"adding them to the series {r['series_add_ms']:.3f} ms; first open (whole log) "
                f"{r['first_poll_s']:.2f} s; the four [[train]] charts built from 100k points "
                f"{r['chart_redraw_ms']:.1f} ms"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
