"""The benchmarks' statistics: the interval a target is judged by."""

import random

import pytest

from bench.common import median_interval, summary


def test_too_few_rounds_give_no_interval():
    # With 5 rounds even min..max covers the median with only 1 - 2/32 = 94 %.
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    assert "too few rounds" in summary([1.0, 2.0, 3.0])


@pytest.mark.parametrize("n, lo, hi", [(6, 1, 6), (10, 2, 9), (20, 6, 15), (30, 10, 21)])
def test_the_interval_is_the_sign_tests_order_statistics(n, lo, hi):
    values = list(range(1, n + 1))
    random.Random(n).shuffle(values)  # order of the rounds does not matter
    assert median_interval(values) == (lo, hi)


def test_the_interval_covers_the_median_as_often_as_it_claims():
    rng = random.Random(0)
    trials, covered = 2000, 0
    for _ in range(trials):
        low, high = median_interval([rng.lognormvariate(0.0, 0.1) for _ in range(8)])
        covered += low <= 1.0 <= high  # the lognormal's median is exp(0) = 1
    # n = 8 takes the 1st and 8th of 8: coverage 1 - 2 / 256 = 99.2 %, so about 16 misses.
    assert 0.98 <= covered / trials < 1.0
