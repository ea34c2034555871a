"""The LR range test's arithmetic: its schedule, its smoothed loss, when it stops, and the learning
rates it suggests (pure; the worker's loop lives in engine.train.lrfind)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MIN, DEFAULT_MAX, DEFAULT_STEPS = 1e-7, 10.0, 200
MIN_STEPS, MAX_STEPS = 10, 100_000
# The test's top may pass any rate a run could use (learning_rate stops at 1): the point is to
# find where the loss blows up. The cap only keeps lr_at's arithmetic sane.
MAX_BOUND = 1000.0
SMOOTHING = 0.98  # the moving average's beta: about the last 50 steps
STOP_FACTOR = 4.0  # the test ends once the smoothed loss is this many times its minimum
# The first steps' averages rest on few losses: the steepest descent is looked for after them.
SKIP_START = 5


def range_problems(lr_min: float, lr_max: float, steps: int) -> list[str]:
    """What is wrong with a range test's bounds, each said so a person can fix it; empty when none."""
    problems = []
    for flag, value in (("--min", lr_min), ("--max", lr_max)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            problems.append(f"{flag} must be a positive number, got {value!r}")
        elif value > MAX_BOUND:
            problems.append(f"{flag} {value:g} is past any rate worth testing ({MAX_BOUND:g} at most)")
    if not problems and lr_min >= lr_max:
        problems.append(f"--min ({lr_min:g}) must be below --max ({lr_max:g}); the rate rises from min to max")
    if not (isinstance(steps, int) and MIN_STEPS <= steps <= MAX_STEPS):
        problems.append(
            f"--steps must be a whole number from {MIN_STEPS} to {MAX_STEPS}, got {steps!r} "
            "(fewer than 10 points cannot show where the loss falls fastest; 100 to 300 is usual)"
        )
    return problems


def lr_at(step: int, lr_min: float, lr_max: float, steps: int) -> float:
    """The learning rate of step `step` (0-based): exponential from lr_min at step 0 to lr_max at
    step steps - 1, one value per step, no warmup and no decay."""
    if steps <= 1:
        return lr_min
    return lr_min * (lr_max / lr_min) ** (step / (steps - 1))


class Smoother:
    """A bias-corrected exponential moving average of the loss (Adam's correction: the early
    averages are not pulled towards 0)."""

    def __init__(self, beta: float = SMOOTHING) -> None:
        self.beta, self.average, self.count = beta, 0.0, 0
        self.minimum = math.inf

    def add(self, loss: float) -> float:
        """The smoothed loss after `loss`; the minimum so far follows it."""
        self.count += 1
        self.average = self.beta * self.average + (1.0 - self.beta) * loss
        smooth = self.average / (1.0 - self.beta**self.count)
        if smooth < self.minimum:
            self.minimum = smooth
        return smooth

    def should_stop(self, smooth: float) -> bool:
        """The loss has blown up: non-finite, or past STOP_FACTOR times its minimum."""
        return not math.isfinite(smooth) or smooth > STOP_FACTOR * self.minimum


@dataclass(frozen=True)
class Suggestion:
    """The range test's two rules and the rate it proposes."""

    steepest: float | None  # where the smoothed loss falls fastest against log(lr)
    min_div10: float | None  # the rate at the smoothed loss's minimum, divided by 10
    suggested: float | None  # the one proposed: the steepest descent, else minimum / 10

    @property
    def rule(self) -> str:
        if self.suggested is None:
            return "none"
        return "steepest descent" if self.suggested == self.steepest else "minimum / 10"


def suggest(lrs: Sequence[float], smooth: Sequence[float]) -> Suggestion:
    """Both rules over a range test's points (rising rates, their smoothed losses). The steepest
    descent is the most negative slope of the smoothed loss against log(lr), taken between
    neighbours, over the points before the minimum and past the first SKIP_START."""
    points = [(lr, s) for lr, s in zip(lrs, smooth) if lr > 0 and math.isfinite(s)]
    if len(points) < 3:
        return Suggestion(None, None, None)
    lowest = min(range(len(points)), key=lambda i: points[i][1])
    min_div10 = points[lowest][0] / 10.0
    start = min(SKIP_START, max(0, lowest - 2))
    steepest, best_slope = None, 0.0
    for i in range(start + 1, lowest + 1):
        (lr0, s0), (lr1, s1) = points[i - 1], points[i]
        slope = (s1 - s0) / (math.log(lr1) - math.log(lr0)) if lr1 != lr0 else 0.0
        if slope < best_slope:
            steepest, best_slope = math.sqrt(lr0 * lr1), slope
    return Suggestion(steepest, min_div10, steepest if steepest is not None else min_div10)


def with_min_lr(learning_rate: float, min_lr: float, suggested: float) -> tuple[float, float]:
    """The suggested learning rate and a min_lr that keeps the config's ratio of min_lr to it."""
    ratio = min_lr / learning_rate if learning_rate > 0 else 0.0
    return suggested, suggested * ratio
