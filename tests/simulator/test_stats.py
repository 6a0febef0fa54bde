"""simulator/stats.py: Wilson intervals, τ-bench's pass^k, nearest-rank percentiles."""

from __future__ import annotations

import pytest

from simulator.stats import pass_hat_k, percentile, rate


def test_wilson_interval_matches_the_textbook_value():
    r = rate(8, 10)  # Wilson 95%: 0.4902 .. 0.9433
    assert r["rate"] == 0.8
    assert r["low"] == pytest.approx(0.4902, abs=1e-4)
    assert r["high"] == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_is_informative_at_zero_and_one():
    assert rate(0, 20)["low"] == 0.0 and 0 < rate(0, 20)["high"] < 0.2
    assert rate(20, 20)["high"] == pytest.approx(1.0) and 0.8 < rate(20, 20)["low"] < 1


def test_no_conversations_give_no_rate():
    assert rate(0, 0)["rate"] is None


def test_pass_hat_k_is_the_chance_that_k_trials_all_succeed():
    outcomes = {"a": [True, True, True, True], "b": [True, False, True, False], "c": [False] * 4}
    assert pass_hat_k(outcomes, 1) == pytest.approx((1 + 0.5 + 0) / 3)
    assert pass_hat_k(outcomes, 2) == pytest.approx((1 + 1 / 6 + 0) / 3)  # C(2,2)/C(4,2) for "b"
    assert pass_hat_k(outcomes, 4) == pytest.approx(1 / 3)
    assert pass_hat_k(outcomes, 5) is None


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile([], 50) is None
