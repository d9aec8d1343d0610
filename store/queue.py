"""Every write to the store, named once: the queue's (every state change of a run), the
worker's (its registration, heartbeats, epochs, histograms, resume states and checkpoints) and
the web's (launch, annotate, cancel, delete); and the few reads only a worker makes. What the web
reads is in store.reads.

A run moves queued -> running -> succeeded | failed | cancelled; a stalled or interrupted run goes
back to queued. Every change also appends a `Change` row in the same transaction, so the page
learns of it through the change feed. Writes made on behalf of a claimed run are conditioned on
its claim token: a worker whose claim was taken back changes nothing (fencing).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    and_,
    bindparam,
    delete,
    insert,
    update,
)
from sqlmodel import Session, col, select

from store import functions, procs
from store.engine import read_session, write_session, writer
from store.models import (
    ArtifactBlob,
    Change,
    Checkpoint,
    EpochMetric,
    Experiment,
    FunctionView,
    Histogram,
    Run,
    RunState,
    RunStatus,
    Supervisor,
    WeightImage,
    Worker,
    utcnow,
)

# How often the processes that sweep (the server, `reglab up`, idle workers) look for workers of
# their own node whose process is gone: a read of a few rows and of /proc, and a write only when
# one died. A dead worker's run goes back to the queue within this, not after the stall timeout.
DEAD_SWEEP_S = 1.0


@dataclass(frozen=True)
class Claim:
    """What a worker holds while it trains a run."""

    run_id: int
    experiment_id: int
    token: str
    attempt: int
    name: str
    config: dict[str, Any]  # experiment config with the arm's config merged over it


def _status_change(session: Session, run: Run) -> None:
    session.add(Change(experiment_id=run.experiment_id, run_id=run.id, kind="status"))


# ---- launching (the web) ----


def create_experiment(
    engine: Engine, name: str, config: dict[str, Any], arms: list[tuple[str, dict[str, Any]]]
) -> Experiment:
    """The experiment and one queued run per arm and seed (config's `repeats` of them: seed,
    seed+1, ...), in one transaction. Seed by seed, so the first claims complete whole seeds."""
    first, repeats = int(config.get("seed", 0)), int(config.get("repeats", 1))
    with write_session(engine) as s:
        exp = Experiment(name=name, config=config)
        s.add(exp)
        s.flush()
        for seed in range(first, first + repeats):
            for index, (arm_name, arm_config) in enumerate(arms):
                run = Run(
                    experiment_id=exp.id,
                    name=arm_name,
                    config=arm_config,
                    epochs_total=config["epochs"],
                    arm=index,
                    seed=seed,
                )
                s.add(run)
                s.flush()
                _status_change(s, run)
    return exp


def merged_config(exp: Experiment, run: Run) -> dict[str, Any]:
    """What a run trains: the experiment's settings, the arm's over them, its name and seed."""
    seed = {} if run.seed is None else {"seed": run.seed}
    return {**exp.config, **run.config, "arm": run.name, **seed}


# ---- workers and `reglab up` processes: registration and heartbeats ----


def register_worker(
    engine: Engine,
    host: str,
    pid: int,
    device: str,
    node: str | None = None,
    pid_start: int | None = None,
    worker_id: str | None = None,
) -> str:
    """A worker's row; node and pid_start (store.procs) let sweepers on its node see at once
    that its process is gone. worker_id: register again under that id (the row was pruned while
    the worker could not heartbeat)."""
    worker_id = worker_id or f"{host}-{pid}-{uuid.uuid4().hex[:6]}"
    with write_session(engine) as s:
        s.merge(
            Worker(id=worker_id, host=host, pid=pid, device=device, node=node, pid_start=pid_start)
        )
    return worker_id


def touch_worker(engine: Engine, worker_id: str) -> bool:
    """An idle worker's heartbeat (a training one beats in heartbeat()). False when its row is
    gone: it was pruned while the worker was silent; register again."""
    with writer(engine).begin() as conn:
        done = conn.execute(_BEAT_WORKER, {"worker_id": worker_id, "now": utcnow()})
    return done.rowcount == 1


def deregister_worker(engine: Engine, worker_id: str) -> None:
    """A worker that exits takes itself off the list of live workers."""
    with write_session(engine) as s:
        s.exec(delete(Worker).where(Worker.id == worker_id))


def beat_supervisor(engine: Engine, supervisor: Supervisor) -> None:
    """Write a `reglab up` process's row as it stands (restarts, why it gave up), as a heartbeat;
    again if it was pruned meanwhile."""
    supervisor.heartbeat_at = utcnow()
    with write_session(engine) as s:
        s.merge(supervisor)


def deregister_supervisor(engine: Engine, supervisor_id: str) -> None:
    with write_session(engine) as s:
        s.exec(delete(Supervisor).where(Supervisor.id == supervisor_id))


# ---- claiming ----


def has_queued(engine: Engine) -> bool:
    """Whether any run waits for a worker. A plain read takes no write lock (WAL readers run
    beside the writer), so an idle worker can look every few tens of milliseconds and take
    claim_next's write lock only when there is something to claim."""
    query = select(Run.id).where(Run.status == RunStatus.queued).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def claim_next(engine: Engine, worker_id: str) -> Claim | None:
    """Atomically take the oldest queued run.

    SQLite: the write transaction (BEGIN IMMEDIATE) serializes claimers. PostgreSQL:
    FOR UPDATE SKIP LOCKED lets concurrent claimers pass over a row another one is taking.
    """
    with write_session(engine) as s:
        run = s.exec(
            select(Run)
            .where(Run.status == RunStatus.queued)
            .order_by(Run.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if run is None:
            return None
        s.exec(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=utcnow()))
        return _take(s, run, worker_id, uuid.uuid4().hex)


def _take(s: Session, run: Run, worker_id: str, token: str) -> Claim:
    now = utcnow()
    run.status = RunStatus.running
    run.worker_id = worker_id
    run.claim_token = token
    run.attempts += 1
    run.heartbeat_at = now
    run.started_at = run.started_at or now
    run.error = None
    s.add(run)
    _status_change(s, run)
    exp = s.get(Experiment, run.experiment_id)
    return Claim(
        run_id=run.id,
        experiment_id=run.experiment_id,
        token=token,
        attempt=run.attempts,
        name=run.name,
        config=merged_config(exp, run),
    )


@dataclass(frozen=True)
class Queued:
    run_id: int
    config: dict[str, Any]  # merged, as a Claim's
    resume_epoch: int  # the epoch it would resume after (0: none)


def queued_siblings(engine: Engine, claim: Claim) -> list[Queued]:
    """Queued runs of the claimed run's experiment: candidates to train beside it."""
    with read_session(engine) as s:
        exp = s.get(Experiment, claim.experiment_id)
        rows = s.exec(
            select(Run, RunState.epoch)
            .join(RunState, RunState.run_id == Run.id, isouter=True)
            .where(Run.experiment_id == claim.experiment_id, Run.status == RunStatus.queued)
            .order_by(Run.id)
        ).all()
        return [Queued(run.id, merged_config(exp, run), epoch or 0) for run, epoch in rows]


def claim_more(engine: Engine, worker_id: str, claim: Claim, run_ids: list[int]) -> list[Claim]:
    """Claim these runs too, under the same token, if they are still queued (others may have
    taken some meanwhile: those are skipped)."""
    with write_session(engine) as s:
        runs = s.exec(
            select(Run)
            .where(col(Run.id).in_(run_ids), Run.status == RunStatus.queued)
            .order_by(Run.id)
            .with_for_update(skip_locked=True)
        ).all()
        return [_take(s, run, worker_id, claim.token) for run in runs]


# ---- fencing: writes for a claimed run hold only while the claim does ----


def _fence(run_ids, token) -> ColumnElement[bool]:
    """The fence in SQL: these runs are still running under this claim's token. An UPDATE
    conditioned on it changes nothing for a claim that was taken back (its row count says so)."""
    return and_(col(Run.id).in_(run_ids), Run.claim_token == token, Run.status == RunStatus.running)


def held(claims: list[Claim]) -> ColumnElement[bool]:
    """The fence for these claims (arms claimed together share one token)."""
    return _fence([c.run_id for c in claims], claims[0].token)


# The fence with its values as parameters, for a statement built once and run every epoch.
HELD = _fence(bindparam("held_ids", expanding=True), bindparam("held_token"))


def held_params(claims: list[Claim]) -> dict[str, Any]:
    """HELD's values for these claims."""
    return {"held_ids": [c.run_id for c in claims], "held_token": claims[0].token}


# The watcher's statements, built once; its thread shares the GIL with training.
_BEAT_RUNS = update(Run).where(HELD).values(heartbeat_at=bindparam("now", type_=DateTime()))
_BEAT_WORKER = (
    update(Worker)
    .where(col(Worker.id) == bindparam("worker_id"))
    .values(heartbeat_at=bindparam("now", type_=DateTime()))
)


def heartbeat(engine: Engine, claims: list[Claim], worker_id: str) -> bool:
    """Record that the worker is alive. False when any of its claims was taken back.

    Core statements on a plain connection, not a Session: the watcher thread shares the GIL with
    training, so a beat must cost as little CPU as it can."""
    now = utcnow()
    with writer(engine).begin() as conn:
        runs = conn.execute(_BEAT_RUNS, {**held_params(claims), "now": now})
        conn.execute(_BEAT_WORKER, {"worker_id": worker_id, "now": now})
    return runs.rowcount == len(claims)


_CANCEL_REQUESTED = select(Run.cancel_requested).where(
    col(Run.id).in_(bindparam("run_ids", expanding=True))
)


class CancelCheck:
    """Whether the user asked to stop these runs (cancel acts on whole experiments): called, it
    asks. A worker's watcher thread asks four times a second while training runs beside it and
    shares its GIL, so the SQL is compiled once, with the run ids (integers) written into it, and
    run on a DBAPI connection the check holds: SQLAlchemy's execution path (and more so a
    Session's) costs many times the query itself."""

    def __init__(self, engine: Engine, claims: list[Claim]):
        self.engine = engine
        stmt = _CANCEL_REQUESTED.params(run_ids=[int(c.run_id) for c in claims])
        self.sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        self.conn: Any = None

    def __call__(self) -> bool:
        if self.conn is None:
            self.conn = self.engine.raw_connection()
        try:
            cur = self.conn.cursor()
            cur.execute(self.sql)
            asked = any(row[0] for row in cur.fetchall())
            cur.close()
            # End the read's transaction: PostgreSQL ends a session idle in one (SQLite's
            # connections autocommit; this does nothing there).
            self.conn.rollback()
            return asked
        except Exception:
            self.close(broken=True)  # a new connection next time: the database may be back
            raise

    def close(self, broken: bool = False) -> None:
        if self.conn is not None:
            if broken:
                self.conn.invalidate()
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "CancelCheck":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fenced_run(s: Session, claim: Claim) -> Run | None:
    run = s.get(Run, claim.run_id)
    if run is None or run.claim_token != claim.token or run.status != RunStatus.running:
        return None
    return run


# ---- a claimed run's epochs (the worker, one transaction per epoch) ----


def begin_training(
    engine: Engine,
    claim: Claim,
    device: str,
    hist_bases: dict[str, float],
    from_epoch: int = 0,
) -> bool:
    """Record device and histogram edges; drop epochs past `from_epoch` left by an earlier try,
    and record on the run what resuming cost (the page tells: which epochs are trained again)."""
    with write_session(engine) as s:
        run = fenced_run(s, claim)
        if run is None:
            return False
        if claim.attempt > 1 and (from_epoch or run.epochs_done):
            run.resumed_after = from_epoch
            # epochs_done is still the last epoch an earlier attempt committed.
            run.retrain_through = max(run.epochs_done, from_epoch)
        run.device = device
        run.hist_bases = hist_bases
        run.epochs_done = from_epoch
        s.add(run)
        s.exec(delete(Histogram).where(Histogram.run_id == run.id, Histogram.epoch > from_epoch))
        # Epoch 1 writes the data points (epoch 0) again when training starts over.
        first_kept = from_epoch if from_epoch else -1
        s.exec(
            delete(FunctionView).where(
                FunctionView.run_id == run.id, FunctionView.epoch > first_kept
            )
        )
        s.exec(
            delete(WeightImage).where(WeightImage.run_id == run.id, WeightImage.epoch > from_epoch)
        )
        s.exec(
            delete(EpochMetric).where(EpochMetric.run_id == run.id, EpochMetric.epoch > from_epoch)
        )
        s.add(Change(experiment_id=run.experiment_id, run_id=run.id, kind="status"))
        return True


@dataclass(frozen=True)
class EpochRow:
    """One arm's epoch, as the worker commits it."""

    claim: Claim
    epoch: int
    metrics: dict[str, float]
    layers: dict[str, dict[str, float]]
    histograms: dict[str, tuple[int, list[int], dict | None]]  # level, counts, fine grid
    resume: bytes | bytearray | None = None
    dead_units: dict[str, float] | None = None  # per hidden layer, its dead ReLU units' fraction
    # The first layer's weight images: anything with worker.stats.WeightImages' fields.
    images: Any = None

    # A toy task's function view of this epoch (worker.tasks.function_view, without points),
    # and the data points, sent once per attempt (stored as epoch 0).
    view: dict[str, Any] | None = None
    points: dict[str, Any] | None = None


# Built once at import: the writer thread shares the GIL with training, so the epoch's transaction
# must not spend CPU rebuilding statements.
_INSERT_METRICS = insert(EpochMetric)
_INSERT_HISTOGRAMS = insert(Histogram)
_INSERT_CHANGES = insert(Change)
_INSERT_IMAGES = insert(WeightImage)

_INSERT_VIEWS = insert(FunctionView)
_ADVANCE = update(Run).where(HELD).values(epochs_done=bindparam("epoch"))


class _Lost(Exception):
    """A claim was lost mid-transaction: roll back everything."""


def write_epochs(engine: Engine, rows: list[EpochRow]) -> bool:
    """Epochs of several arms trained together, in one transaction (metrics, histograms, resume
    checkpoints, changes). False, and nothing written, if any of their claims was lost.

    Core statements, one per table for all arms, not ORM objects: the writer thread shares the
    GIL with training, so every millisecond of this transaction's CPU slows the epoch beside it."""
    try:
        with write_session(engine) as s:
            conn = s.connection()
            if not _advance(conn, rows):
                raise _Lost
            now = utcnow()
            conn.execute(_INSERT_METRICS, _metric_rows(rows, now))
            if hists := _histogram_rows(rows):
                conn.execute(_INSERT_HISTOGRAMS, hists)
            if images := _image_rows(rows):
                conn.execute(_INSERT_IMAGES, images)
            for r in rows:
                if r.resume is not None:  # the resume checkpoint moves with the metrics, atomically
                    _store_resume(conn, r.claim.run_id, r.epoch, r.resume, now)
            if views := _view_rows(rows):
                conn.execute(_INSERT_VIEWS, views)
            conn.execute(_INSERT_CHANGES, _change_rows(rows, now))
    except _Lost:
        return False
    return True


def _metric_rows(rows: list[EpochRow], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "run_id": r.claim.run_id,
            "epoch": r.epoch,
            "layers": r.layers,
            "dead_units": r.dead_units,
            "created_at": now,
        }
        | r.metrics
        for r in rows
    ]


