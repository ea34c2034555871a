"""The validation rules of RunConfig: each names the fields it reads and yields Problems."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from engine.core import estimate as est
from engine.core.bounds import BOUNDS, MAX_EVAL_ITERS
from engine.core.device_rules import (  # noqa: F401 - config reads these from here
    DEVICE_RULES,
    Rule,
    device_kind,
    resolved_device_kind,
    resolved_dtype,
    rule_into,
)
from engine.core.fields import (
    MAX_LEARNING_RATE,
    TIKTOKEN_ENCODINGS,
    TOKENIZERS_BUILTIN,
    DeviceCaps,
    Problem,
    RunConfig,
    suggest,
)
from engine.core.mup_rules import MUP_RULES

# -- validation rules -------------------------------------------------------------------

RULES: list[Rule] = []
rule = rule_into(RULES)


# The lower ends of engine.core.bounds, with the messages people know; an int past 64 bits or a float
# that is not finite never gets here (check_type refuses it with the whole range).
_POSITIVE = tuple(n for n, b in BOUNDS.items() if b.integer and b.low == 1)
_NON_NEGATIVE = tuple(n for n, b in BOUNDS.items() if b.integer and b.low == 0)
for _name in _POSITIVE:

    def _positive(c: RunConfig, caps: DeviceCaps | None, _n: str = _name) -> Iterable[Problem]:
        if getattr(c, _n) < 1:
            yield Problem(_n, f"must be at least 1, got {getattr(c, _n)}")

    RULES.append(((_name,), _positive))

for _name in _NON_NEGATIVE:

    def _non_negative(c: RunConfig, caps: DeviceCaps | None, _n: str = _name) -> Iterable[Problem]:
        if getattr(c, _n) < 0:
            yield Problem(_n, f"must be 0 or more, got {getattr(c, _n)}")

    RULES.append(((_name,), _non_negative))


@rule("n_embd", "n_head")
def _heads_divide_width(c, caps):
    if c.n_head >= 1 and c.n_embd >= 1 and c.n_embd % c.n_head:
        best = _nearest_divisor(c.n_embd, c.n_head)
        yield Problem(
            "n_embd",
            f"n_embd ({c.n_embd}) must be divisible by n_head ({c.n_head}); "
            f"try n_head={best} or n_embd={c.n_embd // c.n_head * c.n_head or c.n_head}",
        )


def _nearest_divisor(n: int, target: int, window: int = 4096) -> int:
    """The divisor of n nearest to target (the smaller on a tie), looked for within `window` of
    it: a bounded search, so that an absurd n_embd is refused at once rather than factored."""
    target = min(target, n)
    for offset in range(window):
        for h in (target - offset, target + offset):
            if 1 <= h <= n and n % h == 0:
                return h
    return 1


@rule("learning_rate")
def _learning_rate(c, caps):
    if not math.isfinite(c.learning_rate) or c.learning_rate <= 0:
        yield Problem("learning_rate", f"must be above 0, got {c.learning_rate}; 6e-4 is a good start")
    elif c.learning_rate > MAX_LEARNING_RATE:
        yield Problem(
            "learning_rate",
            f"{c.learning_rate} is far too high for AdamW (at most "
            f"{MAX_LEARNING_RATE}); typical values are 1e-4 to 1e-3",
        )


@rule("min_lr", "learning_rate")
def _min_lr(c, caps):
    if not math.isfinite(c.min_lr) or c.min_lr < 0:
        yield Problem("min_lr", f"must be 0 or more, got {c.min_lr}")
    elif c.min_lr > c.learning_rate > 0:
        yield Problem(
            "min_lr",
            f"min_lr ({c.min_lr}) is above learning_rate ({c.learning_rate}); "
            f"try {c.learning_rate / 10:g} (a tenth of it)",
        )


@rule("dropout")
def _dropout(c, caps):
    if not (0.0 <= c.dropout < 1.0):
        yield Problem("dropout", f"must be in [0, 1), got {c.dropout}; 0.0 to 0.2 is usual")


@rule("lr_decay_iters", "warmup_iters", "max_iters", "decay_lr")
def _decay(c, caps):
    warmup = min(c.warmup_iters, c.max_iters)  # as the schedule runs it: warmup stops at max_iters
    if c.decay_lr and c.lr_decay_iters and c.lr_decay_iters < warmup:
        yield Problem(
            "lr_decay_iters",
            f"lr_decay_iters ({c.lr_decay_iters}) ends before warmup "
            f"({warmup}); set it above warmup_iters or to 0 (= max_iters)",
        )


# -- warnings: what is unusual but trains (a short smoke run of a preset), said, never refused ----

WARNINGS: list[Rule] = []
warning = rule_into(WARNINGS)


@warning("warmup_iters", "max_iters", "decay_lr")
def _warmup_past_the_end(c, caps):
    if c.decay_lr and c.warmup_iters > c.max_iters >= 1:
        yield Problem(
            "warmup_iters",
            f"warmup_iters ({c.warmup_iters}) is longer than the run (max_iters {c.max_iters}): warmup stops "
            "at max_iters, so the learning rate rises to its peak at the last step and never decays",
        )


@warning("eval_interval", "max_iters")
def _eval_interval_past_the_end(c, caps):
    if c.eval_interval > c.max_iters >= 1:
        yield Problem(
            "eval_interval",
            f"eval_interval ({c.eval_interval}) is longer than the run (max_iters {c.max_iters}): "
            "the run evaluates at its start and at its end only",
        )


@rule("eval_iters")
def _eval_iters(c, caps):
    if c.eval_iters > MAX_EVAL_ITERS:
        yield Problem(
            "eval_iters", f"{c.eval_iters} batches per evaluation would take longer than training; 20 to 200 is usual"
        )


@rule("weight_decay")
def _weight_decay(c, caps):
    if not math.isfinite(c.weight_decay) or not (0 <= c.weight_decay <= 10):
        yield Problem("weight_decay", f"must be between 0 and 10, got {c.weight_decay}; 0.1 is usual")


@rule("beta1")
def _beta1(c, caps):
    if not (0.0 <= c.beta1 < 1.0):
        yield Problem("beta1", f"must be in [0, 1), got {c.beta1}; 0.9 is usual")


@rule("beta2")
def _beta2(c, caps):
    if not (0.0 <= c.beta2 < 1.0):
        yield Problem("beta2", f"must be in [0, 1), got {c.beta2}; 0.95 or 0.99 is usual")


@rule("grad_clip")
def _grad_clip(c, caps):
    if not math.isfinite(c.grad_clip) or c.grad_clip < 0:
        yield Problem("grad_clip", f"must be 0 (off) or more, got {c.grad_clip}; 1.0 is usual")


@rule("tokenizer")
def _tokenizer(c, caps):
    known = TOKENIZERS_BUILTIN + TIKTOKEN_ENCODINGS
    if c.tokenizer not in known:
        yield Problem(
            "tokenizer",
            f"unknown tokenizer {c.tokenizer!r}{suggest(c.tokenizer, known)} (choose from {', '.join(known)})",
        )


@rule("dataset", "text_field")
def _dataset(c, caps):
    """Spelling only: whether the files or the hub dataset can be read is asked when a run is queued
    (engine.data.sources.dataset_problem) and when it is prepared."""
    if not c.dataset.strip():
        yield Problem("dataset", "is empty; use 'pydocs' (built in), a path to text or records, or hf:NAME")
    elif any(ch in c.dataset for ch in "\0\n\r"):
        yield Problem("dataset", "contains control characters; give a plain path")
    elif c.dataset.startswith("hf:"):
        name_config, at, split = c.dataset[3:].rpartition("@")
        name, colon, config = (name_config if at else c.dataset[3:]).partition(":")
        if not name.strip() or any(ch.isspace() for ch in name) or (at and not split) or (colon and not config):
            yield Problem("dataset", "write hf:NAME[:CONFIG][@SPLIT], e.g. hf:roneneldan/TinyStories@train")
    if not c.text_field.strip() or any(ord(ch) < 32 for ch in c.text_field):
        yield Problem("text_field", "must name a field of the records, e.g. 'text'")


# Beyond these no machine trains a run, so they are refused from the estimate before anything is
# allocated (a model of 10^13 parameters would otherwise be built until the process is killed).
MAX_PARAMS = 20_000_000_000
MAX_MEMORY_BYTES = 4 * 2**40
MAX_TOKENS_PER_ITER = 2**31
# GPT-2 124M's shape: an absurd field is the one furthest above it.
_REFERENCE = {"n_layer": 12, "n_embd": 768, "block_size": 1024, "batch_size": 12, "gradient_accumulation_steps": 40}


def _amount(n: int, human: Callable[[float], str], unit: str = "") -> str:
    """human(n), or its power of ten past the largest unit human() has."""
    return human(n) if n < 10**15 else f"~10^{len(str(n)) - 1}{unit}"


def _furthest_above(c: RunConfig, names: tuple[str, ...]) -> str:
    return max(names, key=lambda n: getattr(c, n) / _REFERENCE[n])


@rule("n_layer", "n_embd", "block_size", "batch_size", "gradient_accumulation_steps", "tokenizer", "dropout", "bias")
def _within_reach(c, caps):
    """Refuse from the estimate, before anything is allocated, what no machine could train."""
    if min(c.n_layer, c.n_embd, c.block_size, c.batch_size, c.gradient_accumulation_steps) < 1:
        return  # reported by the rules above
    vocab = est.TOKENIZER_VOCAB.get(c.tokenizer, 256)  # char: at least this many in practice
    tokens = est.tokens_per_iter(c)
    if tokens > MAX_TOKENS_PER_ITER:
        name = _furthest_above(c, ("block_size", "batch_size", "gradient_accumulation_steps"))
        yield Problem(
            name,
            f"one step would be {tokens:,} tokens (batch_size x gradient_accumulation_steps x "
            f"block_size), more than 2^31; lower {name}",
        )
    params = est.param_count(c, vocab)
    if params > MAX_PARAMS:
        name = _furthest_above(c, ("n_layer", "n_embd", "block_size"))
        state = _amount(16 * params, est.human_bytes, " bytes")
        yield Problem(
            name,
            f"the model would have {_amount(params, est.human_count)} parameters, needing {state} "
            f"for weights, gradients and AdamW state; gpt-tui trains up to "
            f"{est.human_count(MAX_PARAMS)}: lower {name}",
        )
        return
    memory = est.memory_estimate(c, vocab, "bfloat16").total  # the least any dtype needs
    if memory > MAX_MEMORY_BYTES:
        name = _furthest_above(c, ("n_layer", "n_embd", "block_size", "batch_size"))
        keep = " (raise gradient_accumulation_steps to keep the effective batch)" if name == "batch_size" else ""
        yield Problem(
            name,
            f"training would need {_amount(memory, est.human_bytes, ' bytes')} of memory per "
            f"process, more than the {est.human_bytes(MAX_MEMORY_BYTES)} of any machine; "
            f"lower {name}{keep}",
        )


def check_all(c: RunConfig, caps: DeviceCaps | None = None, skip: Iterable[str] = ()) -> list[Problem]:
    """Every problem at once. Rules that read a field in `skip` (a field of the wrong type) are not run."""
    skipped = set(skip)
    problems: list[Problem] = []
    for names, fn in [*RULES, *DEVICE_RULES, *MUP_RULES]:
        if skipped.isdisjoint(names):
            problems.extend(fn(c, caps))
    return problems


def warnings_for(c: RunConfig, caps: DeviceCaps | None = None) -> list[Problem]:
    """What is unusual about a valid config and how the run will take it; it still trains."""
    return [p for _, fn in WARNINGS for p in fn(c, caps)]
