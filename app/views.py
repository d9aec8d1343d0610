"""Read models: what the API, the pages and the live stream show of experiments and runs."""

from collections import defaultdict
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.db import feed
from app.db.models import Checkpoint, EpochMetric, Experiment, Run, RunStatus
from app.schemas import ExperimentPublic, RunPublic


def overall_status(statuses: list[str]) -> str:
    """One word for an experiment: the most active state any of its arms is in."""
    for s in ("running", "queued", "failed", "cancelled"):
        if s in statuses:
            return s
    return "succeeded"


def _run_extras(session: Session, run_ids: list[int]) -> tuple[set[int], dict[int, float]]:
    if not run_ids:
        return set(), {}
    with_ckpt = set(
        session.exec(
            select(Checkpoint.run_id).where(
                col(Checkpoint.run_id).in_(run_ids),
                Checkpoint.kind == "final",
                Checkpoint.format == "pt",
            )
        ).all()
    )
    mean_time = dict(
        session.exec(
            select(EpochMetric.run_id, func.avg(EpochMetric.epoch_time))
            .where(col(EpochMetric.run_id).in_(run_ids))
            .group_by(EpochMetric.run_id)
        ).all()
    )
    return with_ckpt, mean_time


def run_public(run: Run, has_checkpoint: bool, mean_epoch_time: float | None) -> RunPublic:
    eta = None
    if run.status == RunStatus.running and mean_epoch_time is not None:
        eta = mean_epoch_time * max(run.epochs_total - run.epochs_done, 0)
    return RunPublic(
        **run.model_dump(exclude={"claim_token", "cancel_requested", "hist_bases"}),
        eta_seconds=eta,
        checkpoint_url=f"/api/runs/{run.id}/checkpoint" if has_checkpoint else None,
    )


def runs_public(session: Session, runs: list[Run]) -> list[RunPublic]:
    with_ckpt, mean_time = _run_extras(session, [r.id for r in runs])
    return [run_public(r, r.id in with_ckpt, mean_time.get(r.id)) for r in runs]


def _experiment_public(exp: Experiment, runs: list[RunPublic]) -> ExperimentPublic:
    return ExperimentPublic(
        id=exp.id,
        name=exp.name,
        created_at=exp.created_at,
        config=exp.config,
        status=overall_status([r.status for r in runs]),
        runs=runs,
    )


def get_experiment(session: Session, experiment_id: int) -> ExperimentPublic | None:
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        return None
    runs = session.exec(select(Run).where(Run.experiment_id == exp.id).order_by(Run.id)).all()
    return _experiment_public(exp, runs_public(session, list(runs)))


def list_experiments(session: Session, limit: int = 50, offset: int = 0) -> list[ExperimentPublic]:
    """Newest first."""
    exps = session.exec(
        select(Experiment).order_by(col(Experiment.id).desc()).offset(offset).limit(limit)
    ).all()
    if not exps:
        return []
    runs = session.exec(
        select(Run).where(col(Run.experiment_id).in_([e.id for e in exps])).order_by(Run.id)
    ).all()
    by_exp: dict[int, list[RunPublic]] = defaultdict(list)
    for r in runs_public(session, list(runs)):
        by_exp[r.experiment_id].append(r)
    return [_experiment_public(e, by_exp[e.id]) for e in exps]


def experiment_snapshot(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """What the experiment page draws before it starts streaming, and the cursor to stream from."""
    cursor = feed.last_change_id(session)  # read first: anything newer arrives by the stream
    exp = get_experiment(session, experiment_id)
    if exp is None:
        return None
    runs = {r.id: r for r in session.exec(select(Run).where(Run.experiment_id == experiment_id))}
    data = {
        "experiment_id": exp.id,
        "cursor": cursor,
        "runs": [
            {
                "id": r.id,
                "name": r.name,
                "config": r.config,
                "epochs_total": r.epochs_total,
                "metrics": feed.run_metrics(session, r.id),
                "histograms": feed.run_histograms(session, runs[r.id]),
            }
            for r in exp.runs
        ],
    }
    return {"experiment": exp, "data": data}
