"""Tables. JSON columns hold configs and per-layer data whose keys depend on the model."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC; SQLModel stores it as UTC on every backend and reads it back aware."""
    return datetime.now(UTC)


class RunStatus(StrEnum):
    queued = "queued"  # waiting for a worker to claim it
    running = "running"  # claimed by a worker that heartbeats while it trains
    succeeded = "succeeded"  # trained every epoch; its final checkpoint is stored
    failed = "failed"  # stopped by an error (message in Run.error); a worker will not retry it
    cancelled = "cancelled"  # stopped by the user; what it logged so far is kept

    @property
    def finished(self) -> bool:
        return self in (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled)


# Ids of experiments, runs and changes are never reused once deleted (SQLite's AUTOINCREMENT;
# PostgreSQL's sequences never reuse): a deleted experiment's page and API stay 404 instead of
# showing the next new one, and a new change never gets an id at or below a live feed's cursor.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Experiment(SQLModel, table=True):
    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    name: str
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # Shared settings of all arms: dataset, sizes, model, optimizer, epochs, seed.
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    notes: str = ""  # free text, the user's
    # The user's tags as ",tag1,tag2," (tags hold no comma), so that one tag is found with a
    # LIKE '%,tag,%' on both databases; app.views turns it into a list.
    tags: str = ""


class RunBase(SQLModel):
    """One arm of an experiment as stored and as the API shows it (app.schemas.RunPublic)."""

    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    name: str
    # The arm's own settings (penalties...); the worker merges them over the experiment's.
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: RunStatus = Field(default=RunStatus.queued, index=True)
    attempts: int = 0
    epochs_done: int = 0
    epochs_total: int
    device: str | None = None
    worker_id: str | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    # Why its last attempt was taken back, and what the attempt after it did: resumed after this
    # epoch (0: from the start) and trained again the epochs after it, through retrain_through.
    # The page says so.
    interruption: str | None = Field(
        default=None,
        description='Why its last attempt was taken back, e.g. "its worker stopped".',
    )
    resumed_after: int | None = Field(
        default=None,
        description="The epoch its latest attempt resumed after (0: from the start).",
    )
    retrain_through: int | None = Field(
        default=None,
        description="The epochs after resumed_after, through this one, are trained again.",
    )
    # A repeat is an ordinary run that carries its arm (the arm's index in the experiment: its
    # repeats share it) and the seed it trains with.
    arm: int | None = Field(
        default=None, description="The arm's index in the experiment; its repeats share it."
    )
    seed: int | None = Field(default=None, description="The seed this run (repeat) trains with.")


