"""The search benchmark's analysis: the search methods over the trained grid, µP's LR transfer across widths."""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmarks import _tabular as tab
from benchmarks._search_train import Setup, grid_labels, point, transfer_labels
from engine.sweeps.distributions import Choice, IntRange
from engine.sweeps.spec import EarlyStopping

WITHIN = 0.02  # "found": a final val loss within 2% of the grid's best
SEARCH_SHARE = 1 / 3  # the goal: TPE + ASHA gets there on a third of the grid's compute
TRANSFER_SHARE = 1 / 4  # the goal: the transferred route costs a quarter of tuning the widest


METHODS = (
    tab.Method("random", "random"),
    tab.Method("TPE", "tpe"),
    tab.Method("TPE + ASHA", "tpe", EarlyStopping("asha")),
    tab.Method("TPE + median", "tpe", EarlyStopping("median")),
)


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


# -- µP transfer ---------------------------------------------------------------------------------


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
