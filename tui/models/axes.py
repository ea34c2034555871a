"""Chart ticks a person reads at a glance: round values, in human units (250k, 1.2M tokens; a learning
rate as 3e-4), never plotext's raw 1294336 or 0.00030."""

from __future__ import annotations

import math

NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))  # B: billions, as token counts are said


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round values from lo to hi (both finite), each a multiple of 1, 2, 2.5 or 5 x 10^k."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= max(abs(lo), abs(hi)) * 1e-6:  # a flat line: one tick says it
        return [lo]
    power = 10.0 ** math.floor(math.log10((hi - lo) / max(1, count - 1)))
    steps = [n * power * scale for scale in (0.1, 1.0, 10.0) for n in NICE_STEPS]
    # the round step giving the number of ticks nearest `count` (the larger step on a tie)
    step = min(reversed(steps), key=lambda s: abs(len(_multiples(lo, hi, s)) - count))
    return _multiples(lo, hi, step)


def _multiples(lo: float, hi: float, step: float) -> list[float]:
    k, ticks = math.ceil(lo / step - 1e-9), []
    while k * step <= hi + step * 1e-9 and len(ticks) <= 100:
        ticks.append(0.0 if abs(k * step) < step * 1e-9 else k * step)
        k += 1
    return ticks


def tick_labels(ticks: list[float]) -> list[str]:
    """The shortest labels, one style for the whole axis, that tell every tick apart and say its value."""
    if not ticks:
        return []
    top = max(abs(t) for t in ticks)
    gap = min((b - a for a, b in zip(ticks, ticks[1:])), default=top or 1.0)
    for digits in range(2, 9):
        labels = [human(t, top, digits) for t in ticks]
        if len(set(labels)) == len(labels) and all(abs(value_of(x) - t) <= gap * 1e-3 for x, t in zip(labels, ticks)):
            return labels
    return labels


def value_of(label: str) -> float:
    """A label read back: `human`'s inverse."""
    scale = dict((x, s) for s, x in SUFFIXES).get(label[-1:], 1.0)
    return float(label[:-1] if scale != 1.0 else label) * scale


def human(value: float, top: float, digits: int = 2) -> str:
    """`value` on an axis whose largest tick is `top`: k/M/G/T past a thousand, 3e-4 below 0.01."""
    if value == 0:
        return "0"
    if top >= 1e3:
        scale, suffix = next(((s, x) for s, x in SUFFIXES if abs(value) >= s), (1.0, ""))
        return f"{_g(value / scale, digits)}{suffix}"
    if top < 1e-2:
        mantissa, exponent = f"{value:.{max(0, digits - 1)}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}"
    return _g(value, digits + max(0, math.floor(math.log10(top)) + 1))


def _g(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    return text if "e" not in text else f"{value:.{digits}f}".rstrip("0").rstrip(".")
