"""gpu_check's end-to-end part: the gpt2-124m preset through `gpt-tui run --wait` and the engine in
a temporary store, read back the way the monitor reads it, with PASS/FAIL lines."""

from __future__ import annotations

import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESET = "gpt2-124m"
RUN_NAME = "gpu-check"
TIMEOUT_S = 300.0  # `run --wait` is killed past this; the engine is stopped either way
STOP_TIMEOUT_S = 60.0  # `engine stop`; past it the engine and its worker are killed
EXPECTED_S = {"gpu": 150.0, "tiny": 20.0}  # for gpu_check's budget: start, compile, steps, evals, stop

# Shortened so the run ends in about a minute on an H200: accumulation 1 (the preset has 40), 300
# steps, evaluations at 0 and 300 of 10 batches. block 1024, compile on and dtype auto stay the preset's.
# fmt: off
GPU_RUN = dict(gradient_accumulation_steps=1, batch_size=12, max_iters=300, eval_interval=300, eval_iters=10,
               log_interval=10, warmup_iters=30, lr_decay_iters=0)
TINY_RUN = dict(n_layer=1, n_head=2, n_embd=32, block_size=64, batch_size=4, gradient_accumulation_steps=1,
                max_iters=20, eval_interval=20, eval_iters=2, log_interval=5, warmup_iters=5, lr_decay_iters=0,
                compile=False, threads=1)  # compile off: compiling costs more than this whole run on a CPU
# fmt: on
GPU_FIELDS = ("mem_allocated", "mem_reserved", "mem_peak", "mem_device_total", "mem_device_used")
CPU_FIELDS = ("mem_rss",)
ESTIMATE_BAND = (0.5, 2.0)  # mem_peak / memory_estimate: the estimate is uncalibrated on a GPU so far
REFERENCE_BAND = (0.8, 1.25)  # mem_peak against the in-process case of the same shape


@dataclass(frozen=True)
class Reference:
    """The in-process Trainer case with the engine run's batch and compile setting."""

    label: str
    peak_allocated: int
    mfu: float | None


@dataclass
class Check:
    name: str
    verdict: str  # PASS, FAIL, INFO or SKIP
    detail: str


@dataclass
class EngineCheck:
    device: str
    tiny: bool
    command: str = ""  # as a person would type it
    run_id: str = ""
    wall_s: float = math.nan  # `gpt-tui run --wait`, engine start included
    stop_s: float = math.nan
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, ok: bool | None, detail: str, verdict: str = "") -> None:
        """A check's line, printed now so a timeout later keeps it; ok None is INFO."""
        verdict = verdict or ("INFO" if ok is None else "PASS" if ok else "FAIL")
        self.checks.append(Check(name, verdict, detail))
        print(f"  {verdict:4s}  {name}: {detail}", flush=True)

    @property
    def passed(self) -> bool:
        """Something passed and nothing failed: a check skipped for time is not a pass."""
        verdicts = {c.verdict for c in self.checks}
        return "PASS" in verdicts and "FAIL" not in verdicts

    def markdown(self) -> str:
        lines = ["## Through the engine", "", f"`{self.command}`", ""]
        lines += [f"- run {self.run_id or '-'}; `run --wait` {self.wall_s:.1f}s, `engine stop` {self.stop_s:.1f}s", ""]
        lines += ["| verdict | check | detail |", "|---|---|---|"]
        lines += [f"| {c.verdict} | {c.name} | {c.detail.replace('|', '/')} |" for c in self.checks]
        return "\n".join(lines) + "\n"


def overrides(tokenizer: str, device: str, tiny: bool) -> list[str]:
    changes: dict[str, object] = {"tokenizer": tokenizer, **(TINY_RUN if tiny else GPU_RUN)}
    if device == "cpu":
        changes["device"] = "cpu"  # on a GPU the preset's auto is what is checked
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in changes.items()]


def gpt_tui(root: Path, *args: str) -> list[str]:
    """The `gpt-tui` console script as this interpreter runs it, whether or not the project is installed."""
    return [sys.executable, "-m", "tui", "--runs", str(root), *args]


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT), "COLUMNS": "120"}