def _image_rows(rows: list[EpochRow]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": r.claim.run_id,
            "epoch": r.epoch,
            "layer": r.images.layer,
            "image_shape": list(r.images.image_shape),
            "units": list(r.images.units),
            "tiles": r.images.tiles,
            "importance": r.images.importance,
        }
        for r in rows
        if r.images is not None
    ]


def _histogram_rows(rows: list[EpochRow]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": r.claim.run_id,
            "epoch": r.epoch,
            "layer": layer,
            "level": h[0],
            "counts": h[1],
            "fine": h[2] if len(h) > 2 else None,
        }
        for r in rows
        for layer, h in r.histograms.items()
    ]


def _view_rows(rows: list[EpochRow]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r.view is not None:
            view, grid = functions.pack(r.view)
            out.append({"run_id": r.claim.run_id, "epoch": r.epoch, "view": view, "grid": grid})
        if r.points is not None and r.epoch == 1:  # later attempts keep epoch 1's (same seed)
            out.append({"run_id": r.claim.run_id, "epoch": 0, "view": r.points, "grid": None})
    return out


def _change_rows(rows: list[EpochRow], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": r.claim.experiment_id,
            "run_id": r.claim.run_id,
            "kind": "epoch",
            "epoch": r.epoch,
            "created_at": now,
        }
        for r in rows
    ]


