"""The LR range test's arithmetic: the schedule, the smoothed loss, the early stop, both rules, and
what bad bounds say (engine.core.lrfind; no training)."""

from __future__ import annotations

import math

import pytest

from engine.core import lrfind as rule


def test_the_schedule_rises_exponentially_from_min_to_max_one_rate_a_step():
    rates = [rule.lr_at(step, 1e-6, 1.0, 61) for step in range(61)]
    assert rates[0] == pytest.approx(1e-6) and rates[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in zip(rates, rates[1:])]
    assert ratios == pytest.approx([10 ** (6 / 60)] * 60)  # the same factor every step: exponential
    assert rule.lr_at(30, 1e-6, 1.0, 61) == pytest.approx(1e-3)  # halfway in steps is halfway in log


def test_the_smoothed_loss_is_bias_corrected_so_it_starts_at_the_first_loss():
    smoother = rule.Smoother(beta=0.9)
    assert smoother.add(4.0) == pytest.approx(4.0)  # not 0.4, as an uncorrected average would be
    assert smoother.add(4.0) == pytest.approx(4.0)
    second = rule.Smoother(beta=0.9)
    second.add(4.0)
    # (0.9 * 0.1 * 4 + 0.1 * 2) / (1 - 0.81): the two losses weighted 0.9 : 1
    assert second.add(2.0) == pytest.approx((0.36 + 0.2) / 0.19)
    assert second.minimum == pytest.approx((0.36 + 0.2) / 0.19)


def test_it_stops_once_the_smoothed_loss_passes_4x_its_minimum_or_is_not_finite():
    smoother = rule.Smoother(beta=0.0)  # no averaging: each smoothed loss is the loss
    assert not smoother.should_stop(smoother.add(1.0))
    assert not smoother.should_stop(smoother.add(4.0))  # 4x is not past 4x
    assert smoother.should_stop(smoother.add(4.01))
    for bad in (math.nan, math.inf):
        fresh = rule.Smoother()
        fresh.add(3.0)
        assert fresh.should_stop(fresh.add(bad))


def synthetic_curve(a: float, b: float, points: int = 241) -> tuple[list[float], list[float]]:
    """A smoothed loss against log(lr) that falls fastest at lr = e^a (the middle of a tanh step)
    and is lowest close to lr = e^b, where a quadratic rise takes over."""
    lrs = [math.exp(-12 + 12 * i / (points - 1)) for i in range(points)]
    losses = [3.0 - math.tanh(math.log(lr) - a) + max(0.0, math.log(lr) - b) ** 2 for lr in lrs]
    return lrs, losses


def test_both_rules_find_their_points_on_a_known_curve():
    a, b = math.log(1e-3), math.log(0.2)
    lrs, losses = synthetic_curve(a, b)
    found = rule.suggest(lrs, losses)
    step = lrs[1] / lrs[0]  # one grid step: the rules see the curve only at its points
    assert 1e-3 / step <= found.steepest <= 1e-3 * step
    assert 0.02 / step**2 <= found.min_div10 <= 0.02 * step**2
    assert found.suggested == found.steepest and found.rule == "steepest descent"


def test_with_no_descent_the_suggestion_is_the_minimum_over_10_and_with_no_points_none():
    rising = [1.0 + i for i in range(20)]
    lrs = [10.0 ** (-5 + i / 4) for i in range(20)]
    found = rule.suggest(lrs, rising)
    assert found.steepest is None and found.min_div10 == pytest.approx(1e-6)
    assert found.suggested == found.min_div10 and found.rule == "minimum / 10"
    assert rule.suggest([1e-3, 1e-2], [2.0, 1.0]).suggested is None


def test_min_lr_keeps_the_configs_ratio_to_learning_rate():
    assert rule.with_min_lr(1e-3, 1e-4, 3e-3) == pytest.approx((3e-3, 3e-4))
    assert rule.with_min_lr(1e-3, 0.0, 3e-3) == (3e-3, 0.0)


@pytest.mark.parametrize(
    "lr_min,lr_max,steps,words",
    [
        (1e-2, 1e-3, 100, "--min (0.01) must be below --max (0.001)"),
        (1e-3, 1e-3, 100, "must be below --max"),
        (0.0, 1.0, 100, "--min must be a positive number, got 0.0"),
        (1e-7, -1.0, 100, "--max must be a positive number, got -1.0"),
        (math.nan, 1.0, 100, "--min must be a positive number"),
        (1e-7, 10.0, 9, "--steps must be a whole number from 10"),
        (1e-7, 1e9, 100, "--max 1e+09 is past any rate worth testing"),
    ],
)
def test_bad_bounds_are_each_said_so_a_person_can_fix_them(lr_min, lr_max, steps, words):
    problems = rule.range_problems(lr_min, lr_max, steps)
    assert len(problems) == 1 and words in problems[0]


def test_the_defaults_are_a_valid_range():
    assert rule.range_problems(rule.DEFAULT_MIN, rule.DEFAULT_MAX, rule.DEFAULT_STEPS) == []
