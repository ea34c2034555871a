"""What each search method costs to find a good config, and whether µP's best learning rate holds across widths.

    nice -n 5 .venv/bin/python benchmarks/search_bench.py [--quick] [--work DIR] [--jobs 2] [--seeds 10]
                                                          [--out FILE.md] [--figures DIR]

A tabular benchmark (as HPOBench and NAS-Bench are), so that it fits an hour on a 2-core CPU: every
point of a discrete grid is trained ONCE, for real, with the project's worker (`python -m
engine.worker`, in a store under --work), and its eval curve (val loss at each eval step) and final
val loss are kept. The search methods are then SIMULATED over that table (benchmarks/_tabular.py):
random search draws points with the engine's engine.sweeps.plan.random_draw (without replacement),
TPE proposes with the engine's engine.sweeps.tpe.propose (Optuna's TPESampler, the study rebuilt from
the trials so far), and early stopping replays each trial's eval curve through the engine's
engine.sweeps.pruning.verdict (median rule, ASHA; the spec's defaults: 3 start-up trials, eta 3): a
pruned trial stops at that eval and pays only for its steps. Trials run one at a time (the engine's
--parallel 1); training is deterministic for a config (checked: a point trained twice gave the same
eval curve to the bit), so a trial's table entry is what a real sweep would have trained. A point TPE
proposes again is trained again, as the engine does, and paid for. Extra rows: random + ASHA (the
rule without TPE), TPE with the learning rate as unordered choices (what `learning_rate=a,b,c`
gives), and TPE with and without ASHA had the repeats been free (not retrained, the study told the
earlier result).

The space (full run): log2(learning_rate) in -12..-6 (2.4e-4 to 1.6e-2, x2 apart; an ordered integer
range, so TPE sees a log-discrete learning rate; min_lr = learning_rate / 10), warmup_iters in
{10, 40, 120}, beta2 in {0.95, 0.99}: 42 points of a 2-layer, 4-head, 64-wide char model on the
built-in corpus, batch 8, block 32, 400 steps, eval every 50 steps on 20 batches. (Not batch_size:
the eval batches are drawn from (seed, step) at the run's batch size, so runs of one batch size
share their val batches and compare fairly, and runs of two would not.) The objective is the final
val loss. Compute is FLOPs: engine.core.estimate.flops_per_token x tokens per step x the steps a
trial really ran (evaluations not counted). Each method is given the grid's total compute (or stops
when it has tried every point, or after 4 x the grid's trials), over --seeds seeds.

Transfer (the miniature of Tensor Programs V, Figure 1): the same model at widths 64, 128 and 256,
under SP and under µP (mup_base_width 64, so m = width / 64), trained at each of the 7 learning
rates (warmup 40, beta2 0.99: the SP width-64 sweep is the grid's own row). Reported: each width's
optimum and how far it moves (grid steps of x2; and a parabola through the optimum and its
neighbours, for a sub-step estimate), and the transferred route (the narrowest sweep, then the widest
at its best learning rate; that run is already in the widest sweep) against tuning the widest
directly, in final val loss and in compute.

Every trained point is cached as JSON under --work (default /tmp/gpt-tui-search-bench), named by a
digest of the config fields that differ from the defaults, so a re-run only trains what is missing
and re-draws the tables and figures (about a minute). Measured here: 77 runs, 2 at a time, in 20.5
minutes wall with the 2 cores shared with other work (load average 4.3 to 6.5). `--quick`: a 32-wide
model, 40 steps, a 2 x 2 x 2 grid, widths 32 and 64, figures under --work: a smoke test of the
script (about two minutes), not a measurement.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks import _tabular as tab  # noqa: E402
from engine.core import config as cfgmod  # noqa: E402
from engine.core import estimate as est  # noqa: E402
from engine.store import runs as st  # noqa: E402
from engine.store.records import evals as eval_records  # noqa: E402
from engine.sweeps import pruning  # noqa: E402
from engine.sweeps.distributions import Choice, IntRange  # noqa: E402
from engine.sweeps.spec import EarlyStopping  # noqa: E402

console = Console(highlight=False, width=170)
WITHIN = 0.02  # "found": a final val loss within 2% of the grid's best
SEARCH_SHARE = 1 / 3  # the goal: TPE + ASHA gets there on a third of the grid's compute
TRANSFER_SHARE = 1 / 4  # the goal: the transferred route costs a quarter of tuning the widest


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
    )


# -- the search methods over the grid -----------------------------------------------------------

METHODS = (
    tab.Method("random", "random"),
    tab.Method("TPE", "tpe"),
    tab.Method("TPE + ASHA", "tpe", EarlyStopping("asha")),
    tab.Method("TPE + median", "tpe", EarlyStopping("median")),
)


def grid_labels(setup: Setup) -> dict[tuple, str]:
    return {
        (k, w, b): f"grid lr 2^{k} warmup {w} beta2 {b}"
        for k in setup.log2_lrs
        for w in setup.warmups
        for b in setup.beta2s
    }


def search_space(setup: Setup, results: dict[str, dict]) -> tab.Space:
    params = {
        "log2_lr": IntRange(min(setup.log2_lrs), max(setup.log2_lrs)),
        "warmup_iters": Choice(setup.warmups),
        "beta2": Choice(setup.beta2s),
    }
    points = {key: point(results[label]) for key, label in grid_labels(setup).items()}
    eval_interval = int(next(iter(results.values()))["config"]["eval_interval"])
    return tab.Space(params, points, eval_interval)


@dataclass
class MethodRow:
    name: str
    traces: list[tab.Trace]
    to_within: list[float]  # per seed: FLOPs to come within 2% of the grid's best (inf: never)
    at_share: list[float]  # per seed: best final val loss at a third of the grid's compute

    @property
    def median_to_within(self) -> float:
        return tab.median(self.to_within)


def run_methods(space: tab.Space, seeds: int) -> tuple[MethodRow, list[MethodRow], list[MethodRow]]:
    """The grid in order (one pass), each method over `seeds` seeds, and extras: TPE with the
    learning rate as unordered choices (what `sweep tpe learning_rate=a,b,c` gives), random search
    with ASHA (the pruning rule without TPE), and TPE with
    and without ASHA had the engine not retrained the points TPE proposes again."""
    total = space.total_flops
    target = space.best[1] * (1 + WITHIN)

    def row(method: tab.Method, seed_list: list[int]) -> MethodRow:
        traces = [tab.simulate(space, method, s, total, 4 * len(space.points)) for s in seed_list]
        return MethodRow(
            method.name,
            traces,
            [t.flops_to(target) for t in traces],
            [t.best_at(total * SEARCH_SHARE) for t in traces],
        )

    grid = row(tab.Method("grid (in order)", "grid"), [0])
    lrs = Choice(tuple(range(space.params["log2_lr"].lo, space.params["log2_lr"].hi + 1)))
    extras = [
        tab.Method("random + ASHA (extra)", "random", EarlyStopping("asha")),
        tab.Method("TPE, LR as choices (extra)", "tpe", params={**space.params, "log2_lr": lrs}),
        tab.Method("TPE, repeats free (extra)", "tpe", free_repeats=True),
        tab.Method("TPE + ASHA, repeats free (extra)", "tpe", EarlyStopping("asha"), free_repeats=True),
    ]
    seed_list = list(range(seeds))
    return grid, [row(m, seed_list) for m in METHODS], [row(m, seed_list) for m in extras]


def search_rows(space: tab.Space, grid: MethodRow, rows: list[MethodRow]) -> tuple[list[str], list[list[str]]]:
    total, best = space.total_flops, space.best[1]
    columns = [
        "method",
        "seeds",
        "median compute to within 2%",
        "of grid",
        "seeds there",
        "best at 1/3 grid compute (median; worst)",
        "vs grid best",
        "trials (pruned, repeats) per seed",
    ]
    out = []
    for r in [grid, *rows]:
        within = r.median_to_within
        reached = sum(math.isfinite(x) for x in r.to_within)
        at = tab.median(r.at_share)
        worst = max(r.at_share)
        trials = tab.median([len(t.trials) for t in r.traces])
        pruned = tab.median([sum(x.state == tab.RunState.PRUNED for x in t.trials) for t in r.traces])
        repeats = tab.median([t.repeats for t in r.traces])
        out.append(
            [
                r.name,
                str(len(r.traces)),
                flops_text(within),
                f"{within / total:.0%}" if math.isfinite(within) else "never",
                f"{reached}/{len(r.traces)}",
                f"{loss_text(at)}; {loss_text(worst)}",
                f"{at / best - 1:+.1%}" if math.isfinite(at) else "none finished",
                f"{trials:g} ({pruned:g}, {repeats:g})",
            ]
        )
    return columns, out


# -- µP transfer ---------------------------------------------------------------------------------


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


@dataclass
class Sweep:
    """One LR sweep: final val loss (None: did not finish) and FLOPs at each log2 learning rate."""

    param: str
    width: int
    losses: dict[int, float | None]
    flops: dict[int, float]

    @property
    def best(self) -> int:
        return min((k for k, v in self.losses.items() if v is not None), key=lambda k: self.losses[k])

    def fitted(self) -> float | None:
        """The optimum's log2 learning rate from a parabola through the best point and its
        neighbours (a sub-step estimate); None at an edge of the grid."""
        k = self.best
        a, b, c = self.losses.get(k - 1), self.losses[k], self.losses.get(k + 1)
        if a is None or c is None or a + c - 2 * b <= 0:
            return None
        return k + 0.5 * (a - c) / (a + c - 2 * b)


def sweeps(setup: Setup, results: dict[str, dict]) -> dict[tuple[str, int], Sweep]:
    out: dict[tuple[str, int], Sweep] = {}
    for (param, width, k), label in transfer_labels(setup).items():
        s = out.setdefault((param, width), Sweep(param, width, {}, {}))
        p = point(results[label])
        s.losses[k], s.flops[k] = p.final, p.flops
    return out


@dataclass
class Transfer:
    param: str
    optima: dict[int, int]
    moves: int
    fitted_moves: float | None
    narrow_lr: int
    transferred: float | None
    direct: float
    route_flops: float
    direct_flops: float

    @property
    def gap(self) -> float:
        return self.transferred / self.direct - 1 if self.transferred is not None else math.inf

    @property
    def share(self) -> float:
        return self.route_flops / self.direct_flops


def transfer(setup: Setup, found: dict[tuple[str, int], Sweep], param: str) -> Transfer:
    narrow, wide = found[(param, setup.widths[0])], found[(param, setup.widths[-1])]
    optima = {w: found[(param, w)].best for w in setup.widths}
    fits = [found[(param, w)].fitted() for w in setup.widths]
    k = narrow.best
    return Transfer(
        param,
        optima,
        max(optima.values()) - min(optima.values()),
        max(fits) - min(fits) if all(f is not None for f in fits) else None,
        k,
        wide.losses[k],
        wide.losses[wide.best],
        sum(narrow.flops.values()) + wide.flops[k],
        sum(wide.flops.values()),
    )


def transfer_rows(setup: Setup, found: dict[tuple[str, int], Sweep]) -> tuple[list[str], list[list[str]]]:
    columns = ["", "width", *(f"2^{k}" for k in setup.log2_lrs), "best", "fit"]
    rows = []
    for (param, width), s in found.items():
        cells = [
            ("*" if k == s.best else "") + (f"{v:.3f}" if v is not None else "failed") for k, v in s.losses.items()
        ]
        fit = s.fitted()
        rows.append(
            [
                "SP" if param == "sp" else "µP",
                str(width),
                *cells,
                f"2^{s.best} = {2.0**s.best:.2g}",
                f"2^{fit:.2f}" if fit is not None else "edge",
            ]
        )
    return columns, rows


# -- figures -------------------------------------------------------------------------------------


def search_figure(space: tab.Space, grid: MethodRow, rows: list[MethodRow], title: str) -> Figure:
    fig = Figure(figsize=(7.0, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    total, best = space.total_flops, space.best[1]
    lo = min(t.trials[0].flops for r in rows for t in r.traces)
    xs = [lo * (total / lo) ** (i / 299) for i in range(300)]
    gx, gy = zip(*grid.traces[0].curve())
    ax.step(gx, gy, where="post", color="0.6", linewidth=1.2, label="grid, in order")
    for r in rows:
        mid, low, high = tab.band(r.traces, xs)
        (line,) = ax.plot(xs, mid, linewidth=1.8, label=f"{r.name} (median of {len(r.traces)} seeds)")
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.1, linewidth=0)  # the middle half of the seeds
    ax.axhline(best, color="black", linewidth=0.8)
    ax.axhline(best * (1 + WITHIN), color="black", linewidth=0.8, linestyle=":", label="grid's best + 2%")
    ax.axvline(total * SEARCH_SHARE, color="black", linewidth=0.8, linestyle="--", label="1/3 of the grid's compute")
    ax.set_xscale("log")
    finite = [y for y in gy if math.isfinite(y)]
    ax.set_ylim(best * 0.99, min(max(finite), best * 1.15))
    ax.set_xlabel("cumulative training compute (FLOPs)")
    ax.set_ylabel("best final val loss so far")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def transfer_figure(setup: Setup, found: dict[tuple[str, int], Sweep], title: str) -> Figure:
    fig = Figure(figsize=(9.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    finite = [v for s in found.values() for v in s.losses.values() if v is not None]
    low = min(finite)
    for ax, param in zip(axes, ("sp", "mup")):
        for i, width in enumerate(setup.widths):
            s = found[(param, width)]
            color = (0.2 + 0.6 * i / max(1, len(setup.widths) - 1), 0.3, 0.8 - 0.6 * i / max(1, len(setup.widths) - 1))
            ks = [k for k, v in s.losses.items() if v is not None]
            ax.plot(ks, [s.losses[k] for k in ks], marker="o", markersize=3, color=color, label=f"width {width}")
            ax.plot([s.best], [s.losses[s.best]], marker="*", markersize=11, color=color)
        ax.set_title("SP (standard)" if param == "sp" else f"µP (base width {setup.widths[0]})")
        ax.set_xlabel("log2 learning rate")
        ax.set_xticks(list(setup.log2_lrs))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("final val loss")
    axes[0].set_ylim(low - 0.02, min(max(finite), low + 0.6) + 0.02)
    fig.suptitle(title, fontsize="medium")
    return fig


# -- output --------------------------------------------------------------------------------------


def flops_text(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "never"


def loss_text(x: float) -> str:
    return f"{x:.4f}" if math.isfinite(x) else "none"


def rich_table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    t = Table(title=title)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*r)
    return t


def markdown_table(title: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return [*lines, *("| " + " | ".join(r) + " |" for r in rows), ""]


def goal(met: bool) -> str:
    return "MET" if met else "NOT MET"


def first_rung_line(space: tab.Space) -> str:
    """Where the points within 2% of the best stand at ASHA's first rung: what the rule judges them by."""
    rule = EarlyStopping("asha")
    any_point = next(iter(space.points.values()))
    first = pruning.rung_steps(rule.min_step or space.eval_interval, rule.eta, space.eval_interval, any_point.max_iters)
    if not first:
        return "ASHA has no rung before the last step"
    step, best = first[0], space.best[1]
    at_rung = sorted(p.evals.get(step, math.inf) for p in space.points.values())
    good = [c for c in space.combinations() if (f := space.points[space.key(c)].final) and f <= best * (1 + WITHIN)]
    ranks = sorted(at_rung.index(space.points[space.key(c)].evals.get(step, math.inf)) + 1 for c in good)
    warmups = sorted({c["warmup_iters"] for c in good})
    return (
        f"the {len(good)} points within 2% of the best (warmup_iters {', '.join(map(str, warmups))}) rank "
        f"{', '.join(map(str, ranks))} of {len(at_rung)} by val loss at step {step}, ASHA's first rung, where it "
        f"keeps the top 1/{rule.eta} of the trials there"
    )


