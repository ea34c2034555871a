"""Is the LR range test's suggestion a good learning rate, and what does finding it cost?

    .venv/bin/python benchmarks/lr_find_bench.py [--quick] [--steps N] [--out FILE.md]

On the quickstart preset, in a temporary store: an `lrfind` run (the real worker, `python -m
engine.worker`, as the engine starts it), then full quickstart runs (its whole schedule: warmup,
cosine decay, min_lr keeping the preset's ratio to learning_rate) at a 7-point log-spaced grid
around the suggestion, factors 1/8 .. 8. When the other rule (steepest descent or minimum / 10)
gives another rate, that rate is trained too, so both rules are judged. Reported: each point's
final val loss, where the suggestion falls in the grid, whether its own run ends within 3% of the
grid's best final val loss, and the compute of the range test against the grid's (training tokens,
and FLOPs from engine.core.estimate.flops_per_token; evaluations are not counted on either side).

`--quick`: a tiny model (1 layer, width 32, block 32), 60 training steps and a 40-step range test;
a smoke test of the script, not a measurement.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.core import config as cfgmod  # noqa: E402
from engine.core import estimate as est  # noqa: E402
from engine.core import lrfind as rule  # noqa: E402
from engine.store import runs as st  # noqa: E402
from engine.store.records import lr_records  # noqa: E402

console = Console(highlight=False)
FACTORS = (1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0)
WITHIN = 0.03  # the suggestion is good when its final val loss is within 3% of the grid's best
QUICK = ["n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "max_iters=60", "warmup_iters=6"]
QUICK += ["eval_interval=20", "eval_iters=4", "log_interval=10"]


@dataclass
class Point:
    label: str
    lr: float
    min_lr: float
    final_val_loss: float = math.nan
    best_val_loss: float = math.nan
    seconds: float = 0.0
    state: str = ""


def run_worker(store: st.Store, run_id: str, env: dict[str, str]) -> None:
    with open(store.worker_log(run_id), "ab") as log:
        subprocess.run(
            [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id))],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )


def train_point(store: st.Store, base: cfgmod.RunConfig, point: Point, env: dict[str, str]) -> None:
    """One full quickstart run at the point's rates; its final and best val loss."""
    try:
        cfg = cfgmod.from_mapping({**base.to_dict(), "learning_rate": point.lr, "min_lr": point.min_lr})
    except cfgmod.ConfigError as e:  # past learning_rate's bound (1.0): refused, as a person would be
        point.state = f"refused: {e.problems[0].message}"
        return
    run_id = store.create_run(cfgmod.to_toml(cfg), f"grid-{point.label}", {"source": "lr_find_bench", "attempts": 1})
    t0 = time.perf_counter()
    run_worker(store, run_id, env)
    point.seconds = time.perf_counter() - t0
    status = store.status(run_id)
    point.state = str(status.state)
    point.final_val_loss = status.final_val_loss if status.final_val_loss is not None else math.nan
    point.best_val_loss = status.best_val_loss if status.best_val_loss is not None else math.nan
    console.print(f"  {point.label:>8}  lr {point.lr:.3g}  {point.state}  final val loss {point.final_val_loss:.4f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny model and short runs: a smoke test")
    p.add_argument("--steps", type=int, help=f"range test steps (default {rule.DEFAULT_STEPS}; 40 with --quick)")
    p.add_argument("--out", type=Path, help="also write the report as Markdown to this file")
    args = p.parse_args(argv)
    base = cfgmod.resolve("quickstart", None, QUICK if args.quick else [])
    steps = args.steps or (40 if args.quick else rule.DEFAULT_STEPS)
    with tempfile.TemporaryDirectory(prefix="gpt-tui-lr-find-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"), "TIKTOKEN_CACHE_DIR": str(tmp / "tk")}
        store = st.Store(tmp / "runs")
        store.ensure()
        meta = {"source": "lr_find_bench", "attempts": 1, "kind": "lrfind", "lrfind_steps": steps}
        meta.update(lrfind_min=rule.DEFAULT_MIN, lrfind_max=rule.DEFAULT_MAX)
        test_id = store.create_run(cfgmod.to_toml(base), "lr-find", meta)
        console.print(f"range test: {steps} steps, {rule.DEFAULT_MIN:g} to {rule.DEFAULT_MAX:g}")
        t0 = time.perf_counter()
        run_worker(store, test_id, env)
        test_seconds = time.perf_counter() - t0
        test = store.status(test_id)
        taken = len(lr_records(st.read_log(store.metrics_path(test_id)).records))
        if test.state != st.RunState.DONE or test.lr_suggested is None:
            console.print(f"[red]the range test ended {test.state}: {test.reason or 'no suggestion'}[/]")
            console.print(store.worker_log(test_id).read_text()[-2000:])
            return 1
        suggested = float(f"{test.lr_suggested:.3g}")
        ratio = base.min_lr / base.learning_rate
        grid = [Point(f"x{f:g}" if f >= 1 else f"/{1 / f:g}", suggested * f, suggested * f * ratio) for f in FACTORS]
        others = [
            (name, value)
            for name, value in (("steepest", test.lr_steepest), ("min/10", test.lr_min_div10))
            if value is not None and abs(math.log(value / suggested)) > 0.01
        ]
        extra = [Point(name, float(f"{v:.3g}"), float(f"{v:.3g}") * ratio) for name, v in others]
        console.print(f"suggested {suggested:.3g} ({test_rule(test)}); training {len(grid) + len(extra)} runs")
        for point in [*grid, *extra]:
            train_point(store, base, point, env)
        vocab = test.vocab_size
    report = build_report(args.quick, base, vocab, steps, taken, test, test_seconds, grid, extra)
    console.print(report.table)
    for line in report.lines:
        console.print(line)
    if args.out is not None:
        args.out.write_text(report.markdown)
        console.print(f"wrote {args.out}")
    return 0


