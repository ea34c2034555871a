"""Steady-state training throughput of the real worker against a bare nanoGPT-style PyTorch loop.

    .venv/bin/python benchmarks/train_bench.py [--quick] [--repeats N] [--steps N]

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

from engine import config as cfgmod  # noqa: E402
from engine import store as st  # noqa: E402

CONFIG = dict(
    n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=12, gradient_accumulation_steps=1,
    dataset="pydocs", tokenizer="char", device="cpu", dtype="float32", threads=0, compile=False,
    max_iters=300, log_interval=10, eval_interval=300, eval_iters=5, grad_clip=1.0,
)
WARMUP = 30  # steps skipped on both sides before timing starts
GOAL = 0.98  # worker / bare

console = Console(highlight=False)


def bench_config(steps: int) -> cfgmod.RunConfig:
    # eval_interval = max_iters: only the step-0 and final evaluations happen, outside the timed range
    return cfgmod.from_mapping({**CONFIG, "max_iters": steps, "eval_interval": steps})


# -- the bare loop (runs in its own process: `train_bench.py --bare ...`) ----------------------

def bare_loop(cfg: cfgmod.RunConfig, datasets_dir: Path, warmup: int) -> dict:
    """nanoGPT's loop with nothing else: no evaluation, no logging, no checkpoints, no syncs."""
    import numpy as np
    import torch

    from engine import data
    from engine.model import GPT
    from engine.schedule import get_lr
    from engine.trainer import sample_batch

    prepared = data.prepare(cfg.dataset, cfg.tokenizer, datasets_dir)
    train = prepared.train()
    torch.set_num_threads(cfg.threads or torch.get_num_threads())  # what Trainer does
    torch.manual_seed(cfg.seed)
    rng = np.random.Generator(np.random.PCG64(cfg.seed))
    device = torch.device(cfg.device)
    model = GPT(cfg, prepared.vocab_size).to(device)
    optimizer = model.configure_optimizer(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2),
                                          device.type)
    t0 = None
    marks: list[float] = []  # perf_counter every log_interval steps after warm-up, for interval rates
    for step in range(cfg.max_iters):
        lr = get_lr(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        xy = torch.from_numpy(sample_batch(train, cfg.batch_size, cfg.block_size, rng)).to(device)
        _, loss = model(xy[:, :-1], xy[:, 1:])
        loss.backward()
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
    return {"tokens_per_s": timed_steps * tokens_per_iter / seconds, "seconds": seconds,
            "steps": timed_steps, "median_interval": statistics.median(intervals) if intervals else 0.0,
            "final_loss": final_loss, "threads": torch.get_num_threads()}


# -- the harness -------------------------------------------------------------------------------

def child_env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
            "TIKTOKEN_CACHE_DIR": str(tmp / "tiktoken"), "PYTHONPATH": str(ROOT)}


