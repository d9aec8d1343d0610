"""Server-sent events: an experiment's new epochs and status changes, as they are committed.

A stream holds no database connection and never blocks the event loop: its catch-up reads run in
worker threads piece by piece, and while it waits it waits on an in-memory queue that the one live
feed poller fills (app/live.py).
"""

import re
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header, HTTPException, Query
from sse_starlette import EventSourceResponse

from app.deps import EngineDep, ExperimentId, LiveDep, not_found
from app.live import LiveFeed, Subscriber, replay
from store import reads

router = APIRouter(tags=["api"])
MAX_CURSOR = 2**62
# ASCII digits only: str.isdigit() also accepts other scripts' digits and superscripts, which
# int() then reads differently or refuses; a 20th digit could only be past MAX_CURSOR.
_EVENT_ID = re.compile(r"[0-9]{1,19}")


def event_cursor(last_event_id: str | None, after: int) -> int:
    """Where a stream starts: a well-formed Last-Event-ID (a reconnecting browser's), else
    `after`. A malformed one is ignored, as a browser would resend it on every reconnect."""
    if last_event_id is not None and _EVENT_ID.fullmatch(last_event_id.strip()):
        value = int(last_event_id)
        if value <= MAX_CURSOR:
            return value
    return after


class StreamResponse(EventSourceResponse):
    """An event stream whose live-feed subscription ends with the response, however it ends
    (the client leaves, the server stops, or the body never starts)."""

    def __init__(self, content, live: LiveFeed, sub: Subscriber, **kwargs):
        super().__init__(content, **kwargs)
        self._live, self._sub = live, sub

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._live.unsubscribe(self._sub)


@router.get(
    "/api/experiments/{experiment_id}/events",
    responses={503: {"description": "REGLAB_MAX_STREAMS streams are open"}},
)
async def experiment_events(
    experiment_id: ExperimentId,
    engine: EngineDep,
    live: LiveDep,
    after: Annotated[int, Query(ge=0, le=MAX_CURSOR, description="Change id to resume after")] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
):
    """`text/event-stream`: `epoch` events (JSON: run_id, metric, and for live epochs the
    histograms), HTML fragments `run-<id>` and `experiment-status` for htmx to swap, `heartbeats`,
    and `caught-up` once the replay after the cursor has been sent. Event ids are change ids: a
    reconnecting client sends Last-Event-ID and receives everything after it."""
    # Subscribe before anything awaits: the cap's check and the count are one step.
    subscription = live.subscribe(experiment_id)
    if subscription is None:
        raise HTTPException(
            503,
            detail="Too many live streams open; try again shortly.",
            headers={"Retry-After": "5"},
        )
    sub, head = subscription
    try:
        exists = await to_thread.run_sync(reads.experiment_exists, engine, experiment_id)
    except BaseException:
        live.unsubscribe(sub)
        raise
    if not exists:
        live.unsubscribe(sub)
        raise not_found("experiment", experiment_id)
    cursor = event_cursor(last_event_id, after)

    async def stream():
        async for event in replay(engine, experiment_id, cursor, head):
            yield event
        while True:
            chunk = await sub.get()
            if chunk is None:  # this client fell too far behind; it reconnects and catches up
                return
            yield chunk

    return StreamResponse(stream(), live, sub, ping=15, send_timeout=30)