def run_engine_check(
    root: Path, tokenizer: str, device: str, tiny: bool, timeout_s: float, reference: Reference | None, keep: Path
) -> EngineCheck:
    """Queue the run with `gpt-tui run --wait` into the store at `root`, check what it left, stop the
    engine whatever happened, and copy the run's small files (status, metrics, logs) into `keep`."""
    check = EngineCheck(device, tiny)
    sets = [a for kv in overrides(tokenizer, device, tiny) for a in ("--set", kv)]
    args = ["run", "--preset", PRESET, *sets, "--name", RUN_NAME, "--wait"]
    check.command = f"gpt-tui --runs {root} {' '.join(args)}"
    print(f"  $ {check.command}", flush=True)
    try:
        launch(check, gpt_tui(root, *args), timeout_s)
        read_back(check, root, reference)
    except Exception as e:
        traceback.print_exc()
        check.add("engine check", False, f"{type(e).__name__}: {str(e).strip()[:300]}")
    finally:
        stop_engine(check, root)
        keep_files(root, check.run_id, keep)
    return check


def launch(check: EngineCheck, argv: list[str], timeout_s: float) -> None:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout_s)
        code, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:  # what it said so far comes as bytes, whatever text= says
        code, out = None, "".join(b.decode(errors="replace") for b in (e.stdout, e.stderr) if b)
    check.wall_s = time.perf_counter() - t0
    print("\n".join(f"    | {line}" for line in out.rstrip().splitlines()[-30:]), flush=True)
    said = f"timed out after {timeout_s:.0f}s" if code is None else f"exit {code}"
    check.add("gpt-tui run --wait", code == 0, f"{said}; wall {check.wall_s:.1f}s (engine start included)")


def read_back(check: EngineCheck, root: Path, reference: Reference | None) -> None:
    """What the monitor reads: status.toml, and metrics.toml through LogTail into a RunSeries."""
    from engine.core import config as cfgmod
    from engine.core import estimate as est
    from engine.core.units import shown_bytes
    from engine.store import runs as st
    from engine.store.table import mean_tokens_per_s
    from tui.models.series import RunSeries

    s = st.Store(root)
    runs = s.list_runs()
    check.add("one run in the store", len(runs) == 1, ", ".join(runs) or "none")
    if len(runs) != 1:
        return
    run_id = check.run_id = runs[0]
    status = s.status(run_id)
    cfg = cfgmod.load(s.config_path(run_id))
    done = status.state == st.RunState.DONE and status.step == cfg.max_iters
    why = f" ({status.reason})" if status.reason else ""
    check.add("status.toml state", done, f"{status.state} at step {status.step}/{cfg.max_iters}{why}")
    check.add("status.toml device", status.device == expected_device(check.device), f"{status.device!r}")
    want_dtype = "bfloat16" if check.device == "cuda" else "float32"
    check.add("status.toml dtype", status.dtype == want_dtype, f"{status.dtype!r} (auto should give {want_dtype})")
    mean = mean_tokens_per_s(status)
    check.add(
        "status.toml tokens/s",
        bool(status.tokens_per_s and status.tokens_per_s > 0),
        f"last {num(status.tokens_per_s, ',.0f')}, mean {num(mean, ',.0f')} over {status.train_seconds:.1f}s "
        f"training; startup_s {num(status.startup_s, '.1f')}, first_step_s {num(status.first_step_s, '.1f')}",
    )

    path = s.metrics_path(run_id)
    records = st.metrics_records(st.LogTail(path).poll(), str(path))
    raw = sum(1 for table, _ in st.read_log(path).records if table == "train")
    train = [r for r in records if isinstance(r, st.TrainRecord)]
    want = [1, *range(cfg.log_interval, cfg.max_iters + 1, cfg.log_interval)]  # the first step is logged too
    steps = [r.step for r in train]
    check.add(
        "[[train]] records", steps == want, f"{len(train)} typed of {raw} written, steps {steps[:3]}..{steps[-1:]}"
    )
    vals = [r.val_loss for r in records if isinstance(r, st.EvalRecord)]
    check.add("[[eval]] records", bool(vals) and math.isfinite(vals[-1]), f"val loss {[round(v, 3) for v in vals]}")

    fields = GPU_FIELDS if check.device == "cuda" else CPU_FIELDS
    missing = [f"step {r.step}: {f}" for r in train for f in fields if not (getattr(r, f) or 0) > 0]
    series = RunSeries()
    series.add(records)
    last = series.train.last  # what the monitor's readouts show
    shown = {k: shown_bytes(last[f]) for k, f in (("VRAM", "mem_allocated"), ("RSS", "mem_rss")) if f in last}
    if "mfu" in last:
        shown["MFU"] = f"{last['mfu']:.1%}"
    check.add(
        "memory fields in every [[train]]",
        bool(train) and not missing,
        f"{', '.join(fields)}; monitor shows {shown or 'nothing'}" + (f"; missing {missing[:3]}" if missing else ""),
    )
    rows = [row for row in st.read_results(s) if row.run == run_id]
    check.add("results.toml row", bool(rows) and rows[0].state == st.RunState.DONE, f"{len(rows)} row(s)")
    if not train or missing:
        return
    memory = est.memory_estimate(cfg, status.vocab_size, status.dtype or "float32").total
    if check.device == "cuda":
        check_gpu_memory(check, train, memory, reference)
    else:
        rss = max(r.mem_rss for r in train)
        check.add("RSS vs estimate", None, f"RSS {gib(rss)} GiB, estimate {gib(memory)} GiB (RSS holds the runtime)")


