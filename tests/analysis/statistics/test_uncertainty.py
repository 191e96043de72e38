"""Wilson intervals, McNemar's exact test and Newcombe's paired interval on counts worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.statistics.uncertainty import mcnemar, mcnemar_p_value, newcombe_paired_interval, wilson_interval


def test_wilson_interval_of_ten_errors_in_a_hundred():
    # z = 1.959964: centre = (0.1 + z²/200) / (1 + z²/100) = 0.114940, half-width = 0.059568.
    low, high = wilson_interval(10, 100)
    assert low == pytest.approx(0.055229, abs=1e-6) and high == pytest.approx(0.174366, abs=1e-6)


def test_wilson_interval_at_the_bounds_stays_inside_zero_one():
    low, high = wilson_interval(0, 50)
    assert low == 0.0 and high == pytest.approx(1.959964**2 / (50 + 1.959964**2), abs=1e-6)  # z²/(n+z²)
    low, high = wilson_interval(50, 50)
    assert high == 1.0 and low == pytest.approx(50 / (50 + 1.959964**2), abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="errors <= n"):
        wilson_interval(5, 3)


def test_mcnemar_exact_p_value_on_the_discordant_pairs():
    # b = 1, c = 9: p = 2·P(X ≤ 1 | 10, ½) = 2·(1 + 10)/1024.
    assert mcnemar_p_value(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_p_value(9, 1) == pytest.approx(22 / 1024)
    assert mcnemar_p_value(5, 5) == 1.0  # 2·P(X ≤ 5 | 10, ½) > 1 is capped
    assert mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(0, 6) == pytest.approx(2 / 64)


def test_mcnemar_on_outcome_vectors():
    # 100 images: 5 both wrong, 1 only A wrong, 9 only B wrong, 85 both right.
    wrong_a = np.array([True] * 5 + [True] * 1 + [False] * 9 + [False] * 85)
    wrong_b = np.array([True] * 5 + [False] * 1 + [True] * 9 + [False] * 85)
    test = mcnemar(wrong_a, wrong_b)
    assert (test.n, test.both_wrong, test.only_a_wrong, test.only_b_wrong) == (100, 5, 1, 9)
    assert test.difference == pytest.approx(-0.08) and test.error_a == 0.06 and test.error_b == 0.14
    assert test.p_value == pytest.approx(22 / 1024) and test.significant
    low, high = test.interval
    assert low < -0.08 < high < 0  # B is worse, and the interval excludes no difference
    assert test.to_dict()["interval"] == [low, high]
    with pytest.raises(ValueError, match="same images"):
        mcnemar(wrong_a, wrong_b[:50])


def test_newcombe_paired_interval_by_hand():
    # Table: both 2, only A 15, only B 5, neither 34 (n = 56). p_a = 17/56, p_b = 7/56.
    n, z = 56, 1.959964

    def wilson(k):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half

    (la, ua), (lb, ub) = wilson(17), wilson(7)
    pa, pb = 17 / n, 7 / n
    phi = (2 * 34 - 15 * 5) / math.sqrt(17 * 39 * 7 * 49)
    low = pa - pb - math.sqrt((pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2)
    high = pa - pb + math.sqrt((ua - pa) ** 2 - 2 * phi * (ua - pa) * (pb - lb) + (pb - lb) ** 2)
    assert newcombe_paired_interval(2, 15, 5, 34) == pytest.approx((low, high), abs=1e-6)
    assert newcombe_paired_interval(2, 15, 5, 34) == pytest.approx((0.02477, 0.32372), abs=1e-5)
    # Swapping A and B mirrors the interval.
    low, high = newcombe_paired_interval(2, 15, 5, 34)
    assert newcombe_paired_interval(2, 5, 15, 34) == pytest.approx((-high, -low), abs=1e-12)


def test_identical_models_differ_by_nothing():
    wrong = np.array([True, False, False, True])
    test = mcnemar(wrong, wrong)
    assert test.difference == 0 and test.p_value == 1.0 and not test.significant
    assert test.interval[0] <= 0 <= test.interval[1]
