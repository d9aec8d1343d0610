"""Live updates: one poller reads the change feed and fans rendered events out to SSE streams.

However many pages are open, the database sees one query per tick; each change is rendered once.
Event ids are change ids, so a browser that reconnects with Last-Event-ID misses nothing.
"""

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from anyio import to_thread
from sqlalchemy import Engine
from sse_starlette import ServerSentEvent

from app import views
from app.templating import templates
from store import queue, reads
from store.engine import read_session
from store.models import Change, Run
from store.settings import Settings

log = logging.getLogger("reglab.live")
HEARTBEAT_EVERY_S = 2.0
# What one slow client may have waiting before its stream is closed (it reconnects and catches up
# from its last event id): a bound on the server's memory per stream.
QUEUE_LIMIT_BYTES = 8 * 2**20
REPLAY_PAGE = 256  # changes read and rendered at a time when a stream catches up


@dataclass(eq=False)
class Subscriber:
    """One stream's mailbox. The feed puts one chunk of encoded events per tick: events are
    encoded once for all streams, and a stream makes one write per tick however many epochs the
    tick brought (fast training can commit thousands a second)."""

    experiment_id: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    queued_bytes: int = 0
    overflowed: bool = False

    def put(self, chunk: bytes) -> None:
        if self.overflowed:
            return
        if self.queued_bytes + len(chunk) > QUEUE_LIMIT_BYTES:
            self.overflowed = True
            self.queue.put_nowait(None)  # wake the stream so it ends
            return
        self.queued_bytes += len(chunk)
        self.queue.put_nowait(chunk)

    async def get(self) -> bytes | None:
        chunk = await self.queue.get()
        if chunk is not None:
            self.queued_bytes -= len(chunk)
        return chunk


def _card(session, run: Run) -> ServerSentEvent:
    public = views.runs_public(session, [run])[0]
    html = templates.get_template("_run_card.html").render(run=public)
    return ServerSentEvent(data=html, event=f"run-{run.id}")


def _header(session, experiment_id: int) -> ServerSentEvent:
    exp = views.get_experiment(session, experiment_id)
    html = templates.get_template("_experiment_status.html").render(experiment=exp)
    return ServerSentEvent(data=html, event="experiment-status")


def _epoch(
    session, change: Change, metric: dict | None, run: Run, with_histograms: bool
) -> ServerSentEvent | None:
    if metric is None:  # superseded by a restart of the run; its new epochs follow
        return None
    payload: dict = {"run_id": change.run_id, "metric": metric}
    if with_histograms:
        payload["histograms"] = reads.run_histograms(session, run, change.epoch)
    return ServerSentEvent(data=json.dumps(payload), event="epoch", id=str(change.id))


def _metrics(session, changes: list[Change]) -> dict[tuple[int, int], dict]:
    return reads.epoch_metrics(session, [(c.run_id, c.epoch) for c in changes if c.kind == "epoch"])


def render(engine: Engine, changes: list[Change]) -> list[tuple[int, ServerSentEvent]]:
    """Events for a batch of changes: each epoch, then each touched run's card and header once.

    A run's newest epoch in the batch carries its histograms (the page shows the newest)."""
    out: list[tuple[int, ServerSentEvent]] = []
    with read_session(engine) as s:
        run_ids = {c.run_id for c in changes}
        runs = reads.runs(s, run_ids)
        last_for_run: dict[int, int] = {}
        # An experiment deleted since these changes were read has no runs left to render.
        changes = [c for c in changes if c.run_id in runs]
        newest = {c.run_id: c.id for c in changes if c.kind == "epoch"}
        metrics = _metrics(s, changes)
        for c in changes:
            if c.kind == "epoch":
                metric = metrics.get((c.run_id, c.epoch))
                ev = _epoch(s, c, metric, runs[c.run_id], newest[c.run_id] == c.id)
                if ev is not None:
                    out.append((c.experiment_id, ev))
            last_for_run[c.run_id] = c.id
        for run_id, change_id in last_for_run.items():
            ev = _card(s, runs[run_id])
            ev.id = str(change_id)
            out.append((runs[run_id].experiment_id, ev))
        for exp_id in {c.experiment_id for c in changes}:
            out.append((exp_id, _header(s, exp_id)))
    return out


def render_cards(engine: Engine, experiment_id: int) -> list[ServerSentEvent]:
    """For a new stream: every run's current card and the header."""
    with read_session(engine) as s:
        runs = reads.experiment_runs(s, [experiment_id])
        return [_card(s, r) for r in runs] + [_header(s, experiment_id)]


def render_replay(
    engine: Engine, experiment_id: int, cursor: int, head: int, limit: int = REPLAY_PAGE
) -> tuple[list[ServerSentEvent], int | None]:
    """One bounded piece of a replay: epochs committed in (cursor, head], at most `limit` changes,
    and the cursor to continue from (None when the replay is done).

    Replayed epochs carry no histograms: a page needs only the newest, which it fetches once it
    has caught up. So a piece's memory is bounded whatever the experiment's size."""
    with read_session(engine) as s:
        changes = reads.experiment_changes_since(s, experiment_id, cursor, head, limit)
        runs = {r.id: r for r in reads.experiment_runs(s, [experiment_id])}
        metrics = _metrics(s, changes)
        events = [
            ev
            for c in changes
            if c.kind == "epoch"
            and (ev := _epoch(s, c, metrics.get((c.run_id, c.epoch)), runs[c.run_id], False))
            is not None
        ]
    more = len(changes) == limit and changes[-1].id < head
    return events, changes[-1].id if more else None