def write_epoch(
    engine: Engine,
    claim: Claim,
    epoch: int,
    metrics: dict[str, float],
    layers: dict[str, dict[str, float]],
    histograms: dict[str, tuple[int, list[int], dict | None]],
    resume: bytes | bytearray | None = None,
) -> bool:
    """One arm's epoch; False (nothing written) if the claim is lost."""
    return write_epochs(engine, [EpochRow(claim, epoch, metrics, layers, histograms, resume)])


def _advance(conn: Connection, rows: list[EpochRow]) -> bool:
    """Record the arms' epoch, fenced: only while each claim still holds its running run. Arms
    trained together share one claim token and one epoch: one UPDATE for them all, built once
    (this runs on the writer thread, beside training)."""
    claims, epoch = [r.claim for r in rows], rows[0].epoch
    if any(r.epoch != epoch or r.claim.token != claims[0].token for r in rows):
        raise ValueError("write_epochs takes one group's epoch: one claim token, one epoch")
    done = conn.execute(_ADVANCE, {**held_params(claims), "epoch": epoch})
    return done.rowcount == len(rows)


def _store_resume(
    conn: Connection, run_id: int, epoch: int, data: bytes | bytearray, now: datetime
) -> None:
    # An UPDATE, not get-and-modify: loading the old state (megabytes) only to replace it made
    # this the slowest part of an epoch.
    replaced = conn.execute(
        update(RunState)
        .where(RunState.run_id == run_id)
        .values(epoch=epoch, data=data, updated_at=now)
    )
    if replaced.rowcount == 0:
        conn.execute(insert(RunState).values(run_id=run_id, epoch=epoch, data=data, updated_at=now))


