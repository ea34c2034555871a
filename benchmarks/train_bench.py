"""Steady-state training throughput of the real worker against a bare nanoGPT-style PyTorch loop.

    .venv/bin/python benchmarks/train_bench.py [--quick] [--repeats N] [--steps N] [--threads N] [--overhead]

Both sides train the same GPT (engine.model.GPT) with the same AdamW (configure_optimizer), the
same batches (engine.trainer.sample_batch on the same prepared data and seed), the same LR
schedule (engine.schedule.get_lr) and grad clip 1.0, each in its own process. The worker is
`python -m engine.worker RUN_DIR` on a run made with Store.create_run: it also evaluates at step
0 and at the end, logs every 10 steps, writes status.toml about once a second and checkpoints at
each evaluation. The bare loop (`--bare`, run as a subprocess) does nothing but train.

The first WARMUP steps of each are skipped. The worker's rate comes from its [[train]] records
two ways: the wall-clock `t` and `tokens` of the first and last records after warm-up, and the
median of the records' own `tokens_per_s`. The bare loop times the same steps with perf_counter.
Runs alternate (worker first on even repeats, bare first on odd) and the table reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.core import config as cfgmod  # noqa: E402
from engine.store import runs as st  # noqa: E402

CONFIG = dict(
    n_layer=4,
    n_head=4,
    n_embd=128,
    block_size=128,
    batch_size=12,
    gradient_accumulation_steps=1,
    dataset="pydocs",
    tokenizer="char",
    device="cpu",
    dtype="float32",
    threads=0,
    compile=False,
    max_iters=300,
    log_interval=10,
    eval_interval=300,
    eval_iters=5,
    grad_clip=1.0,
)
WARMUP = 30  # steps skipped on both sides before timing starts
GOAL = 0.98  # worker / bare

console = Console(highlight=False, width=max(132, Console().width))


def bench_config(steps: int) -> cfgmod.RunConfig:
    # eval_interval = max_iters: only the step-0 and final evaluations happen, outside the timed range
    return cfgmod.from_mapping({**CONFIG, "max_iters": steps, "eval_interval": steps})


# -- the bare loop (runs in its own process: `train_bench.py --bare ...`) ----------------------


def bare_loop(cfg: cfgmod.RunConfig, datasets_dir: Path, warmup: int) -> dict:
    """nanoGPT's loop with nothing else: no evaluation, no logging, no checkpoints, no syncs."""
    import numpy as np
    import torch

    from engine.core.schedule import get_lr
    from engine.data import prepare as data
    from engine.train.model import GPT
    from engine.train.trainer import sample_batch

    prepared = data.prepare(cfg.dataset, cfg.tokenizer, datasets_dir)
    train = prepared.train()
    torch.set_num_threads(cfg.threads or torch.get_num_threads())  # what Trainer does
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model = GPT(cfg, prepared.vocab_size).to(device)
    optimizer = model.configure_optimizer(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), device.type)
    t0 = None
    marks: list[float] = []  # perf_counter every log_interval steps after warm-up, for interval rates
    for step in range(cfg.max_iters):
        lr = get_lr(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(cfg.gradient_accumulation_steps):
            # Trainer.micro_batch_rng: the windows of (seed, step, micro), so both sides see the same data
            rng = np.random.Generator(np.random.PCG64([cfg.seed, step, micro]))
            xy = torch.from_numpy(sample_batch(train, cfg.batch_size, cfg.block_size, rng)).to(device)
            _, loss = model(xy[:, :-1], xy[:, 1:])
            (loss / cfg.gradient_accumulation_steps).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step + 1 == warmup:
            t0 = time.perf_counter()
        if step + 1 >= warmup and (step + 1 - warmup) % cfg.log_interval == 0:
            marks.append(time.perf_counter())
    final_loss = loss.item()  # also the one sync (a no-op on CPU) before the clock stops
    seconds = time.perf_counter() - t0
    timed_steps = cfg.max_iters - warmup
    tokens_per_iter = cfg.batch_size * cfg.gradient_accumulation_steps * cfg.block_size
    intervals = [tokens_per_iter * cfg.log_interval / (b - a) for a, b in zip(marks, marks[1:])]
    return {
        "tokens_per_s": timed_steps * tokens_per_iter / seconds,
        "seconds": seconds,
        "steps": timed_steps,
        "median_interval": statistics.median(intervals) if intervals else 0.0,
        "best_interval": max(intervals, default=0.0),
        "final_loss": final_loss,
        "threads": torch.get_num_threads(),
    }


# -- the worker's own per-step costs, timed apart (less sensitive to a shared machine) ---------


def overhead_probe(store: st.Store, cfg: cfgmod.RunConfig) -> list[tuple[str, float, str]]:
    """(what, microseconds per call, how often the worker pays it) for what the worker adds to a step."""
    import numpy as np
    import torch

    from engine.train import telemetry
    from engine.train.worker import STATUS_EVERY_S, RunRecorder

    def best_of(fn, n: int, rounds: int = 5) -> float:
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times.append((time.perf_counter() - t0) / n)
        return min(times) * 1e6

    run_id = store.create_run(cfgmod.to_toml(cfg), "probe", {"source": "train_bench --overhead"})
    rec = RunRecorder(store, run_id)
    rec.open_metrics()
    rec.max_iters, rec.tokens_per_iter = cfg.max_iters, cfg.batch_size * cfg.block_size
    last = dict(
        step=10,
        loss=2.5,
        lr=1e-3,
        tokens_per_s=16000.0,
        tokens=15360,
        mem_rss=400_000_000,
        val_loss=2.6,
        val_ppl=13.5,
        best_val_loss=2.6,
    )
    record = {
        "step": 10,
        "tokens": 15360,
        "loss": 2.5,
        "lr": 1e-3,
        "ms_per_iter": 95.0,
        "tokens_per_s": 16000.0,
        "t": time.time(),
        "mem_rss": 400_000_000,
    }
    loss = torch.tensor(2.5, requires_grad=True) * 1.0
    nonfinite = torch.zeros((), dtype=torch.bool)

    def step_tensor_ops() -> None:  # Trainer.train / accumulate_gradients, beyond the bare loop
        nonlocal nonfinite
        loss_sum = torch.zeros(())
        scaled = loss / 1
        loss_sum += scaled.detach().float()
        nonfinite |= ~torch.isfinite(loss_sum)

    scaler = torch.amp.GradScaler("cpu", enabled=False)
    rec._status_at = time.monotonic()
    out = [
        ("tensor ops on the loss (zeros, /, +=, isfinite, ~, |=)", best_of(step_tensor_ops, 2000), "every step"),
        ("disabled GradScaler calls", best_of(lambda: (scaler.scale(loss), scaler.update()), 5000), "every step"),
        ("RunRecorder.should_stop (stat every 0.5 s)", best_of(rec.should_stop, 20000), "every step"),
        ("RunRecorder.on_progress between status writes", best_of(lambda: rec.on_progress(last), 20000), "every step"),
        (
            "PCG64(\\[seed, step, micro]) (the bare loop pays it too)",
            best_of(lambda: np.random.Generator(np.random.PCG64([1337, 5, 0])), 2000),
            "every micro-step",
        ),
        (
            "RunRecorder.on_train: AppendLog.append of one record",
            best_of(lambda: rec.on_train(record), 500),
            f"every {cfg.log_interval} steps",
        ),
        (
            "telemetry.memory_reading('cpu')",
            best_of(lambda: telemetry.memory_reading("cpu"), 500),
            f"every {cfg.log_interval} steps",
        ),
        (
            "RunRecorder.write_status (tomli_w, write, fsync, rename, fsync dir)",
            best_of(lambda: rec.write_status(eta_s=1.0, **last), 30, rounds=3),
            f"every {STATUS_EVERY_S:g} s",
        ),
    ]
    rec.close()
    return out


def print_overhead(rows: list[tuple[str, float, str]], step_ms: float) -> None:
    t = Table(title=f"what the worker adds per step, timed apart (best of 5); a bare step took {step_ms:.1f} ms")
    for col in ("cost", "µs per call", "paid", "share of wall time"):
        t.add_column(col, justify="left" if col in ("cost", "paid") else "right")
    total = 0.0
    for what, us, when in rows:
        if "bare loop pays" in what:
            share = None
        elif when.startswith("every step"):
            share = us / (step_ms * 1000)
        elif when.startswith("every") and when.endswith("steps"):
            share = us / (int(when.split()[1]) * step_ms * 1000)
        else:  # once a second
            share = us / 1e6
        total += share or 0.0
        t.add_row(what, f"{us:,.1f}", when, "-" if share is None else f"{100 * share:.3f}%")
    t.add_row("total", "", "", f"{100 * total:.2f}%  (ratio ceiling {1 - total:.4f})", style="bold")
    console.print(t)


# -- the harness -------------------------------------------------------------------------------


def child_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
        "TIKTOKEN_CACHE_DIR": str(tmp / "tiktoken"),
        "PYTHONPATH": str(ROOT),
    }


