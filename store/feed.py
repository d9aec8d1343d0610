"""Metrics in (the worker, one transaction per epoch) and the change feed out (the server)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, update
from sqlmodel import Session, select

from store import bins
from store.engine import read_session, write_session
from store.models import Change, EpochMetric, Histogram, Run, RunState, utcnow
from store.queue import HELD, Claim, fenced_run, held_params

METRIC_FIELDS = (
    "train_loss",
    "penalty",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_time",
    "samples_per_s",
)


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
    histograms: dict[str, tuple[int, list[int]]]
    resume: bytes | bytearray | None = None


# Built once: building them every epoch was half of the transaction's CPU time (1.50 -> 0.75 ms
# of the writer's CPU per epoch of three arms, with the one UPDATE below).
_INSERT_METRICS = insert(EpochMetric)
_INSERT_HISTOGRAMS = insert(Histogram)
_INSERT_CHANGES = insert(Change)
_ADVANCE = update(Run).where(HELD).values(epochs_done=bindparam("epoch"))


class _Lost(Exception):
    """A claim was lost mid-transaction: roll back everything."""


def write_epochs(engine: Engine, rows: list[EpochRow]) -> bool:
    """Epochs of several arms trained together, in one transaction (metrics, histograms, resume
    checkpoints, changes). False, and nothing written, if any of their claims was lost.

    Core statements, one per table for all arms, not ORM objects: the writer thread shares the
    GIL with training, so every millisecond of this transaction's CPU slows the epoch beside it,
    and the ORM's unit of work was most of that time."""
    try:
        with write_session(engine) as s:
            conn = s.connection()
            if not _advance(conn, rows):
                raise _Lost
            now = utcnow()
            conn.execute(
                _INSERT_METRICS,
                [
                    {
                        "run_id": r.claim.run_id,
                        "epoch": r.epoch,
                        "layers": r.layers,
                        "created_at": now,
                        **r.metrics,
                    }
                    for r in rows
                ],
            )
            hists = [
                {
                    "run_id": r.claim.run_id,
                    "epoch": r.epoch,
                    "layer": layer,
                    "level": level,
                    "counts": counts,
                }
                for r in rows
                for layer, (level, counts) in r.histograms.items()
            ]
            if hists:
                conn.execute(_INSERT_HISTOGRAMS, hists)
            for r in rows:
                if r.resume is not None:  # the resume checkpoint moves with the metrics, atomically
                    _store_resume(conn, r.claim.run_id, r.epoch, r.resume, now)
            conn.execute(
                _INSERT_CHANGES,
                [
                    {
                        "experiment_id": r.claim.experiment_id,
                        "run_id": r.claim.run_id,
                        "kind": "epoch",
                        "epoch": r.epoch,
                        "created_at": now,
                    }
                    for r in rows
                ],
            )
    except _Lost:
        return False
    return True


def write_epoch(
    engine: Engine,
    claim: Claim,
    epoch: int,
    metrics: dict[str, float],
    layers: dict[str, dict[str, float]],
    histograms: dict[str, tuple[int, list[int]]],
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


# ---- read side (the server) ----


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


def metric_dict(m: EpochMetric) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": m.epoch}
    out.update({f: getattr(m, f) for f in METRIC_FIELDS})
    out["gap"] = m.train_acc - m.val_acc
    out["layers"] = m.layers
    return out


def run_metrics(session: Session, run_id: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(EpochMetric).where(EpochMetric.run_id == run_id).order_by(EpochMetric.epoch)
    ).all()
    return [metric_dict(m) for m in rows]


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


def curves(session: Session, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Runs' metrics by column: {run_id: {"epoch": [...], <metric>: [...], "gap": [...],
    "layers": {weight: {stat: [...]}}}}, the weight matrices' statistics (and batch-norm
    scales'); a layer missing at an epoch reads null there.

    The same numbers as run_metrics, a fraction of its size (names are not repeated per epoch),
    read as plain rows in one query: building ORM objects was most of the time for a large
    experiment."""
    columns = [
        EpochMetric.run_id,
        EpochMetric.epoch,
        *(getattr(EpochMetric, f) for f in METRIC_FIELDS),
        EpochMetric.layers,
    ]
    rows = (
        session.connection()
        .execute(
            select(*columns)
            .where(EpochMetric.run_id.in_(run_ids))
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
    out["gap"] = [a - v for a, v in zip(out["train_acc"], out["val_acc"], strict=True)]
    layers: dict[str, dict[str, list]] = {}
    for i, r in enumerate(rows):
        for layer, stats in r[-1].items():
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
            }
            for h in rows
            if h.layer in bases
        },
    }
