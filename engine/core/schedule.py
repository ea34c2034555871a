"""The learning-rate schedule: linear warmup, then cosine decay to min_lr (pure)."""

from __future__ import annotations

import math

from engine.core.fields import RunConfig


def get_lr(step: int, c: RunConfig) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    if not c.decay_lr:
        return c.learning_rate
    warmup = min(c.warmup_iters, c.max_iters)  # a warmup longer than the run stops at its end
    if step < warmup:
        return c.learning_rate * (step + 1) / (warmup + 1)
    end = c.decay_end
    if step >= end:
        return c.min_lr
    ratio = (step - warmup) / max(1, end - warmup)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return c.min_lr + coeff * (c.learning_rate - c.min_lr)
