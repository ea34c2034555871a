"""What each candidate speed-up does to one CPU training step, each in a fresh process, alternating.

    .venv/bin/python benchmarks/step_options.py [--rounds 2] [--steps 100] [--only NAME ...]

A step is engine.train.trainer.Trainer.optimizer_step (forward, backward, clip, AdamW) at the
vs_nanogpt config (4 layers x 128, block 128, batch 12, char pydocs, float32, every core); the
first 30 steps are not timed. Per option: wall ms per step, CPU ms per step (every thread), minor
page faults per step, and the loss after the last step (the same loss: the same computation).
Options (each in its own process, since malloc and OpenMP settings hold for a process's life):

- base: as torch leaves it;
- mallopt: engine.train.host.keep_freed_memory (what the worker does);
- fused / foreach: AdamW's fused or foreach implementation on the CPU, with mallopt;
- compile: torch.compile of the model, with mallopt (compile time not counted);
- bf16: autocast to bfloat16, with mallopt;
- one-thread: mallopt and one torch thread;
- busy-all-cores / busy-worker-pick: with another process spinning on one core the whole time,
  mallopt and every core, or mallopt and the threads the worker picks (engine.train.host.PROCESS,
  which looks at the machine while torch imports, as the worker does).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.train_bench import CONFIG  # noqa: E402 - the vs_nanogpt config: 4 x 128, block 128, batch 12

OPTIONS = ("base", "mallopt", "fused", "foreach", "compile", "bf16", "one-thread", "busy-all-cores", "busy-worker-pick")
SPIN = "import time\nwhile True: pass"  # another process keeping one core busy
WARMUP = 30


def probe(option: str, steps: int, datasets: Path) -> dict:
    """One option in this process (run as `step_options.py --probe OPTION`)."""
    from engine.train import host

    if option == "busy-worker-pick":
        host.PROCESS.start()
    elif option != "base":
        host.keep_freed_memory()
    import torch

    from engine.core import config as cfgmod
    from engine.data import prepare as data
    from engine.train.trainer import Trainer

    cfg = cfgmod.from_mapping(
        {
            **CONFIG,
            "max_iters": 1000,
            "eval_interval": 1000,
            "threads": 1 if option == "one-thread" else 0,  # 0: every core, or the worker's pick below
            "compile": option == "compile",
            "dtype": "bfloat16" if option == "bf16" else "float32",
        }
    )
    prepared = data.prepare(cfg.dataset, cfg.tokenizer, datasets)
    picked = host.PROCESS.threads(on_cpu=True)[0] if option == "busy-worker-pick" else 0
    trainer = Trainer(cfg, prepared.train(), prepared.val(), prepared.vocab_size, threads=picked)
    if option in ("fused", "foreach"):
        groups = [dict(g) for g in trainer.optimizer.param_groups]
        flag = {option: True}
        trainer.optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), **flag)
    for i in range(steps):
        if i == WARMUP:
            t0, c0 = time.perf_counter(), time.process_time()
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        loss = trainer.optimizer_step(cfg.learning_rate)
        trainer.step += 1
    n = steps - WARMUP
    return {
        "wall_ms": 1000 * (time.perf_counter() - t0) / n,
        "cpu_ms": 1000 * (time.process_time() - c0) / n,
        "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / n,
        "loss": loss.item(),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--only", nargs="+", choices=OPTIONS, default=list(OPTIONS))
    p.add_argument("--probe", choices=OPTIONS, help=argparse.SUPPRESS)
    p.add_argument("--datasets", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.probe:
        print(json.dumps(probe(a.probe, a.steps, a.datasets)))
        return 0
    from rich.console import Console
    from rich.table import Table

    results: dict[str, list[dict]] = {o: [] for o in a.only}
    with tempfile.TemporaryDirectory(prefix="step-options-") as tmp:
        env_extra = {"TORCHINDUCTOR_CACHE_DIR": f"{tmp}/inductor", "PYTHONPATH": str(ROOT)}
        for r in range(a.rounds):
            order = a.only if r % 2 == 0 else list(reversed(a.only))
            for option in order:
                spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if option.startswith("busy") else None
                out = subprocess.run(
                    [sys.executable, __file__, "--probe", option, "--steps", str(a.steps), "--datasets", f"{tmp}/ds"],
                    capture_output=True,
                    text=True,
                    env={**__import__("os").environ, **env_extra},
                )
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
                if out.returncode:
                    raise SystemExit(f"{option} failed:\n{out.stderr[-2000:]}")
                results[option].append(json.loads(out.stdout.strip().splitlines()[-1]))
    t = Table(title=f"one CPU training step, median of {a.rounds} processes ({a.steps - WARMUP} steps timed in each)")
    for col in ("option", "wall ms", "all", "CPU ms", "page faults", "loss", "threads"):
        t.add_column(col, justify="left" if col == "option" else "right")
    for option, runs in results.items():
        t.add_row(
            option,
            f"{statistics.median(r['wall_ms'] for r in runs):.1f}",
            ", ".join(f"{r['wall_ms']:.1f}" for r in runs),
            f"{statistics.median(r['cpu_ms'] for r in runs):.1f}",
            f"{statistics.median(r['faults'] for r in runs):,.0f}",
            f"{runs[-1]['loss']:.4f}",
            str(runs[-1]["threads"]),
        )
    Console(highlight=False, width=max(120, Console().width)).print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
