"""`gpt-tui sweep`: grid, random and TPE sweeps from a command line or a TOML file, shown before
they are queued; `sweep show` and `sweep ls` for their trial tables."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from engine.core.errors import GptTuiError
from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.store import runs as st
from engine.sweeps import spec as sw
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import report
from tui.cli.base import EXIT_OK, command, console, emit, fail
from tui.models.sweep_form import action_parsers, describe, estimate_plan, plan_from_args

CREATE = ("grid", "random", "tpe", "file")
ACTIONS = (*CREATE, "show", "ls")
USAGE = """\
  gpt-tui sweep grid learning_rate=1e-4,3e-4,6e-4 batch_size=12,16 --preset seed-baseline
  gpt-tui sweep random -n 20 learning_rate=log:1e-4:1e-3 dropout=0:0.2 n_layer=int:8:16
  gpt-tui sweep tpe -n 30 learning_rate=log:1e-4:1e-3 --early-stop median
  gpt-tui sweep examples/day38.toml          (same as: gpt-tui sweep file examples/day38.toml)
  gpt-tui sweep show ID [--format md|csv]    gpt-tui sweep ls

values: a,b,c (choices)  LO:HI (uniform)  log:LO:HI (log-uniform)  int:LO:HI (integers)"""


def store_of(args: argparse.Namespace) -> st.Store:
    return st.Store(st.resolve_root(args.runs))


@command("sweep")
def cmd_sweep(args: argparse.Namespace) -> int:
    what, rest = args.what, list(args.rest)
    if what not in ACTIONS and what.endswith(".toml"):
        what, rest = "file", [what, *rest]
    if what not in ACTIONS:
        hint = cfgmod.suggest(what, ACTIONS)
        return fail(f"unknown sweep command {what!r}{hint} (choose from {', '.join(ACTIONS)}, "
                    "or give a sweep FILE.toml)")
    sub = action_parsers()[what].parse_intermixed_args(rest)
    sub.runs = args.runs
    if what == "show":
        return cmd_show(sub)
    if what == "ls":
        return cmd_ls(sub)
    return cmd_create(sub, what)


# -- creating ---------------------------------------------------------------------------

def cmd_create(a: argparse.Namespace, what: str) -> int:
    store = store_of(a)
    plan = plan_from_args(a, what, store)
    print_plan(store, plan)
    if a.dry_run:
        console.print("[dim]dry run: nothing was queued[/]")
        return EXIT_OK
    record = sf.create(store, plan, a.priority)
    console.print(f"queued sweep [bold]{plan.spec.id}[/]: "
                  + (f"{len(record.runs)} trial(s)" if plan.spec.method != "tpe"
                     else "the engine proposes its trials one by one")
                  + f"  ({sf.sweep_path(store, plan.spec.id)}; `gpt-tui sweep show {plan.spec.id}` for the table)")
    if not a.no_engine:
        from tui.cli.runs import ensure_engine
        ensure_engine(store)
    return EXIT_OK


def print_plan(store: st.Store, plan: sp.Plan) -> None:
    spec, base = plan.spec, plan.base
    console.print(f"sweep [bold]{spec.id}[/]: {describe(spec)}; base {spec.preset or 'config'} "
                  f"({base.n_layer} x {base.n_embd}, batch {base.batch_label}, {base.max_iters:,} steps)")
    estimate = estimate_plan(store, plan)
    columns = [c for c in spec.swept if c not in report.BATCH_FIELDS]
    if plan.trials:
        t = Table()
        for col in ("trial", *columns, "batch", "params", "est. time"):
            t.add_column(col, justify="left" if col in ("trial", "batch") else "right")
        for trial, seconds, params in zip(plan.trials, estimate.seconds, estimate.params):
            t.add_row(f"t{trial.number:03d}", *(report.value_text(trial.config[c]) for c in columns),
                      trial.batch_label, params, "?" if seconds is None else est.human_seconds(seconds))
        console.print(t)
    for trial in plan.skipped:
        shown = ", ".join(f"{k}={report.value_text(v)}" for k, v in trial.params.items())
        console.print(f"[yellow]skipped[/] {shown}: {trial.reason}")
    if plan.skipped:
        console.print(f"[yellow]{len(plan.skipped)} invalid combination(s) skipped; the other trials are queued[/]")
    if spec.method == "tpe":
        console.print(f"TPE proposes up to {spec.trial_cap} trial(s), {spec.parallel} at a time, each from the "
                      f"results so far (objective: {sw.OBJECTIVE}); time per trial like the base")
    console.print(estimate.summary(plan))
    if spec.max_total_seconds and estimate.total and estimate.total > spec.max_total_seconds:
        console.print(f"[yellow]the time budget of {est.human_seconds(spec.max_total_seconds)} stops the sweep "
                      "before every trial has run[/]")


# -- tables -----------------------------------------------------------------------------

def cmd_show(a: argparse.Namespace) -> int:
    store = store_of(a)
    table = report.build(store, a.sweep)
    imp = report.importance(store, table)
    if a.format in ("md", "csv"):
        text = report.to_markdown(table, imp) if a.format == "md" else report.to_csv(table)
        emit(text, a.out, f"{len(table.rows)} trial(s)")
        return EXIT_OK
    spec = table.record.spec
    t = Table(title=f"sweep {spec.id}: {describe(spec)}")
    for col in report.header(table):
        t.add_column(col, justify="left" if col in ("trial", "batch", "state", "note") else "right",
                     overflow="fold" if col == "note" else "ellipsis")
    for r in table.rows:
        cells = [escape(c) for c in report.cells(table, r)]  # notes are text, never markup
        if r.number == table.best:
            cells[0] = f"[bold green]★ {cells[0]}[/]"
        style = {"pruned": "yellow", "failed": "red", "diverged": "red"}.get(r.state)
        if style:
            cells[-2] = f"[{style}]{cells[-2]}[/]"
        t.add_row(*cells)
    console.print(t)
    console.print(report.importance_text(imp))
    status = ("finished" if table.record.finished else
              f"stopped early: {table.record.stopped}" if table.record.stopped else "in progress")
    console.print(f"[dim]{len(table.rows)} trial(s), {len(table.finished)} finished; sweep {status}[/]")
    return EXIT_OK


def cmd_ls(a: argparse.Namespace) -> int:
    store = store_of(a)
    t = Table(title=f"sweeps in {store.root}")
    for col in ("sweep", "method", "swept", "trials", "done", "pruned", "best val PPL", "state", "created"):
        t.add_column(col)
    for sweep_id in sf.ids(store):
        try:
            table = report.build(store, sweep_id)
        except (GptTuiError, ValueError) as e:
            t.add_row(sweep_id, "?", "-", "-", "-", "-", "-", f"[red]{escape(str(e).splitlines()[0])}[/]", "-")
            continue
        rec, rows = table.record, table.rows
        best = next((r for r in rows if r.number == table.best), None)
        state = "finished" if rec.finished else "stopped" if rec.stopped else "in progress"
        planned = f"/{rec.spec.trial_cap}" if rec.spec.method == "tpe" else ""
        t.add_row(rec.spec.id, rec.spec.method, ", ".join(rec.spec.swept), f"{len(rows)}{planned}",
                  str(sum(r.state == "done" for r in rows)), str(sum(r.state == "pruned" for r in rows)),
                  "-" if best is None else f"{best.final_val_ppl:.2f} ({best.trial})", state, rec.created[:19])
    console.print(t)
    return EXIT_OK


# -- parsers ----------------------------------------------------------------------------

def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="grid, random and TPE sweeps; their trial tables",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=USAGE)
    p.add_argument("what", metavar="grid|random|tpe|file|show|ls|FILE.toml")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="see `gpt-tui sweep grid --help`, ...")
