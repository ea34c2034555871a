"""The learning-rate schedule: linear warmup, then cosine decay to min_lr (pure)."""

from __future__ import annotations

import math

from engine.core.fields import RunConfig


def get_lr(step: int, c: RunConfig) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    if not c.decay_lr:
        return c.learning_rate
    warmup = warmup_steps(c)
    if step < warmup:
        return c.learning_rate * (step + 1) / (warmup + 1)
    end = c.decay_end
    if step >= end:
        return c.min_lr
    ratio = (step - warmup) / max(1, end - warmup)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return c.min_lr + coeff * (c.learning_rate - c.min_lr)


def warmup_steps(c: RunConfig) -> int:
    """The steps of the run's linear warmup: none with a constant learning rate (decay_lr off)."""
    return min(c.warmup_iters, c.max_iters) if c.decay_lr else 0  # a warmup longer than the run stops at its end
