"""The quickstart as a user runs it: wall time of `gpt-tui train --preset quickstart`, what it
reached (val loss and perplexity), and the baselines that put those numbers in context.

    .venv/bin/python benchmarks/quickstart_bench.py [--quick]

Baselines, both on the same prepared char-level data the run trained on:
- unigram: the cross-entropy of the val split under the train split's character frequencies
  (add-one smoothing over the whole vocabulary), i.e. what a model that ignores context gets;
- uniform: ln(vocab), a model that knows nothing.
`--quick` trains 200 steps instead of the preset's 800 (the command is otherwise the same).
"""

from __future__ import annotations

import argparse
import math
import os
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

from engine.data import prepare as data  # noqa: E402
from engine.store import runs as st  # noqa: E402

console = Console(highlight=False)


def unigram_cross_entropy(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Mean -ln p(token) over `val` with p the add-one-smoothed unigram distribution of `train`."""
    counts = np.bincount(np.asarray(train, dtype=np.int64), minlength=vocab_size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[np.asarray(val, dtype=np.int64)].mean())


def gpt_tui() -> str:
    exe = Path(sys.executable).with_name("gpt-tui")
    return str(exe) if exe.exists() else "gpt-tui"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="200 steps instead of the preset's 800")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gpt-tui-quickstart-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runs = tmp / "runs"
        env = {
            **os.environ,
            "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
            "TIKTOKEN_CACHE_DIR": str(tmp / "tiktoken"),
        }
        cmd = [gpt_tui(), "--runs", str(runs), "train", "--preset", "quickstart"]
        if args.quick:
            cmd += ["--set", "max_iters=200"]
        console.print(f"$ {' '.join(cmd)}")
        t0 = time.perf_counter()
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        wall = time.perf_counter() - t0
        store = st.Store(runs)
        run_ids = store.list_runs()
        if code != 0 or len(run_ids) != 1:
            console.print(f"[red]gpt-tui train exited {code}; runs: {run_ids}[/]")
            return 1
        run_id = run_ids[0]
        status = store.status(run_id)
        records = st.read_log(store.metrics_path(run_id)).records
        train = [r for t, r in records if t == "train"]
        evals = [r for t, r in records if t == "eval"]
        results = st.read_results(store)
        prepared = next(
            data.open_prepared(d) for d in sorted(store.datasets_dir.iterdir()) if not d.name.startswith(".")
        )
        unigram = unigram_cross_entropy(prepared.train(), prepared.val(), prepared.vocab_size)
        vocab = prepared.vocab_size
        train_tokens, val_tokens = prepared.meta["train_tokens"], prepared.meta["val_tokens"]

    final = evals[-1]
    rate_median = statistics.median(r["tokens_per_s"] for r in train)
    t = Table(title=f"gpt-tui train --preset quickstart{' (--quick: 200 steps)' if args.quick else ''}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("wall time of the command", f"{wall:.1f} s")
    t.add_row("worker train_seconds (status)", f"{status.train_seconds:.1f} s")
    t.add_row("steps", f"{status.step}")
    t.add_row("tokens trained", f"{final['tokens']:,}")
    t.add_row("tokens/s (median of [\\[train]] records)", f"{rate_median:,.0f}")
    t.add_row("tokens/s (results.toml)", f"{results[-1]['tokens_per_s']:,.0f}" if results else "-")
    t.add_row("final train loss (eval)", f"{final['train_loss']:.4f}")
    t.add_row("final val loss (nats)", f"{status.final_val_loss or final['val_loss']:.4f}")
    t.add_row("final val PPL", f"{status.final_val_ppl or final['val_ppl']:.2f}")
    t.add_row("best val loss", f"{final['best_val_loss']:.4f}")
    t.add_row("unigram baseline val loss (nats)", f"{unigram:.4f}")
    t.add_row("unigram baseline PPL", f"{math.exp(unigram):.2f}")
    t.add_row("uniform baseline ln(vocab)", f"{math.log(vocab):.4f}  (PPL {vocab})")
    t.add_row("vocab / train tokens / val tokens", f"{vocab} / {train_tokens:,} / {val_tokens:,}")
    t.add_row("state", str(status.state))
    console.print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
