"""The benchmarks' statistics: the interval a target is judged by."""

import random
import time

import pytest

from bench.common import median_interval, summary
from bench.turns import in_turns


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


def _take_turns(turn, count: int, setup_s: float = 0.0) -> tuple[float, list]:
    """A way for in_turns: when its set-up ended, and the (start, end) of each of its turns, on
    the system-wide clock."""
    time.sleep(setup_s)
    set_up, spans = time.perf_counter(), []
    turn.begin()
    for _ in range(count):
        start = time.perf_counter()
        time.sleep(0.01)
        spans.append((start, time.perf_counter()))
        turn.end()
    return set_up, spans


def test_ways_take_turns_one_at_a_time_in_alternating_order():
    got = in_turns({"a": (_take_turns, (4,)), "b": (_take_turns, (4, 0.5))})
    spans = sorted(
        (start, end, name) for name, (_, (_, result)) in got.items() for start, end in result
    )
    assert [name for _, _, name in spans] == list("abbaabba")  # ABBA...: neither goes first always
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        assert end <= start  # never both at once
    # The first turn waited for the slower way's set-up.
    assert spans[0][0] >= got["b"][1][0]
    for durations, (_, result) in got.values():
        assert len(durations) == 4
        # A turn's duration covers what the way did in it.
        assert all(d >= e - s for d, (s, e) in zip(durations, result, strict=True))


def _fails(turn) -> None:
    turn.begin()
    raise ValueError("no data")


def test_a_way_that_fails_stops_the_comparison_with_its_traceback():
    with pytest.raises(RuntimeError, match="no data"):
        in_turns({"a": (_take_turns, (2,)), "b": (_fails, ())})