def run_worker(store: st.Store, cfg: cfgmod.RunConfig, env: dict[str, str], warmup: int) -> dict:
    run_id = store.create_run(cfgmod.to_toml(cfg), "bench", {"source": "train_bench"})
    t0 = time.perf_counter()
    with open(store.worker_log(run_id), "ab") as log:
        code = subprocess.call(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wall = time.perf_counter() - t0
    if code != 0:
        tail = store.worker_log(run_id).read_text(errors="replace")[-2000:]
        raise SystemExit(f"worker exited {code}:\n{tail}")
    records = [r for t, r in st.read_log(store.metrics_path(run_id)).records if t == "train"]
    timed = [r for r in records if r["step"] >= warmup]
    first, last = timed[0], timed[-1]
    # records whose whole interval lies after warm-up (step - log_interval >= warmup)
    rates = [r["tokens_per_s"] for r in timed if r["step"] - cfg.log_interval >= first["step"]]
    return {
        "tokens_per_s": (last["tokens"] - first["tokens"]) / (last["t"] - first["t"]),
        "median_field": statistics.median(rates),
        "best_interval": max(rates),
        "steps": last["step"] - first["step"],
        "wall_s": wall,
        "final_loss": last["loss"],
        "run_id": run_id,
    }


def run_bare(cfg: cfgmod.RunConfig, datasets_dir: Path, env: dict[str, str], warmup: int) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--bare",
            "--datasets",
            str(datasets_dir),
            "--steps",
            str(cfg.max_iters),
            "--warmup",
            str(warmup),
            "--threads",
            str(cfg.threads),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"bare loop exited {out.returncode}:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 repeats instead of 5")
    p.add_argument("--repeats", type=int, help="repeats of each (default 5, or 2 with --quick)")
    p.add_argument("--steps", type=int, default=CONFIG["max_iters"], help="max_iters of each run")
    p.add_argument("--warmup", type=int, default=WARMUP, help="steps skipped before timing")
    p.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: every core)")
    p.add_argument(
        "--overhead",
        action="store_true",
        help="also time the worker's per-step extras apart (status write, log append, ...)",
    )
    p.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)  # the child process
    p.add_argument("--datasets", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cfg = bench_config(args.steps).replace(threads=args.threads)
    if args.bare:
        print(json.dumps(bare_loop(cfg, args.datasets, args.warmup)))
        return 0
    repeats = args.repeats or (2 if args.quick else 5)

    with tempfile.TemporaryDirectory(prefix="gpt-tui-train-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = child_env(tmp)
        os.environ.update(
            TORCHINDUCTOR_CACHE_DIR=env["TORCHINDUCTOR_CACHE_DIR"], TIKTOKEN_CACHE_DIR=env["TIKTOKEN_CACHE_DIR"]
        )
        store = st.Store(tmp / "runs")
        store.ensure()
        from engine.data import prepare as data  # numpy only: prepare once so neither side pays for it

        prepared = data.prepare(cfg.dataset, cfg.tokenizer, store.datasets_dir)
        console.print(
            f"config: {cfg.n_layer}L {cfg.n_head}H {cfg.n_embd}d block {cfg.block_size} "
            f"batch {cfg.batch_label}, {cfg.tokenizer} vocab {prepared.vocab_size}, "
            f"{cfg.max_iters} steps (first {args.warmup} skipped), {repeats} repeats, "
            f"{os.cpu_count()} CPUs, threads={cfg.threads or 'all'}"
        )
        rows = []
        for i in range(repeats):
            order = ("worker", "bare") if i % 2 == 0 else ("bare", "worker")
            result = {}
            for side in order:
                result[side] = (
                    run_worker(store, cfg, env, args.warmup)
                    if side == "worker"
                    else run_bare(cfg, store.datasets_dir, env, args.warmup)
                )
                console.print(
                    f"  repeat {i + 1} {side:6}: {result[side]['tokens_per_s']:,.0f} tok/s, median "
                    f"interval {result[side].get('median_field', result[side].get('median_interval')):,.0f} "
                    f"(process {result[side]['wall_s']:.1f}s)"
                )
            result["load"] = os.getloadavg()[0]
            rows.append(result)
        if args.overhead:
            probe = overhead_probe(store, cfg)
    print_table(rows, cfg, args.warmup)
    if args.overhead:
        best_bare = max(r["bare"]["best_interval"] for r in rows)
        print_overhead(probe, 1000 * cfg.batch_size * cfg.block_size / best_bare)
    return 0


def print_table(rows: list[dict], cfg: cfgmod.RunConfig, warmup: int) -> None:
    t = Table(title=f"training tokens/s after step {warmup} of {cfg.max_iters}: worker vs bare loop")
    for col in (
        "repeat",
        "worker span",
        "worker med",
        "worker best",
        "bare span",
        "bare med",
        "bare best",
        "ratio span",
        "ratio med",
        "ratio best",
        "load",
        "final loss",
    ):
        t.add_column(col, justify="right")
    keys = (("tokens_per_s", "tokens_per_s"), ("median_field", "median_interval"), ("best_interval", "best_interval"))

    def add(label: str, w: dict, b: dict, load: str, losses: str, style: str = "") -> None:
        cells = [f"{w[k]:,.0f}" for k, _ in keys] + [f"{b[k]:,.0f}" for _, k in keys]
        cells += [f"{w[wk] / b[bk]:.3f}" for wk, bk in keys]
        t.add_row(label, *cells, load, losses, style=style)

    for i, r in enumerate(rows):
        w, b = r["worker"], r["bare"]
        same = f"{w['final_loss']:.4f}" == f"{b['final_loss']:.4f}"
        add(
            str(i + 1),
            w,
            b,
            f"{r['load']:.1f}",
            f"{w['final_loss']:.4f} both" if same else f"{w['final_loss']:.4f}/{b['final_loss']:.4f}",
        )
    med = {
        side: {k: statistics.median(r[side][k] for r in rows) for pair in keys for k in pair if k in rows[0][side]}
        for side in ("worker", "bare")
    }
    add("median", med["worker"], med["bare"], f"{statistics.median(r['load'] for r in rows):.1f}", "", style="bold")
    console.print(t)
    console.print(
        f"span: tokens over the whole timed range / its wall time (worker: [\\[train]] `t` stamps; bare: "
        f"perf_counter). med / best: median / fastest of the {cfg.log_interval}-step intervals (worker: the "
        f"records' tokens_per_s; bare: perf_counter marks); on a shared machine noise only slows a run "
        f"down, so `best` is the least disturbed view (it can miss the worker's once-a-second status "
        f"write). ratio = worker / bare, goal >= {GOAL}. load: 1-minute load average after the repeat. "
        f"Equal final losses show both sides did the same computation."
    )
    for (wk, bk), name in zip(keys, ("span", "med", "best")):
        ratios = [r["worker"][wk] / r["bare"][bk] for r in rows]
        console.print(
            f"per-repeat ratios ({name}): {', '.join(f'{x:.3f}' for x in ratios)}; "
            f"median {statistics.median(ratios):.3f}"
        )
    console.print(
        f"process wall s, median: worker {statistics.median(r['worker']['wall_s'] for r in rows):.1f} "
        f"(with 2 evaluations and checkpoints), bare "
        f"{statistics.median(r['bare']['wall_s'] for r in rows):.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