def check_gpu_memory(check: EngineCheck, train: list, memory: int, reference: Reference | None) -> None:
    last = train[-1]
    order = [last.mem_allocated, last.mem_reserved, last.mem_device_used, last.mem_device_total]
    check.add(
        "allocated <= reserved <= device used <= total",
        all(a <= b for a, b in zip(order, order[1:])) and last.mem_allocated <= last.mem_peak,
        " / ".join(f"{gib(v)}" for v in order) + f" GiB; peak {gib(last.mem_peak)} GiB",
    )
    peak = max(r.mem_peak for r in train)
    low, high = ESTIMATE_BAND
    check.add(
        "mem_peak vs memory_estimate",
        low <= peak / memory <= high,
        f"{gib(peak)} / {gib(memory)} GiB = {peak / memory:.2f} (band {low}-{high}); reserved "
        f"{last.mem_reserved / memory:.2f}, device used {last.mem_device_used / memory:.2f} of the estimate",
    )
    if reference is None:
        check.add("mem_peak vs in-process max_memory_allocated", None, "no in-process case of this shape ran", "SKIP")
    else:
        low, high = REFERENCE_BAND
        r = peak / reference.peak_allocated
        check.add(
            "mem_peak vs in-process max_memory_allocated",
            low <= r <= high,
            f"{gib(peak)} / {gib(reference.peak_allocated)} GiB ({reference.label}) = {r:.2f} (band {low}-{high})",
        )
    mfus = [r.mfu for r in train[2:] if r.mfu is not None]  # the first records hold compilation
    median = statistics.median(mfus) if mfus else None
    ref = f"; in-process {reference.mfu:.1%}" if reference and reference.mfu else ""
    check.add("MFU in [[train]]", median is not None and 0 < median <= 1, f"median {num(median, '.1%')}{ref}")


def expected_device(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    from engine.serve.devices import cpu_name

    return cpu_name()


def stop_engine(check: EngineCheck, root: Path) -> None:
    """`gpt-tui engine stop`, bounded; an engine or worker still alive after it is killed."""
    from engine.serve import engines as eng
    from engine.serve.liveness import pid_alive
    from engine.store import runs as st

    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            gpt_tui(root, "engine", "stop"),
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT_S,
        )
        said = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    except subprocess.TimeoutExpired:
        said = [f"no answer in {STOP_TIMEOUT_S:.0f}s"]
    check.stop_s = time.perf_counter() - t0
    s = st.Store(root)
    workers = [v.pid for v in s.statuses().values() if isinstance(v, st.Status) and v.pid and pid_alive(v.pid)]
    engines = [e.pid for e in eng.engines(s) if pid_alive(e.pid)]
    for kill, pid in [(os.killpg, w) for w in workers] + [(os.kill, e) for e in engines]:
        try:
            kill(pid, signal.SIGKILL)  # a worker leads its own process group
        except (ProcessLookupError, PermissionError):
            pass
    killed = f"; killed engine {engines} and worker {workers}" if engines or workers else ""
    check.add("engine stopped", not engines and not workers, f"{said[0][:120]} in {check.stop_s:.1f}s{killed}")


def keep_files(root: Path, run_id: str, keep: Path) -> None:
    """The run's small files, for a reader of the report (checkpoints stay behind)."""
    try:
        keep.mkdir(parents=True, exist_ok=True)
        if (root / "engine.log").exists():
            shutil.copy2(root / "engine.log", keep / "engine.log")
        for name in ("status.toml", "metrics.toml", "worker.log", "config.toml") if run_id else ():
            if (root / run_id / name).exists():
                shutil.copy2(root / run_id / name, keep / name)
    except OSError as e:
        print(f"  (could not keep the run's files in {keep}: {e})", flush=True)


def gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def num(x: float | None, fmt: str) -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)
