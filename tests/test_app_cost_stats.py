"""The statistics of benchmarks/app_cost.py: Student's t, the paired ratio interval, the verdict."""

from __future__ import annotations

import math

import pytest

from benchmarks.app_cost import Interval, ratio_interval, t_quantile, verdict


@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062), (2, 4.3027), (9, 2.2622), (29, 2.0452), (1000, 1.9623)])
def test_t_quantile_matches_the_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_ratio_interval_is_the_t_interval_of_the_log_ratios_mapped_back():
    ratios = [0.97, 1.01, 0.99, 1.02, 0.98]
    logs = [math.log(r) for r in ratios]
    mean = sum(logs) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 4)
    iv = ratio_interval(ratios)
    assert iv.mean == pytest.approx(math.exp(mean))
    assert iv.low == pytest.approx(math.exp(mean - 2.7764 * sd / math.sqrt(5)), rel=1e-4)
    assert iv.high == pytest.approx(math.exp(mean + 2.7764 * sd / math.sqrt(5)), rel=1e-4)


def test_ratio_interval_treats_a_halving_and_a_doubling_alike():
    iv = ratio_interval([0.5, 2.0, 0.5, 2.0])
    assert iv.mean == pytest.approx(1.0)
    assert iv.low * iv.high == pytest.approx(1.0)


def test_one_pair_has_no_interval():
    iv = ratio_interval([0.9])
    assert iv.mean == pytest.approx(0.9) and math.isnan(iv.low) and math.isnan(iv.high)


def test_too_few_pairs_get_no_verdict_however_tight_their_interval():
    assert verdict(Interval(0.9, 0.89, 0.91, pairs=2), more_is_cost=False).startswith("none")
    assert verdict(ratio_interval([0.9]), more_is_cost=False).startswith("none")


def test_a_speed_is_within_the_goal_only_when_the_whole_interval_is():
    assert verdict(Interval(0.995, 0.985, 1.005, pairs=10), more_is_cost=False).startswith("met")
    assert verdict(Interval(0.99, 0.97, 1.01, pairs=10), more_is_cost=False) == "not resolved"
    assert verdict(Interval(0.95, 0.94, 0.97, pairs=10), more_is_cost=False).startswith("missed")


def test_cpu_seconds_count_their_cost_upwards():
    assert verdict(Interval(1.005, 0.99, 1.015, pairs=10), more_is_cost=True).startswith("met")
    assert verdict(Interval(1.01, 0.99, 1.03, pairs=10), more_is_cost=True) == "not resolved"
    assert verdict(Interval(1.05, 1.03, 1.07, pairs=10), more_is_cost=True).startswith("missed")


def test_a_window_s_speed_counts_only_the_records_inside_it():
    from benchmarks.app_cost_within import window_speed

    records = [{"t": 10.0 + i, "tokens": 1000 * i} for i in range(10)]  # 1,000 tokens/s
    records[6]["tokens"] += 500  # the window's last step, a fast one: (6,500 - 2,000) tokens / 4 s
    assert window_speed(records, 11.5, 16.5) == (1125.0, 4500)
    assert window_speed(records, 0.0, 100.0)[0] == pytest.approx(9000 / 9)
    with pytest.raises(RuntimeError, match="only 2 steps"):
        window_speed(records, 11.0, 12.0)


def test_within_run_pairs_are_each_app_window_and_its_alone_twin():
    from benchmarks.app_cost_within import Window, summary

    windows = []
    for pair, (alone, app) in enumerate([(100.0, 98.0), (101.0, 99.0), (99.0, 97.0), (100.0, 98.0), (102.0, 100.0)]):
        windows.append(Window(pair, False, 0, 1, alone, 10.0, None))
        windows.append(Window(pair, True, 1, 2, app, 10.2, 0.05))
    s = summary(1, windows)
    assert s["pairs"] == 5
    assert s["tokens_per_s"]["mean"] == pytest.approx(0.98, abs=0.001)
    assert s["worker_cpu_per_token"]["mean"] == pytest.approx(1.02)
    assert s["app_cpu_share"] == pytest.approx(0.05)
