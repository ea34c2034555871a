"""The search benchmark's setups and training: each point trained once by the project's worker, cached as JSON.

benchmarks/search_bench.py's docstring says what is trained and why; this module trains it (a point
already cached is read back, not trained again) and turns a cached result into a tabular point.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from benchmarks import _tabular as tab
from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.schedule import warmup_steps
from engine.store import runs as st
from engine.store.records import evals as eval_records

ROOT = Path(__file__).resolve().parents[1]
console = Console(highlight=False, width=170)


@dataclass(frozen=True)
class Setup:
    base: tuple[str, ...]  # key=value over the quickstart preset
    log2_lrs: tuple[int, ...]
    warmups: tuple[int, ...]
    beta2s: tuple[float, ...]
    widths: tuple[int, ...]  # the first is the grid's width and µP's base width
    transfer_warmup: int
    transfer_beta2: float


COMMON = (
    "n_layer=2",
    "n_head=4",
    "block_size=32",
    "batch_size=8",
    "dropout=0.0",
    "threads=1",
    "device=cpu",
    "dtype=float32",
)
FULL = Setup(
    base=(*COMMON, "n_embd=64", "max_iters=400", "eval_interval=50", "eval_iters=20", "log_interval=50"),
    log2_lrs=tuple(range(-12, -5)),
    warmups=(10, 40, 120),
    beta2s=(0.95, 0.99),
    widths=(64, 128, 256),
    transfer_warmup=40,
    transfer_beta2=0.99,
)
QUICK = Setup(
    base=(*COMMON, "n_head=2", "n_embd=32", "max_iters=40", "eval_interval=10", "eval_iters=2", "log_interval=10"),
    log2_lrs=(-8, -7),
    warmups=(4, 10),
    beta2s=(0.95, 0.99),
    widths=(32, 64),
    transfer_warmup=4,
    transfer_beta2=0.99,
)


def config(
    setup: Setup, log2_lr: int, warmup: int, beta2: float, width: int = 0, param: str = "sp"
) -> cfgmod.RunConfig:
    lr = 2.0**log2_lr
    base = cfgmod.resolve("quickstart", None, setup.base)
    changes = dict(learning_rate=lr, min_lr=lr / 10, warmup_iters=warmup, beta2=beta2)
    changes.update(n_embd=width or setup.widths[0], parametrization=param)
    if param == "mup":
        changes["mup_base_width"] = setup.widths[0]
    return cfgmod.from_mapping(changes, base)


# -- training, once per point ------------------------------------------------------------------


class Trainer:
    """Trains configs with the real worker in a store under `work`, each result cached as JSON."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.store = st.Store(work / "runs")
        self.store.ensure()
        (work / "points").mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor")}
        self.lock = threading.Lock()
        self.done = 0
        self.started = time.perf_counter()

    def path(self, cfg: cfgmod.RunConfig) -> Path:
        """The point's cache file, named by a digest of the fields that differ from the defaults
        (a field added to RunConfig later, at its default, leaves every name as it was)."""
        changed = {k: v for k, v in cfg.to_dict().items() if v != getattr(cfgmod.DEFAULTS, k)}
        digest = hashlib.sha1(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]
        return self.work / "points" / f"{digest}.json"

    def cached(self, cfg: cfgmod.RunConfig) -> dict | None:
        path = self.path(cfg)
        return json.loads(path.read_text()) if path.exists() else None

    def train(self, cfg: cfgmod.RunConfig, label: str, total: int) -> dict:
        run_id = self.store.create_run(cfgmod.to_toml(cfg), label, {"source": "search_bench", "attempts": 1})
        t0 = time.perf_counter()
        with open(self.store.worker_log(run_id), "ab") as log:
            command = [sys.executable, "-m", "engine.worker", str(self.store.run_dir(run_id))]
            subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env, check=False)
        seconds = time.perf_counter() - t0
        status = self.store.status(run_id)
        curve = [
            (e.step, e.val_loss)
            for e in eval_records(st.read_log(self.store.metrics_path(run_id)).records)
            if e.val_loss is not None and math.isfinite(e.val_loss)
        ]
        done = status.state == st.RunState.DONE and status.final_val_loss is not None
        result = {
            "label": label,
            "run_id": run_id,
            "config": cfg.to_dict(),
            "state": str(status.state),
            "reason": status.reason,
            "final_val_loss": status.final_val_loss if done and math.isfinite(status.final_val_loss) else None,
            "evals": curve,
            "steps_run": cfg.max_iters if done else status.step,
            "vocab_size": status.vocab_size,
            "flops_per_step": est.flops_per_token(cfg, status.vocab_size) * est.tokens_per_iter(cfg),
            "seconds": seconds,
            "train_seconds": status.train_seconds,
        }
        self.path(cfg).write_text(json.dumps(result, indent=1))
        shutil.rmtree(self.store.ckpt_dir(run_id), ignore_errors=True)  # 48+ checkpoints nobody resumes
        with self.lock:
            self.done += 1
            loss = f"{result['final_val_loss']:.4f}" if result["final_val_loss"] is not None else result["state"]
            console.print(
                f"  [{self.done}/{total}] {label:<28} {loss:>8}  {seconds:5.0f}s"
                f"  (elapsed {time.perf_counter() - self.started:5.0f}s)"
            )
        return result

    def train_all(self, wanted: dict[str, cfgmod.RunConfig], jobs: int) -> dict[str, dict]:
        """Every labelled config's result; those not cached are trained, `jobs` at a time."""
        results = {label: r for label, cfg in wanted.items() if (r := self.cached(cfg)) is not None}
        todo: dict[str, tuple[str, cfgmod.RunConfig]] = {}
        for label, cfg in wanted.items():
            if label not in results:
                todo.setdefault(self.path(cfg).name, (label, cfg))  # a config wanted twice trains once
        console.print(f"{len(wanted)} points: {len(wanted) - len(todo)} already trained, training {len(todo)}")
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(lambda lc: self.train(lc[1], lc[0], len(todo)), todo.values()))
        return {label: self.cached(cfg) for label, cfg in wanted.items()}


def point(result: dict) -> tab.Point:
    return tab.Point(
        final=result["final_val_loss"],
        evals={int(s): float(v) for s, v in result["evals"]},
        steps_run=int(result["steps_run"]),
        max_iters=int(result["config"]["max_iters"]),
        flops_per_step=float(result["flops_per_step"]),
        warmup=warmup_steps(cfgmod.from_mapping(result["config"])),
    )


def grid_labels(setup: Setup) -> dict[tuple, str]:
    return {
        (k, w, b): f"grid lr 2^{k} warmup {w} beta2 {b}"
        for k in setup.log2_lrs
        for w in setup.warmups
        for b in setup.beta2s
    }


def transfer_labels(setup: Setup) -> dict[tuple[str, int, int], str]:
    out = {}
    for param in ("sp", "mup"):
        for width in setup.widths:
            for k in setup.log2_lrs:
                if param == "sp" and width == setup.widths[0]:  # the grid's own row
                    out[(param, width, k)] = grid_labels(setup)[(k, setup.transfer_warmup, setup.transfer_beta2)]
                else:
                    out[(param, width, k)] = f"{param} width {width} lr 2^{k}"
    return out