def search_goal(asha: MethodRow, space: tab.Space) -> str:
    total, at = space.total_flops, tab.median(asha.at_share)
    if math.isfinite(asha.median_to_within):
        how = f"the median of {len(asha.traces)} seeds got there at {asha.median_to_within / total:.0%} of its compute"
    else:
        reached = sum(map(math.isfinite, asha.to_within))
        how = f"the median seed never got there ({reached} of {len(asha.traces)} seeds did)"
    return (
        f"TPE + ASHA within 2% of the grid's best at <= 1/3 of its compute: {how}; its best at 1/3 of the "
        f"compute {at:.4f} (median), {at / space.best[1] - 1:+.1%}: "
        + goal(asha.median_to_within <= total * SEARCH_SHARE)
    )


def transfer_goals(setup: Setup, routes: list[Transfer]) -> list[str]:
    sp, mup = routes
    widths = ", ".join(map(str, setup.widths))
    return [
        f"µP's optimum within one grid step across widths {widths}: it moves {mup.moves} "
        f"(SP: {sp.moves}): {goal(mup.moves <= 1)}",
        f"µP's transferred LR within 2% of the directly tuned best at <= 1/4 of its compute: {mup.gap:+.1%} at "
        f"{mup.share:.0%} (SP: {sp.gap:+.1%}): {goal(mup.gap <= WITHIN and mup.share <= TRANSFER_SHARE)}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny model and grid: a smoke test, not a measurement")
    p.add_argument("--work", type=Path, help="where trained points are cached (default /tmp/gpt-tui-search-bench)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (each on one thread)")
    p.add_argument("--seeds", type=int, default=10, help="seeds per search method (simulated: cheap)")
    p.add_argument("--out", type=Path, help="also write the tables as Markdown to this file")
    p.add_argument("--figures", type=Path, help="where the two PNGs go (default docs/; with --quick, --work)")
    args = p.parse_args(argv)
    setup = QUICK if args.quick else FULL
    work = args.work or Path("/tmp") / ("gpt-tui-search-bench" + ("-quick" if args.quick else ""))
    started = time.perf_counter()
    load_start = f"{os.getloadavg()[0]:.1f}"

    wanted = {label: config(setup, k, w, b) for (k, w, b), label in grid_labels(setup).items()}
    for (param, width, k), label in transfer_labels(setup).items():
        wanted.setdefault(label, config(setup, k, setup.transfer_warmup, setup.transfer_beta2, width, param))
    trainer = Trainer(work)
    results = trainer.train_all(wanted, args.jobs)
    trained_s = time.perf_counter() - started
    train_seconds = sum(r["seconds"] for r in results.values())

    space = search_space(setup, results)
    grid, rows, extras = run_methods(space, args.seeds)
    best_params, best = space.best
    shape = cfgmod.resolve("quickstart", None, setup.base)
    what = (
        f"{shape.n_layer} layers x {shape.n_embd} wide, block {shape.block_size}, {shape.max_iters} steps"
        f"{' (--quick: a smoke test, not a measurement)' if args.quick else ''}"
    )
    search_title = f"search methods over a {len(space.points)}-point grid ({what}), simulated on the trained table"
    columns, search = search_rows(space, grid, [*rows, *extras])
    found = sweeps(setup, results)
    transfer_title = f"final val loss by learning rate, SP and µP at widths {', '.join(map(str, setup.widths))}"
    t_columns, t_rows = transfer_rows(setup, found)
    routes = [transfer(setup, found, param) for param in ("sp", "mup")]

    asha = next(r for r in rows if r.name == "TPE + ASHA")
    lines = [
        f"the grid: {len(space.points)} points, {space.total_flops:.3g} FLOPs of training; best final val loss "
        f"{best:.4f} at learning_rate 2^{best_params['log2_lr']} = {2.0 ** best_params['log2_lr']:.3g}, "
        f"warmup_iters {best_params['warmup_iters']}, beta2 {best_params['beta2']}; "
        f"{sum(p.final is not None and p.final <= best * (1 + WITHIN) for p in space.points.values())} "
        f"points are within 2% of it",
    ]
    lines.append(first_rung_line(space))
    bests = {param: [found[(param, w)].losses[found[(param, w)].best] for w in setup.widths] for param in ("sp", "mup")}
    lines.append(
        "best final val loss by width "
        + ", ".join(f"{w}" for w in setup.widths)
        + ": SP "
        + ", ".join(f"{v:.4f}" for v in bests["sp"])
        + "; µP "
        + ", ".join(f"{v:.4f}" for v in bests["mup"])
        + f" (µP's widest is {bests['mup'][-1] / bests['sp'][-1] - 1:+.1%} from SP's widest)"
    )
    for r in routes:
        name = "SP" if r.param == "sp" else "µP"
        optima = ", ".join(f"{w}: 2^{k}" for w, k in r.optima.items())
        fitted = f" (parabola fits: {r.fitted_moves:.2f} steps)" if r.fitted_moves is not None else ""
        transferred = loss_text(r.transferred) if r.transferred is not None else "failed"
        lines.append(
            f"{name}: optimum by width {optima}; it moves {r.moves} grid step{'s' if r.moves != 1 else ''} (x2 each)"
            f"{fitted}. Width {setup.widths[-1]} at width {setup.widths[0]}'s best 2^{r.narrow_lr}: {transferred}, "
            f"{r.gap:+.1%} from its directly tuned best {r.direct:.4f}; compute {r.route_flops:.3g} "
            f"(narrow sweep + one wide run) against {r.direct_flops:.3g} (wide sweep) = {r.share:.0%}"
        )
    goals = [search_goal(asha, space), *transfer_goals(setup, routes)]
    timing = (
        f"the table: {len(results)} labelled points, {len({r['run_id'] for r in results.values()})} runs, "
        f"{train_seconds:.0f} s of run time in all ({args.jobs} at a time, one thread each); this invocation trained "
        f"{trainer.done} in {trained_s:.0f} s wall (load average {load_start} at its start, "
        f"{os.getloadavg()[0]:.1f} at its end); total wall {time.perf_counter() - started:.0f} s"
    )

    console.print(rich_table(search_title, columns, search))
    console.print(rich_table(transfer_title + " (* the best of each row)", t_columns, t_rows))
    for line in lines:
        console.print(f"- {line}")
    console.print("[bold]goals[/]")
    for line in goals:
        console.print(f"- {line}")
    console.print(timing)

    figures = args.figures or (work if args.quick else ROOT / "docs")
    figures.mkdir(parents=True, exist_ok=True)
    search_png, transfer_png = figures / "search-methods.png", figures / "mup-transfer.png"
    figure_title = f"{len(space.points)}-point grid: {what}; bands: the middle half of the seeds"
    search_figure(space, grid, rows, figure_title).savefig(search_png)
    transfer_figure(setup, found, f"{transfer_title} ({shape.max_iters} steps)").savefig(transfer_png)
    console.print(f"wrote {search_png} and {transfer_png}")
    if args.out is not None:
        md = [
            "A tabular benchmark: every grid point trained once for real with the project's worker; the search "
            "methods simulated over that table with the engine's own random draws, TPE proposals and pruning "
            "rules (benchmarks/search_bench.py's docstring says how). Compute is training FLOPs.",
            "",
        ]
        md += markdown_table(search_title, columns, search)
        md += markdown_table(transfer_title + " (* the best of each row)", t_columns, t_rows)
        md += [f"- {line}" for line in lines] + ["", "Goals:", ""] + [f"- {line}" for line in goals]
        md += ["", timing, ""]
        args.out.write_text("\n".join(md))
        console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
