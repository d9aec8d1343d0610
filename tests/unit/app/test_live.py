"""app.live in process: replays in bounded pieces, slow clients cut off at their byte budget."""

import asyncio
import json

from app import live
from bench.fill import fill_experiment
from store import reads
from store.engine import get_engine


def test_a_replay_comes_in_bounded_pieces_and_misses_nothing(settings, monkeypatch):
    engine = get_engine(settings.db_url)
    exp_id = fill_experiment(engine, arms=3, epochs=40, layers=2)
    monkeypatch.setattr(live, "REPLAY_PAGE", 16)
    head = reads.head(engine)
    pieces, cursor = [], 0
    while cursor is not None:
        events, cursor = live.render_replay(engine, exp_id, cursor, head, live.REPLAY_PAGE)
        pieces.append(events)
    assert all(len(p) <= 16 for p in pieces) and len(pieces) >= 120 // 16
    epochs = [json.loads(e.data) for p in pieces for e in p]
    assert [int(e.id) for p in pieces for e in p] == sorted(int(e.id) for p in pieces for e in p)
    assert sorted((e["run_id"], e["metric"]["epoch"]) for e in epochs) == sorted(
        (run_id, epoch) for run_id in {e["run_id"] for e in epochs} for epoch in range(1, 41)
    )
    assert all("histograms" not in e for e in epochs)  # the page fetches the newest on its own


def test_a_slow_client_is_cut_off_at_its_byte_budget_not_before():
    sub = live.Subscriber(1)
    chunk = b"x" * (live.QUEUE_LIMIT_BYTES // 4)
    for _ in range(4):
        sub.put(chunk)
    assert not sub.overflowed and sub.queued_bytes == live.QUEUE_LIMIT_BYTES
    got = asyncio.run(sub.get())
    assert got == chunk and sub.queued_bytes == 3 * len(chunk)
    sub.put(chunk)
    sub.put(b"y")  # one byte over: the stream ends, and nothing more is kept for it
    assert sub.overflowed
    sub.put(chunk)

    async def drain():
        return [await sub.get() for _ in range(sub.queue.qsize())]

    assert asyncio.run(drain())[-1] is None
