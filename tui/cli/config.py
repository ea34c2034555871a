"""Commands about configs that need no engine: estimate, config, fields, presets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import rich_click as click
from rich.table import Table

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.errors import GptTuiError
from engine.core.presets import PRESETS
from engine.store.runs import write_atomic
from tui.cli.base import EXIT_OK, config_from, config_options, console, err_console, fail, store
from tui.models import data_budget as db
from tui.models import editor_model as em

REFERENCE_MFU = 0.4
REFERENCE_GPUS = ("H100", "A100", "RTX 4090")


def vocab_for(c: cfgmod.RunConfig) -> int:
    from engine.data.tokenize import vocab_size_for

    return vocab_size_for(c.dataset, c.tokenizer, store().datasets_dir, c.text_field)


def time_here(c: cfgmod.RunConfig, vocab: int) -> em.Line:
    """The editor's time line: the device the engine trains on and the speed measured there."""
    s = store()
    device = em.engine_device(s)
    return em.time_line(c, vocab, device, em.calibrate(s, device.name))


def estimate_table(
    c: cfgmod.RunConfig,
    vocab: int,
    tokens_per_s: float | None,
    here: em.Line | None = None,
    data: Sequence[em.Line] = (),  # tokens per parameter and epochs (em.data_lines)
) -> Table:
    dtypes = [c.dtype] if c.dtype != "auto" else ["float32", "bfloat16"]
    ests = {d: est.estimate(c, vocab, d) for d in dtypes}
    e = next(iter(ests.values()))
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column(style="dim")
    t.add_row(
        "model",
        f"{c.n_layer} layers x {c.n_embd} wide, {c.n_head} heads",
        f"context {c.block_size}, vocab {vocab} ({c.tokenizer})",
    )
    mup = est.width_multiplier_text(c)
    if mup is not None:
        t.add_row("parametrization", "µP", f"{mup}; learning rate and init as tuned at the base")
    t.add_row("parameters", f"{e.params:,}", est.human_count(e.params))
    t.add_row("non-embedding", f"{e.non_embedding:,}", "nanoGPT's count (excludes position embedding)")
    t.add_row("FLOPs / token", f"{e.flops_per_token:,}", "6N + 12·L·H·Q·T, forward + backward")
    t.add_row("batch", c.batch_label, "micro-batch x accumulation")
    t.add_row("tokens / iteration", f"{e.tokens_per_iter:,}", f"{c.max_iters:,} iterations")
    t.add_row("tokens in the run", f"{e.total_tokens:,}", est.human_count(e.total_tokens))
    for line in data:
        t.add_row(line.label, line.value, line.note)
    for d, x in ests.items():
        m = x.memory
        where = (
            {"float32": " (CPU or fp32)", "bfloat16": " (GPU, bf16 autocast)"}.get(d, "") if c.dtype == "auto" else ""
        )
        t.add_row(
            f"memory {d}{where}",
            est.human_bytes(m.total),
            f"weights {est.human_bytes(m.weights)}, grads {est.human_bytes(m.gradients)}, "
            f"AdamW {est.human_bytes(m.optimizer)}, activations {est.human_bytes(m.activations)}, "
            f"logits {est.human_bytes(m.logits)}",
        )
    if tokens_per_s:
        t.add_row("time", est.human_seconds(e.seconds_at(tokens_per_s)), f"at {tokens_per_s:,.0f} tokens/s")
    if here is not None:
        t.add_row("time on this machine", here.value, here.note)
    for gpu in REFERENCE_GPUS:
        rate = est.tokens_per_s_at(c, vocab, est.GPU_PEAK_FLOPS[gpu], REFERENCE_MFU)
        t.add_row(
            f"time on one {gpu}",
            est.human_seconds(e.seconds_at(rate)),
            f"at {REFERENCE_MFU:.0%} MFU = {rate:,.0f} tokens/s",
        )
    return t


@click.command("estimate", help="parameters, FLOPs, memory and time of a config, before launching")
@config_options
@click.option("--tokens-per-s", type=float, metavar="N", help="throughput to estimate the run's time at")
@click.option("--vocab-size", type=int, metavar="N", help="vocabulary size (default: from the tokenizer)")
def estimate(
    preset: str | None,
    config: Path | None,
    overrides: tuple[str, ...],
    tokens_per_s: float | None,
    vocab_size: int | None,
) -> int:
    c = config_from(preset, config, overrides, queued=False)
    if tokens_per_s is not None and tokens_per_s <= 0:
        return fail(f"--tokens-per-s must be above 0, got {tokens_per_s}")
    if vocab_size is not None and vocab_size < 1:
        return fail(f"--vocab-size must be at least 1, got {vocab_size}")
    try:
        vocab = vocab_size or vocab_for(c)
    except GptTuiError as e:
        return fail(f"{e}\n  give the vocabulary with --vocab-size N to estimate anyway")
    train_tokens = db.prepared_train_tokens(c, store().datasets_dir)
    data = [line for line in em.data_lines(c, vocab, train_tokens) if line.label != em.WARNING_LABEL]
    console.print(estimate_table(c, vocab, tokens_per_s, time_here(c, vocab), data))
    if train_tokens is not None:  # after the table, where it is read; not an error: the run trains
        for warning, advice in db.budget(c, vocab, train_tokens).warnings():
            err_console.print(f"[yellow]warning:[/] {warning}: {advice}")
    return EXIT_OK


@click.command("config", help="print a resolved config as TOML (or write it with --out)")
@config_options
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="write the TOML to this file instead of printing it",
)
def config_toml(preset: str | None, config: Path | None, overrides: tuple[str, ...], out: Path | None) -> int:
    c = config_from(preset, config, overrides, queued=False)
    if out is None:
        console.out(cfgmod.to_toml(c), end="")
        return EXIT_OK
    if out.exists() and out.is_dir():
        return fail(f"{out} is a folder; give a file name such as {out / 'config.toml'}")
    try:
        write_atomic(out, cfgmod.to_toml(c))
    except OSError as e:
        return fail(f"cannot write {out}: {e}")
    console.print(f"wrote {out}")
    return EXIT_OK


@click.command("fields", help="every hyperparameter with its group, default and help")
def fields() -> int:
    t = Table(title="hyperparameters (set with --set key=value)")
    for col in ("group", "name", "type", "default", "help"):
        t.add_column(col, overflow="fold")
    for group in cfgmod.GROUPS:
        for name in cfgmod.fields_in_group(group):
            t.add_row(
                group,
                name,
                cfgmod.field_type(name).__name__,
                repr(getattr(cfgmod.DEFAULTS, name)),
                cfgmod.field_help(name),
            )
    console.print(t)
    return EXIT_OK


@click.command("presets", help="the built-in presets")
def presets() -> int:
    t = Table(title="presets (use with --preset NAME)")
    for col in ("preset", "n_layer", "n_head", "n_embd", "block", "LR", "batch", "tokenizer", "max_iters"):
        t.add_column(col)
    for name in PRESETS:
        c = cfgmod.preset(name)
        t.add_row(
            name,
            str(c.n_layer),
            str(c.n_head),
            str(c.n_embd),
            str(c.block_size),
            f"{c.learning_rate:g}",
            c.batch_label,
            c.tokenizer,
            f"{c.max_iters:,}",
        )
    console.print(t)
    return EXIT_OK


COMMANDS = [estimate, config_toml, fields, presets]
