"""Every query the web side reads, named once: experiments and their runs, metrics and curves,
histograms, checkpoints, the change feed, the workers. The queue's and the worker's writes (and
the reads only a worker makes) are in store.queue.

These return rows and plain values; app/views.py, app/live.py, app/summary.py and app/fleet.py
shape them for the API, the pages and the live stream.
"""

import struct
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_
from sqlmodel import Session, col, select

from store import bins, functions, spec
from store.engine import read_session
from store.models import (
    ArtifactBlob,
    Change,
    Checkpoint,
    EpochMetric,
    Experiment,
    FunctionView,
    Histogram,
    Run,
    RunStatus,
    Supervisor,
    WeightImage,
    Worker,
)

METRIC_FIELDS = spec.METRIC_NAMES  # the epoch's scalar metrics, declared once in the spec


# ---- experiments and runs ----


def experiment(session: Session, experiment_id: int) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def experiment_arms(session: Session, experiment_id: int) -> tuple[Experiment, list[Run]] | None:
    """An experiment and its runs (arms) in the order they were made; None when it is gone."""
    exp = experiment(session, experiment_id)
    return None if exp is None else (exp, experiment_runs(session, [experiment_id]))


def experiment_exists(engine: Engine, experiment_id: int) -> bool:
    """In a session of its own (for callers off the event loop)."""
    with read_session(engine) as s:
        return experiment(s, experiment_id) is not None


def experiments(session: Session, experiment_ids: set[int] | list[int]) -> dict[int, Experiment]:
    rows = session.exec(select(Experiment).where(col(Experiment.id).in_(experiment_ids)))
    return {e.id: e for e in rows}


