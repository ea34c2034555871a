"""The out-of-memory policy: a smaller micro-batch with the same effective batch (pure)."""

from __future__ import annotations

from engine.core.fields import RunConfig


def smaller_batch(c: RunConfig) -> RunConfig | None:
    """Halve batch_size and double gradient_accumulation_steps, so batch x accumulation stays
    the same. An odd batch takes its largest divisor below half (9 -> 3 x 3 accumulation);
    None when the micro-batch is already 1."""
    b = c.batch_size
    if b <= 1:
        return None
    smaller = max(d for d in range(1, b // 2 + 1) if b % d == 0)
    return c.replace(batch_size=smaller, gradient_accumulation_steps=c.gradient_accumulation_steps * (b // smaller))
