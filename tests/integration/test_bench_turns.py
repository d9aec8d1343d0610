"""bench.turns: ways measured in turns, each in its own process, never two at once."""

import time

import pytest

from bench.turns import in_turns


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
