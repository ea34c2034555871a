"""The range each numeric hyperparameter may take by itself, and how a message writes it. Pure.

Rules across fields (min_lr under learning_rate, warmup inside the run) come on top, in rules.py.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

INT_MAX = 2**63 - 1  # TOML's integers are 64-bit: no store file can hold a larger one
MAX_LEARNING_RATE = 1.0
MAX_EVAL_ITERS = 10_000


class Bounds(NamedTuple):
    """[low, high] of one field; an open end excludes its value. Floats must also be finite."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def text(self) -> str:
        """What a good value looks like: 'an integer from 1 to 2^63-1', 'a number in [0, 1)'."""
        if self.integer:
            high = "2^63-1" if self.high == INT_MAX else f"{self.high:,}"
            return f"an integer from {self.low:,} to {high}"
        low = f"{self.low:g}"
        if math.isinf(self.high):
            return f"a finite number above {low}" if self.low_open else f"a finite number, {low} or more"
        high = f"{self.high:g}"
        if self.low_open:
            return f"a number above {low} and at most {high}"
        if self.high_open:
            return f"a number in [{low}, {high})"
        return f"a number from {low} to {high}"


_POSITIVE = Bounds(1, INT_MAX)
_NON_NEGATIVE = Bounds(0, INT_MAX)
_FRACTION = Bounds(0.0, 1.0, high_open=True)
_MULTIPLIER = Bounds(0.0, math.inf, low_open=True)

BOUNDS: dict[str, Bounds] = {
    # integers: at least 1 ...
    "n_layer": _POSITIVE,
    "n_head": _POSITIVE,
    "n_embd": _POSITIVE,
    "block_size": _POSITIVE,
    "batch_size": _POSITIVE,
    "gradient_accumulation_steps": _POSITIVE,
    "max_iters": _POSITIVE,
    "eval_interval": _POSITIVE,
    "eval_iters": Bounds(1, MAX_EVAL_ITERS),
    "log_interval": _POSITIVE,
    "gpus": _POSITIVE,
    # ... or at least 0
    "warmup_iters": _NON_NEGATIVE,
    "lr_decay_iters": _NON_NEGATIVE,
    "seed": _NON_NEGATIVE,
    "threads": _NON_NEGATIVE,
    "keep_checkpoints": _NON_NEGATIVE,
    "mup_base_width": _NON_NEGATIVE,  # 0: n_embd itself; the rules hold it to n_embd and n_head
    # numbers
    "learning_rate": Bounds(0.0, MAX_LEARNING_RATE, low_open=True),
    "min_lr": Bounds(0.0, MAX_LEARNING_RATE),
    "dropout": _FRACTION,
    "weight_decay": Bounds(0.0, 10.0),
    "beta1": _FRACTION,
    "beta2": _FRACTION,
    "grad_clip": Bounds(0.0, math.inf),
    # A multiplier of 0 would cut the model off from its input or its output.
    "mup_input_alpha": _MULTIPLIER,
    "mup_output_alpha": _MULTIPLIER,
}


def out_of_bounds(name: str, value: Any) -> str | None:
    """None when `value` is inside the field's own range (or the field has none), else the range in words."""
    b = BOUNDS.get(name)
    if b is None or b.holds(value):
        return None
    return b.text()