class Run(RunBase, table=True):
    """One arm of an experiment, and the queue entry that trains it."""

    # The home page's status filter asks, per experiment, whether a run in a given status exists.
    __table_args__ = (
        Index("ix_run_experiment_status", "experiment_id", "status"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    # A fresh token per claim: every write by the worker is conditioned on it (fencing).
    claim_token: str | None = None
    cancel_requested: bool = False
    # Per weight matrix, the half-range of its level-0 histogram bins, fixed from the initial
    # weights (so equal across arms); see store.bins.
    hist_bases: dict[str, float] | None = Field(default=None, sa_column=Column(JSON))


class EpochMetric(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    train_loss: float  # data loss (cross-entropy), mean over the epoch's batches
    penalty: float  # regularization term, lambda included, mean over the epoch's batches
    train_acc: float | None  # null for regression tasks
    val_loss: float
    val_acc: float | None
    lr: float
    epoch_time: float  # seconds of training and evaluation
    samples_per_s: float
    train_r2: float | None = None  # regression tasks only
    val_r2: float | None = None
    # {"linear_1.weight": {"mean_abs": .., "l1": .., "l2_sq": .., "zero_frac": .., ...}, ...}
    layers: dict[str, dict[str, float]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    # {"linear_1": fraction of its ReLU units that output 0 for every validation image, ...};
    # null for epochs stored before it was measured (migration 0004).
    dead_units: dict[str, float] | None = Field(default=None, sa_column=Column(JSON))


class Histogram(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("run_id", "epoch", "layer"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    layer: str
    level: int = 0  # the bins are store.bins.edges(run.hist_bases[layer], level)
    counts: list[int] = Field(sa_column=Column(JSON, nullable=False))
    # The same weights on a finer grid of the same range, sparse: {"f", "runs"} (store.bins);
    # null for histograms written before it existed.
    fine: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class FunctionView(SQLModel, table=True):
    """What the page draws of a toy task's arm at an epoch (worker.tasks.function_view): the
    fitted curve, the decision boundary or the coefficients. Epoch 0 holds the data points,
    which do not change. A boundary's class probabilities are `grid` (store.functions: 16-bit
    fixed point, row-major, at most 64x64) instead of JSON."""

    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    view: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    grid: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class Checkpoint(SQLModel, table=True):
    """A downloadable file of a run: the final weights as .pt or .safetensors."""

    __table_args__ = (UniqueConstraint("run_id", "kind", "format"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    kind: str = "final"
    format: str = "pt"  # "pt" | "safetensors"
    storage: str = "file"  # "file": under the checkpoint directory; "db": in ArtifactBlob
    filename: str  # relative to the checkpoint directory; never taken from a request
    size: int
    sha256: str
    created_at: datetime = Field(default_factory=utcnow)


class ArtifactBlob(SQLModel, table=True):
    """Checkpoint bytes kept in the database, so machines without a shared disk can serve them."""

    checkpoint_id: int = Field(foreign_key="checkpoint.id", primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class RunState(SQLModel, table=True):
    """The resume checkpoint of a run (weights, optimizer, RNG) after its last committed epoch.

    Written in the same transaction as that epoch's metrics, so the two always agree; private to
    workers, deleted when the run ends.
    """

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    epoch: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class Change(SQLModel, table=True):
    """The change feed: one row per thing a page must learn (a run's status or a new epoch).

    Its id is the SSE event id, so a reconnecting page resumes exactly where it stopped.
    """

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    run_id: int = Field(foreign_key="run.id")
    kind: str  # "status" | "epoch"
    epoch: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Worker(SQLModel, table=True):
    """A running worker process: it heartbeats while it lives (idle or training) and deletes its
    row when it exits; rows of dead ones are pruned by whoever sweeps (store.queue). The workers
    panel and GET /api/workers list the live ones (store.reads.workers, app.fleet)."""

    id: str = Field(primary_key=True)
    host: str
    pid: int
    device: str
    # Where the pid means something (store.procs.node) and when that process started: a reader
    # on the same node sees at once that the process is gone. None: not known.
    node: str | None = None
    pid_start: int | None = Field(default=None, sa_column=Column(BigInteger))  # clock ticks
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


class Supervisor(SQLModel, table=True):
    """A `reglab up` process, which restarts its workers when they exit or die. While it runs,
    the page shows how often it had to, and why it gave up on one that kept crashing."""

    id: str = Field(primary_key=True)
    host: str
    pid: int
    node: str | None = None
    pid_start: int | None = Field(default=None, sa_column=Column(BigInteger))  # clock ticks
    workers: int  # how many worker processes it keeps running
    restarts: int = 0  # workers started again after they exited or died
    gave_up: str | None = None  # why it stopped restarting a worker; None while it has not
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


class WeightImage(SQLModel, table=True):
    """An arm-epoch's weight images (worker.stats.WeightImages): some first-layer units' incoming
    weights as little-endian float16 (`tiles`, one row after another) and, per input, the sum
    over all units of |w| as little-endian float32 (`importance`)."""

    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    layer: str
    image_shape: list[int] = Field(sa_column=Column(JSON, nullable=False))  # [C, H, W]
    units: list[int] = Field(sa_column=Column(JSON, nullable=False))
    tiles: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    importance: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