def load_resume(engine: Engine, claim: Claim) -> tuple[int, bytes] | None:
    """The resume checkpoint of a claimed run: (its epoch, its bytes), or None to start afresh.

    It may lag behind the run's committed epochs (states are saved at most every
    REGLAB_RESUME_EVERY seconds); begin_training then drops the epochs after it, which the resumed
    run trains again.
    """
    with read_session(engine) as s:
        run = fenced_run(s, claim)
        state = s.get(RunState, claim.run_id) if run is not None else None
        if state is None or state.epoch > run.epochs_done:
            return None
        return state.epoch, state.data


# ---- how a run ends ----


def finish(
    engine: Engine,
    claim: Claim,
    status: RunStatus,
    error: str | None = None,
    checkpoints: list[tuple[Checkpoint, bytes | None]] = (),
) -> bool:
    """End a claimed run (succeeded, failed or cancelled), with its checkpoint rows (and their
    bytes, when stored in the database). False, and nothing written, when the claim was lost."""
    with write_session(engine) as s:
        run = fenced_run(s, claim)
        if run is None:
            return False
        run.status = status
        run.error = error
        run.finished_at = utcnow()
        run.claim_token = None
        s.add(run)
        for ckpt, data in checkpoints:
            old = s.exec(
                select(Checkpoint).where(
                    Checkpoint.run_id == run.id,
                    Checkpoint.kind == ckpt.kind,
                    Checkpoint.format == ckpt.format,
                )
            ).first()
            if old is not None:
                s.exec(delete(ArtifactBlob).where(ArtifactBlob.checkpoint_id == old.id))
                s.delete(old)
                s.flush()
            s.add(ckpt)
            if data is not None:
                s.flush()
                s.add(ArtifactBlob(checkpoint_id=ckpt.id, data=data))
        _drop_state(s, run.id)
        _status_change(s, run)
        return True