def run_worker(store: st.Store, cfg: cfgmod.RunConfig, env: dict[str, str], warmup: int) -> dict:
    run_id = store.create_run(cfgmod.to_toml(cfg), "bench", {"source": "train_bench"})
    t0 = time.perf_counter()
    with open(store.worker_log(run_id), "ab") as log:
        code = subprocess.call([sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if code != 0:
        tail = store.worker_log(run_id).read_text(errors="replace")[-2000:]
        raise SystemExit(f"worker exited {code}:\n{tail}")
    records = [r for t, r in st.read_log(store.metrics_path(run_id)).records if t == "train"]
    timed = [r for r in records if r["step"] >= warmup]
    first, last = timed[0], timed[-1]
    # records whose whole interval lies after warm-up (step - log_interval >= warmup)
    rates = [r["tokens_per_s"] for r in timed if r["step"] - cfg.log_interval >= first["step"]]
    return {"tokens_per_s": (last["tokens"] - first["tokens"]) / (last["t"] - first["t"]),
            "median_field": statistics.median(rates), "steps": last["step"] - first["step"],
            "wall_s": wall, "final_loss": last["loss"]}


def run_bare(cfg: cfgmod.RunConfig, datasets_dir: Path, env: dict[str, str], warmup: int) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--bare", "--datasets", str(datasets_dir),
                          "--steps", str(cfg.max_iters), "--warmup", str(warmup)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
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
    p.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)  # the child process
    p.add_argument("--datasets", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cfg = bench_config(args.steps)
    if args.bare:
        print(json.dumps(bare_loop(cfg, args.datasets, args.warmup)))
        return 0
    repeats = args.repeats or (2 if args.quick else 5)

    with tempfile.TemporaryDirectory(prefix="gpt-tui-train-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = child_env(tmp)
        os.environ.update(TORCHINDUCTOR_CACHE_DIR=env["TORCHINDUCTOR_CACHE_DIR"],
                          TIKTOKEN_CACHE_DIR=env["TIKTOKEN_CACHE_DIR"])
        store = st.Store(tmp / "runs")
        store.ensure()
        from engine import data  # numpy only: prepare once so neither side pays for it
        prepared = data.prepare(cfg.dataset, cfg.tokenizer, store.datasets_dir)
        console.print(f"config: {cfg.n_layer}L {cfg.n_head}H {cfg.n_embd}d block {cfg.block_size} "
                      f"batch {cfg.batch_label}, {cfg.tokenizer} vocab {prepared.vocab_size}, "
                      f"{cfg.max_iters} steps (first {args.warmup} skipped), {repeats} repeats, "
                      f"{os.cpu_count()} CPUs")
        rows = []
        for i in range(repeats):
            order = ("worker", "bare") if i % 2 == 0 else ("bare", "worker")
            result = {}
            for side in order:
                result[side] = (run_worker(store, cfg, env, args.warmup) if side == "worker"
                                else run_bare(cfg, store.datasets_dir, env, args.warmup))
                console.print(f"  repeat {i + 1} {side:6}: {result[side]['tokens_per_s']:,.0f} tok/s "
                              f"(process {result[side]['wall_s']:.1f}s)")
            rows.append(result)
    print_table(rows, cfg, args.warmup)
    return 0


def print_table(rows: list[dict], cfg: cfgmod.RunConfig, warmup: int) -> None:
    t = Table(title=f"steady-state training tokens/s, steps {warmup}..{cfg.max_iters} "
                    f"(worker vs bare loop, goal worker/bare >= {GOAL})")
    for col in ("repeat", "worker (t stamps)", "worker (median field)", "bare loop", "ratio (t stamps)",
                "ratio (median field)", "worker process s", "bare process s"):
        t.add_column(col, justify="right")

    def row(label: str, w: float, wm: float, b: float, ws: float, bs: float, style: str = "") -> None:
        t.add_row(label, f"{w:,.0f}", f"{wm:,.0f}", f"{b:,.0f}", f"{w / b:.3f}", f"{wm / b:.3f}",
                  f"{ws:.1f}", f"{bs:.1f}", style=style)

    for i, r in enumerate(rows):
        row(str(i + 1), r["worker"]["tokens_per_s"], r["worker"]["median_field"], r["bare"]["tokens_per_s"],
            r["worker"]["wall_s"], r["bare"]["wall_s"])
    med = lambda side, key: statistics.median(r[side][key] for r in rows)  # noqa: E731
    row("median", med("worker", "tokens_per_s"), med("worker", "median_field"), med("bare", "tokens_per_s"),
        med("worker", "wall_s"), med("bare", "wall_s"), style="bold")
    console.print(t)
    ratios = [r["worker"]["tokens_per_s"] / r["bare"]["tokens_per_s"] for r in rows]
    console.print(f"per-repeat ratios (t stamps): {', '.join(f'{x:.3f}' for x in ratios)}; "
                  f"median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    sys.exit(main())