def test_rule(test: st.Status) -> str:
    return rule.Suggestion(test.lr_steepest, test.lr_min_div10, test.lr_suggested).rule


@dataclass
class Report:
    table: Table
    lines: list[str]
    markdown: str


def build_report(quick, base, vocab, steps, taken, test, test_seconds, grid, extra) -> Report:
    finished = [p for p in grid if math.isfinite(p.final_val_loss)]
    best = min(finished, key=lambda p: p.final_val_loss) if finished else None
    mine = grid[FACTORS.index(1.0)]
    ranked = sorted(finished, key=lambda p: p.final_val_loss)
    rows = []
    for p in [*grid, *extra]:
        marks = [m for m, on in (("suggested", p is mine), ("best of grid", p is best)) if on]
        if p in extra:
            marks.append(f"the {p.label} rule")
        loss = f"{p.final_val_loss:.4f}" if math.isfinite(p.final_val_loss) else p.state
        rows.append([p.label, f"{p.lr:.3g}", f"{p.min_lr:.3g}", loss, f"{p.seconds:.0f}", ", ".join(marks)])
    columns = ["point", "learning_rate", "min_lr", "final val loss", "seconds", ""]
    title = f"quickstart{' (--quick)' if quick else ''}: learning rates around the range test's suggestion"
    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="left" if c in ("point", "") else "right")
    for r in rows:
        table.add_row(*r)
    tokens_per_iter = est.tokens_per_iter(base)
    flops_per_token = est.flops_per_token(base, vocab) if vocab else 0
    test_tokens = taken * tokens_per_iter
    grid_tokens = sum(base.max_iters * tokens_per_iter for p in grid if p.seconds)
    lines = [
        f"range test: {taken} of {steps} steps"
        + (f" ({test.reason})" if test.reason else "")
        + f", {test_seconds:.0f} s; steepest descent {fmt(test.lr_steepest)}, minimum / 10 {fmt(test.lr_min_div10)};"
        f" suggested {fmt(test.lr_suggested)} ({test_rule(test)})",
    ]
    if best is not None and math.isfinite(mine.final_val_loss):
        gap = mine.final_val_loss / best.final_val_loss - 1.0
        lines.append(
            f"the suggestion ranks {ranked.index(mine) + 1} of {len(ranked)} in the grid (best: {best.label}, "
            f"lr {best.lr:.3g}); its final val loss is {gap:+.1%} from the best: "
            f"{'within' if gap <= WITHIN else 'NOT within'} {WITHIN:.0%}"
        )
        for p in extra:
            if math.isfinite(p.final_val_loss):
                other_gap = p.final_val_loss / best.final_val_loss - 1.0
                lines.append(
                    f"the {p.label} rule's rate {p.lr:.3g}: final val loss {other_gap:+.1%} from the grid's best: "
                    f"{'within' if other_gap <= WITHIN else 'NOT within'} {WITHIN:.0%}"
                )
    else:
        lines.append("the suggestion's run did not finish: no verdict")
    share = test_tokens / grid_tokens if grid_tokens else math.nan
    lines.append(
        f"compute: range test {test_tokens:,} tokens ({test_tokens * flops_per_token:.3g} FLOPs); "
        f"grid {grid_tokens:,} tokens ({grid_tokens * flops_per_token:.3g} FLOPs); the test is {share:.1%} of the grid"
    )
    markdown = "\n".join(
        [
            f"### {title}",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in rows),
            "",
            *(f"- {line}" for line in lines),
            "",
        ]
    )
    return Report(table, lines, markdown)


def fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    sys.exit(main())
