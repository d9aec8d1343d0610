"""Server-sent events: an experiment's new epochs and status changes, as they are committed."""

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header, HTTPException, Query
from sse_starlette import EventSourceResponse

from app.db.models import Experiment
from app.deps import EngineDep, ExperimentId, LiveDep, SessionDep, SettingsDep, not_found
from app.live import render_catchup

router = APIRouter(tags=["api"])


@router.get("/api/experiments/{experiment_id}/events")
async def experiment_events(
    experiment_id: ExperimentId,
    engine: EngineDep,
    session: SessionDep,
    live: LiveDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Change id to resume after")] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
):
    """`text/event-stream`: `epoch` events (JSON: run_id, metric, histograms) and HTML fragments
    `run-<id>` and `experiment-status` for htmx to swap. Event ids are change ids: a reconnecting
    client sends Last-Event-ID and receives everything after it."""
    if session.get(Experiment, experiment_id) is None:
        raise not_found("experiment", experiment_id)
    if live.stream_count >= settings.max_streams:
        raise HTTPException(
            503,
            detail="Too many live streams open; try again shortly.",
            headers={"Retry-After": "5"},
        )
    cursor = int(last_event_id) if last_event_id and last_event_id.isdigit() else after

    async def stream():
        # Subscribe inside the generator: if the client is gone before streaming starts, the
        # finally below still runs and nothing is left subscribed.
        sub, head = live.subscribe(experiment_id)
        try:
            for event in await to_thread.run_sync(
                render_catchup, engine, experiment_id, cursor, head
            ):
                yield event
            while True:
                event = await sub.queue.get()
                if event is None:  # this client fell too far behind; it reconnects and catches up
                    return
                yield event
        finally:
            live.unsubscribe(sub)

    return EventSourceResponse(stream(), ping=15, send_timeout=30)