def run(session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def runs(session: Session, run_ids: set[int] | list[int]) -> dict[int, Run]:
    """By id; an id with no run is missing."""
    return {r.id: r for r in session.exec(select(Run).where(col(Run.id).in_(run_ids)))}


def experiment_runs(session: Session, experiment_ids: list[int]) -> list[Run]:
    """The runs (arms) of these experiments, in the order they were made."""
    return list(
        session.exec(
            select(Run).where(col(Run.experiment_id).in_(experiment_ids)).order_by(Run.id)
        ).all()
    )


def experiment_run_ids(session: Session, experiment_id: int) -> list[int]:
    return list(
        session.exec(
            select(Run.id).where(Run.experiment_id == experiment_id).order_by(Run.id)
        ).all()
    )


def anything_active(session: Session) -> bool:
    """Whether any arm is queued or running (the home page polls only then)."""
    active = select(Run.id).where(col(Run.status).in_([RunStatus.queued, RunStatus.running]))
    return session.exec(active.limit(1)).first() is not None


def queued_count(session: Session) -> int:
    """Arms waiting for a worker."""
    return session.exec(
        select(func.count()).select_from(Run).where(Run.status == RunStatus.queued)
    ).one()


def running_heartbeats(engine: Engine, experiment_ids: list[int]) -> list[tuple[int, int, Any]]:
    """(experiment id, run id, last heartbeat) of these experiments' running arms."""
    with read_session(engine) as s:
        return list(
            s.exec(
                select(Run.experiment_id, Run.id, Run.heartbeat_at).where(
                    col(Run.experiment_id).in_(experiment_ids), Run.status == RunStatus.running
                )
            ).all()
        )


# ---- the experiment list ----


def _has_run(status: RunStatus):
    return exists().where(Run.experiment_id == Experiment.id, Run.status == status)


def _none_of(*statuses: RunStatus) -> list:
    return [~_has_run(s) for s in statuses]


# An experiment's status is its most active arm's (app.views.overall_status), in SQL: EXISTS
# probes of the (experiment_id, status) index.
STATUS_FILTERS = {
    "running": lambda: _has_run(RunStatus.running),
    "queued": lambda: and_(_has_run(RunStatus.queued), *_none_of(RunStatus.running)),
    "failed": lambda: and_(
        _has_run(RunStatus.failed), *_none_of(RunStatus.running, RunStatus.queued)
    ),
    "cancelled": lambda: and_(
        _has_run(RunStatus.cancelled),
        *_none_of(RunStatus.running, RunStatus.queued, RunStatus.failed),
    ),
    "succeeded": lambda: and_(
        _has_run(RunStatus.succeeded),
        ~exists().where(Run.experiment_id == Experiment.id, Run.status != RunStatus.succeeded),
    ),
}


@dataclass(frozen=True)
class ListFilter:
    q: str | None = None  # in the name, the notes or a tag (case-insensitive)
    tag: str | None = None  # exactly this tag (case-insensitive)
    status: str | None = None
    dataset: str | None = None

    def where(self) -> list:
        out = []
        if self.q:
            out.append(
                or_(
                    col(Experiment.name).icontains(self.q, autoescape=True),
                    col(Experiment.notes).icontains(self.q, autoescape=True),
                    col(Experiment.tags).icontains(self.q, autoescape=True),
                )
            )
        if self.tag:
            out.append(col(Experiment.tags).icontains(f",{self.tag},", autoescape=True))
        if self.status:
            out.append(STATUS_FILTERS[self.status]())
        if self.dataset:
            out.append(Experiment.config["dataset"].as_string() == self.dataset)
        return out


NO_FILTER = ListFilter()


def count_experiments(session: Session, where: ListFilter = NO_FILTER) -> int:
    return session.exec(select(func.count()).select_from(Experiment).where(*where.where())).one()


def list_experiments(
    session: Session, limit: int = 50, offset: int = 0, where: ListFilter = NO_FILTER
) -> list[Experiment]:
    """Newest first, those that match."""
    return list(
        session.exec(
            select(Experiment)
            .where(*where.where())
            .order_by(col(Experiment.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
    )


# ---- metrics ----


def _gap(train_acc: float | None, val_acc: float | None) -> float | None:
    """train_acc - val_acc; null where accuracies are (regression tasks)."""
    return None if train_acc is None or val_acc is None else train_acc - val_acc


def metric_dict(m: EpochMetric) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": m.epoch}
    out.update({f: getattr(m, f) for f in METRIC_FIELDS})
    out["gap"] = _gap(m.train_acc, m.val_acc)
    out["layers"] = m.layers
    out["dead_units"] = m.dead_units
    return out


def run_metrics(session: Session, run_id: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(EpochMetric).where(EpochMetric.run_id == run_id).order_by(EpochMetric.epoch)
    ).all()
    return [metric_dict(m) for m in rows]


def last_metric(session: Session, run_id: int) -> EpochMetric | None:
    """A run's latest epoch, or None before its first."""
    return session.exec(
        select(EpochMetric)
        .where(EpochMetric.run_id == run_id)
        .order_by(col(EpochMetric.epoch).desc())
        .limit(1)
    ).first()


def epoch_metrics(
    session: Session, keys: list[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The metrics of many (run_id, epoch) pairs in one query per run (a feed tick can bring
    thousands of epochs); a pair that no longer exists (a restart dropped it) is missing."""
    by_run: dict[int, list[int]] = {}
    for run_id, epoch in keys:
        by_run.setdefault(run_id, []).append(epoch)
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for run_id, epochs in by_run.items():
        wanted = set(epochs)
        rows = session.exec(
            select(EpochMetric).where(
                EpochMetric.run_id == run_id,
                EpochMetric.epoch >= min(epochs),
                EpochMetric.epoch <= max(epochs),
            )
        ).all()
        out.update({(run_id, m.epoch): metric_dict(m) for m in rows if m.epoch in wanted})
    return out


def latest_epochs(session: Session, run_ids: list[int]) -> dict[int, tuple[int, float, float]]:
    """Each run's latest epoch: (epoch, val_acc, val_loss), through the (run_id, epoch) index."""
    if not run_ids:
        return {}
    last = (
        select(EpochMetric.run_id, func.max(EpochMetric.epoch).label("epoch"))
        .where(col(EpochMetric.run_id).in_(run_ids))
        .group_by(EpochMetric.run_id)
        .subquery()
    )
    rows = session.exec(
        select(
            EpochMetric.run_id, EpochMetric.epoch, EpochMetric.val_acc, EpochMetric.val_loss
        ).join(last, and_(EpochMetric.run_id == last.c.run_id, EpochMetric.epoch == last.c.epoch))
    ).all()
    return {rid: (epoch, acc, loss) for rid, epoch, acc, loss in rows}


def mean_epoch_times(session: Session, run_ids: list[int]) -> dict[int, float]:
    """Each run's mean seconds per epoch so far (its ETA)."""
    if not run_ids:
        return {}
    return dict(
        session.exec(
            select(EpochMetric.run_id, func.avg(EpochMetric.epoch_time))
            .where(col(EpochMetric.run_id).in_(run_ids))
            .group_by(EpochMetric.run_id)
        ).all()
    )


def curves(session: Session, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Runs' metrics by column: {run_id: {"epoch": [...], <metric>: [...], "gap": [...],
    "layers": {weight: {stat: [...]}}}}, the weight matrices' statistics (and batch-norm
    scales'); a layer missing at an epoch reads null there.

    The same numbers as run_metrics, a fraction of its size (names are not repeated per epoch),
    read as plain rows in one query, no ORM objects: a large experiment has hundreds of thousands
    of values."""
    columns = [
        EpochMetric.run_id,
        EpochMetric.epoch,
        *(getattr(EpochMetric, f) for f in METRIC_FIELDS),
        EpochMetric.layers,
        EpochMetric.dead_units,
    ]
    rows = (
        session.connection()
        .execute(
            select(*columns)
            .where(col(EpochMetric.run_id).in_(run_ids))
            .order_by(EpochMetric.run_id, EpochMetric.epoch)
        )
        .all()
    )
    by_run: dict[int, list] = {rid: [] for rid in run_ids}
    for row in rows:
        by_run[row[0]].append(row)
    return {rid: _columns(rs) for rid, rs in by_run.items()}


def _columns(rows: list) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": [r[1] for r in rows]}
    for i, f in enumerate(METRIC_FIELDS, start=2):
        out[f] = [r[i] for r in rows]
    out["gap"] = [_gap(a, v) for a, v in zip(out["train_acc"], out["val_acc"], strict=True)]
    out["dead_units"] = [r[-1] for r in rows]  # per epoch {hidden layer: fraction} or null
    layers: dict[str, dict[str, list]] = {}
    for i, r in enumerate(rows):
        for layer, stats in r[-2].items():
            if not layer.endswith(".weight"):  # biases: in run_metrics, not charted
                continue
            cols = layers.setdefault(layer, {})
            for stat, value in stats.items():
                if stat not in cols:
                    cols[stat] = [None] * len(rows)
                cols[stat][i] = value
    out["layers"] = layers
    return out


def run_histograms(session: Session, run: Run, epoch: int | None = None) -> dict[str, Any]:
    """Per layer {"edges", "counts", "level", "base"} at `epoch` (default: the latest)."""
    if epoch is None:
        epoch = session.exec(
            select(func.max(Histogram.epoch)).where(Histogram.run_id == run.id)
        ).one()
        if epoch is None:
            return {"epoch": None, "layers": {}}
    rows = session.exec(
        select(Histogram)
        .where(Histogram.run_id == run.id, Histogram.epoch == epoch)
        .order_by(Histogram.layer)
    ).all()
    bases = run.hist_bases or {}
    return {
        "epoch": epoch,
        "layers": {
            h.layer: {
                "edges": bins.edges(bases[h.layer], h.level),
                "counts": h.counts,
                "level": h.level,
                "base": bases[h.layer],
                "fine": h.fine,
            }
            for h in rows
            if h.layer in bases
        },
    }


def run_weight_images(session: Session, run_id: int, epoch: int | None = None) -> dict | None:
    """The run's weight images at `epoch` (default: the latest), decoded to floats, or None if
    it has none there."""
    query = select(WeightImage).where(WeightImage.run_id == run_id)
    if epoch is None:
        query = query.order_by(col(WeightImage.epoch).desc()).limit(1)
    else:
        query = query.where(WeightImage.epoch == epoch)
    row = session.exec(query).first()
    if row is None:
        return None
    n = len(row.importance) // 4
    values = struct.unpack(f"<{len(row.tiles) // 2}e", row.tiles)
    return {
        "epoch": row.epoch,
        "layer": row.layer,
        "image_shape": row.image_shape,
        "units": row.units,
        "tiles": [list(values[i : i + n]) for i in range(0, len(values), n)],
        "importance": list(struct.unpack(f"<{n}f", row.importance)),
    }


def has_weight_images(session: Session, run_id: int) -> bool:
    first = select(WeightImage.id).where(WeightImage.run_id == run_id).limit(1)
    return session.exec(first).first() is not None


def layer_distributions(session: Session, runs: list[Run], layer: str | None) -> dict[str, Any]:
    """Per run, the percentiles bins.PERCENTILES of one weight matrix's weights at each epoch,
    from its stored histograms at their finest (`layer` by default the first in name order)."""
    ids = [r.id for r in runs]
    layers = sorted(
        session.exec(select(Histogram.layer).where(col(Histogram.run_id).in_(ids)).distinct()).all()
    )
    if layer is None and layers:
        layer = layers[0]
    rows = session.exec(
        select(Histogram.run_id, Histogram.epoch, Histogram.level, Histogram.counts, Histogram.fine)
        .where(col(Histogram.run_id).in_(ids), Histogram.layer == layer)
        .order_by(Histogram.run_id, Histogram.epoch)
    ).all()
    out = {r.id: {"run_id": r.id, "epochs": [], "values": []} for r in runs}
    base_of = {r.id: (r.hist_bases or {}).get(layer) for r in runs}
    for run_id, epoch, level, counts, fine in rows:
        if base_of[run_id] is None:
            continue
        sparse, res = bins.histogram_sparse(level, counts, fine)
        values = bins.sparse_percentiles(sparse, bins.width(base_of[run_id], res))
        if values is not None:
            out[run_id]["epochs"].append(epoch)
            out[run_id]["values"].append(values)
    return {
        "layer": layer,
        "layers": layers,
        "percentiles": list(bins.PERCENTILES),
        "runs": list(out.values()),
    }


# ---- checkpoints ----


def checkpoint(session: Session, run_id: int, fmt: str) -> Checkpoint | None:
    """A run's final checkpoint in this format."""
    return session.exec(
        select(Checkpoint).where(
            Checkpoint.run_id == run_id, Checkpoint.kind == "final", Checkpoint.format == fmt
        )
    ).first()


def checkpoint_blob(session: Session, ckpt: Checkpoint) -> bytes | None:
    """The bytes of a checkpoint stored in the database."""
    row = session.get(ArtifactBlob, ckpt.id)
    return row.data if row else None


def checkpointed(session: Session, run_ids: list[int]) -> set[int]:
    """Those of these runs that have a final .pt checkpoint to download."""
    if not run_ids:
        return set()
    return set(
        session.exec(
            select(Checkpoint.run_id).where(
                col(Checkpoint.run_id).in_(run_ids),
                Checkpoint.kind == "final",
                Checkpoint.format == "pt",
            )
        ).all()
    )


# ---- the change feed ----


def changes_since(engine: Engine, cursor: int, limit: int = 1000) -> list[Change]:
    with read_session(engine) as s:
        return list(
            s.exec(select(Change).where(Change.id > cursor).order_by(Change.id).limit(limit)).all()
        )


def experiment_changes_since(
    session: Session, experiment_id: int, cursor: int, upto: int, limit: int | None = None
) -> list[Change]:
    return list(
        session.exec(
            select(Change)
            .where(Change.experiment_id == experiment_id, Change.id > cursor, Change.id <= upto)
            .order_by(Change.id)
            .limit(limit)
        ).all()
    )


def last_change_id(session: Session) -> int:
    return session.exec(select(func.max(Change.id))).one() or 0


def head(engine: Engine) -> int:
    """The newest change id, in a session of its own (for callers on another thread)."""
    with read_session(engine) as s:
        return last_change_id(s)


# ---- workers ----


def workers(session: Session) -> list[Worker]:
    """Every registered worker, oldest first (live or not: the caller judges)."""
    return list(session.exec(select(Worker).order_by(Worker.started_at, Worker.id)).all())


def supervisors(session: Session) -> list[Supervisor]:
    """Every registered `reglab up` process, oldest first (live or not: the caller judges)."""
    return list(session.exec(select(Supervisor).order_by(Supervisor.started_at)).all())


def training(session: Session, worker_ids: list[str]) -> list[tuple[Run, str]]:
    """The runs these workers train now, each with its experiment's name."""
    return list(
        session.exec(
            select(Run, Experiment.name)
            .join(Experiment, col(Experiment.id) == Run.experiment_id)
            .where(Run.status == RunStatus.running, col(Run.worker_id).in_(worker_ids))
            .order_by(Run.id)
        ).all()
    )


# ---- toy tasks' function views ----


def function_view(session: Session, run_id: int, epoch: int | None) -> dict[str, Any] | None:
    """The run's stored function view at the latest epoch <= `epoch` (views are kept per the
    worker's budget, not necessarily every epoch; None: the latest), with the data points
    (epoch 0's row) and the epochs that have one; None when there is none yet."""
    rows = session.exec(
        select(FunctionView.epoch).where(FunctionView.run_id == run_id).order_by(FunctionView.epoch)
    ).all()
    epochs = [e for e in rows if e > 0 and (epoch is None or e <= epoch)]
    if not epochs:
        return None
    wanted = session.exec(
        select(FunctionView).where(
            FunctionView.run_id == run_id, col(FunctionView.epoch).in_([0, epochs[-1]])
        )
    ).all()
    by_epoch = {v.epoch: v for v in wanted}
    view = functions.unpack(by_epoch[epochs[-1]].view, by_epoch[epochs[-1]].grid)
    if 0 in by_epoch:
        view["points"] = by_epoch[0].view
    return {"epoch": epochs[-1], "epochs": [e for e in rows if e > 0], **view}
