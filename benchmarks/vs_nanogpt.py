"""gpt-tui's worker against nanoGPT's `train.py`, on the same CPU, text and config, in alternation.

    .venv/bin/python benchmarks/vs_nanogpt.py [--nanogpt DIR] [--pairs 5] [--steps 300] [--quick]

nanoGPT is not part of this project: the script needs a checkout of it (train.py, model.py,
configurator.py). `--nanogpt DIR` names one; without it the script looks for a snapshot fetched
into /work/.mirror/karpathy+nanoGPT (a bare git directory; the files are read with `git show`).
Nothing of it is kept in this repository.

Both sides train the same model on the same prepared text: the pydocs corpus, char tokenizer,
prepared once by gpt-tui; its train and val splits are written out as nanoGPT's train.bin,
val.bin and meta.pkl, so both see the same tokens in the same order, split the same way. Config
(the issue's): 4 layers, 4 heads, n_embd 128, block 128, batch 12, no accumulation, float32, no
compile, every core; lr 1e-3 warming up 20 steps, cosine to 1e-4 at the last step, AdamW betas
(0.9, 0.99), weight decay 0.1, grad clip 1.0, dropout 0, no bias. Each draws its own random
windows (nanoGPT with torch.randint, gpt-tui with its (seed, step) generator), so the losses
agree statistically, not bit for bit; both evaluate at step 0 and at the last step on
`--eval-iters` batches of each split.

Timing, the same range on both sides: the steps after the first `--warmup`, to the last step,
evaluations excluded. nanoGPT prints each iteration's time (log_interval 1); the sum over that
range is its time. gpt-tui's is the wall clock between its [[train]] records at those two steps.
gpt-tui's worker is `python -m engine.worker RUN_DIR` on a run made in a temporary store, as the
engine starts it. Pairs alternate which side runs first. The ratio is gpt-tui tokens/s over
nanoGPT tokens/s of the same pair. `--control` adds a third side, gpt-tui's worker with its
process tuning off (engine.train.host: malloc thresholds, threads from the free cores), to measure
what that tuning is worth; the three then take turns going first.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.train_bench import CONFIG as TRAIN_BENCH_CONFIG  # noqa: E402
from benchmarks.train_bench import child_env, run_worker  # noqa: E402
from engine.core import config as cfgmod  # noqa: E402
from engine.data import prepare as data  # noqa: E402
from engine.store import runs as st  # noqa: E402
from engine.train import host  # noqa: E402

MIRROR = Path("/work/.mirror/karpathy+nanoGPT/repo")
NANOGPT_FILES = ("train.py", "model.py", "configurator.py")
# train_bench's config (the issue's: 4 x 128, block 128, batch 12, char pydocs, float32, every core),
# with every hyperparameter nanoGPT is handed spelled out, so that both sides train the same way.
CONFIG = {
    **TRAIN_BENCH_CONFIG,
    "learning_rate": 1e-3,
    "min_lr": 1e-4,
    "warmup_iters": 20,
    "lr_decay_iters": 0,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.99,
    "dropout": 0.0,
    "bias": False,
}
GOAL_SPEED, GOAL_LOSS = 1.10, 0.01
ITER_LINE = re.compile(r"^iter (\d+): loss [-\d.naninf]+, time ([\d.]+)ms")
EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")
console = Console(highlight=False, width=max(150, Console().width))


def nanogpt_checkout(given: Path | None, into: Path) -> Path:
    """A folder with nanoGPT's train.py, model.py and configurator.py."""
    if given is not None:
        missing = [f for f in NANOGPT_FILES if not (given / f).is_file()]
        if missing:
            raise SystemExit(f"error: {given} has no {', '.join(missing)}: give a nanoGPT checkout")
        return given
    if not MIRROR.exists():
        raise SystemExit(
            "error: no nanoGPT checkout: pass --nanogpt DIR (git clone https://github.com/karpathy/nanoGPT)"
        )
    into.mkdir(parents=True)
    for name in NANOGPT_FILES:
        text = subprocess.run(
            ["git", f"--git-dir={MIRROR}", "show", f"HEAD:{name}"], capture_output=True, check=True
        ).stdout
        (into / name).write_bytes(text)
    return into


def nanogpt_revision(checkout: Path) -> str:
    if checkout.is_relative_to(Path(tempfile.gettempdir())) and MIRROR.exists():
        out = subprocess.run(["git", f"--git-dir={MIRROR}", "log", "-1", "--format=%h %cs"], capture_output=True)
        return out.stdout.decode().strip()
    return str(checkout)