def _drop_state(s: Session, run_id: int) -> None:
    """A run that ended needs no resume checkpoint."""
    s.exec(delete(RunState).where(RunState.run_id == run_id))


def release(engine: Engine, claim: Claim, reason: str, interruption: str | None = None) -> bool:
    """Give a run back to the queue (the worker is shutting down, or the run could not join its
    group: then there is no interruption to tell)."""
    with write_session(engine) as s:
        run = fenced_run(s, claim)
        if run is None:
            return False
        run.status = RunStatus.queued
        run.claim_token = None
        run.worker_id = None
        run.error = reason
        run.interruption = interruption or run.interruption
        s.add(run)
        _status_change(s, run)
        return True


def _take_back(s: Session, run: Run, why: str, interruption: str, max_attempts: int) -> None:
    """A running run whose worker is gone: back to the queue, or failed when out of attempts."""
    if run.attempts >= max_attempts:
        run.status = RunStatus.failed
        run.error = f"Gave up after {run.attempts} attempts: {why}."
        run.finished_at = utcnow()
        _drop_state(s, run.id)
    else:
        run.status = RunStatus.queued
        run.error = f"Re-queued: {why}."
    run.interruption = interruption
    run.claim_token = None
    run.worker_id = None
    s.add(run)
    _status_change(s, run)