async def replay(engine: Engine, experiment_id: int, cursor: int, head: int):
    """A new stream's catch-up as encoded chunks, piece by piece off the event loop, then
    `caught-up`."""
    yield encode(await to_thread.run_sync(render_cards, engine, experiment_id))
    next_cursor: int | None = cursor
    while next_cursor is not None:
        events, next_cursor = await to_thread.run_sync(
            render_replay, engine, experiment_id, next_cursor, head
        )
        if events:
            yield encode(events)
    yield encode([ServerSentEvent(data=str(head), event="caught-up")])


def encode(events: list[ServerSentEvent]) -> bytes:
    """Events as one chunk of the stream."""
    return b"".join(ev.encode() for ev in events)


def running_heartbeats(engine: Engine, experiment_ids: list[int]) -> dict[int, dict[str, str]]:
    """{experiment id: {run id: its running arm's last heartbeat, ISO 8601}}."""
    out: dict[int, dict[str, str]] = {}
    for experiment_id, run_id, beat in reads.running_heartbeats(engine, experiment_ids):
        if beat is not None:
            out.setdefault(experiment_id, {})[str(run_id)] = beat.isoformat()
    return out


class LiveFeed:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine, self.settings = engine, settings
        self.head = 0
        self.subscribers: dict[int, set[Subscriber]] = {}
        self._count = 0
        self._task: asyncio.Task | None = None

    def subscribe(self, experiment_id: int) -> tuple[Subscriber, int] | None:
        """A new stream's subscriber and the head it starts after (it catches up to it first), or
        None when REGLAB_MAX_STREAMS are open. Check and count happen with no await between them,
        so a burst of requests can never open more than the cap."""
        if self.stream_count >= self.settings.max_streams:
            return None
        sub = Subscriber(experiment_id)
        self.subscribers.setdefault(experiment_id, set()).add(sub)
        self._count += 1
        return sub, self.head

    def unsubscribe(self, sub: Subscriber) -> None:
        """Idempotent: the stream's end and the response's end both call it."""
        subs = self.subscribers.get(sub.experiment_id)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self._count -= 1
            if not subs:
                del self.subscribers[sub.experiment_id]

    @property
    def stream_count(self) -> int:
        return self._count

    async def start(self) -> None:
        self.head = await to_thread.run_sync(reads.head, self.engine)
        self._task = asyncio.create_task(self._run(), name="reglab-live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_sweep = last_beats = 0.0
        while True:
            try:
                await self._tick()
                if self.subscribers and loop.time() - last_beats > HEARTBEAT_EVERY_S:
                    last_beats = loop.time()
                    await self._heartbeats()
                # Runs whose worker died are taken back even when no worker is idle to notice.
                if loop.time() - last_sweep > self.settings.stall_timeout / 3:
                    last_sweep = loop.time()
                    await to_thread.run_sync(
                        queue.requeue_stalled,
                        self.engine,
                        self.settings.stall_timeout,
                        self.settings.max_attempts,
                    )
            except Exception:
                log.exception("live feed tick failed; retrying")
            await asyncio.sleep(self.settings.feed_interval)

    async def _heartbeats(self) -> None:
        """Running arms' last heartbeats, so pages can show their age (heartbeats are not
        changes: they would flood the feed)."""
        watched = list(self.subscribers)
        beats = await to_thread.run_sync(running_heartbeats, self.engine, watched)
        for experiment_id, runs in beats.items():
            chunk = encode([ServerSentEvent(data=json.dumps(runs), event="heartbeats")])
            for sub in self.subscribers.get(experiment_id, ()):
                sub.put(chunk)

    async def _tick(self) -> None:
        changes = await to_thread.run_sync(reads.changes_since, self.engine, self.head)
        if not changes:
            return
        events: list[tuple[int, ServerSentEvent]] = []
        rendered: set[int] = set()
        while True:  # again if a page subscribed to another experiment while we rendered
            todo = {c.experiment_id for c in changes if c.experiment_id in self.subscribers}
            todo -= rendered
            if not todo:
                break
            batch = [c for c in changes if c.experiment_id in todo]
            events += await to_thread.run_sync(render, self.engine, batch)
            rendered |= todo
        # No await from here on: the head moves and the events go out together, so a stream
        # that subscribes meanwhile either catches up to the old head or gets these events.
        self.head = changes[-1].id
        by_experiment: dict[int, list[ServerSentEvent]] = {}
        for experiment_id, event in events:
            by_experiment.setdefault(experiment_id, []).append(event)
        for experiment_id, evs in by_experiment.items():
            chunk = encode(evs)
            for sub in self.subscribers.get(experiment_id, ()):
                sub.put(chunk)
