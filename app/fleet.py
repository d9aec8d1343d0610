"""The workers, as the page and `GET /api/workers` show them: the live ones and what each trains,
what `reglab up` had to do to keep its own running, and a warning when arms wait for nobody.

Alive means heartbeating within the stall timeout (idle workers beat too) and, for a worker of
this node, its process still running: a killed worker leaves the list at once. The server also
takes back such a worker's runs within a second (sweep_dead), not only after the stall timeout.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from anyio import to_thread
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session

from store import procs, queue, reads
from store.models import Supervisor, Worker, utcnow
from store.settings import Settings

log = logging.getLogger("reglab.fleet")


class WorkerRunPublic(BaseModel):
    id: int
    experiment_id: int
    experiment_name: str
    name: str
    epochs_done: int
    epochs_total: int


class WorkerPublic(BaseModel):
    id: str
    host: str
    pid: int
    device: str
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_s: float = Field(description="Seconds since its last heartbeat.")
    runs: list[WorkerRunPublic] = Field(description="What it trains now; empty: idle.")


class SupervisorPublic(BaseModel):
    """A running `reglab up`, which restarts its workers when they exit or die."""

    id: str
    host: str
    pid: int
    workers: int = Field(description="Worker processes it keeps running.")
    restarts: int = Field(description="Workers it started again after they exited or died.")
    gave_up: str | None = Field(None, description="Why it stopped restarting a worker.")


class WorkersPublic(BaseModel):
    workers: list[WorkerPublic] = Field(description="Live workers, oldest first.")
    queued: int = Field(description="Arms waiting for a worker.")
    supervisors: list[SupervisorPublic]
    warning: str | None = Field(None, description="Set when arms wait and no worker is alive.")


def _alive(row: Worker | Supervisor, cutoff: datetime) -> bool:
    return row.heartbeat_at >= cutoff and not procs.gone(row.node, row.pid, row.pid_start)


def _training(session: Session, worker_ids: list[str]) -> dict[str, list[WorkerRunPublic]]:
    """What each of these workers trains now."""
    runs: dict[str, list[WorkerRunPublic]] = {w: [] for w in worker_ids}
    for run, experiment_name in reads.training(session, worker_ids) if worker_ids else ():
        runs[run.worker_id].append(
            WorkerRunPublic(
                id=run.id,
                experiment_id=run.experiment_id,
                experiment_name=experiment_name,
                name=run.name,
                epochs_done=run.epochs_done,
                epochs_total=run.epochs_total,
            )
        )
    return runs


def snapshot(session: Session, settings: Settings) -> WorkersPublic:
    """The Worker and Supervisor rows (store.reads) of live processes, what each worker trains,
    and how many arms wait."""
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.stall_timeout)
    live = [w for w in reads.workers(session) if _alive(w, cutoff)]
    runs = _training(session, [w.id for w in live])
    queued = reads.queued_count(session)
    supervisors = [
        SupervisorPublic(**s.model_dump()) for s in reads.supervisors(session) if _alive(s, cutoff)
    ]
    warning = None
    if queued and not live:
        waits = "1 arm waits" if queued == 1 else f"{queued} arms wait"
        warning = f"{waits} and no worker is running: start one with `reglab worker`."
    return WorkersPublic(
        workers=[
            WorkerPublic(
                **w.model_dump(exclude={"node", "pid_start"}),
                heartbeat_age_s=max((now - w.heartbeat_at).total_seconds(), 0.0),
                runs=runs[w.id],
            )
            for w in live
        ],
        queued=queued,
        supervisors=supervisors,
        warning=warning,
    )


async def sweep_dead(engine: Engine, settings: Settings) -> None:
    """The server's part: every queue.DEAD_SWEEP_S, the runs of dead workers of this node go
    back to the queue, so no card says "running" for long when nobody trains it."""
    while True:
        try:
            await to_thread.run_sync(queue.requeue_dead, engine, settings.max_attempts)
        except Exception:
            log.exception("sweeping dead workers failed; retrying")
        await asyncio.sleep(queue.DEAD_SWEEP_S)