def requeue_stalled(engine: Engine, timeout_s: float, max_attempts: int) -> list[int]:
    """Take back runs whose worker stopped heartbeating (fail those out of attempts), and those
    of dead workers of this node (requeue_dead); prune the rows of workers and `reglab up`
    processes silent for as long."""
    taken = requeue_dead(engine, max_attempts)
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    with write_session(engine) as s:
        stalled = s.exec(
            select(Run)
            .where(Run.status == RunStatus.running, Run.heartbeat_at < cutoff)
            .with_for_update(skip_locked=True)
        ).all()
        for run in stalled:
            silent = f"its worker {run.worker_id} stopped heartbeating for over {timeout_s:g} s"
            _take_back(s, run, silent, "its worker went silent", max_attempts)
        s.exec(delete(Worker).where(Worker.heartbeat_at < cutoff))
        s.exec(delete(Supervisor).where(Supervisor.heartbeat_at < cutoff))
        return taken + [run.id for run in stalled]


def requeue_dead(engine: Engine, max_attempts: int) -> list[int]:
    """Take back at once the runs of workers of this node whose process is gone (killed, crashed),
    without waiting for the stall timeout; delete their rows, and those of `reglab up` processes
    that are gone. Workers on other nodes are left to the stall timeout: their pids mean nothing
    here.

    A read of this node's few rows and of /proc; the write lock only when one died."""
    here = procs.node()
    if here is None:
        return []
    with read_session(engine) as s:
        workers = s.exec(
            select(Worker.id, Worker.pid, Worker.pid_start).where(Worker.node == here)
        ).all()
        supervisors = s.exec(
            select(Supervisor.id, Supervisor.pid, Supervisor.pid_start).where(
                Supervisor.node == here
            )
        ).all()
    dead = {id_: pid for id_, pid, started in workers if procs.gone(here, pid, started)}
    gone_up = [id_ for id_, pid, started in supervisors if procs.gone(here, pid, started)]
    if not dead and not gone_up:
        return []
    with write_session(engine) as s:
        runs = s.exec(
            select(Run)
            .where(Run.status == RunStatus.running, col(Run.worker_id).in_(list(dead)))
            .with_for_update(skip_locked=True)
        ).all()
        for run in runs:
            why = f"its worker {run.worker_id} stopped (process {dead[run.worker_id]} is gone)"
            _take_back(s, run, why, "its worker stopped", max_attempts)
        s.exec(delete(Worker).where(col(Worker.id).in_(list(dead))))
        s.exec(delete(Supervisor).where(col(Supervisor.id).in_(gone_up)))
        return [run.id for run in runs]


# ---- the web's edits: cancel, delete, annotate ----