def write_nanogpt_data(prepared, into: Path) -> None:
    """The prepared splits as nanoGPT's uint16 train.bin / val.bin, and meta.pkl with the vocab size."""
    into.mkdir(parents=True)
    for split, space in (("train", prepared.train()), ("val", prepared.val())):
        np.asarray(space, dtype=np.uint16).tofile(into / f"{split}.bin")
    with open(into / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": prepared.vocab_size}, f)


def run_nanogpt(checkout: Path, cfg: cfgmod.RunConfig, out_dir: Path, env: dict, warmup: int) -> dict:
    args = {
        "dataset": "pydocs",
        "out_dir": str(out_dir),
        "device": "cpu",
        "compile": False,
        "dtype": "float32",
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_embd": cfg.n_embd,
        "block_size": cfg.block_size,
        "batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "max_iters": cfg.max_iters,
        "lr_decay_iters": cfg.max_iters,
        "eval_interval": cfg.max_iters,
        "eval_iters": cfg.eval_iters,
        "log_interval": 1,
        "learning_rate": cfg.learning_rate,
        "min_lr": cfg.min_lr,
        "warmup_iters": cfg.warmup_iters,
        "weight_decay": cfg.weight_decay,
        "beta1": cfg.beta1,
        "beta2": cfg.beta2,
        "grad_clip": cfg.grad_clip,
        "dropout": cfg.dropout,
        "bias": cfg.bias,
        "always_save_checkpoint": False,
    }
    argv = [sys.executable, "train.py", *(f"--{k}={v}" for k, v in args.items())]
    t0 = time.perf_counter()
    out = subprocess.run(argv, cwd=checkout, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"nanoGPT exited {out.returncode}:\n{out.stderr[-2000:]}")
    dts, val = {}, {}
    for line in out.stdout.splitlines():
        if m := ITER_LINE.match(line):
            dts[int(m[1])] = float(m[2]) / 1000.0
        elif m := EVAL_LINE.match(line):
            val[int(m[1])] = float(m[3])
    # iterations warmup .. max_iters-1: the same steps as gpt-tui's records at `warmup` and max_iters
    seconds = sum(dts[i] for i in range(warmup, cfg.max_iters))
    steps = cfg.max_iters - warmup
    return {
        "tokens_per_s": steps * cfg.batch_size * cfg.block_size / seconds,
        "ms_per_iter": 1000.0 * seconds / steps,
        "val_loss": val[cfg.max_iters],
        "wall_s": wall,
    }


def run_gpt_tui(store: st.Store, cfg: cfgmod.RunConfig, env: dict, warmup: int) -> dict:
    """train_bench's worker run, with the val loss at the last step and the threads the worker took."""
    got = run_worker(store, cfg, env, warmup)
    host_line = next((ln for ln in store.worker_log(got["run_id"]).read_text().splitlines() if "host: " in ln), "")
    threads = re.search(r"(\d+) torch thread", host_line)
    evals = [r for kind, r in st.read_log(store.metrics_path(got["run_id"])).records if kind == "eval"]
    return {
        **got,
        "ms_per_iter": 1000.0 * cfg.batch_size * cfg.block_size / got["tokens_per_s"],
        "val_loss": evals[-1]["val_loss"],
        "threads": threads[1] if threads else "torch's",
        "best_10": got["best_interval"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nanogpt", type=Path, help="a nanoGPT checkout (default: the fetched snapshot)")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30, help="steps not timed on either side")
    p.add_argument("--eval-iters", type=int, default=50)
    p.add_argument(
        "--control", action="store_true", help=f"a third side: gpt-tui with {host.HOST_TUNING_ENV}=0 (untuned)"
    )
    p.add_argument("--quick", action="store_true", help="1 pair of 60 steps, 5 eval batches: a smoke run")
    a = p.parse_args(argv)
    if a.quick:
        a.pairs, a.steps, a.eval_iters, a.warmup = 1, 60, 5, 20
    if a.warmup % CONFIG["log_interval"] or a.steps % CONFIG["log_interval"] or a.warmup >= a.steps:
        raise SystemExit("error: --warmup and --steps must be multiples of 10, warmup < steps")
    cfg = cfgmod.from_mapping({**CONFIG, "max_iters": a.steps, "eval_interval": a.steps, "eval_iters": a.eval_iters})
    with tempfile.TemporaryDirectory(prefix="vs-nanogpt-") as tmp_name:
        tmp = Path(tmp_name)
        checkout = nanogpt_checkout(a.nanogpt, tmp / "nanogpt")
        store = st.Store(tmp / "runs")
        store.ensure()
        prepared = data.prepare(cfg.dataset, cfg.tokenizer, store.datasets_dir)
        nano_data = checkout / "data" / "pydocs"
        if not nano_data.exists():
            write_nanogpt_data(prepared, nano_data)
        env = child_env(tmp)
        sides = ["nanogpt", "gpt-tui", *(["untuned"] if a.control else [])]
        rows = []
        for i in range(a.pairs):
            order = sides[i % len(sides) :] + sides[: i % len(sides)]  # each side goes first in turn
            got = {}
            for side in order:
                load = os.getloadavg()[0]
                if side == "nanogpt":
                    got[side] = run_nanogpt(checkout, cfg, tmp / f"out-{i}", env, a.warmup)
                else:
                    tuning = {host.HOST_TUNING_ENV: "0"} if side == "untuned" else {}
                    got[side] = run_gpt_tui(store, cfg, {**env, **tuning}, a.warmup)
                got[side]["load"] = load
            rows.append((order[0], got))
            console.print(
                f"pair {i + 1}: "
                + ", ".join(
                    f"{k} {v['tokens_per_s']:,.0f} tok/s"
                    + (f" (threads {v['threads']}, best 10 steps {v['best_10']:,.0f})" if "threads" in v else "")
                    for k, v in got.items()
                )
            )
        report(rows, cfg, a, nanogpt_revision(checkout))
    return 0


def report(rows: list[tuple[str, dict]], cfg: cfgmod.RunConfig, a: argparse.Namespace, revision: str) -> None:
    t = Table(
        title=f"gpt-tui worker vs nanoGPT train.py ({revision}): steps {a.warmup}-{a.steps} timed, "
        f"val loss at step {a.steps} ({a.eval_iters} batches)"
    )
    gpt_sides = [side for side in ("gpt-tui", "untuned") if side in rows[0][1]]
    cols = ["pair", "first", "nanoGPT tok/s", *(f"{s} tok/s" for s in gpt_sides), *(f"{s} ratio" for s in gpt_sides)]
    for col in (*cols, "val loss nanoGPT / gpt-tui", "load"):
        t.add_column(col, justify="right")
    ratios: dict[str, list[float]] = {side: [] for side in gpt_sides}
    gaps = []
    for i, (first, got) in enumerate(rows, 1):
        n, g = got["nanogpt"], got["gpt-tui"]
        for side in gpt_sides:
            ratios[side].append(got[side]["tokens_per_s"] / n["tokens_per_s"])
        gap = g["val_loss"] / n["val_loss"] - 1.0
        gaps.append(gap)
        t.add_row(
            str(i),
            first,
            f"{n['tokens_per_s']:,.0f}",
            *(f"{got[side]['tokens_per_s']:,.0f}" for side in gpt_sides),
            *(f"{ratios[side][-1]:.3f}" for side in gpt_sides),
            f"{n['val_loss']:.4f} / {g['val_loss']:.4f} ({100 * gap:+.2f}%)",
            " / ".join(f"{got[side]['load']:.1f}" for side in got),
        )
    med = {side: statistics.median(r) for side, r in ratios.items()}
    gap = statistics.median(gaps)
    blanks = [""] * (1 + len(gpt_sides))
    t.add_row("median", "", *blanks, *(f"{m:.3f}" for m in med.values()), f"{100 * gap:+.2f}%", "", style="bold")
    console.print(t)
    r = ratios["gpt-tui"]
    verdict = "met" if med["gpt-tui"] >= GOAL_SPEED and abs(gap) <= GOAL_LOSS else "not met"
    console.print(
        f"goal: tokens/s ratio >= {GOAL_SPEED:.2f} and val loss within {100 * GOAL_LOSS:.0f}%: {verdict} "
        f"(median ratio {med['gpt-tui']:.3f}, range {min(r):.3f}-{max(r):.3f}; median val loss gap {100 * gap:+.2f}%)"
    )
    if "untuned" in med:
        console.print(
            f"untuned ({host.HOST_TUNING_ENV}=0: malloc and threads as torch leaves them): median ratio "
            f"{med['untuned']:.3f}; tuned / untuned {med['gpt-tui'] / med['untuned']:.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