def request_cancel(engine: Engine, experiment_id: int) -> dict[str, int]:
    """Cancel queued arms at once; ask workers to stop running ones (they see it within 1 s)."""
    counts = {"cancelled": 0, "stopping": 0}
    with write_session(engine) as s:
        runs = s.exec(
            select(Run).where(
                Run.experiment_id == experiment_id,
                Run.status.in_([RunStatus.queued, RunStatus.running]),
            )
        ).all()
        for run in runs:
            if run.status == RunStatus.queued:
                run.status = RunStatus.cancelled
                run.finished_at = utcnow()
                run.error = "Cancelled before it started."
                counts["cancelled"] += 1
                _drop_state(s, run.id)
            else:
                run.cancel_requested = True
                counts["stopping"] += 1
            s.add(run)
            _status_change(s, run)
    return counts


@dataclass(frozen=True)
class Deleted:
    """What deleting an experiment removed: its arms, and the checkpoint files (relative to the
    checkpoint directory) that the caller removes once the rows are gone."""

    run_ids: list[int]
    files: list[str]
    running: int  # arms that were training: their workers' next fenced write fails


def delete_experiment(engine: Engine, experiment_id: int) -> Deleted | None:
    """An experiment and everything of it, in one write transaction: its runs, epochs,
    histograms, checkpoints (rows, database blobs), resume states and changes. None when there is
    no such experiment.

    Running arms are cancelled by the same transaction: every write a worker makes for a claimed
    run is fenced on the run's row (token and status), so once the row is gone its next heartbeat
    or epoch commit changes nothing, and the worker drops the run and takes the next one. Nothing
    of another experiment is touched."""
    with write_session(engine) as s:
        if s.get(Experiment, experiment_id) is None:
            return None
        runs = s.exec(select(Run.id, Run.status).where(Run.experiment_id == experiment_id)).all()
        run_ids = [rid for rid, _ in runs]
        checkpoints = s.exec(
            select(Checkpoint.id, Checkpoint.storage, Checkpoint.filename).where(
                col(Checkpoint.run_id).in_(run_ids)
            )
        ).all()
        files = [name for _, storage, name in checkpoints if storage == "file"]
        ckpt_ids = [cid for cid, _, _ in checkpoints]
        s.exec(delete(ArtifactBlob).where(col(ArtifactBlob.checkpoint_id).in_(ckpt_ids)))
        s.exec(delete(Checkpoint).where(col(Checkpoint.run_id).in_(run_ids)))
        s.exec(delete(RunState).where(col(RunState.run_id).in_(run_ids)))
        s.exec(delete(Histogram).where(col(Histogram.run_id).in_(run_ids)))
        s.exec(delete(WeightImage).where(col(WeightImage.run_id).in_(run_ids)))

        s.exec(delete(FunctionView).where(col(FunctionView.run_id).in_(run_ids)))
        s.exec(delete(EpochMetric).where(col(EpochMetric.run_id).in_(run_ids)))
        s.exec(delete(Change).where(Change.experiment_id == experiment_id))
        s.exec(delete(Run).where(Run.experiment_id == experiment_id))
        s.exec(delete(Experiment).where(Experiment.id == experiment_id))
    running = sum(1 for _, status in runs if status == RunStatus.running)
    return Deleted(run_ids=run_ids, files=files, running=running)


def annotate(
    engine: Engine,
    experiment_id: int,
    name: str | None = None,
    notes: str | None = None,
    tags: str | None = None,
) -> bool:
    """Rename an experiment, or replace its notes or tags (stored form, see Experiment.tags);
    None leaves a field as it is. False when there is no such experiment."""
    values = {k: v for k, v in (("name", name), ("notes", notes), ("tags", tags)) if v is not None}
    with write_session(engine) as s:
        exp = s.get(Experiment, experiment_id)
        if exp is None:
            return False
        for key, value in values.items():
            setattr(exp, key, value)
        s.add(exp)
    return True


def run_exists(engine: Engine, run_id: int) -> bool:
    with read_session(engine) as s:
        return s.get(Run, run_id) is not None
